"""The streaming network top end to end (Amaranth simulator vs bitwave.core.golden), its timing
formulas against measured cycles, the weight write bus, and `bitwave generate` output:
manifest, FuseSoC core, Verilator lint, clear errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml

from bitwave.app.cli import main
from bitwave.core import golden, ir
from bitwave.core.errors import BitwaveError
from bitwave.core.ir import pack_bits
from bitwave.core.random_ir import random_codes, random_network
from bitwave.hw.folding import LayerFold
from bitwave.hw.generate import flatten_module_names, generate
from bitwave.hw.lint import lint_verilog
from bitwave.hw.network import NetworkTop, weight_image
from bitwave.hw.testbench import check_against_golden, run_network

FOLDS = {"fc0": LayerFold(5, 8), "fc1": LayerFold(7, 13), "fc2": LayerFold(3, 7, pad=True)}


def small_net(seed=2):
    return random_network([40, 13, 7, 9], abits=[1, 2, 1], seed=seed)


@pytest.mark.parametrize("storage", ["const", "memory"])
def test_network_matches_golden_under_random_stalls(storage):
    net = small_net()
    rng = np.random.default_rng(4)
    x = random_codes(net.input_type, 10, net.input_width, rng)
    top = NetworkTop(net, FOLDS, storage, in_beat_bits=8, out_beat_bits=4)
    got, _ = run_network(top, x, rng, stall_in=0.4, stall_out=0.4)
    check_against_golden(got, golden.run(net, x), f"network ({storage})")


@pytest.mark.parametrize(
    "folds,beats",
    [
        (FOLDS, (8, 4)),  # a layer is the bottleneck
        (
            {"fc0": LayerFold(13, 40), "fc1": LayerFold(7, 13), "fc2": LayerFold(9, 7)},
            (4, 1),
        ),  # the streams are
    ],
)
def test_cycles_per_frame_and_latency_match_the_formulas(folds, beats):
    net = small_net()
    x = random_codes(net.input_type, 8, net.input_width, np.random.default_rng(1))
    top = NetworkTop(net, folds, "const", *beats)
    got, log = run_network(top, x)
    check_against_golden(got, golden.run(net, x), "network (no stalls)")
    frame_ends = log.outputs[top.out_beats - 1 :: top.out_beats]
    assert set(np.diff(frame_ends).tolist()) == {top.cycles_per_frame}
    # the first input beat transfers at edge inputs[0]; the last output beat of frame 0 is
    # valid from the edge before it transfers (ready held high)
    assert log.outputs[top.out_beats - 1] - 1 - log.inputs[0] == top.latency_cycles


def test_int_and_binary_layers_mixed_end_to_end():
    net = random_network([12, 10, 6, 5], wbits=[2, 1, 3], abits=[2, 1, 2], in_bits=3, seed=8)
    rng = np.random.default_rng(3)
    x = random_codes(net.input_type, 8, net.input_width, rng)
    folds = {"fc0": LayerFold(2, 5, pad=True), "fc1": LayerFold(6, 10), "fc2": LayerFold(5, 3)}
    top = NetworkTop(net, folds, "const", 16, 16)
    got, _ = run_network(top, x, rng, stall_in=0.3, stall_out=0.3)
    check_against_golden(got, golden.run(net, x), "mixed network")


def test_weights_loaded_through_the_write_bus_replace_the_built_in_ones():
    """A design built from IR A, loaded at run time with IR B's weights, computes IR B (and,
    the mutation side, no longer IR A)."""
    net_a = small_net()
    net_b = small_net()
    bits = net_b.layers[1].weight_bits()
    bits[:, :] ^= 1  # every weight of fc1 negated: a different network
    net_b.layers[1].weights = pack_bits(bits)
    rng = np.random.default_rng(6)
    x = random_codes(net_a.input_type, 6, net_a.input_width, rng)
    top_a = NetworkTop(net_a, FOLDS, "memory", 8, 4)
    words_b = weight_image(net_b, FOLDS)
    got, _ = run_network(top_a, x, rng, load_words=words_b)
    check_against_golden(got, golden.run(net_b, x), "design A loaded with B's weights")
    assert np.any(got != golden.run(net_a, x))


def test_flatten_module_names():
    text = "module \\top.fc0.weights (a);\n  \\top.fc0  fc0 (\n"
    assert flatten_module_names(text, "top") == "module top__fc0__weights (a);\n  top__fc0  fc0 (\n"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("ir") / "odd.bwir"
    ir.save(random_network([29, 11, 5], abits=[2, 1], seed=9, name="odd net"), path)
    return path


@pytest.mark.parametrize("storage", ["const", "memory"])
def test_generate_writes_the_contract_and_lints_clean(model, tmp_path, storage):
    if shutil.which("make") is None:  # verilator's wrapper needs only perl; make is not used
        pass
    out = tmp_path / "design"
    result = generate(
        model, out, fold_spec="fc0:pe=11,simd=10,pad;fc1:pe=5,simd=11", weight_storage=storage
    )
    manifest = json.loads((out / "manifest.json").read_text())
    top = manifest["top"]
    assert top == "bitwave_odd_net"
    for key in ("top", "ir_sha256", "ir_name", "clock", "reset", "ports", "input_stream", "output_stream",
                "layers", "cycles_per_frame", "latency_cycles", "targets", "folding"):  # fmt: skip
        assert key in manifest
    assert manifest["ir_sha256"] == ir.load(out / "model.bwir").sha256 == ir.load(model).sha256
    assert manifest["folding"] == {
        "source": "explicit",
        "spec": "fc0:pe=11,simd=10,pad;fc1:pe=5,simd=11",
    }
    assert [layer["module"] for layer in manifest["layers"]] == [f"{top}__fc0", f"{top}__fc1"]
    assert manifest["layers"][0]["cycles_per_frame"] == 3  # ceil(11/11) * ceil(29/10)
    text = result.verilog.read_text()
    for layer in manifest["layers"]:
        assert f"module {layer['module']} (" in text
    ports = {p["name"]: (p["direction"], p["width"]) for p in manifest["ports"]}
    stream = manifest["input_stream"]
    assert (
        ports[stream["data"]] == ("input", stream["bits_per_beat"])
        and ports[stream["ready"]][0] == "output"
    )
    assert stream["beats_per_frame"] == 1 and stream["elements"] == 29
    assert manifest["output_stream"]["element_bits"] == 1
    assert ("weight_memory" in manifest) == (storage == "memory")
    if storage == "memory":
        wm = manifest["weight_memory"]
        assert ports[wm["ports"]["data"]] == ("input", wm["word_bits"])
        lines = (out / wm["init_file"]).read_text().split()
        assert len(lines) == sum(region["depth"] for region in wm["regions"])
    core_text = (out / f"{top}.core").read_text()
    assert core_text.startswith("CAPI=2:\n")
    core = yaml.safe_load(core_text)
    assert core["name"] == f"bitwave:generated:{top}:0.1.0"
    assert core["filesets"]["rtl"]["files"] == [f"rtl/{top}.v"]
    assert {t["toplevel"] for t in core["targets"].values()} == {top}
    lint = lint_verilog(result.verilog, top, result.waivers)
    assert lint.ok, lint.output


def test_lint_catches_a_broken_file(tmp_path):
    """The lint check can fail: a non-waived warning (a latch) and an error (undeclared name)."""
    waivers = tmp_path / "w.vlt"
    from bitwave.hw.lint import waiver_text

    waivers.write_text(waiver_text())
    latch = tmp_path / "latch.v"
    latch.write_text(
        "module latch(input a, input en, output reg b);\n  always @* if (en) b = a;\nendmodule\n"
    )
    assert not lint_verilog(latch, "latch", waivers).ok
    undeclared = tmp_path / "undeclared.v"
    undeclared.write_text("module undeclared(input a, output b);\n  assign b = c;\nendmodule\n")
    assert not lint_verilog(undeclared, "undeclared", waivers).ok
    fine = tmp_path / "fine.v"
    fine.write_text("module fine(input a, output b);\n  assign b = ~a;\nendmodule\n")
    assert lint_verilog(fine, "fine", waivers).ok


def test_solver_meets_the_rate_and_cli_reports_errors(model, tmp_path, capsys):
    out = tmp_path / "solved"
    assert (
        main(["generate", str(model), "--out", str(out), "--clock-mhz", "1", "--fps", "50000"]) == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["folding"]["source"] == "solver"
    assert manifest["targets"]["achieved_fps"] >= 50000
    assert manifest["cycles_per_frame"] <= 1e6 / 50000
    # an unmeetable rate names the clock that would work
    assert (
        main(["generate", str(model), "--out", str(out), "--clock-mhz", "1", "--fps", "1e6"]) == 2
    )
    assert "raise --clock-mhz" in capsys.readouterr().err
    assert (
        main(
            [
                "generate",
                str(model),
                "--out",
                str(out),
                "--fold",
                "fc0:pe=3,simd=29;fc1:pe=5,simd=11",
            ]
        )
        == 2
    )
    assert "does not divide out_width=11" in capsys.readouterr().err
    assert main(["generate", str(tmp_path / "missing.bwir"), "--out", str(out)]) == 2


def test_generation_errors_are_bitwave_errors(model, tmp_path):
    with pytest.raises(BitwaveError, match="--weights 'sram'"):
        generate(model, tmp_path, weight_storage="sram")
    with pytest.raises(BitwaveError, match="below the 1e\\+09 frames/s"):
        generate(model, tmp_path, fold_spec="fc0:pe=1,simd=1;fc1:pe=1,simd=1", fps=1e9)
