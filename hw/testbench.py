"""Amaranth-simulator drivers for the generated components: feed frames through a layer or a
whole network top with optional random valid/ready stalls, and compare with the golden model.

These are the checkers the hw tests use; ``check_against_golden`` raises on any mismatch (its
own mutation test feeds it a design built from a different IR).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from amaranth.sim import Simulator

from bitwave.core.codec import (
    beats_to_frame,
    compare_frames,
    frame_to_beats,
    frame_to_int,
    int_to_frame,
)
from bitwave.core.errors import BitwaveError
from bitwave.core.ir import Network
from bitwave.core.ops.base import sequence_starts
from bitwave.hw.exits import EXIT_PORT
from bitwave.hw.mvtu import FoldedLayer
from bitwave.hw.network import START_PORT, NetworkTop


@dataclass
class StreamLog:
    """Cycle numbers of input transfers and output transfers (beats or frames), and per
    watched signal the number of cycles it was high (``run_network``'s ``watch``)."""

    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    high_cycles: dict[str, int] = field(default_factory=dict)

    def frame_timing(self, out_beats: int) -> tuple[set[int], int]:
        """(the intervals between output frames, frame 0's latency: cycles from its first input
        beat to its last output beat, less one) of a run of ``out_beats`` beats a frame."""
        ends = self.outputs[out_beats - 1 :: out_beats]
        return set(np.diff(ends).tolist()), self.outputs[out_beats - 1] - 1 - self.inputs[0]


def _simulate(dut: object, producer_items: list[int], sink: Callable[[int], None], count: int, rng: np.random.Generator,
              stall_in: float, stall_out: float, port_in: object, port_out: object,
              preload: _WeightLoader | None = None, max_cycles: int = 10_000_000,
              sides: list[tuple[object, list[int]]] = (),
              watch: dict[str, object] | None = None) -> StreamLog:  # fmt: skip
    # Each testbench counts its own clock edges (both start at time 0), so the cycle numbers
    # in the log are exact: a transfer logged as cycle c happened at the c-th rising edge.
    # ``sides``: ports driven with each item (a value per item), e.g. the sequence-start flag.
    # ``watch``: signals whose high cycles are counted until the last output.
    log = StreamLog()
    received = [0]

    async def producer(ctx) -> None:  # noqa: ANN001
        cycle = 0
        if preload is not None:
            await preload(ctx)
            cycle += preload.cycles
        for index, item in enumerate(producer_items):
            for port, values in sides:
                ctx.set(port, values[index])
            while rng.random() < stall_in:
                ctx.set(port_in.valid, 0)
                await ctx.tick()
                cycle += 1
            ctx.set(port_in.payload, item)
            ctx.set(port_in.valid, 1)
            while True:
                *_, ready = await ctx.tick().sample(port_in.ready)
                cycle += 1
                if ready:
                    break
            log.inputs.append(cycle)
        ctx.set(port_in.valid, 0)

    async def consumer(ctx) -> None:  # noqa: ANN001
        cycle = 0
        if preload is not None:
            ctx.set(port_out.ready, 0)
            await ctx.tick().repeat(preload.cycles)
            cycle += preload.cycles
        while received[0] < count:
            if cycle > max_cycles:
                raise BitwaveError(
                    f"simulation stalled: {received[0]} of {count} outputs after {max_cycles} cycles"
                )
            ready = int(rng.random() >= stall_out)
            ctx.set(port_out.ready, ready)
            *_, valid, payload = await ctx.tick().sample(port_out.valid, port_out.payload)
            cycle += 1
            if valid and ready:
                log.outputs.append(cycle)
                sink(payload)
                received[0] += 1

    async def watcher(ctx) -> None:  # noqa: ANN001
        names = list(watch)
        log.high_cycles = dict.fromkeys(names, 0)
        async for sampled in ctx.tick().sample(*watch.values()):
            for name, value in zip(names, sampled[-len(names) :], strict=True):
                log.high_cycles[name] += int(value != 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    if watch:
        sim.add_process(watcher)  # a process: the simulation ends when the testbenches do
    sim.run()
    return log


def run_layer(layer: FoldedLayer, frames: np.ndarray, rng: np.random.Generator | None = None,
              stall_in: float = 0.0, stall_out: float = 0.0,
              starts: np.ndarray | None = None) -> tuple[np.ndarray, StreamLog]:  # fmt: skip
    """Frames of input codes through one folded layer -> (output codes, transfer log).
    ``starts``: a recurrent layer's sequence-start flag per frame (the payload's top bit)."""
    rng = rng or np.random.default_rng(0)
    ir_layer = layer.layer
    flags = np.zeros(len(frames), bool) if starts is None else np.asarray(starts, bool)
    top_bit = ir_layer.in_width * layer.k_in
    items = [
        frame_to_int(frame, layer.k_in) | (int(flag) << top_bit if layer.FLAG_BITS else 0)
        for frame, flag in zip(frames, flags, strict=True)
    ]
    out: list[np.ndarray] = []
    log = _simulate(layer, items, lambda v: out.append(int_to_frame(v, ir_layer.out_width, layer.k_out)),
                    len(frames), rng, stall_in, stall_out, layer.i, layer.o)  # fmt: skip
    return np.array(out, np.int64).reshape(len(frames), ir_layer.out_width), log


class _WeightLoader:
    """Writes words onto the top's weight bus before any frame is sent."""

    def __init__(self, top: NetworkTop, words: list[int]) -> None:
        self.top, self.words = top, words
        self.cycles = len(words) + 1  # edges the loader takes

    async def __call__(self, ctx) -> None:  # noqa: ANN001
        for address, word in enumerate(self.words):
            ctx.set(self.top.wmem.en, 1)
            ctx.set(self.top.wmem.addr, address)
            ctx.set(self.top.wmem.data, word)
            await ctx.tick()
        ctx.set(self.top.wmem.en, 0)
        await ctx.tick()


def run_network(top: NetworkTop, frames: np.ndarray, rng: np.random.Generator | None = None,
                stall_in: float = 0.0, stall_out: float = 0.0,
                load_words: list[int] | None = None,
                starts: np.ndarray | None = None, exits: int | np.ndarray | None = None,
                watch: dict[str, object] | None = None,
                max_cycles: int = 10_000_000) -> tuple[np.ndarray, StreamLog]:  # fmt: skip
    """Frames through a network top via its beat streams -> (output codes, beat log).
    ``load_words`` (memory style) are written to the weight bus, address 0 upwards, first.
    ``starts``: per frame, whether it begins a sequence (driven with its first beat; recurrent
    networks only; the first frame always does). ``exits`` (multi-exit networks): the exit
    selector per frame (or one for all; None = the final exit), driven with its first beat and
    random on the others (only the first is sampled); values >= n_exits mean the final exit.
    ``watch``: signals whose high cycles the log counts (``StreamLog.high_cycles``).
    ``max_cycles``: BitwaveError ("simulation stalled") when the outputs take longer."""
    rng = rng or np.random.default_rng(0)
    net = top.net
    per_frame = [frame_to_beats(frame, net.input_type.bits, top.in_beat_bits) for frame in frames]
    beats = [b for frame_beats in per_frame for b in frame_beats]
    sides = []
    if top.recurrent:
        flags = sequence_starts(len(frames), starts)
        values = [
            int(f) if i == 0 else 0
            for f, fb in zip(flags, per_frame, strict=True)
            for i in range(len(fb))
        ]
        sides.append((getattr(top, START_PORT), values))
    if net.exits:
        sides.append((getattr(top, EXIT_PORT), _exit_values(top, per_frame, exits, rng)))
    elif exits is not None:
        raise BitwaveError(f"network {net.name} has no early exits; exits must be None")
    collected: list[int] = []
    out: list[np.ndarray] = []

    def sink(value: int) -> None:
        collected.append(value)
        if len(collected) == top.out_beats:
            out.append(
                beats_to_frame(collected, net.output_width, net.output_type.bits, top.out_beat_bits)
            )
            collected.clear()

    preload = _WeightLoader(top, load_words) if load_words is not None else None
    log = _simulate(top, beats, sink, len(frames) * top.out_beats, rng, stall_in, stall_out,
                    top.data_in, top.data_out, preload, max_cycles, sides, watch)  # fmt: skip
    return np.array(out, np.int64).reshape(len(frames), net.output_width), log


def _exit_values(
    top: NetworkTop, per_frame: list[list[int]], exits: int | np.ndarray | None,
    rng: np.random.Generator,
) -> list[int]:  # fmt: skip
    """The exit port's value on every beat: the frame's selector on its first beat, noise on
    the others (which the design must ignore)."""
    width = top.exit_plan.tag_bits
    chosen = np.broadcast_to(top.exit_plan.final if exits is None else exits, (len(per_frame),))
    if chosen.min(initial=0) < 0 or chosen.max(initial=0) >= 1 << width:
        raise BitwaveError(f"exits must be 0..{(1 << width) - 1} (the port has {width} bits)")
    noise = rng.integers(0, 1 << width, sum(map(len, per_frame))).tolist()
    values, beat = [], 0
    for selector, frame_beats in zip(chosen.tolist(), per_frame, strict=True):
        for i in range(len(frame_beats)):
            values.append(int(selector) if i == 0 else noise[beat])
            beat += 1
    return values


def check_against_golden(got: np.ndarray, expected: np.ndarray, what: str) -> None:
    """Raise AssertionError naming the first differing frame and element."""
    got, expected = np.asarray(got), np.asarray(expected)
    if got.shape != expected.shape:
        raise AssertionError(f"{what}: output shape {got.shape}, golden {expected.shape}")
    found = compare_frames(expected, got)
    if found["mismatches"]:
        first = found["first_mismatch"]
        raise AssertionError(
            f"{what}: {found['mismatches']} mismatches; first at frame {first['frame']}, element "
            f"{first['index']}: hardware {first['got']}, golden {first['expected']}"
        )


def golden_frames(net: Network, frames: np.ndarray) -> np.ndarray:
    from bitwave.core import golden

    return np.asarray(golden.run(net, frames), np.int64)
