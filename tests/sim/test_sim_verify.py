"""bitwave verify on the hand-written reference design (bitwave.sim.reference_design): the
testbench, the cycles check, the CLI and the mutation tests, independent of the generator."""

import json
import shutil

import numpy as np
import pytest

from bitwave.app.cli import main
from bitwave.core import golden, ir
from bitwave.core.coding import encode, fit_lloyd_max
from bitwave.core.errors import BitwaveError
from bitwave.core.random_ir import random_network
from bitwave.sim.mutation import effective_mutation
from bitwave.sim.reference_design import write_reference_design
from bitwave.sim.verify import VerifyOptions, random_inputs, verify

HAVE_ICARUS = shutil.which("iverilog") is not None and shutil.which("vvp") is not None
pytestmark = pytest.mark.usefixtures("shared_build_cache")
NO_ICARUS = "Icarus Verilog (iverilog) is not installed: apt-get install -y iverilog"
SIMS = [
    "verilator",
    pytest.param("icarus", marks=pytest.mark.skipif(not HAVE_ICARUS, reason=NO_ICARUS)),
]
VECTORS = 40


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    # two layers, a 2-bit output, beats that do not divide the frames: 20 bits in 8-bit beats,
    # 5 x 2 output bits in 3-bit beats
    net = random_network([20, 6, 5], abits=[1, 2], seed=1, name="tiny")
    return write_reference_design(
        net, tmp_path_factory.mktemp("ref") / "tiny", in_beat=8, out_beat=3
    )


@pytest.mark.parametrize("sim", SIMS)
def test_reference_design_matches_golden(design, sim):
    result = verify(design, VerifyOptions(sim=sim, vectors=VECTORS, seed=5))
    assert result["passed"], result
    assert result["mismatches"] == 0 and result["frames_received"] == VECTORS
    # the reference design's timing is exact: in beats + 1 + out beats, in + out beats - 1
    assert result["cycles_per_frame"]["measured"] == 3 + 1 + 4
    assert result["latency_cycles"]["measured"] == 3 + 4 - 1
    saved = json.loads((design / "verify" / "result.json").read_text())
    assert saved["simulator"] == sim and saved["vectors"] == VECTORS
    np.testing.assert_array_equal(
        np.load(design / "verify" / f"{sim}-rtl" / "outputs.npy"),
        golden.run(
            ir.load(design / "model.bwir"),
            random_inputs(ir.load(design / "model.bwir"), VECTORS, 5),
        ),
    )


def test_rebuild_is_skipped_when_sources_are_unchanged(design):
    verify(design, VerifyOptions(vectors=4))
    again = verify(design, VerifyOptions(vectors=4, seed=1))
    assert again["build"]["cached"] and again["passed"]


@pytest.mark.parametrize("kind", ["weight", "threshold"])
def test_mutated_ir_is_reported(design, tmp_path, kind):
    net = ir.load(design / "model.bwir")
    inputs = random_inputs(net, VECTORS, 0)
    mutated, mutation, changed = effective_mutation(net, inputs, kind)
    path = tmp_path / f"{kind}.bwir"
    ir.save(mutated, path)
    result = verify(design, VerifyOptions(vectors=VECTORS, seed=0, ir=path))
    assert not result["passed"]
    # the simulator disagrees with the mutated IR exactly where the golden models disagree
    assert result["mismatches"] == changed
    diff = np.argwhere(golden.run(net, inputs) != golden.run(mutated, inputs))[0]
    assert (result["first_mismatch"]["frame"], result["first_mismatch"]["index"]) == tuple(diff)


def test_cli_exit_codes_and_messages(design, tmp_path, capsys):
    assert main(["verify", str(design), "--vectors", "8"]) == 0
    assert "PASS" in capsys.readouterr().out
    net = ir.load(design / "model.bwir")
    mutated, _, _ = effective_mutation(net, random_inputs(net, 8, 0), "threshold")
    ir.save(mutated, tmp_path / "b.bwir")
    assert main(["verify", str(design), "--vectors", "8", "--ir", str(tmp_path / "b.bwir")]) == 1
    out = capsys.readouterr().out
    assert "first mismatch: frame" in out and "expected" in out and "FAIL" in out
    assert main(["verify", str(tmp_path / "nothing")]) == 2
    assert "manifest.json is missing" in capsys.readouterr().err


