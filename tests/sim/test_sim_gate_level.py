"""bitwave verify --gate-level: the netlist from bitwave synth, simulated with the cell models
bitwave synth writes beside it (DIR/synth/cells.v, from the same liberty), must equal the
golden model like the RTL does."""

import json
import shutil

import pytest
from conftest import folded_designs

from bitwave.core import ir
from bitwave.core.errors import BitwaveError
from bitwave.sim.mutation import effective_mutation
from bitwave.sim.verify import VerifyOptions, random_inputs, verify

synthesize_design = pytest.importorskip("bitwave.synth.flows.design").synthesize_design
HAVE_ICARUS = shutil.which("iverilog") is not None and shutil.which("vvp") is not None
pytestmark = [
    pytest.mark.skipif(
        not HAVE_ICARUS,
        reason="gate-level tests run on Icarus, which is not installed: apt-get install -y iverilog",
    ),
    pytest.mark.usefixtures("shared_build_cache"),
]
VECTORS = 24


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    designs = folded_designs(tmp_path_factory.mktemp("gate"))
    for design in designs.values():
        synthesize_design(design)
    return designs


@pytest.mark.parametrize("storage", ["const", "memory"])
def test_gate_level_netlist_matches_golden(synthesized, storage):
    result = verify(
        synthesized[storage], VerifyOptions(sim="icarus", vectors=VECTORS, gate_level=True)
    )
    assert result["passed"], result
    assert result["level"] == "gate" and result["mismatches"] == 0
    assert result["cycles_per_frame"]["match"] and result["latency_cycles"]["match"]
    if storage == "memory":  # no init in gates: the flops hold only what the write port loaded
        assert result["weights_loaded"] > 0


def test_gate_level_mutation_is_reported(synthesized, tmp_path):
    design = synthesized["const"]
    net = ir.load(design / "model.bwir")
    mutated, _, changed = effective_mutation(net, random_inputs(net, VECTORS, 0), "threshold")
    ir.save(mutated, tmp_path / "b.bwir")
    result = verify(
        design,
        VerifyOptions(sim="icarus", vectors=VECTORS, gate_level=True, ir=tmp_path / "b.bwir"),
    )
    assert not result["passed"] and result["mismatches"] == changed


def test_gate_level_without_synthesis_names_the_fix(synthesized, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(synthesized["const"], bare, ignore=shutil.ignore_patterns("synth", "verify"))
    with pytest.raises(BitwaveError, match="run bitwave synth"):
        verify(bare, VerifyOptions(sim="icarus", gate_level=True))
    shutil.copytree(synthesized["const"] / "synth", bare / "synth")
    (bare / "synth" / "cells.v").unlink()  # a folder synthesized by an older bitwave
    with pytest.raises(BitwaveError, match=r"cell models .*cells\.v.*run bitwave synth"):
        verify(bare, VerifyOptions(sim="icarus", gate_level=True))
    shutil.copy(synthesized["const"] / "synth" / "cells.v", bare / "synth" / "cells.v")
    area = json.loads((bare / "synth" / "area.json").read_text())
    area["top"] = "another_top"
    (bare / "synth" / "area.json").write_text(json.dumps(area))
    with pytest.raises(BitwaveError, match="is for top 'another_top'"):
        verify(bare, VerifyOptions(sim="icarus", gate_level=True))
