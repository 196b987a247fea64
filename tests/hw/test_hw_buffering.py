"""Single buffering (``NetworkTop(buffering="single")``, ``bitwave generate --buffering``): the
first layer computes from the deserializer's register and the serializer cuts beats out of
the last layer's, checked against the golden model under stalls, its cycle and latency
claims against measured cycles, its early-release twin, refusals and the manifest."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from bitwave.app.cli import main
from bitwave.core import contract, golden, ir
from bitwave.core.errors import BitwaveError
from bitwave.core.random_ir import random_codes, random_network
from bitwave.hw.folding import LayerFold
from bitwave.hw.generate import generate
from bitwave.hw.lint import lint_verilog
from bitwave.hw.mvtu import MVTU
from bitwave.hw.network import NetworkTop
from bitwave.hw.testbench import check_against_golden, run_network

FOLDED = {"fc0": LayerFold(5, 8), "fc1": LayerFold(7, 13), "fc2": LayerFold(3, 7, pad=True)}
ONE_SYNAPSE_FOLD = {"fc0": LayerFold(5, 40), "fc1": LayerFold(7, 13), "fc2": LayerFold(3, 7)}
SLOW_LAST = {"fc0": LayerFold(13, 40), "fc1": LayerFold(7, 13), "fc2": LayerFold(1, 1)}


def small_net(seed: int = 2) -> ir.Network:
    return random_network([40, 13, 7, 9], abits=[1, 2, 1], seed=seed)


@pytest.mark.parametrize(
    "folds,beats",
    [
        (FOLDED, (8, 4)),  # the first layer's hold plus K_in beats is the bottleneck
        (FOLDED, (40, 18)),  # whole frames per beat: the layers are
        (ONE_SYNAPSE_FOLD, (4, 1)),  # SF = 1: stage B reads the frame, released a cycle later
        (SLOW_LAST, (16, 2)),  # the last layer holds its output for the serializer's beats
    ],
)
def test_single_buffering_claims_match_measured_cycles(folds, beats):
    net = small_net()
    x = random_codes(net.input_type, 5, net.input_width, np.random.default_rng(1))
    top = NetworkTop(net, folds, "const", *beats, buffering="single")
    got, log = run_network(top, x)
    check_against_golden(got, golden.run(net, x), "single buffering (no stalls)")
    intervals, latency = log.frame_timing(top.out_beats)
    assert intervals == {top.cycles_per_frame}
    assert latency == top.latency_cycles
    # the unbuffered serializer shows the output a cycle earlier than the double design
    double = NetworkTop(net, folds, "const", *beats)
    assert top.latency_cycles == double.latency_cycles - 1
    assert top.cycles_per_frame >= double.cycles_per_frame
    double.discard()


def test_single_buffering_matches_golden_under_random_stalls():
    """(Constant weights under stalls: tests/sim/test_sim_buffering.py, on the RTL.)"""
    net = random_network([12, 10, 6, 5], wbits=[2, 1, 3], abits=[2, 1, 2], in_bits=3, seed=8)
    folds = {"fc0": LayerFold(2, 5, pad=True), "fc1": LayerFold(6, 10), "fc2": LayerFold(5, 3)}
    rng = np.random.default_rng(3)
    x = random_codes(net.input_type, 12, net.input_width, rng)
    top = NetworkTop(net, folds, "memory", 7, 3, buffering="single")  # int_dense in place
    got, _ = run_network(top, x, rng, stall_in=0.4, stall_out=0.4)
    check_against_golden(got, golden.run(net, x), "single buffering (memory)")


def test_one_layer_network_single_buffered():
    net = random_network([23, 5], abits=4, seed=6)
    x = random_codes(net.input_type, 6, net.input_width, np.random.default_rng(2))
    top = NetworkTop(net, {"fc0": LayerFold(5, 23)}, "const", 8, 3, buffering="single")
    got, log = run_network(top, x)
    check_against_golden(got, golden.run(net, x), "one layer")
    assert log.frame_timing(top.out_beats) == ({top.cycles_per_frame}, top.latency_cycles)


class _EarlyRelease(MVTU):
    """Twin: lets the deserializer take the next frame's beats a cycle before the layer's
    last read of the frame (stage A's last step instead of stage B's)."""

    def _release(self, last_issue, last_read):
        return last_issue


def test_releasing_the_input_a_cycle_early_corrupts_frames():
    net = small_net()
    x = random_codes(net.input_type, 8, net.input_width, np.random.default_rng(1))
    top = NetworkTop(net, ONE_SYNAPSE_FOLD, "const", 8, 4, buffering="single")
    twin = _EarlyRelease(net.layers[0], 5, 40)
    twin.read_in_place()
    top.blocks[0]._MustUse__silence = True
    top.blocks[0] = twin
    got, _ = run_network(top, x)
    with pytest.raises(AssertionError, match="mismatches"):
        check_against_golden(got, golden.run(net, x), "early-release twin")


def _register_bits(text: str) -> int:
    """Flip-flop bits in Amaranth's Verilog: the regs declared with an init value."""
    found = re.findall(r"^\s*reg (?:\[(\d+):(\d+)\] )?\S+\s*= \d+'h", text, re.M)
    return sum(int(hi) - int(lo) + 1 if hi else 1 for hi, lo in found)