def test_wrong_cycles_per_frame_claim_fails(design, tmp_path):
    lying = tmp_path / "lying"
    shutil.copytree(design, lying, ignore=shutil.ignore_patterns("verify"))
    manifest = json.loads((lying / "manifest.json").read_text())
    manifest["cycles_per_frame"] -= 1
    (lying / "manifest.json").write_text(json.dumps(manifest))
    result = verify(lying, VerifyOptions(vectors=8))
    assert result["mismatches"] == 0  # every bit is right ...
    assert not result["cycles_per_frame"]["match"] and not result["passed"]  # ... the claim is not


@pytest.mark.skipif(not HAVE_ICARUS, reason=NO_ICARUS)
def test_a_design_that_ignores_backpressure_is_caught(design, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(design, broken, ignore=shutil.ignore_patterns("verify"))
    rtl = next((broken / "rtl").glob("*.v"))
    text = rtl.read_text()
    assert "SEND: if (out_ready)" in text
    rtl.write_text(text.replace("SEND: if (out_ready)", "SEND: if (1'b1)"))
    result = verify(broken, VerifyOptions(sim="icarus", vectors=20))
    assert not result["passed"]
    assert result["mismatches"] > 0 or result["timed_out"]
    # without stalls (the first frames) the broken design still works: only backpressure breaks it
    assert result["cycles_per_frame"]["match"]


def test_float_features_are_encoded_with_the_ir_coding(tmp_path):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 5))
    net = random_network([20, 4], seed=2, name="coded")
    net.coding = fit_lloyd_max(features, bits=4)
    design = write_reference_design(net, tmp_path / "coded", in_beat=20, out_beat=4)
    np.save(tmp_path / "x.npy", features[:12])
    sim = "icarus" if HAVE_ICARUS else "verilator"  # the input path is what is tested here
    result = verify(design, VerifyOptions(sim=sim, vectors=None, inputs=tmp_path / "x.npy"))
    assert result["passed"] and result["vectors"] == 12
    np.testing.assert_array_equal(
        np.load(design / "verify" / f"{sim}-rtl" / "inputs.npy"), encode(net.coding, features[:12])
    )


def test_bad_requests_name_the_problem(design, tmp_path):
    np.save(tmp_path / "f.npy", np.zeros((5, 20)))
    with pytest.raises(BitwaveError, match="no input coding"):
        verify(design, VerifyOptions(inputs=tmp_path / "f.npy"))
    np.save(tmp_path / "wide.npy", np.zeros((5, 21), np.int64))
    with pytest.raises(BitwaveError, match=r"shape \(frames, 20\)"):
        verify(design, VerifyOptions(inputs=tmp_path / "wide.npy"))
    with pytest.raises(BitwaveError, match="non-negative"):
        verify(design, VerifyOptions(seed=-1))
    with pytest.raises(BitwaveError, match="at least 3"):
        verify(design, VerifyOptions(vectors=2))
    other = tmp_path / "other.bwir"
    ir.save(random_network([20, 7], seed=0), other)
    with pytest.raises(BitwaveError, match="7 output elements"):
        verify(design, VerifyOptions(ir=other))


@pytest.mark.skipif(not HAVE_ICARUS, reason=NO_ICARUS)
def test_waves_are_written_and_reported(design, capsys):
    assert main(["verify", str(design), "--sim", "icarus", "--vectors", "4", "--waves"]) == 0
    waves = design / "verify" / "icarus-rtl" / "waves.fst"
    assert f"waves: {waves.resolve()}" in capsys.readouterr().out
    assert waves.stat().st_size > 100
