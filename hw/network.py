"""The streaming network top: beats in, a dataflow pipeline of folded layers, beats out.

    data_in (beats) -> FrameDeserializer -> layer 0 -> layer 1 -> ... -> FrameSerializer -> data_out

Every link is an ``amaranth.lib.stream`` with valid/ready backpressure; one clock domain
(``clk``) with a synchronous, active-high reset (``rst``). Each layer keeps one input frame
(it re-reads it NF times) and one output frame (it produces PE neurons at a time); a layer
starts its next frame as soon as its output buffer has been taken, so all layers work on
consecutive frames at the same time. With ``weight_storage="memory"`` the top also has a
weight write bus ``wmem`` (en, addr, data) decoded onto the layers' memories (see
``weight_memory_map``). A network with early exits gets an exit selector port and, around the
trunk, the demuxes, heads and in-order merge of ``bitwave.hw.exits``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from amaranth.hdl import Module, Value
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from bitwave.core import ops
from bitwave.core.contract import BUFFERING
from bitwave.core.errors import BitwaveError
from bitwave.core.ir import Dense, Network
from bitwave.core.ops.base import Schedule
from bitwave.core.paths import sanitize_identifier
from bitwave.hw import exits
from bitwave.hw.exits import EXIT_PORT, hardware_layers
from bitwave.hw.folding import LayerFold
from bitwave.hw.framing import FrameDeserializer, FrameSerializer, beats_per_frame
from bitwave.hw.gru import FoldedGRU
from bitwave.hw.mvtu import MVTU, FoldedLayer
from bitwave.hw.mvu import MVU
from bitwave.hw.weights import address_width, write_signature

# op name -> the folded engine that implements it (the ops hardware supports)
BUILDERS: dict[str, type[FoldedLayer]] = {
    "binary_dense": MVTU,
    "int_dense": MVU,
    "binary_gru": FoldedGRU,
}
START_PORT = "data_in_start"  # a recurrent network's sequence-start flag, with a frame's first beat


def recurrent_prefix(net: Network) -> int:
    """How many leading layers carry the sequence flag (the recurrent ones). The flag rides on
    the frames from the deserializer through them, so they must come first."""
    stateful = [ops.op_of(layer).STATEFUL for layer in net.layers]
    prefix = stateful.index(False) if False in stateful else len(stateful)
    if any(stateful[prefix:]):
        names = [layer.name for layer in net.layers]
        raise BitwaveError(
            f"layers {names}: hardware needs the recurrent layers (binary_gru) before every "
            "other layer, so that the sequence-start flag reaches them"
        )
    return prefix


def build_layer(
    layer: Dense, fold: LayerFold, weight_storage: str, tag_bits: int = 0, beat_input: bool = False
) -> FoldedLayer:
    """The folded engine of ``layer``'s op (``BUILDERS``), carrying ``tag_bits`` exit-tag bits;
    ``beat_input``: it takes the input stream one SIMD slice a beat (memory buffering)."""
    builder = BUILDERS.get(ops.op_of(layer).NAME)
    if builder is None:
        raise BitwaveError(
            f"layer {layer.name}: op {layer.op!r} has no hardware implementation "
            f"({', '.join(BUILDERS)})"
        )
    if tag_bits:
        return builder(layer, fold.pe, fold.simd, weight_storage, tag_bits)
    if beat_input:
        return builder(layer, fold.pe, fold.simd, weight_storage, beat_input=True)
    return builder(layer, fold.pe, fold.simd, weight_storage)


@dataclass(frozen=True)
class MemoryRegion:
    layer: str
    base: int
    depth: int
    word_bits: int


def weight_memory_map(layers: list[FoldedLayer]) -> list[MemoryRegion]:
    """Layer weight memories laid out one after another in the ``wmem`` address space."""
    regions, base = [], 0
    for block in layers:
        depth = block.store_depth
        regions.append(MemoryRegion(block.layer.name, base, depth, block.word_bits))
        base += depth
    return regions


def weight_image(net: Network, folds: dict[str, LayerFold]) -> list[int]:
    """Every word of the ``wmem`` address space for ``net`` folded as ``folds`` (address 0
    upwards): what to write through the weight bus to load this network's weights (the
    chain's layers, then the early exits' heads)."""
    words = []
    for layer in hardware_layers(net):
        fold = folds[layer.name]
        op = ops.op_of(layer)
        words.extend(op.store_words(layer, op.schedule(layer, fold.pe, fold.simd)))
    return words


class NetworkTop(wiring.Component):
    def __init__(
        self,
        net: Network,
        folds: dict[str, LayerFold],
        weight_storage: str = "const",
        in_beat_bits: int = 32,
        out_beat_bits: int = 32,
        buffering: str = "double",
    ) -> None:
        self.net = net
        self.folds = dict(folds)
        self.buffering = buffering
        missing = [layer.name for layer in hardware_layers(net) if layer.name not in folds]
        if missing:
            self._MustUse__silence = True  # a rejected component is not an unused one
            raise BitwaveError(f"no folding given for layer(s) {missing}")
        try:
            self.recurrent = recurrent_prefix(net)
            self.exit_plan = exits.plan_exits(net)
            check_buffering(net, buffering)
        except BitwaveError:
            self._MustUse__silence = True  # a rejected component is not an unused one
            raise
        tags = self.exit_plan.tag_bits if net.exits else 0
        self.blocks = [
            build_layer(layer, folds[layer.name], weight_storage,
                        tags if index < self.exit_plan.tagged_layers else 0,
                        beat_input=index == 0 and buffering == "memory")
            for index, layer in enumerate(net.layers)
        ]  # fmt: skip
        if buffering == "single":
            self.blocks[0].read_in_place()
        if buffering == "memory":  # the first layer's input slice is the input beat
            in_beat_bits = self.blocks[0].simd * self.blocks[0].k_in
        # the early exits' heads (exit k reads the trunk layer exit_plan.after names)
        self.heads = [build_layer(early.head, folds[early.head.name], weight_storage)
                      for early in net.exits]  # fmt: skip
        self.block_names, self.head_names = self._names()
        self.weight_storage = weight_storage
        self.in_bits = net.input_width * net.input_type.bits
        self.out_bits = net.output_width * net.output_type.bits
        for what, value in (("input beat bits", in_beat_bits), ("output beat bits", out_beat_bits)):
            if value < 1:
                raise BitwaveError(f"{what} must be >= 1, got {value}")
        self.in_beat_bits = min(in_beat_bits, self.in_bits)
        self.out_beat_bits = min(out_beat_bits, self.out_bits)
        self.in_beats = beats_per_frame(self.in_bits, self.in_beat_bits)
        self.out_beats = beats_per_frame(self.out_bits, self.out_beat_bits)
        signature = {
            "data_in": In(stream.Signature(self.in_beat_bits)),
            "data_out": Out(stream.Signature(self.out_beat_bits)),
        }
        if self.recurrent:
            signature[START_PORT] = In(1)
        if net.exits:
            signature[EXIT_PORT] = In(self.exit_plan.tag_bits)
        self.memory_map: list[MemoryRegion] = []
        if weight_storage == "memory":
            self.memory_map = weight_memory_map(self.all_blocks)
            total = sum(region.depth for region in self.memory_map)
            self.wmem_addr_bits = address_width(total)
            self.wmem_data_bits = max(region.word_bits for region in self.memory_map)
            signature["wmem"] = In(write_signature(self.wmem_addr_bits, self.wmem_data_bits))
        super().__init__(signature)

    def _names(self) -> tuple[list[str], list[str]]:
        """HDL names of the chain's blocks and of the heads, refused if any two collide."""
        layers = hardware_layers(self.net)
        names = [sanitize_identifier(layer.name, "layer") for layer in layers]
        if len(set(names)) != len(names):
            self.discard()
            raise BitwaveError(
                f"layer names {[layer.name for layer in layers]} collide as HDL identifiers {names}"
            )
        chain = len(self.net.layers)
        return names[:chain], names[chain:]

    @property
    def all_blocks(self) -> list[FoldedLayer]:
        """The chain's blocks, then the heads (the weight memory's region order)."""
        return [*self.blocks, *self.heads]

    def discard(self) -> None:
        """Mark this top and its layers as intentionally never elaborated (e.g. rejected)."""
        for obj in [self, *self.all_blocks]:
            obj._MustUse__silence = True

    # ---- timing (checked against simulation in tests/test_hw_network.py, test_hw_exits.py) --
    def exit_blocks(self, k: int) -> list[FoldedLayer]:
        """The blocks a frame at exit ``k`` passes (``net.exit_layers(k)``)."""
        if k == self.exit_plan.final:
            return list(self.blocks)
        depth = next(index for index, e in self.exit_plan.after.items() if e == k) + 1
        return [*self.blocks[:depth], self.heads[k]]

    def exit_cycles_per_frame(self, k: int) -> int:
        """Steady-state cycles between frames when every frame takes exit ``k``: the slowest
        stage on its path (the blocks beyond it are idle; ``path_timing``)."""
        schedules = [block.schedule for block in self.exit_blocks(k)]
        return path_timing(schedules, self.in_beats, self.out_beats, self.buffering)[0]

    def exit_latency_cycles(self, k: int) -> int:
        """Clock edges from the one that accepts a frame's first input beat to the one after
        which its last output beat is valid, with no stalls, for a frame at exit ``k``
        (``path_timing``)."""
        schedules = [block.schedule for block in self.exit_blocks(k)]
        return path_timing(schedules, self.in_beats, self.out_beats, self.buffering)[1]

    @property
    def cycles_per_frame(self) -> int:
        """Steady-state cycles between frames (at the final exit): the slowest stage's
        initiation interval."""
        return self.exit_cycles_per_frame(self.exit_plan.final)

    @property
    def slowest_cycles_per_frame(self) -> int:
        """The largest ``exit_cycles_per_frame`` over the exits (a head may be slower than the
        whole chain): the frame rate every exit sustains."""
        return max(map(self.exit_cycles_per_frame, range(self.exit_plan.n_exits)))

    @property
    def latency_cycles(self) -> int:
        """``exit_latency_cycles`` of the final exit (the whole chain)."""
        return self.exit_latency_cycles(self.exit_plan.final)

    @property
    def order_depth(self) -> int:
        """Depth of a multi-exit top's order FIFO (``bitwave.hw.exits.order_depth``)."""
        return exits.order_depth(len(self.all_blocks))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        # memory buffering: the first layer takes the input beats itself
        deserializer = None if self.buffering == "memory" else self._deserializer(m)
        m.submodules.serializer = serializer = FrameSerializer(
            self.out_bits, self.out_beat_bits, buffered=self.buffering == "double"
        )
        if self.net.exits:
            self._exit_pipeline(m, deserializer, serializer)
        else:
            self._chain(m, deserializer, serializer)
        wiring.connect(m, serializer.o, wiring.flipped(self.data_out))
        for region, block in zip(self.memory_map, self.all_blocks, strict=False):
            hit = (self.wmem.addr >= region.base) & (self.wmem.addr < region.base + region.depth)
            m.d.comb += [
                block.wr.en.eq(self.wmem.en & hit),
                block.wr.addr.eq(self.wmem.addr - region.base),
                block.wr.data.eq(self.wmem.data[: region.word_bits]),
            ]
        return m

    def _deserializer(self, m: Module) -> FrameDeserializer:
        """The input beats into whole frames, with the sequence flag or the exit tag."""
        tags = self.exit_plan.tag_bits if self.net.exits else 0
        m.submodules.deserializer = deserializer = FrameDeserializer(
            self.in_bits, self.in_beat_bits, flag=bool(self.recurrent), tag_bits=tags
        )
        wiring.connect(m, wiring.flipped(self.data_in), deserializer.i)
        if self.recurrent:
            m.d.comb += deserializer.start.eq(getattr(self, START_PORT))
        return deserializer

    def _chain(
        self, m: Module, deserializer: FrameDeserializer | None, serializer: FrameSerializer
    ) -> None:
        """Input, the layers one after another, the serializer; without a deserializer (memory
        buffering) the first layer takes the input beats itself."""
        upstream = wiring.flipped(self.data_in) if deserializer is None else deserializer.o
        for name, block in zip(self.block_names, self.blocks, strict=True):
            m.submodules[name] = block
            _link(m, upstream, block.i)
            upstream = block.o
        _link(m, upstream, serializer.i)

    def _exit_pipeline(
        self, m: Module, deserializer: FrameDeserializer, serializer: FrameSerializer
    ) -> None:
        """Trunk, demuxes, heads, order FIFO and merge (``bitwave.hw.exits``)."""
        plan = self.exit_plan
        m.d.comb += deserializer.tag.eq(getattr(self, EXIT_PORT))
        m.submodules.exit_order = order = exits.order_fifo(plan.tag_bits, len(self.all_blocks))
        exits.enter(m, deserializer.o, self.blocks[0], order, self.in_bits)
        for index, (name, block) in enumerate(zip(self.block_names, self.blocks, strict=True)):
            m.submodules[name] = block
            k = plan.after.get(index)
            following = self.blocks[index + 1] if index + 1 < len(self.blocks) else None
            if k is not None:
                head = self.heads[k]
                m.submodules[self.head_names[k]] = head
                data_bits = block.layer.out_width * block.k_out
                tag = block.o.payload[data_bits : data_bits + plan.tag_bits]
                exits.demux(m, block.o, self._takes_exit(tag, k), head.i, following.i)
            elif following is not None:
                _link(m, block.o, following.i)
        outputs = [head.o for head in self.heads] + [self.blocks[-1].o]
        self._merge(m, outputs, order, serializer.i)

    # the two routing decisions, methods so that tests can build defective twins
    def _takes_exit(self, tag: Value, k: int) -> Value:
        """Whether a frame with this tag leaves at early exit ``k``."""
        return tag == k

    def _merge(self, m: Module, outputs: list[object], order: object, sink: object) -> None:
        exits.merge(m, outputs, order, sink)


