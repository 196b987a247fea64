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

Signals are driven after the falling clock edge and sampled in the read-only phase before
the next rising edge, so a transfer is seen exactly when valid and ready are both high at
that edge, whatever combinational paths the design has between its ports.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from bitwave.sim.framing import StreamFormat, beats_to_frame, frames_to_beats
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


def compare(expected: np.ndarray, got: np.ndarray) -> dict:
    """Element-wise comparison of expected and received output codes."""
    frames = min(len(expected), len(got))
    diff = expected[:frames] != got[:frames]
    where = np.argwhere(diff)
    first = None
    if len(where):
        f, e = (int(v) for v in where[0])
        first = {"frame": f, "index": e, "expected": int(expected[f, e]), "got": int(got[f, e])}
    missing = (len(expected) - frames) * expected.shape[1]
    return {
        "mismatches": int(diff.sum()) + missing,
        "mismatched_frames": int(diff.any(axis=1).sum()) + len(expected) - frames,
        "first_mismatch": first,
    }


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


async def drive_frames(dut: object, params: dict, inputs: np.ndarray, expected: np.ndarray) -> dict:
    """Stream ``inputs`` through the design as described above and compare with ``expected``."""
    fmt_in = StreamFormat(**params["input_stream"])
    fmt_out = StreamFormat(**params["output_stream"])
    frames = len(inputs)
    steady = min(frames, params["steady_frames"])
    rng = random.Random(params["seed"])
    p_valid, p_ready = params["p_valid"], params["p_ready"]
    beats = [beat for frame in frames_to_beats(inputs, fmt_in) for beat in frame]
    wall = time.perf_counter()

    clk, rst = _port(dut, params["clock"]), _port(dut, params["reset"])
    in_data, in_valid, in_ready = (
        _port(dut, getattr(fmt_in, k)) for k in ("data", "valid", "ready")
    )
    out_data, out_valid, out_ready = (
        _port(dut, getattr(fmt_out, k)) for k in ("data", "valid", "ready")
    )
    for name, _width in params["idle_inputs"]:
        _port(dut, name).value = 0
    active, inactive = (1, 0) if params["reset_active_high"] else (0, 1)

    Clock(clk, 10, unit="ns").start()
    in_valid.value, out_ready.value, in_data.value, rst.value = 0, 0, 0, active
    for _ in range(RESET_CYCLES):
        await RisingEdge(clk)
    rst.value = inactive

    loads = params.get("weight_writes")
    if loads:  # --weights memory: load every weight word through the write port first
        en, addr, data = (_port(dut, loads[k]) for k in ("en", "addr", "data"))
        for address, word in loads["writes"]:
            await FallingEdge(clk)
            en.value, addr.value, data.value = 1, address, word
        await FallingEdge(clk)
        en.value = 0

    cycle = 0
    limit = params["max_cycles"]
    sent = 0  # input beats accepted
    holding = False  # in_valid is high with beats[sent] on the bus
    first_in: list[int] = []  # cycle the first beat of each input frame was accepted
    done: list[int] = []  # cycle the last beat of each output frame transferred
    last_valid_frame0: int | None = None
    current: list[int | None] = []
    received: list[np.ndarray] = []
    while len(received) < frames and cycle < limit:
        await FallingEdge(clk)
        if not holding and sent < len(beats):
            stall_in = sent // fmt_in.beats_per_frame >= steady
            holding = not stall_in or rng.random() < p_valid
            if holding:
                in_data.value = beats[sent]
        in_valid.value = int(holding)
        ready = len(received) < steady or rng.random() < p_ready
        out_ready.value = int(ready)
        await ReadOnly()
        if holding and in_ready.value == 1:
            if sent % fmt_in.beats_per_frame == 0:
                first_in.append(cycle)
            sent += 1
            holding = False
        if out_valid.value == 1:
            last_beat = len(current) == fmt_out.beats_per_frame - 1
            if last_beat and not received and last_valid_frame0 is None:
                last_valid_frame0 = cycle
            if ready:
                current.append(_read_int(out_data))
                if last_beat:
                    if any(beat is None for beat in current):
                        received.append(np.full(fmt_out.elements, -1, np.int64))  # X/Z on the bus
                    else:
                        received.append(beats_to_frame(current, fmt_out))
                    done.append(cycle)
                    current = []
        cycle += 1

    # after the last frame: no further output beat may appear
    extra_beats = 0
    await FallingEdge(clk)
    in_valid.value, out_ready.value = 0, 1
    for _ in range(params["drain_cycles"]):
        await ReadOnly()
        extra_beats += int(out_valid.value == 1)
        await FallingEdge(clk)

    got = np.stack(received) if received else np.zeros((0, fmt_out.elements), np.int64)
    np.save(params["outputs_npy"], got)
    intervals = np.diff(done[:steady]).tolist()
    settled = intervals[len(intervals) // 2 :]
    results = {
        "frames": frames,
        "frames_received": len(received),
        "timed_out": len(received) < frames,
        "cycles": cycle,
        "max_cycles": limit,
        "steady_frames": steady,
        "output_intervals": intervals,
        "cycles_per_frame": intervals[-1] if intervals else None,
        "cycles_per_frame_settled": len(set(settled)) <= 1,
        "input_intervals": np.diff(first_in[:steady]).tolist(),
        # clock edges from the one that accepts the first input beat (end of cycle first_in[0])
        # to the one after which frame 0's last output beat is valid (end of the cycle before)
        "latency_cycles": None
        if last_valid_frame0 is None
        else last_valid_frame0 - 1 - first_in[0],
        "extra_output_beats": extra_beats,
        "sim_seconds": time.perf_counter() - wall,
        **compare(expected, got),
    }
    return results
