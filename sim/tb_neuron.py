"""Component testbench for one XNOR-popcount neuron block (cocotb test module).

The neuron has no handshake: ``y`` is registered, so the output for the input driven in cycle
c is read in cycle c + 1. One vector per cycle: threshold-edge vectors (popcount at T-1, T,
T+1), extreme vectors, then random ones (``bitwave.sim.vectors``), compared with the golden
model."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly

from bitwave.core.codec import compare_frames
from bitwave.sim.tb_network import load_params, port, read_int


@cocotb.test()
async def neuron(dut: object) -> None:
    params = load_params()
    inputs = np.load(params["inputs_npy"])
    expected = np.load(params["expected_npy"])
    clk, x, y = port(dut, params["clock"]), port(dut, params["x"]), port(dut, params["y"])
    weights = 1 << np.arange(inputs.shape[1], dtype=object)
    words = [int(np.dot(row.astype(object), weights)) for row in inputs]  # bit i = input i
    wall = time.perf_counter()
    Clock(clk, 10, unit="ns").start()
    got = np.full(expected.shape, -1, np.int64)
    for cycle in range(len(words) + params["latency"]):
        await FallingEdge(clk)
        if cycle < len(words):
            x.value = words[cycle]
        await ReadOnly()
        index = cycle - params["latency"]
        if index >= 0:
            value = read_int(y)
            got[index, 0] = -1 if value is None else value
    np.save(params["outputs_npy"], got)
    results = {"frames": len(words), "frames_received": len(words), "cycles": len(words) + params["latency"],
               "sim_seconds": time.perf_counter() - wall, **compare_frames(expected, got)}  # fmt: skip
    Path(params["results_json"]).write_text(json.dumps(results))
    assert results["mismatches"] == 0, (
        f"{results['mismatches']} mismatches, first {results['first_mismatch']}"
    )
