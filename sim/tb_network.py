"""The generic, manifest-driven network testbench (a cocotb test module).

It is started by ``bitwave.sim.runner.run_test`` with a JSON parameter file (path in the
environment variable BITWAVE_TB_PARAMS) that names the ports, the stream formats, the input
frames and the golden model's expected output frames (both .npy), the seed and the stall
probabilities. It writes its findings to ``results_json``; ``bitwave.sim.verify`` decides.

Two phases share one run:
1. the first ``steady_frames`` frames stream with no stalls (valid whenever a beat is
   available, ready always high): the interval between the last beats of consecutive output
   frames gives the measured cycles per frame, and frame 0 gives the latency;
2. the rest stream with seeded random valid gaps on the input and random ready backpressure
   on the output (a valid beat is held until it is accepted, as stream semantics require).

A recurrent design (``sequence_start`` names its port) gets a frame's start flag (``starts_npy``)
with the frame's first beat. The contract says the flag is read with that beat only, so on
every other beat and in every cycle without a valid beat the port carries seeded random bits:
a design that samples it at another time fails.

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


def _port(dut: object, name: str) -> object:
    try:
        return getattr(dut, name)
    except AttributeError:
        return dut._id(name, extended=False)


def _read_int(handle: object) -> int | None:
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
    starts = np.load(params["starts_npy"]) if params.get("starts_npy") else None
    finish(params, await drive_frames(dut, params, inputs, expected, starts))


@dataclass
class _Ports:
    """The design's handles the testbench drives and samples."""

    clk: object
    rst: object
    in_data: object
    in_valid: object
    in_ready: object
    out_data: object
    out_valid: object
    out_ready: object
    start: object | None = None  # a recurrent design's sequence-start flag

    @classmethod
    def of(cls, dut: object, params: dict, fmt_in: Stream, fmt_out: Stream) -> _Ports:
        names = (params["clock"], params["reset"], fmt_in.data, fmt_in.valid, fmt_in.ready,
                 fmt_out.data, fmt_out.valid, fmt_out.ready)  # fmt: skip
        start = params.get("sequence_start")
        return cls(*(_port(dut, name) for name in names), _port(dut, start) if start else None)


@dataclass
class _Run:
    """What the stream loop saw: cycle counts of transfers and the received frames."""

    cycle: int = 0
    sent: int = 0  # input beats accepted
    first_in: list[int] = field(default_factory=list)  # cycle each input frame's first beat went in
    done: list[int] = field(default_factory=list)  # cycle each output frame's last beat came out
    last_valid_frame0: int | None = None  # cycle frame 0's last output beat was first valid
    received: list[np.ndarray] = field(default_factory=list)


async def drive_frames(
    dut: object,
    params: dict,
    inputs: np.ndarray,
    expected: np.ndarray,
    starts: np.ndarray | None = None,
) -> dict:
    """Stream ``inputs`` through the design as described above and compare with ``expected``;
    ``starts`` (recurrent designs): per frame, whether it begins a sequence."""
    fmt_in, fmt_out = Stream(**params["input_stream"]), Stream(**params["output_stream"])
    ports = _Ports.of(dut, params, fmt_in, fmt_out)
    if (ports.start is None) != (starts is None):
        raise ValueError("a sequence-start port needs start flags, and only it does")
    wall = time.perf_counter()
    await _reset_and_load_weights(dut, params, ports)
    run = await _stream(ports, params, fmt_in, fmt_out, inputs, starts)
    extra_beats = await _drain(ports, params["drain_cycles"])
    got = np.stack(run.received) if run.received else np.zeros((0, fmt_out.elements), np.int64)
    np.save(params["outputs_npy"], got)
    return {
        **_timing(run, len(inputs), params),
        "extra_output_beats": extra_beats,
        "sim_seconds": time.perf_counter() - wall,
        **compare_frames(expected, got),
    }


async def _reset_and_load_weights(dut: object, params: dict, ports: _Ports) -> None:
    """Hold the idle inputs at 0, reset, and (--weights memory) load every weight word
    through the write port."""
    for name, _width in params["idle_inputs"]:
        _port(dut, name).value = 0
    active, inactive = (1, 0) if params["reset_active_high"] else (0, 1)
    Clock(ports.clk, 10, unit="ns").start()
    ports.in_valid.value, ports.out_ready.value, ports.in_data.value = 0, 0, 0
    if ports.start is not None:
        ports.start.value = 0
    ports.rst.value = active
    for _ in range(RESET_CYCLES):
        await RisingEdge(ports.clk)
    ports.rst.value = inactive
    loads = params.get("weight_writes")
    if loads:
        en, addr, data = (_port(dut, loads[k]) for k in ("en", "addr", "data"))
        for address, word in loads["writes"]:
            await FallingEdge(ports.clk)
            en.value, addr.value, data.value = 1, address, word
        await FallingEdge(ports.clk)
        en.value = 0


