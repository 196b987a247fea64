"""bitwave verify on recurrent (binary_gru) designs: whole sequences of several utterances with
restarts and random stalls on Verilator and Icarus (constant and memory weights, RTL and gate
level), real utterances through --inputs, and the mutation twins that must fail: a recurrent
weight bit flipped, a threshold off by one, and a design whose state is not reset between
sequences."""

import json
import re
import shutil

import numpy as np
import pytest
from conftest import synthesized_copy

from bitwave.app.cli import main
from bitwave.core import golden, ir
from bitwave.core.errors import BitwaveError
from bitwave.core.random_ir import random_network
from bitwave.sim.mutation import Mutation, apply, effective_mutation, no_restart_twin
from bitwave.sim.reference_design import write_reference_design
from bitwave.sim.verify import VerifyOptions, random_inputs, random_starts, verify

generate = pytest.importorskip("bitwave.hw.generate").generate

HAVE_ICARUS = shutil.which("iverilog") is not None and shutil.which("vvp") is not None
NO_ICARUS = "Icarus Verilog (iverilog) is not installed: apt-get install -y iverilog"
pytestmark = pytest.mark.usefixtures("shared_build_cache")
SIM = "icarus" if HAVE_ICARUS else "verilator"  # the quicker build for the twins
VECTORS = 40
SEED = 3
FOLD = "gru0:pe=4,simd=8;fc1:pe=4,simd=16"


@pytest.fixture(scope="module")
def designs(tmp_path_factory):
    """A 40-gru:16-12 network as const and memory designs; 8-bit beats, so a frame's start
    flag goes with the first of 5 input beats."""
    root = tmp_path_factory.mktemp("gru")
    ir.save(random_network([40, "gru:16", 12], seed=7, name="gru"), root / "gru.bwir")
    for storage in ("const", "memory"):
        generate(root / "gru.bwir", root / storage, fold_spec=FOLD, weight_storage=storage,
                 beat_bits=8)  # fmt: skip
    return root


def _stimulus(net):
    x, starts = random_inputs(net, VECTORS, SEED), random_starts(VECTORS, SEED)
    return x, starts, golden.run(net, x, starts)


def _on(storage, sim):
    marks = pytest.mark.skipif(not HAVE_ICARUS, reason=NO_ICARUS) if sim == "icarus" else ()
    return pytest.param(storage, sim, marks=marks, id=f"{storage}-{sim}")


@pytest.mark.parametrize(
    "storage, sim",
    [_on("const", "verilator"), _on("const", "icarus"), _on("memory", "icarus"),
     _on("memory", "verilator")],
)  # fmt: skip
def test_gru_design_matches_golden_over_restarted_sequences(designs, storage, sim):
    design = designs / storage
    result = verify(design, VerifyOptions(sim=sim, vectors=VECTORS, seed=SEED, fast_build=True))
    assert result["passed"], result
    assert result["mismatches"] == 0 and result["frames_received"] == VECTORS
    assert result["cycles_per_frame"]["match"] and result["latency_cycles"]["match"]
    net = ir.load(design / "model.bwir")
    x, starts, want = _stimulus(net)
    assert result["sequences"] == starts.sum() >= 4
    # restarts fall in the no-stall phase (first 8 frames) and in the stall phase alike, and
    # they matter: the same frames as one sequence give other outputs
    assert starts[1:8].any() and starts[8:].any()
    assert (golden.run(net, x) != want).any()
    work = design / "verify" / f"{sim}-rtl"
    np.testing.assert_array_equal(np.load(work / "outputs.npy"), want)
    np.testing.assert_array_equal(np.load(work / "starts.npy"), starts)
    if storage == "memory":
        assert result["weights_loaded"] > 0 and result["weight_layout_error"] is None


def test_random_starts_are_utterances_of_distinct_lengths():
    starts = random_starts(64, 0)
    assert starts[0] and np.array_equal(starts, random_starts(64, 0))
    lengths = np.diff([*np.flatnonzero(starts), 64])
    assert len(lengths) >= 4 and len(set(lengths[:-1].tolist())) == len(lengths) - 1
    assert not np.array_equal(starts, random_starts(64, 1))
    assert random_starts(3, 0).sum() == 2  # lengths 1 and 2 cover three frames


