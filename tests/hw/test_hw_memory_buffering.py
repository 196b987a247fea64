"""Memory buffering (``NetworkTop(buffering="memory")``, ``bitwave generate --buffering
memory``): the first layer takes the input stream itself, one SIMD slice a beat, into a RAM
and reads the slices back by address; no deserializer. Checked against the golden model
under stalls, its cycle and latency claims against measured cycles, a twin that overwrites
the frame it reads, refusals and the manifest."""

from __future__ import annotations

import numpy as np
import pytest

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
PADDED = {"fc0": LayerFold(13, 6, pad=True), "fc1": LayerFold(1, 13), "fc2": LayerFold(9, 7)}
ONE_SYNAPSE_FOLD = {"fc0": LayerFold(1, 40), "fc1": LayerFold(7, 13), "fc2": LayerFold(9, 7)}
SLOW_LAST = {"fc0": LayerFold(13, 20), "fc1": LayerFold(1, 13), "fc2": LayerFold(1, 1)}


def small_net(seed: int = 2) -> ir.Network:
    return random_network([40, 13, 7, 9], abits=[1, 2, 1], seed=seed)


@pytest.mark.parametrize(
    "folds,out_beat",
    [(FOLDED, 4), (PADDED, 9), (ONE_SYNAPSE_FOLD, 1), (SLOW_LAST, 2)],
)
def test_memory_buffering_claims_match_measured_cycles(folds, out_beat):
    net = small_net()
    x = random_codes(net.input_type, 5, net.input_width, np.random.default_rng(1))
    top = NetworkTop(net, folds, "const", 32, out_beat, buffering="memory")
    assert top.in_beat_bits == folds["fc0"].simd  # one slice a beat, whatever was asked
    assert top.in_beats == top.blocks[0].sf
    got, log = run_network(top, x)
    check_against_golden(got, golden.run(net, x), "memory buffering (no stalls)")
    assert log.frame_timing(top.out_beats) == ({top.cycles_per_frame}, top.latency_cycles)


def test_memory_buffering_matches_golden_under_random_stalls():
    net = random_network([12, 10, 6, 5], wbits=[2, 1, 3], abits=[2, 1, 2], in_bits=3, seed=8)
    folds = {"fc0": LayerFold(2, 5, pad=True), "fc1": LayerFold(6, 10), "fc2": LayerFold(5, 3)}
    rng = np.random.default_rng(3)
    x = random_codes(net.input_type, 12, net.input_width, rng)
    top = NetworkTop(net, folds, "memory", 7, 3, buffering="memory")  # int_dense, 15-bit beats
    assert top.in_beat_bits == 5 * 3
    got, _ = run_network(top, x, rng, stall_in=0.4, stall_out=0.4)
    check_against_golden(got, golden.run(net, x), "memory buffering (stalls)")


class _Overwrites(MVTU):
    """Twin: frees the frame RAM at the end of every pass over it, not just the last one,
    so the next frame's beats overwrite slices that later neuron folds still read."""

    def _slices_free(self, last_issue, pass_end):
        return pass_end


def test_a_frame_ram_taking_beats_while_it_is_read_corrupts_frames():
    net = small_net()
    x = random_codes(net.input_type, 8, net.input_width, np.random.default_rng(1))
    top = NetworkTop(net, FOLDED, "const", 8, 4, buffering="memory")
    top.blocks[0]._MustUse__silence = True
    top.blocks[0] = _Overwrites(net.layers[0], 5, 8, beat_input=True)
    assert top.blocks[0].nf > 1
    got, _ = run_network(top, x, max_cycles=20_000)
    with pytest.raises(AssertionError, match="mismatches"):
        check_against_golden(got, golden.run(net, x), "overwriting twin")


def test_memory_buffering_refuses_what_it_does_not_cover():
    gru = random_network([16, "gru:8", 5], seed=1)
    folds = {layer.name: LayerFold(1, 8) for layer in gru.layers}
    with pytest.raises(BitwaveError, match="buffering 'memory' is built for feed-forward"):
        NetworkTop(gru, folds, buffering="memory")


def test_generate_records_memory_buffering_and_lints_clean(tmp_path):
    net = random_network([20, 6, 5], seed=4)
    ir.save(net, tmp_path / "m.bwir")
    spec = "fc0:pe=3,simd=5;fc1:pe=5,simd=6"
    design = generate(tmp_path / "m.bwir", tmp_path / "mem", fold_spec=spec, beat_bits=8,
                      buffering="memory")  # fmt: skip
    loaded = contract.load(tmp_path / "mem")
    assert loaded.buffering == "memory"
    assert loaded.input_stream.bits_per_beat == 5 and loaded.output_stream.bits_per_beat == 5
    top = NetworkTop(net, {"fc0": LayerFold(3, 5), "fc1": LayerFold(5, 6)}, "const", 8, 8,
                     buffering="memory")  # fmt: skip
    assert (loaded.cycles_per_frame, loaded.latency_cycles) == (
        top.cycles_per_frame,
        top.latency_cycles,
    )
    top.discard()
    verilog = (tmp_path / "mem" / "rtl" / f"{loaded.top}.v").read_text()
    assert "deserializer" not in verilog
    lint = lint_verilog(design.verilog, loaded.top, tmp_path / "mem" / "rtl" / f"{loaded.top}.vlt")
    assert lint.ok, lint.output