@dataclass
class _StartFlags:
    """The start port's value in each cycle of a recurrent design's stream."""

    per_beat: list[int]
    idle: random.Random  # bits for cycles without a valid beat

    def value(self, holding: bool, beat: int) -> int:
        return self.per_beat[beat] if holding else self.idle.getrandbits(1)


def _start_flags(starts: np.ndarray | None, beats_per_frame: int, seed: int) -> _StartFlags | None:
    """Per input beat the value of the start port (the frame's flag on its first beat, a random
    bit on the others), and the random bits for cycles without a valid beat."""
    if starts is None:
        return None
    rng = random.Random(seed + 1)  # its own stream: the stalls stay those of a feed-forward run
    per_beat = [
        int(flag) if beat == 0 else rng.getrandbits(1)
        for flag in starts
        for beat in range(beats_per_frame)
    ]
    return _StartFlags(per_beat, rng)


async def _stream(
    ports: _Ports,
    params: dict,
    fmt_in: Stream,
    fmt_out: Stream,
    inputs: np.ndarray,
    starts: np.ndarray | None = None,
) -> _Run:
    """The two phases: no stalls for the first ``steady_frames`` frames, then random ones."""
    steady = min(len(inputs), params["steady_frames"])
    rng = random.Random(params["seed"])
    beats = [beat for frame in fmt_in.to_beats(inputs) for beat in frame]
    flags = _start_flags(starts, fmt_in.beats_per_frame, params["seed"])
    run = _Run()
    holding = False  # in_valid is high with beats[run.sent] on the bus
    current: list[int | None] = []
    while len(run.received) < len(inputs) and run.cycle < params["max_cycles"]:
        await FallingEdge(ports.clk)
        if not holding and run.sent < len(beats):
            stall_in = run.sent // fmt_in.beats_per_frame >= steady
            holding = not stall_in or rng.random() < params["p_valid"]
            if holding:
                ports.in_data.value = beats[run.sent]
        if flags is not None:
            ports.start.value = flags.value(holding, run.sent)
        ports.in_valid.value = int(holding)
        ready = len(run.received) < steady or rng.random() < params["p_ready"]
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
    ports: _Ports, fmt_out: Stream, run: _Run, current: list[int | None], ready: bool
) -> list[int | None]:
    """A valid output beat: note when frame 0 completes, and take it if ready was high;
    returns the beats of the frame still being received."""
    last_beat = len(current) == fmt_out.beats_per_frame - 1
    if last_beat and not run.received and run.last_valid_frame0 is None:
        run.last_valid_frame0 = run.cycle
    if not ready:
        return current
    current = [*current, _read_int(ports.out_data)]
    if not last_beat:
        return current
    if any(beat is None for beat in current):
        run.received.append(np.full(fmt_out.elements, -1, np.int64))  # X/Z on the bus
    else:
        run.received.append(fmt_out.to_frame(current))
    run.done.append(run.cycle)
    return []


async def _drain(ports: _Ports, cycles: int) -> int:
    """After the last frame no further output beat may appear: count those that do."""
    extra_beats = 0
    await FallingEdge(ports.clk)
    ports.in_valid.value, ports.out_ready.value = 0, 1
    for _ in range(cycles):
        await ReadOnly()
        extra_beats += int(ports.out_valid.value == 1)
        await FallingEdge(ports.clk)
    return extra_beats


def _timing(run: _Run, frames: int, params: dict) -> dict:
    """Measured cycles per frame (steady phase) and latency of frame 0."""
    steady = min(frames, params["steady_frames"])
    intervals = np.diff(run.done[:steady]).tolist()
    settled = intervals[len(intervals) // 2 :]
    return {
        "frames": frames,
        "frames_received": len(run.received),
        "timed_out": len(run.received) < frames,
        "cycles": run.cycle,
        "max_cycles": params["max_cycles"],
        "steady_frames": steady,
        "output_intervals": intervals,
        "cycles_per_frame": intervals[-1] if intervals else None,
        "cycles_per_frame_settled": len(set(settled)) <= 1,
        "input_intervals": np.diff(run.first_in[:steady]).tolist(),
        # clock edges from the one that accepts the first input beat (end of cycle first_in[0])
        # to the one after which frame 0's last output beat is valid (end of the cycle before)
        "latency_cycles": None
        if run.last_valid_frame0 is None
        else run.last_valid_frame0 - 1 - run.first_in[0],
    }
