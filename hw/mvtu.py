"""The folded dense layer engine and the binary matrix-vector-threshold unit (MVTU).

A layer with N inputs and M outputs runs PE output neurons in parallel, each consuming SIMD
input elements per cycle: SF = ceil(N / SIMD) synapse folds, NF = ceil(M / PE) neuron folds,
NF * SF compute cycles per frame. Widths that are not multiples of SIMD / PE are padded: the
lanes past N in the last synapse fold are masked off, the neurons past M are never written.

Ports (``amaranth.lib.stream``, whole frames per transfer):
- ``i``: payload = the input frame, N elements of k_in bits (element e at bits [e*k, (e+1)*k));
- ``o``: payload = the output frame, M elements of k_out bits;
- ``wr`` (weight storage ``memory`` only): the weight memory's write port (``bitwave.hw.weights``).

Timing (no stalls): a frame is accepted in cycle t; compute cycles t+1 .. t+C (C = NF*SF) issue
one fold step each (stage A: weight/threshold address, input slice); stage B, one cycle later,
adds the PE partial sums into the accumulators and, at the last synapse fold, writes the PE
activations into the output buffer. ``o.valid`` rises in cycle t + C + 2. A new frame may be
accepted from cycle t + C + 1 on; its computation starts once the output buffer is free.
"""

from __future__ import annotations

import math

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from bitwave.core.errors import BitwaveError
from bitwave.core.ir import BinaryDense, Dense
from bitwave.hw.folding import LAYER_II_EXTRA
from bitwave.hw.popcount import count_width, popcount_tree
from bitwave.hw.thresholds import (
    ThresholdTable,
    constant_activation,
    threshold_table,
    word_activation,
)
from bitwave.hw.weights import (
    STORAGE_STYLES,
    WeightStore,
    address_width,
    pack_words,
    write_signature,
)

# Cycles a layer adds beyond its NF * SF compute cycles (see the module docstring).
LAYER_LATENCY_EXTRA = 2
STORE_WORD_BITS = 64


