"""Multi-exit networks in the IR and the golden model: format (version 3, optional entry),
validation with field paths, and every exit's semantics."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import rewrite_ir
from hypothesis import given, settings
from hypothesis import strategies as st

from bitwave.core import golden, ir
from bitwave.core.errors import BitwaveError, IRError
from bitwave.core.random_ir import random_network

WIDTHS = [40, 24, "exit", 24, "exit", 18, 12]


@pytest.fixture(scope="module")
def net():
    return random_network(WIDTHS, seed=5, name="ex")


@pytest.fixture
def saved(tmp_path, net):
    path = tmp_path / "ex.bwir"
    ir.save(net, path)
    return path


def frames(width, count=40, seed=0):
    return np.random.default_rng(seed).integers(0, 2, (count, width))


def test_round_trip_version_3_and_hash(saved, net):
    loaded = ir.load(saved)
    assert net.version == loaded.version == 3
    assert loaded.sha256 == net.sha256
    assert [(e.after, e.head.name) for e in loaded.exits] == [("fc0", "exit0"), ("fc1", "exit1")]
    assert loaded.n_exits == 3
    for a, b in zip(loaded.exits, net.exits, strict=True):
        assert np.array_equal(a.head.weights, b.head.weights)
        assert np.array_equal(a.head.thresholds, b.head.thresholds)


def test_a_network_without_exits_keeps_version_and_hash(net):
    plain = random_network([w for w in WIDTHS if w != "exit"], seed=5, name="ex")
    assert plain.version == 1 and not plain.exits
    # the chain is drawn from the same stream with or without heads
    for a, b in zip(plain.layers, net.layers, strict=True):
        assert np.array_equal(a.weights, b.weights)
    assert (
        net.exit_network(2).sha256
        == ir.Network("ex-exit2", 40, ir.BIPOLAR, plain.layers, None, {}).sha256
    )


def test_exit_layers_are_the_chain_to_the_head(net):
    assert [layer.name for layer in net.exit_layers(0)] == ["fc0", "exit0"]
    assert [layer.name for layer in net.exit_layers(1)] == ["fc0", "fc1", "exit1"]
    assert [layer.name for layer in net.exit_layers(2)] == ["fc0", "fc1", "fc2", "fc3"]
    with pytest.raises(IndexError):
        net.exit_layers(3)


def test_run_exits_matches_each_exit_network(net):
    x = frames(40)
    outputs = golden.run_exits(net, x)
    assert len(outputs) == 3
    for k, out in enumerate(outputs):
        assert np.array_equal(out, golden.run(net.exit_network(k), x))
        assert np.array_equal(out, golden.run(net, x, exits=k))
    assert np.array_equal(golden.run(net, x), outputs[-1])
    assert not np.array_equal(outputs[0], outputs[1]), "exits must differ for a useful test"


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_per_frame_selection_picks_each_frames_exit(seed):
    net = random_network([16, 12, "exit", 10, 6], seed=seed % 1000)
    x = frames(16, 12, seed)
    selection = np.random.default_rng(seed).integers(0, 2, 12)
    out = golden.run(net, x, exits=selection)
    for f, k in enumerate(selection):
        assert np.array_equal(out[f], golden.run(net.exit_network(int(k)), x[f : f + 1])[0])


def test_flipping_a_head_bit_changes_only_its_exit(net):
    x = frames(40, 200)
    before = golden.run_exits(net, x)
    twin = random_network(WIDTHS, seed=5, name="ex")
    twin.exits[0].head.weights[3, 0] ^= np.uint64(1)
    after = golden.run_exits(twin, x)
    assert not np.array_equal(before[0], after[0])
    assert np.array_equal(before[1], after[1]) and np.array_equal(before[2], after[2])


@pytest.mark.parametrize("exits", [3, -1, np.array([0, 1, 5]), np.array([0.0, 1.0, 2.0])])
def test_exit_selection_out_of_range_or_not_integer_is_refused(net, exits):
    with pytest.raises(BitwaveError, match="exits must be"):
        golden.run(net, frames(40, 3), exits=exits)


def _edit(path, tmp_path, edit):
    return rewrite_ir(path, tmp_path / "bad.bwir", edit)


def _set_version(m):
    m["version"] = 2


def _after_last(m):
    m["exits"][1]["after"] = "fc3"


def _out_of_order(m):
    m["exits"][0]["after"], m["exits"][1]["after"] = "fc1", "fc0"


def _unknown_after(m):
    m["exits"][0]["after"] = "nope"


def _duplicate_name(m):
    m["exits"][0]["layer"]["name"] = "fc2"


def _wrong_out_width(m):
    m["exits"][0]["layer"]["out_width"] = 11


def _empty(m):
    m["exits"] = []


def _drop_exits(m):
    del m["exits"]


@pytest.mark.parametrize(
    "edit, message",
    [
        (_set_version, "exits: exits need IR version 3"),
        (_after_last, r"exits\[1\]\.after: 'fc3' is not a layer"),
        (_out_of_order, r"exits\[1\]\.after: 'fc0' is not a layer after the previous"),
        (_unknown_after, r"exits\[0\]\.after: 'nope'"),
        (_duplicate_name, r"exits\[0\]\.layer\.name: 'fc2' is already"),
        (_wrong_out_width, r"exits\[0\]\.layer"),
        (_empty, "exits: expected at least one early exit"),
        (_drop_exits, "version: the file says version 3, but its content needs version 1"),
    ],
)
def test_bad_exit_entries_are_refused_with_their_path(saved, tmp_path, edit, message):
    with pytest.raises(IRError, match=message):
        ir.load(_edit(saved, tmp_path, edit))


def test_exits_on_a_recurrent_network_are_refused():
    with pytest.raises(BitwaveError, match="feed-forward"):
        random_network([16, "gru:8", "exit", 8, 6], seed=0)
    gru = random_network([16, "gru:8", 8, 6], seed=0)
    gru.exits = [ir.Exit("gru0", random_network([8, 6], seed=1).layers[0])]
    with pytest.raises(IRError, match="exits: early exits need a feed-forward network"):
        ir.validate(gru)


@pytest.mark.parametrize(
    "widths", [[16, "exit", 8, 6], [16, 8, "exit", "exit", 8, 6], [16, 8, 6, "exit"]]
)
def test_misplaced_exit_items_are_refused(widths):
    with pytest.raises(BitwaveError, match="must follow a hidden layer"):
        random_network(widths)


def test_stages_without_exit_support_refuse_a_multi_exit_network(net, monkeypatch):
    from bitwave.core import ops

    for stage in ops.STAGES:  # every stage handles exits today
        ops.require_supported(net, stage)
    # the refusal path, for a stage that would not: narrow the list as a new stage would be
    monkeypatch.setattr(ops, "EXIT_STAGES", ("golden",))
    for stage in ops.STAGES:
        if stage == "golden":
            ops.require_supported(net, stage)
        else:
            with pytest.raises(BitwaveError, match=f"bitwave {stage} does not handle .* exits"):
                ops.require_supported(net, stage)
        ops.require_supported(net.exit_network(0), stage)  # one exit is a plain network


def test_exit_macs_count_the_layers_each_exit_runs(net):
    from bitwave.core.ops import exit_macs

    # fc0 40x24, exit0 24x12 | fc1 24x24, exit1 24x12 | fc2 24x18, fc3 18x12
    assert exit_macs(net) == [40 * 24 + 24 * 12, 40 * 24 + 24 * 24 + 24 * 12,
                              40 * 24 + 24 * 24 + 24 * 18 + 18 * 12]  # fmt: skip
    assert exit_macs(net.exit_network(1)) == [exit_macs(net)[1]]
