"""bitwave verify on multi-exit designs: the exit selector driven with every frame's first beat,
exits switching from frame to frame in one run (runs and switches, selector values past the
last exit) under random stalls on Verilator and Icarus, RTL and gate level, constant and memory
weights, real inputs; each exit's cycles per frame and latency measured against the manifest;
the mutation twins per exit (a head weight bit flipped, a trunk weight bit of the exit's block
flipped, two exits swapped, a false timing claim) fail and name the exits whose frames
mismatched."""

import json
import shutil

import numpy as np
import pytest
from conftest import synthesized_copy

from bitwave.app.cli import main
from bitwave.core import golden, ir
from bitwave.core.errors import BitwaveError
from bitwave.core.random_ir import random_network
from bitwave.sim.mutation import effective_mutation, exit_block, exit_swap_twin
from bitwave.sim.reference_design import write_reference_design
from bitwave.sim.verify import (
    VerifyOptions,
    parse_exits,
    random_exits,
    random_inputs,
    verify,
)

generate = pytest.importorskip("bitwave.hw.generate").generate

HAVE_ICARUS = shutil.which("iverilog") is not None and shutil.which("vvp") is not None
NO_ICARUS = "Icarus Verilog (iverilog) is not installed: apt-get install -y iverilog"
pytestmark = pytest.mark.usefixtures("shared_build_cache")
SIM = "icarus" if HAVE_ICARUS else "verilator"  # the quicker build for the twins
VECTORS = 40
SEED = 2
# exit0 is the slowest head (18 cycles per frame against 10), so each exit's timing differs
FOLD = ("fc0:pe=2,simd=8;fc1:pe=4,simd=4;fc2:pe=8,simd=8;fc3:pe=4,simd=8;"
        "exit0:pe=1,simd=2;exit1:pe=2,simd=8")  # fmt: skip


@pytest.fixture(scope="module")
def designs(tmp_path_factory):
    """16 -> fc0 (exit0) -> fc1 (exit1) -> fc2 -> fc3 (final): three exits on a 2-bit selector
    (value 3 = the final exit), 2 input beats per frame; constant and memory weights."""
    root = tmp_path_factory.mktemp("exits")
    ir.save(random_network([16, 8, "exit", 8, "exit", 8, 4], seed=3, name="exits"),
            root / "net.bwir")  # fmt: skip
    for storage in ("const", "memory"):
        generate(root / "net.bwir", root / storage, fold_spec=FOLD, weight_storage=storage,
                 beat_bits=8)  # fmt: skip
    return root


def _run(design, sim):
    """(net, frames, selectors, outputs) that verify drove and received in ``sim``'s folder."""
    work = design / "verify" / f"{sim}-rtl"
    return (ir.load(design / "model.bwir"), np.load(work / "inputs.npy"),
            np.load(work / "exits.npy"), np.load(work / "outputs.npy"))  # fmt: skip


def _golden_at(net, frames, selectors):
    return golden.run(net, frames, exits=np.minimum(selectors, net.n_exits - 1))


def _on(storage, sim):
    marks = pytest.mark.skipif(not HAVE_ICARUS, reason=NO_ICARUS) if sim == "icarus" else ()
    return pytest.param(storage, sim, marks=marks, id=f"{storage}-{sim}")


@pytest.mark.parametrize("storage, sim", [_on("const", "verilator"), _on("const", "icarus"),
                                          _on("memory", "icarus")])  # fmt: skip
def test_every_exit_matches_golden_with_exits_switching_in_one_run(designs, storage, sim):
    design = designs / storage
    options = VerifyOptions(sim=sim, vectors=VECTORS, seed=SEED, fast_build=True)
    result = verify(design, options)
    assert result["passed"], result
    exits = result["exits"]
    assert exits["mismatched_exits"] == [] and result["mismatches"] == 0
    net, frames, selectors, got = _run(design, sim)
    np.testing.assert_array_equal(got, _golden_at(net, frames, selectors))
    # one timing run per exit (every frame at that exit), then the mixed frames
    first = exits["timing_frames"]
    assert result["vectors"] == len(frames) == first + VECTORS == exits["mixed_frames"] + first
    np.testing.assert_array_equal(frames[first:], random_inputs(net, VECTORS, SEED))
    mixed = selectors[first:]
    np.testing.assert_array_equal(mixed, random_exits(VECTORS, range(4), SEED))
    assert set(mixed.tolist()) == {0, 1, 2, 3} == set(exits["selector_values"])
    assert (mixed[1:] == mixed[:-1]).any() and exits["switches"] >= VECTORS // 4
    # the exits give different outputs on these frames: a wrong exit could not pass
    assert (_golden_at(net, frames, selectors) != golden.run(net, frames)).any()
    per_exit = exits["per_exit"]
    assert [e["frames"] for e in per_exit] == [int((np.minimum(selectors, 2) == k).sum())
                                               for k in range(3)]  # fmt: skip
    assert sum(e["mixed_frames"] for e in per_exit) == VECTORS
    manifest = json.loads((design / "manifest.json").read_text())["exits"]["per_exit"]
    for e, claim in zip(per_exit, manifest, strict=True):
        assert e["mismatches"] == 0 and e["mixed_frames"] > 0
        assert e["cycles_per_frame"]["measured"] == claim["cycles_per_frame"]
        assert e["latency_cycles"]["measured"] == claim["latency_cycles"]
    assert per_exit[0]["cycles_per_frame"]["measured"] > per_exit[2]["cycles_per_frame"]["measured"]
    assert result["cycles_per_frame"]["measured"] == manifest[-1]["cycles_per_frame"]
    assert 0 < exits["switching"]["max_output_interval"] <= exits["switching"]["bound"]
    if storage == "memory":
        assert result["weights_loaded"] > 0 and result["weight_layout_error"] is None