class FoldedLayer(wiring.Component):
    """Control, buffering, accumulators and activation shared by the MVTU and the MVU; the
    subclasses supply the lane arithmetic."""

    weight_bits = 1  # bits per stored weight

    def __init__(self, layer: Dense, pe: int, simd: int, weight_storage: str = "const") -> None:
        if weight_storage not in STORAGE_STYLES:
            self._MustUse__silence = True  # a rejected component is not an unused one
            raise BitwaveError(
                f"weight storage {weight_storage!r}: expected one of {STORAGE_STYLES}"
            )
        if not (1 <= pe <= layer.out_width and 1 <= simd <= layer.in_width):
            self._MustUse__silence = True  # a rejected component is not an unused one
            raise BitwaveError(
                f"layer {layer.name}: pe={pe}, simd={simd} out of range: need 1 <= pe <= "
                f"{layer.out_width} (out_width) and 1 <= simd <= {layer.in_width} (in_width)"
            )
        self.layer = layer
        self.pe, self.simd = pe, simd
        self.sf = math.ceil(layer.in_width / simd)
        self.nf = math.ceil(layer.out_width / pe)
        self.k_in, self.k_out = layer.in_type.bits, layer.out_type.bits
        self.weight_storage = weight_storage
        self.thresholds: ThresholdTable = threshold_table(layer)
        # fully parallel constant weights: no store, the weights become wiring
        self.constant_weights = weight_storage == "const" and self.sf == 1 and self.nf == 1
        # Storage words pack G consecutive fold steps (G = the largest power of two with
        # G * step_bits <= STORE_WORD_BITS): a narrow, deep ROM (e.g. 2 bits x 1M) becomes
        # 64 bits x 32k, a better memory shape and a far smaller Verilog file.
        self.step_bits = pe * simd * self.weight_bits
        steps = self.nf * self.sf
        self.steps_per_word = 1
        while (
            self.steps_per_word * 2 * self.step_bits <= STORE_WORD_BITS
            and self.steps_per_word < steps
        ):
            self.steps_per_word *= 2
        self.word_bits = self.steps_per_word * self.step_bits
        self.store_depth = math.ceil(steps / self.steps_per_word)
        signature = {
            "i": In(stream.Signature(layer.in_width * self.k_in)),
            "o": Out(stream.Signature(layer.out_width * self.k_out)),
        }
        if weight_storage == "memory":
            signature["wr"] = In(write_signature(address_width(self.store_depth), self.word_bits))
        super().__init__(signature)

    # ---- figures ---------------------------------------------------------------------------
    @property
    def cycles_per_frame(self) -> int:
        return self.nf * self.sf

    @property
    def initiation_interval(self) -> int:
        """Cycles between accepted frames when both neighbours keep up."""
        return self.cycles_per_frame + LAYER_II_EXTRA

    @property
    def latency_cycles(self) -> int:
        """Cycles from accepting a frame to ``o.valid``."""
        return self.cycles_per_frame + LAYER_LATENCY_EXTRA

    # ---- weights ---------------------------------------------------------------------------
    def lane_codes(self) -> np.ndarray:
        """(M, N) unsigned codes of the stored weights (``weight_bits`` each)."""
        raise NotImplementedError

    def weight_words(self) -> list[int]:
        """The store's init: word nf*SF + sf, lane (p, s) = weight (nf*PE + p, sf*SIMD + s)."""
        codes = self.lane_codes()
        m_pad, n_pad = self.nf * self.pe, self.sf * self.simd
        padded = np.zeros((m_pad, n_pad), np.int64)
        padded[: codes.shape[0], : codes.shape[1]] = codes
        blocks = padded.reshape(self.nf, self.pe, self.sf, self.simd).transpose(0, 2, 1, 3)
        lanes_per_step = self.pe * self.simd
        steps = blocks.reshape(self.nf * self.sf, lanes_per_step)
        grouped = np.zeros((self.store_depth * self.steps_per_word, lanes_per_step), np.int64)
        grouped[: steps.shape[0]] = steps
        return pack_words(grouped.reshape(self.store_depth, -1), self.weight_bits)

    # ---- lane arithmetic (subclasses) ------------------------------------------------------
    def partial_sum(
        self, m: Module, p: int, x: Value, w: Value | None, mask: Value | None
    ) -> Value:
        """Sum of PE ``p``'s SIMD lane products for input slice ``x`` and weight word ``w``
        (``None`` for fully parallel constant weights); ``mask`` (None = all valid) marks the
        lanes that hold real inputs."""
        raise NotImplementedError

    def accumulator_width(self) -> tuple[int, bool]:
        """(bits, signed) of a neuron's accumulator."""
        raise NotImplementedError

    # ---- the engine -------------------------------------------------------------------------
    def elaborate(self, platform: object) -> Module:
        m = Module()
        n, pe, simd, sf_count, nf_count = self.layer.in_width, self.pe, self.simd, self.sf, self.nf
        slice_bits = simd * self.k_in

        # input frame buffer, zero-padded to SF * SIMD elements
        xbuf = Signal(sf_count * slice_bits)
        running = Signal()
        waiting = Signal()
        idle = ~running & ~waiting
        m.d.comb += self.i.ready.eq(idle)

        # fold counters (stage A)
        nf = Signal(range(max(2, nf_count)))
        sf = Signal(range(max(2, sf_count)))
        word_addr = Signal(range(max(2, self.store_depth)))
        word_part = Signal(range(max(2, self.steps_per_word)))
        last_sf = sf == sf_count - 1
        last_step = last_sf & (nf == nf_count - 1)

        # stage B flags, registered from stage A
        b_valid, b_first, b_last, b_frame_last = Signal(), Signal(), Signal(), Signal()
        m.d.sync += [
            b_valid.eq(running),
            b_first.eq(sf == 0),
            b_last.eq(last_sf),
            b_frame_last.eq(running & last_step),
        ]

        out_free = (~self.o.valid | self.o.ready) & ~(b_valid & b_frame_last)
        with m.If(self.i.valid & idle):
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

        # input slice for stage B
        if sf_count == 1:
            x_slice = xbuf  # stable for the whole computation
        else:
            x_slice = Signal(slice_bits)
            m.d.sync += x_slice.eq(xbuf.word_select(sf, slice_bits))

        # lanes past N in the last synapse fold are padding
        mask = None
        valid_last = n - (sf_count - 1) * simd
        if valid_last != simd:
            mask = Signal(simd)
            last_mask = Const((1 << valid_last) - 1, simd)
            m.d.comb += mask.eq(Mux(b_last, last_mask, Const((1 << simd) - 1, simd)))

        # weights
        w_word = None
        if not self.constant_weights:
            m.submodules.weights = store = WeightStore(
                self.weight_words(), self.word_bits, writable=self.weight_storage == "memory"
            )
            m.d.comb += store.addr.eq(word_addr)
            if self.weight_storage == "memory":
                wiring.connect(m, wiring.flipped(self.wr), store.wr)
            w_word = Signal(self.step_bits)
            if self.steps_per_word == 1:
                m.d.comb += w_word.eq(store.data)
            else:
                b_part = Signal.like(word_part)
                m.d.sync += b_part.eq(word_part)
                m.d.comb += w_word.eq(store.data.word_select(b_part, self.step_bits))

        # thresholds: constants when each PE always computes the same neuron, else a ROM
        table = self.thresholds
        t_word = None
        if nf_count > 1:
            words = [
                table.word(range(f * pe, min((f + 1) * pe, self.layer.out_width)), pe)
                for f in range(nf_count)
            ]
            m.submodules.thresholds = t_store = WeightStore(
                words, pe * table.bits_per_neuron, writable=False
            )
            m.d.comb += t_store.addr.eq(nf)
            t_word = Signal(pe * table.bits_per_neuron)
            m.d.comb += t_word.eq(t_store.data)

        # stage B: partial sums, accumulators, activations
        acc_bits, acc_signed = self.accumulator_width()
        activations = []
        for p in range(pe):
            partial = self.partial_sum(m, p, x_slice, w_word, mask)
            if sf_count == 1:
                acc_next = partial
            else:
                shape = signed(acc_bits) if acc_signed else unsigned(acc_bits)
                acc = Signal(shape, name=f"acc{p}")
                acc_next = Signal(shape, name=f"acc{p}_next")
                m.d.comb += acc_next.eq(Mux(b_first, 0, acc) + partial)
                with m.If(b_valid):
                    m.d.sync += acc.eq(acc_next)
            if t_word is None:
                act = constant_activation(
                    acc_next, table.values[p], int(table.direction[p]), self.k_out
                )
            else:
                word = t_word[p * table.bits_per_neuron : (p + 1) * table.bits_per_neuron]
                act = word_activation(acc_next, word, table.levels, table.width, self.k_out)
            activations.append(act)

        group_bits = pe * self.k_out
        obuf = Signal(nf_count * group_bits)
        group = Signal(group_bits)
        m.d.comb += group.eq(Cat(*activations))
        with m.If(b_valid & b_last):
            # The neuron folds finish in order 0..NF-1 and a frame starts only once the last
            # output is taken, so the groups shift in from the top: after NF writes group 0 is
            # at the bottom. (Writing group nf in place is an NF-way write decoder: at
            # NF = 1024 Yosys runs out of memory on it.)
            if nf_count == 1:
                m.d.sync += obuf.eq(group)
            else:
                m.d.sync += obuf.eq(Cat(obuf[group_bits:], group))
        m.d.comb += self.o.payload.eq(obuf[: self.layer.out_width * self.k_out])
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(b_valid & b_frame_last):
            m.d.sync += self.o.valid.eq(1)
        return m


class MVTU(FoldedLayer):
    """Binary matrix-vector-threshold unit: XNOR of bipolar inputs and weights, popcount
    (a compressor tree per PE), per-neuron accumulators, multi-threshold activation."""

    weight_bits = 1

    def __init__(
        self, layer: BinaryDense, pe: int, simd: int, weight_storage: str = "const"
    ) -> None:
        if not isinstance(layer, BinaryDense):
            self._MustUse__silence = True  # a rejected component is not an unused one
            raise BitwaveError(
                f"layer {layer.name}: the MVTU implements binary_dense, not {layer.op}"
            )
        super().__init__(layer, pe, simd, weight_storage)
        self._bits = layer.weight_bits()

    def lane_codes(self) -> np.ndarray:
        return self._bits.astype(np.int64)

    def accumulator_width(self) -> tuple[int, bool]:
        return count_width(self.layer.in_width), False

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