@pytest.mark.parametrize("kind", ["recurrent_weight", "threshold"])
def test_gru_weight_and_threshold_twins_fail(designs, tmp_path, kind):
    design = designs / "const"
    net = ir.load(design / "model.bwir")
    x, starts, want = _stimulus(net)
    mutated, mutation, changed = effective_mutation(net, x, kind, starts=starts, layer=0)
    assert mutation.layer == 0 and mutation.kind == kind  # the GRU layer, not the dense one
    ir.save(mutated, tmp_path / "b.bwir")
    options = VerifyOptions(sim=SIM, vectors=VECTORS, seed=SEED, ir=tmp_path / "b.bwir")
    result = verify(design, options)
    assert not result["passed"], mutation.describe(net)
    assert result["mismatches"] == changed > 0
    twin_out = golden.run(mutated, x, starts)
    frame, index = np.argwhere(want != twin_out)[0]
    first = result["first_mismatch"]
    assert (first["frame"], first["index"], first["expected"]) == (
        frame,
        index,
        twin_out[frame, index],
    )


def test_memory_design_runs_recurrent_weights_loaded_through_the_write_port(designs, tmp_path):
    design = designs / "memory"
    net = ir.load(design / "model.bwir")
    x, starts, _ = _stimulus(net)
    mutated, _, _ = effective_mutation(net, x, "recurrent_weight", starts=starts)
    ir.save(mutated, tmp_path / "b.bwir")
    options = dict(sim=SIM, vectors=VECTORS, seed=SEED, ir=tmp_path / "b.bwir")
    assert not verify(design, VerifyOptions(**options))["passed"]  # built-from U loaded
    # loading B's U through the write port makes the hardware compute B
    assert verify(design, VerifyOptions(**options, load_ir_weights=True))["passed"]


def test_state_not_reset_between_sequences_fails(designs, tmp_path):
    twin = no_restart_twin(designs / "const", tmp_path / "twin")
    result = verify(twin, VerifyOptions(sim=SIM, vectors=VECTORS, seed=SEED))
    net = ir.load(twin / "model.bwir")
    x, _, want = _stimulus(net)
    never_restarted = golden.run(net, x)  # what a state that runs on computes
    assert not result["passed"]
    assert result["mismatches"] == int((never_restarted != want).sum()) > 0
    np.testing.assert_array_equal(np.load(twin / "verify" / f"{SIM}-rtl" / "outputs.npy"),
                                  never_restarted)  # fmt: skip


def test_gru_mutation_helpers(tmp_path):
    net = random_network([10, "gru:6", 4], seed=2)
    mutation = Mutation("recurrent_weight", 0, 3, 5, gate=1)
    mutated = apply(net, mutation)
    assert "U_r [3, 5] flipped" in mutation.describe(net)
    diff = net.layers[0].weights_h ^ mutated.layers[0].weights_h
    assert diff[1, 3, 0] == 1 << 5 and int(np.count_nonzero(diff)) == 1
    with pytest.raises(BitwaveError, match="needs a binary_gru layer"):
        apply(net, Mutation("recurrent_weight", 1, 0, 0))
    with pytest.raises(BitwaveError, match="needs a binary_gru layer"):
        effective_mutation(random_network([10, 4], seed=2), np.zeros((3, 10), int),
                           "recurrent_weight")  # fmt: skip
    mlp = write_reference_design(random_network([8, 4], seed=1), tmp_path / "mlp")
    with pytest.raises(BitwaveError, match="not a recurrent design"):
        no_restart_twin(mlp, tmp_path / "twin")


def _utterances(tmp_path, net, lengths):
    rng = np.random.default_rng(5)
    paths, parts = [], []
    for i, length in enumerate(lengths):
        part = rng.integers(0, 2, size=(length, net.input_width))
        np.save(tmp_path / f"u{i}.npy", part)
        paths.append(tmp_path / f"u{i}.npy")
        parts.append(part)
    return paths, parts


