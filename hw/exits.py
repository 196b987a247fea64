"""Multi-exit networks in hardware: the exit tag, the demux after a trunk layer that has an early
exit, and the in-order merge of the exits' masks (docs/hw.md, "Multi-exit networks").

    data_in + data_in_exit -> deserializer -> fc0 -> [demux] -> fc1 -> ... -> final -> merge -> data_out
                                                       |                           ^
                                                       +-> exit0 ------------------+

The exit selector ``data_in_exit`` is sampled with a frame's first beat and carried as a tag
above the frame's elements through the trunk layers up to the last early exit. After a trunk
layer with exit k, a frame tagged k goes to head k and any other to the next trunk layer, so
the layers beyond a frame's exit never see it (their enables stay low). Heads finish out of
order (a shallow frame can overtake a deeper earlier one), so the tag of every frame that
enters the network is queued in an order FIFO, and the merge passes only the head the FIFO's
oldest tag names. A selector >= n_exits needs no clamp: no demux matches it and the merge's
default is the final exit, so such a frame is a final-exit frame everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Module, Mux, Value
from amaranth.lib.fifo import SyncFIFO

from bitwave.core import ops
from bitwave.core.errors import BitwaveError
from bitwave.core.ir import Layer, Network

EXIT_PORT = "data_in_exit"  # a multi-exit network's exit selector, with a frame's first beat
# frames a folded layer can hold: one input frame (xbuf) and one finished output frame (obuf)
FRAMES_PER_BLOCK = 2


def hardware_layers(net: Network) -> list[Layer]:
    """Every layer the hardware builds: the chain (trunk and final exit), then the early
    exits' heads in exit order (also the weight memory's region order)."""
    return [*net.layers, *(early.head for early in net.exits)]


def exit_tag_bits(n_exits: int) -> int:
    """Width of the exit selector: ceil(log2(n_exits)), at least 1."""
    return max(1, (n_exits - 1).bit_length())


@dataclass(frozen=True)
class ExitPlan:
    """Where the early exits sit on the trunk (``net.layers``) and how far the tag rides."""

    n_exits: int
    tag_bits: int
    after: dict[int, int]  # trunk layer index -> the early exit whose head reads its output

    @property
    def final(self) -> int:
        """The final exit's number (= the number of early exits)."""
        return self.n_exits - 1

    @property
    def tagged_layers(self) -> int:
        """How many leading trunk layers carry the tag: up to the last early exit's layer
        (beyond it only final-exit frames pass, so no tag is needed)."""
        return max(self.after) + 1 if self.after else 0


def plan_exits(net: Network) -> ExitPlan:
    """The exit plan of ``net``; early exits on a recurrent trunk are refused."""
    if net.exits and any(ops.op_of(layer).STATEFUL for layer in net.layers):
        raise BitwaveError(
            f"network {net.name}: hardware supports early exits only on a feed-forward trunk "
            "(binary_dense / int_dense layers), not with binary_gru layers"
        )
    names = [layer.name for layer in net.layers]
    after = {names.index(early.after): k for k, early in enumerate(net.exits)}
    return ExitPlan(net.n_exits, exit_tag_bits(net.n_exits), after)


def order_depth(blocks: int) -> int:
    """Order FIFO depth: the most frames that can be in flight between entering the first
    layer and leaving through the merge (each folded layer holds at most two)."""
    return FRAMES_PER_BLOCK * blocks


def order_fifo(tag_bits: int, blocks: int) -> SyncFIFO:
    return SyncFIFO(width=tag_bits, depth=order_depth(blocks))


def enter(m: Module, source: object, first: object, order: SyncFIFO, data_bits: int) -> None:
    """The deserializer's frame (tag above its ``data_bits``) into the first layer; its tag is
    queued as it enters, and the input waits while the queue is full."""
    m.d.comb += [
        first.i.payload.eq(source.payload),
        first.i.valid.eq(source.valid & order.w_rdy),
        source.ready.eq(first.i.ready & order.w_rdy),
        order.w_en.eq(source.valid & source.ready),
        order.w_data.eq(source.payload[data_bits:]),
    ]


def demux(m: Module, source: object, take: Value, head: object, trunk: object) -> None:
    """Route a trunk layer's output frames: to ``head`` where ``take`` (the tag names this
    exit), else to the next ``trunk`` layer. Each sees only its own frames as valid; the
    tag is dropped towards the head and, after the last exit, towards the trunk."""
    m.d.comb += [
        head.payload.eq(source.payload[: len(head.payload)]),
        head.valid.eq(source.valid & take),
        trunk.payload.eq(source.payload[: len(trunk.payload)]),
        trunk.valid.eq(source.valid & ~take),
        source.ready.eq(Mux(take, head.ready, trunk.ready)),
    ]


def merge(m: Module, outputs: list[object], order: SyncFIFO, sink: object) -> None:
    """Pass the masks on in input order: only the exit named by the oldest queued tag
    (``outputs[k]`` = exit k's head output) may hand its frame to ``sink``; the tag is
    dropped from the queue when it does."""
    m.d.comb += order.r_en.eq(sink.valid & sink.ready)
    with m.Switch(order.r_data):
        for k, out in enumerate(outputs):
            with m.Default() if k == len(outputs) - 1 else m.Case(k):
                m.d.comb += [
                    sink.payload.eq(out.payload),
                    sink.valid.eq(order.r_rdy & out.valid),
                    out.ready.eq(order.r_rdy & sink.ready),
                ]