def test_single_buffering_refuses_what_it_does_not_cover(tmp_path):
    with pytest.raises(BitwaveError, match="expected one of double, single, memory"):
        NetworkTop(small_net(), FOLDED, buffering="triple")
    gru = random_network([16, "gru:8", 5], seed=1)
    folds = {layer.name: LayerFold(1, 8) for layer in gru.layers}
    with pytest.raises(BitwaveError, match="binary_dense / int_dense.*not op\\(s\\) binary_gru"):
        NetworkTop(gru, folds, buffering="single")
    exits = random_network([16, 8, "exit", 8, 4], seed=1)
    folds = {
        layer.name: LayerFold(1, 8) for layer in [*exits.layers, *(e.head for e in exits.exits)]
    }
    with pytest.raises(BitwaveError, match="not 1 early exit"):
        NetworkTop(exits, folds, buffering="single")
    ir.save(small_net(), tmp_path / "m.bwir")
    with pytest.raises(BitwaveError, match="not built for the full chip"):
        generate(tmp_path / "m.bwir", tmp_path / "chip", audio=True, buffering="single")


def test_generate_records_single_buffering_and_lints_clean(tmp_path):
    net = random_network([20, 6, 5], seed=4)
    ir.save(net, tmp_path / "m.bwir")
    spec = "fc0:pe=3,simd=5;fc1:pe=5,simd=6"
    assert main(["generate", str(tmp_path / "m.bwir"), "--out", str(tmp_path / "single"),
                 "--fold", spec, "--beat-bits", "8", "--buffering", "single"]) == 0  # fmt: skip
    double = generate(tmp_path / "m.bwir", tmp_path / "double", fold_spec=spec, beat_bits=8)
    assert "buffering" not in double.manifest  # old designs: unchanged manifests
    design = contract.load(tmp_path / "single")
    folds = {"fc0": LayerFold(3, 5), "fc1": LayerFold(5, 6)}
    top = NetworkTop(net, folds, "const", 8, 8, buffering="single")
    assert design.buffering == "single"
    assert (design.cycles_per_frame, design.latency_cycles) == (
        top.cycles_per_frame,
        top.latency_cycles,
    )
    top.discard()
    lint = lint_verilog(
        design.verilog, design.top, tmp_path / "single" / "rtl" / f"{design.top}.vlt"
    )
    assert lint.ok, lint.output
    # the first layer's input copy (20 bits, SF*SIMD = 20), the serializer's frame (5 bits
    # in one beat of 5) and its valid flag are gone; it keeps its (1-bit) beat index
    bits = {mode: _register_bits((tmp_path / mode / "rtl" / f"{design.top}.v").read_text())
            for mode in ("double", "single")}  # fmt: skip
    assert bits["double"] - bits["single"] == 20 + 5 + 1
    # a manifest naming an unknown mode is refused
    path = tmp_path / "single" / contract.MANIFEST
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "buffering": "triple"}))
    with pytest.raises(
        BitwaveError, match="buffering 'triple': expected one of double, single, memory"
    ):
        contract.load(tmp_path / "single")