def path_timing(
    path: Sequence[Schedule], in_beats: int, out_beats: int, buffering: str = "double"
) -> tuple[int, int]:
    """(cycles per frame, latency in cycles) of frames through the layers ``path`` between
    ``in_beats`` input and ``out_beats`` output beats, with no stalls: the one owner of these
    rules (``NetworkTop`` claims them, ``bitwave explore`` plans with them).

    Cycles: the slowest stage. Single buffering adds two shared registers' periods: the first
    layer releases the input frame once its last read is issued (C - 1 cycles after starting;
    C when one synapse fold reads an in-place register from stage B; a frame RAM's read is
    registered at the issue), which then takes K_in beats and is handed over a cycle later;
    the last layer's output register is free once the serializer took its last beat, K_out
    cycles after it became valid, C + 1 after the layer started. Memory buffering is single
    buffering whose K_in beats are the first layer's SF slices.

    Latency: the deserializer hands the frame on at the edge after its last beat, each layer
    hands its output on C + 2 edges after taking its input, and the serializer shows beat b
    from the edge b after it takes the frame; an unbuffered serializer (single and memory
    buffering) shows it one edge earlier, straight from the last layer's register."""
    first, last = path[0], path[-1]
    if buffering == "memory":
        in_beats = first.sf
    stages = [in_beats, out_beats, *(schedule.initiation_interval for schedule in path)]
    latency = in_beats + sum(schedule.latency_cycles for schedule in path) + out_beats - 1
    if buffering != "double":
        release = first.cycles_per_frame - (1 if first.sf > 1 or buffering == "memory" else 0)
        stages += [release + in_beats + 1, last.cycles_per_frame + 1 + out_beats]
        latency -= 1
    return max(stages), latency