def test_random_exits_mix_runs_and_switches():
    values = [0, 1, 2, 3]
    mix = random_exits(64, values, 0)
    assert np.array_equal(mix, random_exits(64, values, 0))
    assert not np.array_equal(mix, random_exits(64, values, 1))
    assert sorted(mix[:4].tolist()) == values  # every value at once, one frame each
    changes = np.flatnonzero(np.diff(mix)) + 1
    runs = np.diff([0, *changes, 64])
    assert runs.max() > 1 and (runs == 1).sum() > 4 and runs.max() <= 4
    assert np.array_equal(random_exits(5, [2], 0), [2] * 5)
    assert parse_exits("random") == "random" and parse_exits("0, 2") == (0, 2)
    with pytest.raises(BitwaveError, match="'random' or non-negative selector values"):
        parse_exits("0,-1")


def test_exits_option_chooses_the_mixed_selector_values(designs):
    design = designs / "const"
    pinned = verify(design, VerifyOptions(sim=SIM, vectors=12, exits=(1,)))
    assert pinned["passed"] and pinned["exits"]["switches"] == 0
    assert [e["mixed_frames"] for e in pinned["exits"]["per_exit"]] == [0, 12, 0]
    past = verify(design, VerifyOptions(sim=SIM, vectors=24, seed=4, exits=(0, 3)))
    assert past["passed"] and past["exits"]["selector_values"] == [0, 3]
    mixed = [e["mixed_frames"] for e in past["exits"]["per_exit"]]
    assert mixed[0] > 0 and mixed[1] == 0 and mixed[2] > 0  # 3 is the final exit
    with pytest.raises(BitwaveError, match=r"--exits values must lie in 0\.\.3"):
        verify(design, VerifyOptions(sim=SIM, exits=(0, 4)))


def test_cli_exits_flag_and_summary(designs, tmp_path, capsys):
    design = designs / "const"
    assert main(["verify", str(design), "--sim", SIM, "--vectors", "10", "--exits", "2,0"]) == 0
    out = capsys.readouterr().out
    assert "10 mixed frames at selector values 0, 2" in out and "exit 1 (exit1)" in out
    assert "PASS" in out
    with pytest.raises(SystemExit) as refused:  # the parser refuses it: exit 2
        main(["verify", str(design), "--exits", "two"])
    assert refused.value.code == 2 and "argument --exits" in capsys.readouterr().err
    mlp = write_reference_design(random_network([8, 4], seed=1), tmp_path / "mlp")
    assert main(["verify", str(mlp), "--sim", SIM, "--exits", "1"]) == 2
    assert "--exits is for multi-exit designs" in capsys.readouterr().err


def test_real_inputs_switch_exits_too(designs, tmp_path):
    design = designs / "const"
    net = ir.load(design / "model.bwir")
    rng = np.random.default_rng(7)
    paths = []
    for i, length in enumerate((9, 5)):
        np.save(tmp_path / f"u{i}.npy", rng.integers(0, 2, size=(length, net.input_width)))
        paths.append(tmp_path / f"u{i}.npy")
    result = verify(design, VerifyOptions(sim=SIM, inputs=paths))
    assert result["passed"] and result["exits"]["mixed_frames"] == 14
    _, frames, selectors, got = _run(design, SIM)
    real = np.concatenate([np.load(p) for p in paths])
    np.testing.assert_array_equal(frames[result["exits"]["timing_frames"] :], real)
    np.testing.assert_array_equal(got, _golden_at(net, frames, selectors))


def _twin_result(design, tmp_path, mutated):
    ir.save(mutated, tmp_path / "twin.bwir")
    return verify(design, VerifyOptions(sim=SIM, vectors=VECTORS, seed=SEED,
                                        ir=tmp_path / "twin.bwir"))  # fmt: skip


