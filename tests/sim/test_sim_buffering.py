"""bitwave verify on single- and memory-buffered designs (``bitwave generate --buffering
single|memory``; memory: the input beat is the first layer's SIMD slice): the RTL (on Icarus, else Verilator) matches the golden model bit for bit under random stalls and its manifest's
cycle and latency claims are measured exact; the twin whose latency claim is one cycle off
fails."""

from __future__ import annotations

import json
import shutil

import pytest

from bitwave.core import contract, ir
from bitwave.core.random_ir import random_network
from bitwave.sim.verify import VerifyOptions, verify

generate = pytest.importorskip("bitwave.hw.generate").generate

pytestmark = pytest.mark.usefixtures("shared_build_cache")
# Icarus builds this tiny design in a second, Verilator in half a minute: the faster one
SIM = "icarus" if shutil.which("iverilog") and shutil.which("vvp") else "verilator"
SPEC = "fc0:pe=3,simd=8,pad;fc1:pe=2,simd=4,pad"  # SF > 1 first, a 7-bit output in 2 beats


@pytest.fixture(scope="module", params=["single", "memory"])
def single_design(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("buffering")
    ir.save(random_network([37, 11, 7], seed=3, name=request.param), root / "m.bwir")
    generate(root / "m.bwir", root / request.param, fold_spec=SPEC, beat_bits=4,
             buffering=request.param)  # fmt: skip
    return root / request.param


def test_single_buffered_rtl_matches_golden_and_its_claims(single_design):
    design = contract.load(single_design)
    assert design.buffering == single_design.name
    if design.buffering == "memory":  # five slices of eight, the last one padded
        assert design.input_stream.bits_per_beat == 8 and design.input_stream.beats_per_frame == 5
    result = verify(single_design, VerifyOptions(sim=SIM, vectors=20, seed=5))
    assert result["passed"], result
    assert result["frames_received"] == 20 and result["mismatches"] == 0
    for claim in ("cycles_per_frame", "latency_cycles"):
        assert result[claim]["match"] and result[claim]["measured"] == result[claim]["manifest"]


def test_claims_one_cycle_off_fail(single_design, tmp_path):
    """The twin claims one cycle more for both figures (e.g. the double-buffered design's
    latency, whose serializer shows the output a cycle later): both are reported off."""
    twin = tmp_path / "twin"
    shutil.copytree(single_design, twin, ignore=shutil.ignore_patterns("verify"))
    path = twin / contract.MANIFEST
    data = json.loads(path.read_text())
    claims = ("cycles_per_frame", "latency_cycles")
    path.write_text(json.dumps({**data, **{claim: data[claim] + 1 for claim in claims}}))
    result = verify(twin, VerifyOptions(sim=SIM, vectors=10, seed=5))
    assert not result["passed"] and result["mismatches"] == 0
    for claim in claims:
        assert not result[claim]["match"]
        assert result[claim]["measured"] == result[claim]["manifest"] - 1
