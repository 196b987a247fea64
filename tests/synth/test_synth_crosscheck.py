"""OpenSTA cross-check (when `sta` is installed) and the FPGA resource flow."""

import shutil

import numpy as np
import pytest

from bitwave.hw.nodes import node_verilog
from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY
from bitwave.synth.flows.flow import run_asic
from bitwave.synth.flows.fpga import fpga_resources


@pytest.mark.skipif(
    shutil.which("sta") is None, reason="OpenSTA ('sta') is not installed (apt-get install opensta)"
)
def test_opensta_agrees_on_timing_and_roughly_on_power(tmp_path):
    rtl = tmp_path / "node.v"
    rtl.write_text(node_verilog("xnor", 32, "parallel", "xn"))
    rng = np.random.default_rng(0)

    def drive(sim):
        for _ in range(16):
            sim.set_input_int("x", rng.integers(0, 1 << 32, 64).astype(object))
            sim.set_input_int("w", rng.integers(0, 1 << 32, 64).astype(object))
            sim.evaluate()
            sim.clock()

    result = run_asic([rtl], "xn", COMPACT_LIBRARY, 200e6, drive, lanes=64)
    check = result.opensta
    assert check is not None and check["opensta_total_w"] > 0
    # Same netlist, same liberty: the critical paths agree closely (bitwave takes the worse of
    # rise/fall on every arc, so it is slightly pessimistic).
    assert check["bitwave_arrival_ns"] == pytest.approx(check["opensta_arrival_ns"], rel=0.2)
    # Power models differ (see opensta.py); they must still agree within a factor of two.
    assert 0.5 < check["power_ratio_bitwave_over_opensta"] < 2.0


def test_fpga_ice40_resources_and_fmax_through_the_cli(tmp_path):
    import json

    from conftest import generated_design

    from bitwave.app.cli import main

    design = generated_design(tmp_path / "demo", (16, 4))
    assert main(["synth", str(design), "--target", "ice40"]) == 0
    result = json.loads((design / "synth" / "fpga_ice40.json").read_text())
    resources = result["resources"]
    assert resources["lut"] > 0 and resources["ff"] > 0
    assert result["luts_per_binary_mac"] == resources["lut"] / result["binary_macs_per_cycle"]
    pnr = result["place_and_route"]
    if "skipped" not in pnr:
        assert pnr["fmax_mhz"] > 1
    assert main(["synth", str(design), "--target", "ice40", "--liberty", "x.lib"]) == 2


def test_unknown_fpga_target_is_refused(tmp_path):
    from bitwave.core.errors import BitwaveError

    with pytest.raises(BitwaveError, match="ice40, ecp5, xilinx"):
        fpga_resources([tmp_path / "x.v"], "x", "stratix")