@pytest.mark.parametrize("where", ["head", "trunk"])
@pytest.mark.parametrize("k", [0, 1, 2])
def test_a_weight_bit_flipped_in_an_exit_fails_and_names_the_exits(designs, tmp_path, k, where):
    """Exit k's head changes only exit k's frames; a trunk layer of block k changes exit k's
    and possibly deeper ones', never a shallower exit's."""
    design = designs / "const"
    net = ir.load(design / "model.bwir")
    # found on exit k's own timing frames (the first frames of the stimulus), so they change
    x = random_inputs(net, VECTORS, SEED)[:8]
    place = {"head": k} if where == "head" else {"layer": exit_block(net, k)[-1]}
    mutated, mutation, _ = effective_mutation(net, x, "weight", exits=k, **place)
    result = _twin_result(design, tmp_path, mutated)
    assert not result["passed"], mutation.describe(net)
    _, frames, selectors, _ = _run(design, SIM)
    differs = _golden_at(net, frames, selectors) != _golden_at(mutated, frames, selectors)
    exit_of = np.minimum(selectors, 2)
    named = sorted({int(e) for e in exit_of[differs.any(axis=1)]})
    assert result["exits"]["mismatched_exits"] == named and k in named
    assert min(named) == k and (named == [k] if where == "head" else True)
    assert result["mismatches"] == int(differs.sum())
    for e in result["exits"]["per_exit"]:
        assert e["mismatches"] == int(differs[exit_of == e["index"]].sum())
        if e["mismatches"]:  # its first mismatch, numbered in the whole run
            frame, index = np.argwhere(differs & (exit_of == e["index"])[:, None])[0]
            assert (e["first_mismatch"]["frame"], e["first_mismatch"]["index"]) == (frame, index)


def test_exit_blocks_partition_the_trunk():
    net = random_network([16, 8, "exit", 8, 8, "exit", 8, 8, 4], seed=1)
    assert [exit_block(net, k) for k in range(3)] == [[0], [1, 2], [3, 4]]  # fc5: the final head
    assert exit_block(random_network([16, 8, "exit", 4], seed=1), 1) == []  # two heads on fc0
    with pytest.raises(BitwaveError, match="exits 0..2"):
        exit_block(net, 3)
    with pytest.raises(BitwaveError, match="head must be an exit"):
        effective_mutation(net, np.zeros((3, 16), int), "weight", head=3)


def test_swapped_exits_fail_at_those_exits(designs, tmp_path):
    twin = exit_swap_twin(designs / "const", tmp_path / "swap", 0, 1)
    result = verify(twin, VerifyOptions(sim=SIM, vectors=VECTORS, seed=SEED))
    assert not result["passed"]
    net, frames, selectors, got = _run(twin, SIM)
    swapped = np.where(selectors == 0, 1, np.where(selectors == 1, 0, selectors))
    np.testing.assert_array_equal(got, _golden_at(net, frames, swapped))
    exits = result["exits"]
    assert exits["mismatched_exits"] == [0, 1] and exits["per_exit"][2]["mismatches"] == 0
    # exit 0's timing run now measures exit 1's path (10 cycles per frame, not 18)
    assert not exits["per_exit"][0]["cycles_per_frame"]["match"]
    with pytest.raises(BitwaveError, match="two different selector values"):
        exit_swap_twin(designs / "const", tmp_path / "bad", 1, 1)


@pytest.mark.parametrize("claim", ["cycles_per_frame", "latency_cycles"])
def test_a_false_per_exit_timing_claim_fails(designs, tmp_path, claim):
    lying = tmp_path / "lying"
    shutil.copytree(designs / "const", lying, ignore=shutil.ignore_patterns("verify"))
    manifest = json.loads((lying / "manifest.json").read_text())
    manifest["exits"]["per_exit"][1][claim] += 1
    (lying / "manifest.json").write_text(json.dumps(manifest))
    result = verify(lying, VerifyOptions(sim=SIM, vectors=12))
    assert result["mismatches"] == 0 and not result["passed"]  # every bit right, a claim not
    assert [e[claim]["match"] for e in result["exits"]["per_exit"]] == [True, False, True]


def test_an_ir_with_other_exits_is_refused(designs, tmp_path):
    design = designs / "const"
    net = ir.load(design / "model.bwir")
    ir.save(net.exit_network(2), tmp_path / "final.bwir")
    with pytest.raises(BitwaveError, match="has 1 exit\\(s\\) but the design 3"):
        verify(design, VerifyOptions(sim=SIM, ir=tmp_path / "final.bwir"))


@pytest.mark.skipif(not HAVE_ICARUS, reason=NO_ICARUS)
def test_gate_level_exits_match_golden_and_a_swap_twin_fails(designs, tmp_path):
    design = synthesized_copy(designs / "const", tmp_path / "const")
    options = VerifyOptions(sim="icarus", vectors=VECTORS, seed=SEED, gate_level=True)
    result = verify(design, options)
    assert result["passed"] and result["level"] == "gate", result
    assert all(e["cycles_per_frame"]["match"] for e in result["exits"]["per_exit"])
    failed = verify(exit_swap_twin(design, tmp_path / "swap", 1, 2), options)
    assert not failed["passed"] and failed["level"] == "gate"
    assert failed["exits"]["mismatched_exits"] == [1, 2]
