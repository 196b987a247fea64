"""Drive a generated design's input stream in the gate-level simulator: frames of
``beats_per_frame`` beats of ``bits_per_beat`` bits (LSB first), valid held while a lane has
beats left, a beat consumed only when the design's ready is high, the output ready held high.
Each simulator lane streams its own frames (packed by ``bitwave.synth.flows.design.load_frames``
through ``bitwave.core.codec``). Ports sampled with a frame's first beat carry one value per
frame on that beat and 0 on every other: a recurrent design's sequence-start port (the
manifest's ``sequence_start``: 1 where a frame starts a sequence) and a multi-exit design's
exit selector (the manifest's ``exits``: the frame's exit)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from bitwave.core.contract import Stream
from bitwave.core.errors import BitwaveError
from bitwave.synth.eda.gatesim import WINDOW_MARKS, GateSimulator, pack_lanes, unpack_lanes

RESET_CYCLES = 2
IDLE_CYCLES = 32  # an idle run's measured cycles: nothing changes from one to the next


@dataclass
class StreamRun:
    cycles: int
    frames_in: int
    frames_out: int
    lanes: int
    outputs: list[list[int]]  # per lane, the output beats' data in order
    # the steady-state window marked in the simulator (``steady_period``): its cycles and the
    # frames each lane passed in it; None when not asked for or the run was too short for one
    window_cycles: int | None = None
    window_frames: int | None = None


def load_weights(sim: GateSimulator, writes: object, reset_port: str) -> int:
    """Write ``writes`` (a ``bitwave.core.weight_loading.WeightWrites``: port names and
    (address, word) pairs) through the weight port in every lane, one word per cycle, with the
    design held in reset; returns the number of words written."""
    sim.set_input_int(reset_port, 1)
    for address, word in tqdm(writes.writes, desc="weight load", unit="word", leave=False):
        sim.set_input_int(writes.en, 1)
        sim.set_input_int(writes.addr, address)
        sim.set_input_int(writes.data, word)
        sim.evaluate()
        sim.clock()
    sim.set_input_int(writes.en, 0)
    return len(writes.writes)


def stream_frames(
    sim: GateSimulator,
    frames: np.ndarray,
    source: Stream,
    sink: Stream,
    reset_port: str,
    cycles_per_frame: int,
    latency_cycles: int,
    idle_inputs: list[str],
    starts: np.ndarray | None = None,
    start_port: str | None = None,
    exits: np.ndarray | None = None,
    exit_port: str | None = None,
    steady_period: int | None = None,
) -> StreamRun:
    """Feed ``frames`` (bool, (lanes, frames_per_lane, padded frame bits)) and run until every lane
    has produced its output frames (or a generous cycle budget runs out). ``starts`` (bool,
    (lanes, frames_per_lane)) go to ``start_port`` with each frame's first beat (recurrent
    designs), ``exits`` (selector values, (lanes, frames_per_lane)) to ``exit_port`` (multi-exit
    designs); each with its port or neither. ``steady_period``: the run's cycles per frame in
    steady state; the simulator then gets a measurement window (``gatesim.WINDOW_MARKS``) over
    whole periods in which every stage is busy (see ``_SteadyWindow``)."""
    lanes, per_lane, _ = frames.shape
    if lanes != sim.lanes:
        raise BitwaveError(f"{lanes} frame lanes for a simulator of {sim.lanes} lanes")
    sampled = _sampled_ports(
        {"sequence starts": (start_port, starts), "exit selectors": (exit_port, exits)},
        (lanes, per_lane),
    )
    beats = frames.reshape(lanes, per_lane * source.beats_per_frame, source.bits_per_beat)
    total_beats = beats.shape[1]
    position = np.zeros(lanes, dtype=np.int64)
    out_beats = np.zeros(lanes, dtype=np.int64)
    want_out = per_lane * sink.beats_per_frame
    budget = _budget(per_lane, max(cycles_per_frame, source.beats_per_frame), latency_cycles)
    _reset(sim, reset_port, source, sink, [*idle_inputs, *(port for port, _ in sampled)])
    window = _SteadyWindow(steady_period) if steady_period else None
    lane_index = np.arange(lanes)
    outputs: list[list[int]] = [[] for _ in range(lanes)]
    cycles = 0
    with tqdm(total=budget, desc="gate-level simulation", unit="cycle", leave=False) as bar:
        while cycles < budget:
            valid = position < total_beats
            current = beats[lane_index, np.minimum(position, total_beats - 1)] & valid[:, None]
            sim.set_input(source.data, pack_lanes(current))
            sim.set_input(source.valid, pack_lanes(valid[:, None]))
            for port, values in sampled:
                sim.set_input(port, _first_beat_values(values, position, valid, source, sim, port))
            sim.set_input_int(sink.ready, 1)
            sim.evaluate()
            ready = unpack_lanes(sim.get_output(source.ready), lanes)[:, 0]
            out_valid = unpack_lanes(sim.get_output(sink.valid), lanes)[:, 0]
            position += valid & ready
            out_beats += out_valid
            if out_valid.any():
                data = sim.get_output_int(sink.data)
                for lane in np.flatnonzero(out_valid):
                    outputs[lane].append(int(data[lane]))
            if window is not None:
                window.update(sim, cycles, out_beats.min() >= sink.beats_per_frame,
                              position.max() < total_beats)  # fmt: skip
            sim.clock()
            cycles += 1
            bar.update(1)
            if position.min() >= total_beats and out_beats.min() >= want_out:
                break
    frames_out = int(np.minimum(out_beats // sink.beats_per_frame, per_lane).sum())
    return StreamRun(
        cycles=cycles,
        frames_in=int(np.minimum(position // source.beats_per_frame, per_lane).sum()),
        frames_out=frames_out,
        lanes=lanes,
        outputs=outputs,
        window_cycles=window.cycles if window else None,
        window_frames=window.cycles // window.period if window and window.cycles else None,
    )


def idle_cycles(
    sim: GateSimulator, source: Stream, sink: Stream, reset_port: str, idle_inputs: list[str],
    cycles: int = IDLE_CYCLES,
) -> None:  # fmt: skip
    """Reset, then ``cycles`` clock cycles with no frame offered: the activity of a design that
    waits for its next frame with the clock running (what gating leaves clocked)."""
    _reset(sim, reset_port, source, sink, idle_inputs)
    sim.reset_activity()
    for _ in range(cycles):
        sim.evaluate()
        sim.clock()
    sim.evaluate()


def _budget(per_lane: int, cycles_per_frame: int, latency_cycles: int) -> int:
    """Cycles a stream of ``per_lane`` frames may take at the most (a generous bound)."""
    return RESET_CYCLES + (per_lane + 2) * cycles_per_frame + latency_cycles + 64


def _reset(sim: GateSimulator, reset_port: str, source: Stream, sink: Stream,
           held: list[str]) -> None:  # fmt: skip
    """Hold the design in reset, no input offered, the output ready, ``held`` ports at 0."""
    for port in held:
        sim.set_input_int(port, 0)
    sim.set_input_int(reset_port, 1)
    for _ in range(RESET_CYCLES):
        sim.set_input_int(source.valid, 0)
        sim.set_input_int(source.data, 0)
        sim.set_input_int(sink.ready, 1)
        sim.evaluate()
        sim.clock()
    sim.set_input_int(reset_port, 0)


class _SteadyWindow:
    """Marks a steady-state window in the simulator: it opens when every lane has delivered its
    first output frame (the pipeline is full: each stage holds a later frame) and closes at the
    last whole ``period`` after that at which no lane's input has run out yet (every stage still
    has work). Its power is the design's when frames stream back to back, without the fill at
    the start and the drain at the end of a run, which depend on the latency."""

    def __init__(self, period: int) -> None:
        self.period = period
        self.start: int | None = None
        self.cycles: int | None = None

    def update(self, sim: GateSimulator, cycle: int, delivered: bool, pending: bool) -> None:
        if self.start is None:
            if delivered:
                self.start = cycle
                sim.mark(WINDOW_MARKS[0])
        elif pending and (cycle - self.start) % self.period == 0:
            self.cycles = cycle - self.start
            sim.mark(WINDOW_MARKS[1])


def _sampled_ports(
    given: dict[str, tuple[str | None, np.ndarray | None]], shape: tuple[int, int]
) -> list[tuple[str, np.ndarray]]:
    """(port, per-frame values) of every port sampled with a frame's first beat that is driven;
    each comes with its values, (lanes, frames per lane), or not at all."""
    sampled = []
    for what, (port, values) in given.items():
        if (values is None) != (port is None):
            raise BitwaveError(f"{what} and their port are given together or not at all")
        if values is None:
            continue
        if values.shape != shape:
            raise BitwaveError(
                f"{what} of shape {values.shape} for {shape[0]} lanes of {shape[1]} frames"
            )
        sampled.append((port, np.asarray(values, dtype=np.int64)))
    return sampled


def _first_beat_values(
    values: np.ndarray,
    position: np.ndarray,
    valid: np.ndarray,
    source: Stream,
    sim: GateSimulator,
    port: str,
) -> np.ndarray:
    """Per lane, a sampled port's value for its current beat (lane-packed): the value of the
    frame the beat belongs to on its first beat, 0 on the others and when no beat is offered."""
    beats = source.beats_per_frame
    frame = np.minimum(position // beats, values.shape[1] - 1)
    first = (position % beats == 0) & valid
    value = np.where(first, values[np.arange(len(position)), frame], 0)
    width = len(sim.netlist.ports[port].nets)
    return pack_lanes((value[:, None] >> np.arange(width)) & 1)
