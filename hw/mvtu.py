"""The folded dense layer engine and the binary matrix-vector-threshold unit (MVTU).

A layer with N inputs and M outputs runs PE output neurons in parallel, each consuming SIMD
input elements per cycle: SF = ceil(N / SIMD) synapse folds, NF = ceil(M / PE) neuron folds,
NF * SF compute cycles per frame. Widths that are not multiples of SIMD / PE are padded: the
lanes past N in the last synapse fold are masked off, the neurons past M are never written.

Ports (``amaranth.lib.stream``, whole frames per transfer):
- ``i``: payload = the input frame, N elements of k_in bits (element e at bits [e*k, (e+1)*k));
- ``o``: payload = the output frame, M elements of k_out bits;
- carried bits (``carried_bits``): bits above the elements on ``i`` that leave with the frame's
  output above its elements on ``o``: a recurrent engine's sequence-start flag (``FLAG_BITS``,
  which the GRU also reads) and a multi-exit network's exit tag (``tag_bits``, only carried);
- ``wr`` (weight storage ``memory`` only): the weight memory's write port (``bitwave.hw.weights``).

Timing (no stalls): a frame is accepted in cycle t; compute cycles t+1 .. t+C (C = NF*SF) issue
one fold step each (stage A: weight/threshold address, input slice); stage B, one cycle later,
adds the PE partial sums into the accumulators and, at the last synapse fold, writes the PE
activations into the output buffer. ``o.valid`` rises in cycle t + C + 2. A new frame may be
accepted from cycle t + C + 1 on; its computation starts once the output buffer is free.
Read in place (``read_in_place``, single buffering) the layer has no input register: it
computes from the upstream register and takes the frame with its last read. With beat input
(``beat_input``, memory buffering) it takes the input stream itself, one SIMD slice a beat,
into a RAM of SF words, and reads the slices back by address; the stream is held off from the
first beat until the frame's last read, exactly as an in-place upstream register would be.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from bitwave.core import ops
from bitwave.core.errors import BitwaveError
from bitwave.core.ir import BinaryDense, Dense
from bitwave.core.ops.base import Schedule
from bitwave.hw.popcount import popcount_tree
from bitwave.hw.thresholds import (
    ThresholdTable,
    constant_activation,
    threshold_table,
    word_activation,
)
from bitwave.hw.weights import STORAGE_STYLES, WeightStore, address_width, write_signature


@dataclass
class _Control:
    """The engine's control signals: stage A fold counters, stage B flags."""

    xbuf: Signal  # the input frame, zero-padded to SF * SIMD elements
    nf: Signal
    sf: Signal
    word_addr: Signal  # the weight store's word ...
    word_part: Signal  # ... and the fold step within it
    b_valid: Signal
    b_first: Signal
    b_last: Signal
    b_frame_last: Signal
    running: Signal  # stage A issues a fold step this cycle
    tag: Signal | None = None  # the exit tag taken with the input frame (``tag_bits`` > 0)
    slices: object = None  # beat input: the frame RAM's read port (stage A addresses it)


