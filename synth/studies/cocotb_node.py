"""cocotb test of a serial MAC node (RTL or gate-level netlist + cell models): drives x, w and
start every cycle and checks each finished accumulation against the expected values given in
the JSON file named by $BITWAVE_NODE_PARAMS. Writes {"passed", "checked", "first_mismatch"}
to params["results_json"]."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

PARAMS_ENV = "BITWAVE_NODE_PARAMS"


@cocotb.test()
async def serial_node_matches_reference(dut: object) -> None:
    params = json.loads(Path(os.environ[PARAMS_ENV]).read_text())
    n, xs, ws, expected = params["n"], params["x"], params["w"], params["expected"]
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.start.value = 0
    dut.x.value = 0
    dut.w.value = 0
    await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    checked, mismatch = 0, None
    for t in range(len(xs) + 1):
        if t > 0 and t % n == 0:
            got = int(dut.y.value)
            want = expected[t // n - 1]
            checked += 1
            if got != want and mismatch is None:
                mismatch = {"accumulation": t // n - 1, "got": got, "expected": want}
        if t < len(xs):
            dut.x.value = xs[t]
            dut.w.value = ws[t]
            dut.start.value = int(t % n == 0)
        await RisingEdge(dut.clk)
        await FallingEdge(dut.clk)
    result = {
        "passed": mismatch is None and checked == len(expected),
        "checked": checked,
        "first_mismatch": mismatch,
    }
    Path(params["results_json"]).write_text(json.dumps(result))
    assert result["passed"], result
