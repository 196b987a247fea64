"""Drive a generated design's input stream in the gate-level simulator: frames of
``beats_per_frame`` beats of ``bits_per_beat`` bits (LSB first), valid held while a lane has
beats left, a beat consumed only when the design's ready is high, the output ready held high.
Each simulator lane streams its own frames (packed by ``bitwave.synth.flows.design.load_frames``
through ``bitwave.core.codec``). A recurrent design's sequence-start port is driven with the
first beat of every frame that starts a sequence (the manifest's ``sequence_start``: sampled with
a frame's first beat), 0 on every other beat."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from bitwave.core.contract import Stream
from bitwave.core.errors import BitwaveError
from bitwave.synth.eda.gatesim import GateSimulator, pack_lanes, unpack_lanes

RESET_CYCLES = 2


@dataclass
class StreamRun:
    cycles: int
    frames_in: int
    frames_out: int
    lanes: int
    outputs: list[list[int]]  # per lane, the output beats' data in order


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
) -> StreamRun:
    """Feed ``frames`` (bool, (lanes, frames_per_lane, padded frame bits)) and run until every lane
    has produced its output frames (or a generous cycle budget runs out). ``starts`` (bool,
    (lanes, frames_per_lane)) go to ``start_port`` with each frame's first beat (recurrent
    designs; both or neither)."""
    lanes, per_lane, _ = frames.shape
    if lanes != sim.lanes:
        raise BitwaveError(f"{lanes} frame lanes for a simulator of {sim.lanes} lanes")
    if (starts is None) != (start_port is None):
        raise BitwaveError("sequence starts and the start port are given together or not at all")
    if starts is not None and starts.shape != (lanes, per_lane):
        raise BitwaveError(f"starts of shape {starts.shape} for {lanes} lanes of {per_lane} frames")
    beats = frames.reshape(lanes, per_lane * source.beats_per_frame, source.bits_per_beat)
    total_beats = beats.shape[1]
    position = np.zeros(lanes, dtype=np.int64)
    out_beats = np.zeros(lanes, dtype=np.int64)
    want_out = per_lane * sink.beats_per_frame
    budget = (
        RESET_CYCLES
        + (per_lane + 2) * max(cycles_per_frame, source.beats_per_frame)
        + latency_cycles
        + 64
    )
    for port in idle_inputs:
        sim.set_input_int(port, 0)
    sim.set_input_int(reset_port, 1)
    for _ in range(RESET_CYCLES):
        sim.set_input_int(source.valid, 0)
        sim.set_input_int(source.data, 0)
        sim.set_input_int(sink.ready, 1)
        if start_port is not None:
            sim.set_input_int(start_port, 0)
        sim.evaluate()
        sim.clock()
    sim.set_input_int(reset_port, 0)
    lane_index = np.arange(lanes)
    outputs: list[list[int]] = [[] for _ in range(lanes)]
    cycles = 0
    with tqdm(total=budget, desc="gate-level simulation", unit="cycle", leave=False) as bar:
        while cycles < budget:
            valid = position < total_beats
            current = beats[lane_index, np.minimum(position, total_beats - 1)] & valid[:, None]
            sim.set_input(source.data, pack_lanes(current))
            sim.set_input(source.valid, pack_lanes(valid[:, None]))
            if starts is not None:
                sim.set_input(start_port, _start_flags(starts, position, valid, source))
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
    )


def _start_flags(
    starts: np.ndarray, position: np.ndarray, valid: np.ndarray, source: Stream
) -> np.ndarray:
    """Per lane, the start port's value for its current beat (lane-packed): the flag of the
    frame the beat belongs to on its first beat, 0 on the others and when no beat is offered."""
    beats = source.beats_per_frame
    frame = np.minimum(position // beats, starts.shape[1] - 1)
    flag = starts[np.arange(len(position)), frame] & (position % beats == 0) & valid
    return pack_lanes(flag[:, None])