class FoldedLayer(wiring.Component):
    """Control, buffering, accumulators and activation shared by the MVTU and the MVU; the
    subclasses supply the lane arithmetic. Folds, cycles, accumulator width and the weight
    store's shape and layout are the op's ``schedule`` (``bitwave.core.ops``)."""

    # bits a frame carries beyond its elements: a recurrent engine's sequence-start flag
    FLAG_BITS = 0

    def __init__(
        self, layer: Dense, pe: int, simd: int, weight_storage: str = "const", tag_bits: int = 0,
        beat_input: bool = False,
    ) -> None:  # fmt: skip
        try:
            if weight_storage not in STORAGE_STYLES:
                raise BitwaveError(
                    f"weight storage {weight_storage!r}: expected one of {STORAGE_STYLES}"
                )
            if tag_bits < 0 or (tag_bits and self.FLAG_BITS):
                raise BitwaveError(
                    f"layer {layer.name}: an exit tag ({tag_bits} bits) rides only on "
                    "feed-forward layers (not on a recurrent one, which carries its start flag)"
                )
            if beat_input and (tag_bits or self.FLAG_BITS):
                raise BitwaveError(
                    f"layer {layer.name}: a frame with carried bits (sequence flag, exit tag) "
                    "cannot be taken beat by beat; memory buffering is for feed-forward layers"
                )
            self.schedule: Schedule = ops.op_of(layer).schedule(layer, pe, simd)
        except BitwaveError:
            self._MustUse__silence = True  # a rejected component is not an unused one
            raise
        self.layer = layer
        self.tag_bits = tag_bits
        self.carried_bits = self.FLAG_BITS + tag_bits
        self.pe, self.simd = pe, simd
        self.nf, self.sf = self.schedule.nf, self.schedule.sf
        self.k_in, self.k_out = layer.in_type.bits, layer.out_type.bits
        self.weight_storage = weight_storage
        self.in_place = False  # ``read_in_place``: no input register of its own
        self.beat_input = beat_input  # the input stream one SIMD slice a beat, into a RAM
        self.thresholds = self._threshold_table()
        # fully parallel constant weights: no store, the weights become wiring
        self.constant_weights = weight_storage == "const" and self.schedule.fully_parallel
        layout = self.schedule.weights
        self.weight_bits, self.step_bits = layout.weight_bits, layout.step_bits
        self.steps_per_word, self.word_bits = layout.steps_per_word, layout.word_bits
        self.store_depth = layout.depth
        in_bits = simd * self.k_in if beat_input else layer.in_width * self.k_in
        signature = {
            "i": In(stream.Signature(in_bits + self.carried_bits)),
            "o": Out(stream.Signature(layer.out_width * self.k_out + self.carried_bits)),
        }
        if weight_storage == "memory":
            signature["wr"] = In(write_signature(address_width(self.store_depth), self.word_bits))
        super().__init__(signature)

    @property
    def lane_widths(self) -> tuple[int, ...]:
        """The operand widths SIMD folds (padding where SIMD does not divide one)."""
        return (self.layer.in_width,)

    def _threshold_table(self) -> ThresholdTable:
        return threshold_table(self.layer)

    # ---- figures (the schedule's) ----------------------------------------------------------
    @property
    def cycles_per_frame(self) -> int:
        return self.schedule.cycles_per_frame

    @property
    def initiation_interval(self) -> int:
        """Cycles between accepted frames when both neighbours keep up."""
        return self.schedule.initiation_interval

    @property
    def latency_cycles(self) -> int:
        """Cycles from accepting a frame to ``o.valid``."""
        return self.schedule.latency_cycles

    def read_in_place(self) -> None:
        """Compute straight from the upstream stage's frame register instead of a copy (single
        buffering, ``NetworkTop(buffering="single")``): the layer starts on a valid frame
        without taking it and takes it (``i.ready``) only in the cycle of its last read, so
        the upstream register holds the frame while the layer folds over it. Saves the
        ``xbuf`` flip-flops; the upstream stage waits for the release instead."""
        if self.carried_bits:
            raise BitwaveError(
                f"layer {self.layer.name}: a frame with carried bits (sequence flag, exit tag) "
                "cannot be read in place; single buffering is for feed-forward layers"
            )
        self.in_place = True

    def weight_words(self) -> list[int]:
        """The store's init, laid out as ``schedule.weights`` says."""
        return ops.op_of(self.layer).store_words(self.layer, self.schedule)

    # ---- lane arithmetic (subclasses) ------------------------------------------------------
    def partial_sum(
        self, m: Module, p: int, x: Value, w: Value | None, mask: Value | None
    ) -> Value:
        """Sum of PE ``p``'s SIMD lane products for input slice ``x`` and weight word ``w``
        (``None`` for fully parallel constant weights); ``mask`` (None = all valid) marks the
        lanes that hold real inputs."""
        raise NotImplementedError

    # ---- the engine -------------------------------------------------------------------------
    def elaborate(self, platform: object) -> Module:
        m = Module()
        ctl = self._control(m, self.sf * self.simd * self.k_in)
        x_slice, mask = self._input_slice(m, ctl)
        w_word = None if self.constant_weights else self._weight_word(m, ctl)
        t_word = self._threshold_word(m, ctl) if self.nf > 1 else None
        activations = [
            self._activation(m, p, ctl, self.partial_sum(m, p, x_slice, w_word, mask), t_word)
            for p in range(self.pe)
        ]
        self._output(m, ctl, activations, self._carried_tag(m, ctl))
        return m

    def _carried_tag(self, m: Module, ctl: _Control) -> Value | None:
        """The exit tag of the frame in the output buffer: taken over from the input frame's
        tag on the edge that completes the frame (like the GRU's start flag)."""
        if ctl.tag is None:
            return None
        tag = Signal(self.tag_bits, name="out_tag")
        with m.If(ctl.b_valid & ctl.b_frame_last):
            m.d.sync += tag.eq(ctl.tag)
        return tag

    def _control(self, m: Module, xbuf_bits: int) -> _Control:
        """Frame hand-shake and the fold counters of stage A; stage B's flags one cycle later.
        ``xbuf_bits``: the input frame buffer's width (the payload is zero-extended into it)."""
        sf_count, nf_count = self.sf, self.nf
        xbuf = Signal(xbuf_bits)
        running = Signal()
        waiting = Signal()
        idle = ~running & ~waiting
        copies_frame = not (self.in_place or self.beat_input)  # takes the whole frame into xbuf
        if copies_frame:
            m.d.comb += self.i.ready.eq(idle)

        nf = Signal(range(max(2, nf_count)))
        sf = Signal(range(max(2, sf_count)))
        word_addr = Signal(range(max(2, self.store_depth)))
        word_part = Signal(range(max(2, self.steps_per_word)))
        last_sf = sf == sf_count - 1
        last_step = last_sf & (nf == nf_count - 1)

        b_valid, b_first, b_last, b_frame_last = Signal(), Signal(), Signal(), Signal()
        m.d.sync += [
            b_valid.eq(running),
            b_first.eq(sf == 0),
            b_last.eq(last_sf),
            b_frame_last.eq(running & last_step),
        ]

        out_free = (~self.o.valid | self.o.ready) & ~(b_valid & b_frame_last)
        tag = None
        frame_valid, slices = self.i.valid, None
        if self.in_place:
            idle = self._hold_in_place(m, xbuf, idle, running & last_step, b_valid & b_frame_last)
        if self.beat_input:
            frame_valid, slices = self._fill_slices(m, running & last_step, running & last_sf)
        with m.If(frame_valid & idle):
            if self.tag_bits:  # the tag rides beside the frame, not in its (padded) buffer
                elements = self.layer.in_width * self.k_in
                tag = Signal(self.tag_bits, name="in_tag")
                m.d.sync += [xbuf.eq(self.i.payload[:elements]), tag.eq(self.i.payload[elements:])]
            elif copies_frame:
                m.d.sync += xbuf.eq(self.i.payload)
            m.d.sync += [running.eq(out_free), waiting.eq(~out_free)]
        with m.If(waiting & out_free):
            m.d.sync += [running.eq(1), waiting.eq(0)]
        with m.If(running):
            if self.steps_per_word > 1:
                with m.If(word_part == self.steps_per_word - 1):
                    m.d.sync += [word_part.eq(0), word_addr.eq(word_addr + 1)]
                with m.Else():
                    m.d.sync += word_part.eq(word_part + 1)
            else:
                m.d.sync += word_addr.eq(word_addr + 1)
            with m.If(last_sf):
                m.d.sync += [sf.eq(0), nf.eq(nf + 1)]
            with m.Else():
                m.d.sync += sf.eq(sf + 1)
            with m.If(last_step):
                m.d.sync += [running.eq(0), word_addr.eq(0), word_part.eq(0), nf.eq(0), sf.eq(0)]
        return _Control(
            xbuf,
            nf,
            sf,
            word_addr,
            word_part,
            b_valid,
            b_first,
            b_last,
            b_frame_last,
            running,
            tag,
            slices,
        )

    def _hold_in_place(
        self, m: Module, xbuf: Signal, idle: Value, last_issue: Value, last_read: Value
    ) -> Value:
        """In-place input (``read_in_place``): ``xbuf`` is the upstream payload, taken in the
        cycle of its last read (``_release``); returns when the layer may start a frame: not
        while stage B finishes one (with SF = 1 the upstream frame is then still the finished
        one; otherwise the output buffer is not free in that cycle anyway)."""
        m.d.comb += [xbuf.eq(self.i.payload), self.i.ready.eq(self._release(last_issue, last_read))]
        return idle & ~last_read

    def _fill_slices(self, m: Module, last_issue: Value, pass_end: Value) -> tuple[Value, object]:
        """Beat input: beat s of a frame is slice s, written to word s of a RAM of SF words;
        returns (a whole frame is held, the RAM's read port). The stream is held off from the
        frame's last beat until stage A issues its last read (after which an overwritten
        word is never read again), as ``_release`` does for an in-place register; the frame
        is read NF times, once a neuron fold (``pass_end``: the last read of a pass)."""
        slice_bits = self.simd * self.k_in
        words = max(2, self.sf)  # a zero-width address is not valid Verilog
        m.submodules.slices = ram = memory.Memory(shape=slice_bits, depth=words, init=[])
        write, read = ram.write_port(), ram.read_port()
        index = Signal(range(words))
        full = Signal()
        last_beat = index == self.sf - 1
        accept = self.i.valid & self.i.ready
        m.d.comb += [
            self.i.ready.eq(~full | self._slices_free(last_issue, pass_end)),
            write.addr.eq(index),
            write.data.eq(self.i.payload),
            write.en.eq(accept),
        ]
        with m.If(last_issue):
            m.d.sync += full.eq(0)
        with m.If(accept):
            m.d.sync += index.eq(Mux(last_beat, 0, index + 1))
            with m.If(last_beat):
                m.d.sync += full.eq(1)
        return full, read

    def _slices_free(self, last_issue: Value, pass_end: Value) -> Value:
        """Beat input: whether the frame RAM may take a beat of the next frame while it holds
        one: the cycle stage A issues its last read, not the end of an earlier pass (a method
        so that tests can build a twin that overwrites the frame it is reading)."""
        return last_issue

    def _release(self, last_issue: Value, last_read: Value) -> Value:
        """The cycle the in-place input frame is read for the last time: stage A's last step
        registers its slice; with one synapse fold stage B reads the frame itself, a cycle
        later. (A method so that tests can build a twin that releases too early.)"""
        return last_issue if self.sf > 1 else last_read

    def _input_slice(self, m: Module, ctl: _Control) -> tuple[Value, Value | None]:
        """Stage B's input slice and the mask of its real lanes (None when all are real)."""
        n, simd, sf_count = self.layer.in_width, self.simd, self.sf
        slice_bits = simd * self.k_in
        if ctl.slices is not None:  # read like the weight store: stage A's address, B's data
            x_slice = ctl.slices.data
            m.d.comb += [ctl.slices.addr.eq(ctl.sf), ctl.slices.en.eq(ctl.running)]
        elif sf_count == 1:
            x_slice = ctl.xbuf  # stable for the whole computation
        else:
            x_slice = Signal(slice_bits)
            with m.If(ctl.running):  # held while idle: stage B reads it only after a step
                m.d.sync += x_slice.eq(ctl.xbuf.word_select(ctl.sf, slice_bits))

        # lanes past N in the last synapse fold are padding
        mask = None
        valid_last = n - (sf_count - 1) * simd
        if valid_last != simd:
            mask = Signal(simd)
            last_mask = Const((1 << valid_last) - 1, simd)
            m.d.comb += mask.eq(Mux(ctl.b_last, last_mask, Const((1 << simd) - 1, simd)))
        return x_slice, mask

    def _weight_word(self, m: Module, ctl: _Control) -> Value:
        """The weight store and stage B's fold step out of its current word."""
        m.submodules.weights = store = WeightStore(
            self.weight_words(), self.word_bits, writable=self.weight_storage == "memory"
        )
        # reads only for the fold steps stage A issues: an idle engine's read register holds
        m.d.comb += [store.addr.eq(ctl.word_addr), store.en.eq(ctl.running)]
        if self.weight_storage == "memory":
            wiring.connect(m, wiring.flipped(self.wr), store.wr)
        w_word = Signal(self.step_bits)
        if self.steps_per_word == 1:
            m.d.comb += w_word.eq(store.data)
        else:
            b_part = Signal.like(ctl.word_part)
            with m.If(ctl.running):
                m.d.sync += b_part.eq(ctl.word_part)
            m.d.comb += w_word.eq(store.data.word_select(b_part, self.step_bits))
        return w_word

    def _threshold_word(self, m: Module, ctl: _Control) -> Value:
        """Thresholds of the PE neurons of the current neuron fold, from a ROM (with one
        neuron fold they are constants instead, see ``_activation``)."""
        table, pe = self.thresholds, self.pe
        words = [
            table.word(range(f * pe, min((f + 1) * pe, self.layer.out_width)), pe)
            for f in range(self.nf)
        ]
        m.submodules.thresholds = t_store = WeightStore(
            words, pe * table.bits_per_neuron, writable=False
        )
        m.d.comb += [t_store.addr.eq(ctl.nf), t_store.en.eq(ctl.running)]
        t_word = Signal(pe * table.bits_per_neuron)
        m.d.comb += t_word.eq(t_store.data)
        return t_word

    def _activation(
        self, m: Module, p: int, ctl: _Control, partial: Value, t_word: Value | None
    ) -> Value:
        """Stage B of PE ``p``: accumulate the partial sum over the synapse folds, then the
        multi-threshold activation of the (running) sum."""
        if self.sf == 1:
            acc_next = partial
        else:
            bits = self.schedule.acc_bits
            shape = signed(bits) if self.schedule.acc_signed else unsigned(bits)
            acc = Signal(shape, name=f"acc{p}")
            acc_next = Signal(shape, name=f"acc{p}_next")
            m.d.comb += acc_next.eq(Mux(ctl.b_first, 0, acc) + partial)
            with m.If(ctl.b_valid):
                m.d.sync += acc.eq(acc_next)
        table = self.thresholds
        if t_word is None:
            return constant_activation(
                acc_next, table.values[p], int(table.direction[p]), self.k_out
            )
        word = t_word[p * table.bits_per_neuron : (p + 1) * table.bits_per_neuron]
        return word_activation(acc_next, word, table.levels, table.width, self.k_out)

    def _output(
        self, m: Module, ctl: _Control, activations: list[Value], carried: Value | None = None
    ) -> Value:
        """The output frame buffer, filled PE activations at a time, and ``o.valid``;
        ``carried`` (the frame's start flag or exit tag) rides above the frame. Returns the
        buffer's next value at the last write: the finished output frame."""
        nf_count = self.nf
        group_bits = self.pe * self.k_out
        obuf = Signal(nf_count * group_bits)
        group = Signal(group_bits)
        m.d.comb += group.eq(Cat(*activations))
        # The neuron folds finish in order 0..NF-1 and a frame starts only once the last
        # output is taken, so the groups shift in from the top: after NF writes group 0 is
        # at the bottom. (Writing group nf in place is an NF-way write decoder: at
        # NF = 1024 Yosys runs out of memory on it.)
        filled = group if nf_count == 1 else Cat(obuf[group_bits:], group)
        with m.If(ctl.b_valid & ctl.b_last):
            m.d.sync += obuf.eq(filled)
        frame = obuf[: self.layer.out_width * self.k_out]
        m.d.comb += self.o.payload.eq(frame if carried is None else Cat(frame, carried))
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(ctl.b_valid & ctl.b_frame_last):
            m.d.sync += self.o.valid.eq(1)
        return filled