def check_buffering(net: Network, buffering: str) -> None:
    """Refuse a buffering mode that is unknown or not built for ``net``: single and memory
    buffering cover feed-forward, single-exit networks (binary_dense / int_dense layers)."""
    if buffering not in BUFFERING:
        raise BitwaveError(f"buffering {buffering!r}: expected one of {', '.join(BUFFERING)}")
    if buffering == "double":
        return
    dense = ("binary_dense", "int_dense")
    others = sorted({layer.op for layer in net.layers} - set(dense))
    if others or net.exits:
        what = f"op(s) {', '.join(others)}" if others else f"{len(net.exits)} early exit(s)"
        raise BitwaveError(
            f"network {net.name}: buffering {buffering!r} is built for feed-forward networks of "
            f"{' / '.join(dense)} layers without early exits, not {what}; use 'double'"
        )


def _link(m: Module, upstream: object, downstream: object) -> None:
    """Connect two frame streams; where the upstream frame carries the sequence flag above its
    elements and the downstream one does not (a GRU feeding a dense layer), the flag is dropped."""
    up, down = len(upstream.payload), len(downstream.payload)
    if up == down:
        wiring.connect(m, upstream, downstream)
        return
    if up != down + 1:
        raise BitwaveError(f"internal: cannot link a {up}-bit frame stream to a {down}-bit one")
    m.d.comb += [
        downstream.payload.eq(upstream.payload[:down]),
        downstream.valid.eq(upstream.valid),
        upstream.ready.eq(downstream.ready),
    ]