def test_inputs_files_are_utterances(designs, tmp_path, capsys):
    design = designs / "const"
    net = ir.load(design / "model.bwir")
    paths, parts = _utterances(tmp_path, net, [7, 2, 12])
    args = ["verify", str(design), "--sim", SIM]
    assert main([*args, *(a for p in paths for a in ("--inputs", str(p)))]) == 0
    assert "21 vectors in 3 sequences" in capsys.readouterr().out
    result = json.loads((design / "verify" / "result.json").read_text())
    want = np.concatenate(golden.run_sequences(net, parts))
    assert (want != golden.run(net, np.concatenate(parts))).any()  # the boundaries matter
    np.testing.assert_array_equal(np.load(design / "verify" / f"{SIM}-rtl" / "outputs.npy"), want)
    assert result["inputs"] == ", ".join(map(str, paths)) and result["sequences"] == 3
    # --vectors cuts the utterances back to back: 7 + 2 + 1 frames
    assert main([*args, "--vectors", "10", "--inputs", str(paths[0]), "--inputs", str(paths[1]),
                 "--inputs", str(paths[2])]) == 0  # fmt: skip
    assert "10 vectors in 3 sequences" in capsys.readouterr().out


def test_bad_utterances_are_clear_errors(designs, tmp_path, capsys):
    design = designs / "const"
    net = ir.load(design / "model.bwir")
    (good,), _ = _utterances(tmp_path, net, [6])
    np.save(tmp_path / "empty.npy", np.zeros((0, net.input_width), np.int64))
    np.save(tmp_path / "wide.npy", np.zeros((4, net.input_width + 1), np.int64))
    np.save(tmp_path / "codes.npy", np.full((4, net.input_width), 2, np.int64))
    (tmp_path / "text.npy").write_text("not an array")
    np.save(tmp_path / "short.npy", np.zeros((2, net.input_width), np.int64))
    cases = {
        "empty.npy": "holds no frames; each --inputs file is one utterance",
        "wide.npy": f"must have shape \\(frames, {net.input_width}\\)",
        "codes.npy": r"input codes must lie in \[0, 1\]",
        "text.npy": "not a .npy file",
        "short.npy": "hold 2 frames; at least 3 are needed",
    }
    for name, message in cases.items():
        inputs = ["--inputs", str(tmp_path / name)]
        if name != "short.npy":
            inputs += ["--inputs", str(good)]
        assert main(["verify", str(design), "--sim", SIM, *inputs]) == 2, name
        assert re.search(message, capsys.readouterr().err), name


def test_recurrent_ir_without_the_start_port_is_an_inconsistent_folder(designs, tmp_path):
    folder = tmp_path / "edited"
    shutil.copytree(designs / "const", folder, ignore=shutil.ignore_patterns("verify"))
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["sequence_start"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BitwaveError, match="is recurrent but the manifest lacks a sequence_start"):
        verify(folder, VerifyOptions(sim=SIM))


def test_recurrent_ir_against_a_feed_forward_design_is_refused(tmp_path):
    mlp = write_reference_design(random_network([40, 12], seed=1, name="ff"), tmp_path / "ff")
    ir.save(random_network([40, "gru:16", 12], seed=7), tmp_path / "gru.bwir")
    with pytest.raises(BitwaveError, match="is recurrent .* no sequence-start port"):
        verify(mlp, VerifyOptions(sim=SIM, ir=tmp_path / "gru.bwir"))


# ---- gate level ------------------------------------------------------------------------------
@pytest.mark.skipif(not HAVE_ICARUS, reason=NO_ICARUS)
def test_gate_level_gru_matches_golden_and_its_no_restart_twin_fails(designs, tmp_path):
    design = synthesized_copy(designs / "const", tmp_path / "const")
    options = VerifyOptions(sim="icarus", vectors=VECTORS, seed=SEED, gate_level=True)
    result = verify(design, options)
    assert result["passed"] and result["level"] == "gate", result
    assert result["sequences"] >= 4
    twin = no_restart_twin(design, tmp_path / "twin")
    failed = verify(twin, options)
    net = ir.load(design / "model.bwir")
    x, _, want = _stimulus(net)
    assert not failed["passed"] and failed["level"] == "gate"
    assert failed["mismatches"] == int((golden.run(net, x) != want).sum())