class MVTU(FoldedLayer):
    """Binary matrix-vector-threshold unit: XNOR of bipolar inputs and weights, popcount
    (a compressor tree per PE), per-neuron accumulators, multi-threshold activation."""

    def __init__(
        self,
        layer: BinaryDense,
        pe: int,
        simd: int,
        weight_storage: str = "const",
        tag_bits: int = 0,
        beat_input: bool = False,
    ) -> None:
        if not isinstance(layer, BinaryDense):
            self._MustUse__silence = True  # a rejected component is not an unused one
            raise BitwaveError(
                f"layer {layer.name}: the MVTU implements binary_dense, not {layer.op}"
            )
        super().__init__(layer, pe, simd, weight_storage, tag_bits, beat_input)
        self._bits = layer.weight_bits()

    def partial_sum(
        self, m: Module, p: int, x: Value, w: Value | None, mask: Value | None
    ) -> Value:
        if w is None:  # constant weights: XNOR with +1 is a wire, with -1 an inversion
            negate = (self._bits[p] == 0).tolist()
            bits = [x[s] for s in range(self.simd)]
            count, _ = popcount_tree(m, bits, negate, prefix=f"pe{p}_")
            return count
        match = Signal(self.simd, name=f"pe{p}_xnor")
        lanes = w[p * self.simd : (p + 1) * self.simd]
        expr = ~(x ^ lanes)
        m.d.comb += match.eq(expr & mask if mask is not None else expr)
        count, _ = popcount_tree(m, [match[s] for s in range(self.simd)], prefix=f"pe{p}_")
        return count
