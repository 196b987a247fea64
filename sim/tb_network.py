"""The generic, manifest-driven network testbench (a cocotb test module).

It is started by ``bitwave.sim.runner.run_test`` with a JSON parameter file (path in the
environment variable BITWAVE_TB_PARAMS) that names the ports, the stream formats, the input
frames and the golden model's expected output frames (both .npy), the seed and the stall
probabilities. It writes its findings to ``results_json``; ``bitwave.sim.verify`` decides.

The frames form ``segments`` (one for a single-exit design; a multi-exit design's run adds
one per exit, every frame at that exit, before the mixed one). A segment's first frame waits
until every earlier frame has come out (an empty pipeline, as after reset), and two phases
follow:
1. its first ``calm`` frames stream with no stalls (valid whenever a beat is available, ready
   always high): the intervals between the last beats of consecutive output frames give the
   measured cycles per frame, and the segment's first frame gives the latency;
2. the rest stream with seeded random valid gaps on the input and random ready backpressure
   on the output (a valid beat is held until it is accepted, as stream semantics require).

Per-frame side inputs (``side_inputs``: a recurrent design's sequence-start flag, a multi-exit
design's exit selector) carry the frame's value with the frame's first beat. The contract says
they are read with that beat only, so on every other beat and in every cycle without a valid
beat each carries seeded random bits: a design that samples one at another time fails.

Signals are driven after the falling clock edge and sampled in the read-only phase before
the next rising edge, so a transfer is seen exactly when valid and ready are both high at
that edge, whatever combinational paths the design has between its ports.
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from bitwave.core.codec import compare_frames
from bitwave.core.contract import Stream
from bitwave.sim.runner import PARAMS_ENV

RESET_CYCLES = 4


def port(dut: object, name: str) -> object:
    """The handle of port ``name`` (escaped Verilog names through the simulator's lookup)."""
    try:
        return getattr(dut, name)
    except AttributeError:
        return dut._id(name, extended=False)


def read_int(handle: object) -> int | None:
    """Integer value of a port, or None when any bit is X/Z."""
    try:
        return int(handle.value)
    except ValueError:
        return None


def load_params() -> dict:
    return json.loads(Path(os.environ[PARAMS_ENV]).read_text())


def finish(params: dict, results: dict) -> None:
    """Write the findings for verify.py, then fail the cocotb test if anything is wrong."""
    Path(params["results_json"]).write_text(json.dumps(results))
    assert not results["timed_out"], (
        f"timed out after {results['cycles']} cycles: {results['frames_received']} of {results['frames']} frames"
    )
    assert results["mismatches"] == 0, (
        f"{results['mismatches']} mismatches, first {results['first_mismatch']}"
    )
    assert results["extra_output_beats"] == 0, (
        f"{results['extra_output_beats']} output beats after the last frame"
    )


@cocotb.test()
async def network_stream(dut: object) -> None:
    params = load_params()
    inputs = np.load(params["inputs_npy"])
    expected = np.load(params["expected_npy"])
    finish(params, await drive_frames(dut, params, inputs, expected))


@dataclass
class Ports:
    """The design's handles the testbench drives and samples."""

    clk: object
    rst: object
    in_data: object
    in_valid: object
    in_ready: object
    out_data: object
    out_valid: object
    out_ready: object

    @classmethod
    def of(cls, dut: object, params: dict, fmt_in: Stream, fmt_out: Stream) -> Ports:
        names = (params["clock"], params["reset"], fmt_in.data, fmt_in.valid, fmt_in.ready,
                 fmt_out.data, fmt_out.valid, fmt_out.ready)  # fmt: skip
        return cls(*(port(dut, name) for name in names))


@dataclass(frozen=True)
class Segment:
    """Frames [first, first + frames) of a run: the first waits for an empty pipeline, the
    first ``calm`` stream without stalls (timing is measured on those), the rest with them."""

    first: int
    frames: int
    calm: int


def frame_schedule(segments: list[Segment], frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(calm, fresh) per frame: streamed without stalls; waits for every earlier frame's output."""
    calm, fresh = np.zeros(frames, bool), np.zeros(frames, bool)
    for segment in segments:
        calm[segment.first : segment.first + segment.calm] = True
        fresh[segment.first] = True
    return calm, fresh


@dataclass
class _Run:
    """What the stream loop saw: cycle counts of transfers and the received frames."""

    cycle: int = 0
    sent: int = 0  # input beats accepted
    first_in: list[int] = field(default_factory=list)  # cycle each input frame's first beat went in
    done: list[int] = field(default_factory=list)  # cycle each output frame's last beat came out
    last_valid: list[int] = field(default_factory=list)  # ... and when it was first valid
    received: list[np.ndarray] = field(default_factory=list)


async def drive_frames(dut: object, params: dict, inputs: np.ndarray, expected: np.ndarray) -> dict:
    """Stream ``inputs`` through the design as described above and compare with ``expected``."""
    fmt_in, fmt_out = Stream(**params["input_stream"]), Stream(**params["output_stream"])
    ports = Ports.of(dut, params, fmt_in, fmt_out)
    sides = [_side_input(dut, spec, len(inputs), fmt_in.beats_per_frame)
             for spec in params.get("side_inputs", [])]  # fmt: skip
    segments = [Segment(**segment) for segment in params["segments"]]
    wall = time.perf_counter()
    await reset_and_load_weights(dut, params, ports, sides)
    run = await _stream(ports, params, fmt_in, fmt_out, inputs, segments, sides)
    extra_beats = await _drain(ports, params["drain_cycles"])
    got = np.stack(run.received) if run.received else np.zeros((0, fmt_out.elements), np.int64)
    np.save(params["outputs_npy"], got)
    return {
        **_timing(run, len(inputs), params["max_cycles"], segments),
        "extra_output_beats": extra_beats,
        "sim_seconds": time.perf_counter() - wall,
        **compare_frames(expected, got),
    }


async def reset_and_load_weights(
    dut: object, params: dict, ports: Ports, sides: list[_SideInput]
) -> None:
    """Hold the idle inputs at 0, reset, and (--weights memory) load every weight word
    through the write port."""
    for name, _width in params["idle_inputs"]:
        port(dut, name).value = 0
    active, inactive = (1, 0) if params["reset_active_high"] else (0, 1)
    Clock(ports.clk, 10, unit="ns").start()
    ports.in_valid.value, ports.out_ready.value, ports.in_data.value = 0, 0, 0
    for side in sides:
        side.port.value = 0
    ports.rst.value = active
    for _ in range(RESET_CYCLES):
        await RisingEdge(ports.clk)
    ports.rst.value = inactive
    loads = params.get("weight_writes")
    if loads:
        en, addr, data = (port(dut, loads[k]) for k in ("en", "addr", "data"))
        for address, word in loads["writes"]:
            await FallingEdge(ports.clk)
            en.value, addr.value, data.value = 1, address, word
        await FallingEdge(ports.clk)
        en.value = 0


@dataclass
class _SideInput:
    """A per-frame side input port (a sequence-start flag, an exit selector) and its value in
    each cycle of the stream."""

    port: object
    width: int
    per_beat: list[int]
    idle: random.Random  # bits for cycles without a valid beat

    def drive(self, holding: bool, beat: int) -> None:
        self.port.value = self.per_beat[beat] if holding else self.idle.getrandbits(self.width)


def _side_input(dut: object, spec: dict, frames: int, beats_per_frame: int) -> _SideInput:
    """A side input from its parameters (port, width, the .npy of one value per frame, the seed
    of its random bits): per input beat the frame's value on its first beat and random bits on
    the others, and the random bits for cycles without a valid beat."""
    values = np.load(spec["values_npy"])
    if len(values) != frames:
        raise ValueError(f"{spec['port']}: {len(values)} values for {frames} frames")
    rng = random.Random(spec["seed"])  # its own stream: the stalls stay those of a plain run
    per_beat = [
        int(value) if beat == 0 else rng.getrandbits(spec["width"])
        for value in values
        for beat in range(beats_per_frame)
    ]
    return _SideInput(port(dut, spec["port"]), spec["width"], per_beat, rng)


async def _stream(
    ports: Ports,
    params: dict,
    fmt_in: Stream,
    fmt_out: Stream,
    inputs: np.ndarray,
    segments: list[Segment],
    sides: list[_SideInput],
) -> _Run:
    """Each segment's phases: no stalls for its first ``calm`` frames, then random ones."""
    calm, fresh = frame_schedule(segments, len(inputs))
    per_frame = fmt_in.beats_per_frame
    rng = random.Random(params["seed"])
    beats = [beat for frame in fmt_in.to_beats(inputs) for beat in frame]
    run = _Run()
    holding = False  # in_valid is high with beats[run.sent] on the bus
    current: list[int | None] = []
    while len(run.received) < len(inputs) and run.cycle < params["max_cycles"]:
        await FallingEdge(ports.clk)
        frame = run.sent // per_frame
        # a segment's first frame waits until the pipeline is empty
        first_beat = run.sent % per_frame == 0 and frame < len(inputs)
        waiting = first_beat and fresh[frame] and len(run.received) < frame
        if not holding and run.sent < len(beats) and not waiting:
            holding = calm[frame] or rng.random() < params["p_valid"]
            if holding:
                ports.in_data.value = beats[run.sent]
        for side in sides:
            side.drive(holding, run.sent)
        ports.in_valid.value = int(holding)
        ready = calm[len(run.received)] or rng.random() < params["p_ready"]
        ports.out_ready.value = int(ready)
        await ReadOnly()
        if holding and ports.in_ready.value == 1:
            if run.sent % fmt_in.beats_per_frame == 0:
                run.first_in.append(run.cycle)
            run.sent += 1
            holding = False
        if ports.out_valid.value == 1:
            current = _take_output_beat(ports, fmt_out, run, current, ready)
        run.cycle += 1
    return run


def _take_output_beat(
    ports: Ports, fmt_out: Stream, run: _Run, current: list[int | None], ready: bool
) -> list[int | None]:
    """A valid output beat: note when frame 0 completes, and take it if ready was high;
    returns the beats of the frame still being received."""
    last_beat = len(current) == fmt_out.beats_per_frame - 1
    if last_beat and len(run.last_valid) == len(run.received):
        run.last_valid.append(run.cycle)
    if not ready:
        return current
    current = [*current, read_int(ports.out_data)]
    if not last_beat:
        return current
    if any(beat is None for beat in current):
        run.received.append(np.full(fmt_out.elements, -1, np.int64))  # X/Z on the bus
    else:
        run.received.append(fmt_out.to_frame(current))
    run.done.append(run.cycle)
    return []


async def _drain(ports: Ports, cycles: int) -> int:
    """After the last frame no further output beat may appear: count those that do."""
    extra_beats = 0
    await FallingEdge(ports.clk)
    ports.in_valid.value, ports.out_ready.value = 0, 1
    for _ in range(cycles):
        await ReadOnly()
        extra_beats += int(ports.out_valid.value == 1)
        await FallingEdge(ports.clk)
    return extra_beats


def _timing(run: _Run, frames: int, max_cycles: int, segments: list[Segment]) -> dict:
    """Measured cycles per frame and latency of every segment (the first one's at the top)."""
    measured = [_segment_timing(run, segment) for segment in segments]
    return {
        "frames": frames,
        "frames_received": len(run.received),
        "timed_out": len(run.received) < frames,
        "cycles": run.cycle,
        "max_cycles": max_cycles,
        **{key: value for key, value in measured[0].items() if key not in ("first", "frames")},
        "segments": measured,
    }


def _segment_timing(run: _Run, segment: Segment) -> dict:
    """Cycles per frame (the intervals between the outputs of the segment's calm frames) and
    the latency of its first frame."""
    first, calm = segment.first, segment.first + segment.calm
    intervals = np.diff(run.done[first:calm]).tolist()
    settled = intervals[len(intervals) // 2 :]
    return {
        "first": first,
        "frames": segment.frames,
        "steady_frames": segment.calm,
        "output_intervals": intervals,
        "cycles_per_frame": intervals[-1] if intervals else None,
        "cycles_per_frame_settled": len(set(settled)) <= 1,
        "input_intervals": np.diff(run.first_in[first:calm]).tolist(),
        # clock edges from the one that accepts the first input beat (end of cycle first_in)
        # to the one after which the frame's last output beat is valid (end of the cycle before)
        "latency_cycles": run.last_valid[first] - 1 - run.first_in[first]
        if len(run.last_valid) > first
        else None,
    }
