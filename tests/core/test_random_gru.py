"""Random bitwise GRU networks (bitwave.core.random_ir, `bitwave random-ir --layers N,gru:H,M`):
valid IR, deterministic, gates that switch on random sequences, the GRU-prefix rule, clear
refusals, and MLP random networks byte-for-byte as before."""

from __future__ import annotations

import numpy as np
import pytest

from bitwave.app.cli import main
from bitwave.core import golden, ir
from bitwave.core.errors import BitwaveError
from bitwave.core.ops.binary_gru import run as run_gru
from bitwave.core.random_ir import GRU_MAX_COEFFICIENT, random_network

STEPS = 25  # frames per test sequence


def _sequences(width: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` random bipolar sequences of STEPS frames, back to back, and their starts."""
    x = np.random.default_rng(seed).integers(0, 2, size=(count * STEPS, width), dtype=np.int64)
    return x, np.arange(count * STEPS) % STEPS == 0


def _saved_hash(net: ir.Network, tmp_path, name: str = "n.bwir") -> str:
    return ir.save(net, tmp_path / name)


def _gru_layers(net: ir.Network) -> list[ir.BinaryGRU]:
    return [layer for layer in net.layers if layer.op == "binary_gru"]


def _balance(layer: ir.BinaryGRU, x: np.ndarray, starts: np.ndarray) -> dict[str, float]:
    """Per gate the fraction of units firing on 5..95 % of the frames, and ``moves``: the mean
    fraction of state bits that change from one frame to the next within a sequence."""
    trace = run_gru(layer, x, starts, trace=True)
    fractions = {}
    for gate in ("z", "r", "n"):
        rate = trace[gate].mean(axis=0)
        fractions[gate] = float(((rate > 0.05) & (rate < 0.95)).mean())
    changed = trace["h"][1:] != trace["h"][:-1]
    fractions["moves"] = float(changed[~starts[1:]].mean())
    return fractions


# ---- shapes, validity, determinism -----------------------------------------------------------
def test_gru_network_has_the_ir_shapes_and_round_trips(tmp_path):
    net = random_network([200, "gru:40", 33], seed=2)
    assert [layer.op for layer in net.layers] == ["binary_gru", "binary_dense"]
    gru = net.layers[0]
    assert (gru.name, gru.in_width, gru.out_width) == ("gru0", 200, 40)
    assert gru.weights_x.shape == (3, 40, 4) and gru.weights_x.dtype == np.uint64
    assert gru.weights_h.shape == (3, 40, 1) and gru.weights_h.dtype == np.uint64
    assert gru.thresholds.shape == (40, 4) and gru.direction.shape == (40, 3)
    assert set(np.unique(gru.direction)) <= {-1, 1}
    assert gru.initial_state.shape == (40,) and set(np.unique(gru.initial_state)) == {0, 1}
    assert gru.coefficients.shape == (3, 2)
    assert gru.coefficients.min() >= 1 and gru.coefficients.max() <= GRU_MAX_COEFFICIENT
    assert net.layers[1].in_width == 40 and net.widths == [200, 40, 33]
    assert net.provenance["widths"] == [200, "gru:40", 33]

    digest = _saved_hash(net, tmp_path)
    loaded = ir.load(tmp_path / "n.bwir")
    assert loaded.sha256 == digest and loaded.version == 2
    for field in ("weights_x", "weights_h", "coefficients", "thresholds", "direction",
                  "initial_state"):  # fmt: skip
        assert np.array_equal(getattr(loaded.layers[0], field), getattr(gru, field)), field
    x, starts = _sequences(200, 4, seed=1)
    assert np.array_equal(golden.run(loaded, x, starts), golden.run(net, x, starts))


def test_same_seed_same_network_other_seed_other_network(tmp_path):
    spec = [64, "gru:32", "gru:16", 10]
    first = _saved_hash(random_network(spec, seed=5), tmp_path, "a.bwir")
    again = _saved_hash(random_network(spec, seed=5), tmp_path, "b.bwir")
    other = _saved_hash(random_network(spec, seed=6), tmp_path, "c.bwir")
    assert first == again != other


def test_coefficients_are_small_and_never_all_one():
    drawn = np.stack([random_network([20, "gru:6", 3], seed=s).layers[0].coefficients
                      for s in range(12)])  # fmt: skip
    assert drawn.min() == 1 and drawn.max() == GRU_MAX_COEFFICIENT
    assert all(np.any(c > 1) for c in drawn)
    assert len({c.tobytes() for c in drawn}) > 1, "the coefficients depend on the seed"


# ---- behaviour on random sequences -----------------------------------------------------------
@pytest.mark.parametrize("spec", [[300, "gru:48", 7], [64, "gru:32", "gru:16", 10]])
def test_every_gate_switches_and_the_state_moves(spec):
    net = random_network(spec, seed=4)
    x, starts = _sequences(net.input_width, 40, seed=11)  # not the calibration probes
    for layer in _gru_layers(net):
        balance = _balance(layer, x, starts)
        assert min(balance[gate] for gate in "zrn") >= 0.9, (layer.name, balance)
        assert 0.05 < balance["moves"] < 0.6, (layer.name, balance)
        x = run_gru(layer, x, starts)  # the next GRU sees these states


def test_balance_check_fails_on_a_stuck_gru():
    """Mutation twin: thresholds below every accumulator (z always fires: the state never
    moves) must fail the balance check above."""
    layer = random_network([300, "gru:48", 7], seed=4).layers[0]
    layer.direction[:] = 1
    layer.thresholds[:] = -1
    balance = _balance(layer, *_sequences(300, 40, seed=11))
    assert balance["z"] == 0.0 and balance["moves"] == 0.0


def test_golden_run_with_starts_resets_every_gru():
    net = random_network([64, "gru:32", "gru:16", 10], seed=1)
    x, starts = _sequences(64, 6, seed=3)
    whole = golden.run(net, x, starts)
    parts = golden.run_sequences(net, np.split(x, 6))
    assert np.array_equal(whole, np.concatenate(parts))
    assert not np.array_equal(whole, golden.run(net, x)), "starts must matter"
    assert whole.shape == (6 * STEPS, 10)


# ---- refusals --------------------------------------------------------------------------------
def test_gru_after_a_dense_layer_is_refused():
    with pytest.raises(BitwaveError, match="GRU layers must come before every dense layer"):
        random_network([64, 10, "gru:8"])
    random_network([64, "gru:8"])  # a GRU-only network is a prefix too


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"widths": [64, "gru:8", 4], "wbits": 4}, "allowed for it: wbits 1 and abits 1"),
        ({"widths": [64, "gru:8", 4], "abits": [2, 1]}, "got wbits 1, abits 2"),
        ({"widths": [64, "gru:8", 4], "in_bits": 3}, "a GRU first layer takes a bipolar input"),
        ({"widths": [64, "lstm:8", 4]}, "item 'lstm:8' is not allowed; allowed: integers"),
        ({"widths": ["gru:8", 4]}, "the first item is the input width"),
    ],
)
def test_bad_gru_specs_are_refused(kwargs, message):
    with pytest.raises(BitwaveError, match=message):
        random_network(**kwargs)


def test_kbit_dense_after_a_gru_is_allowed():
    net = random_network([64, "gru:8", 4], wbits=[1, 3], abits=[1, 2])
    assert [layer.op for layer in net.layers] == ["binary_gru", "int_dense"]


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ("64,10,gru:8", "GRU layers must come before every dense layer"),
        ("10,x", "got item 'x' in '10,x'"),
        ("64,gru:0,10", "got item 'gru:0'"),
        ("64,gru:x,10", "got item 'gru:x'"),
        ("64,lstm:8,10", "expected comma-separated integers (widths), gru:H"),
        ("gru:8,10", "the first item is the input width"),
    ],
)
def test_cli_refuses_bad_layers_with_exit_2(tmp_path, capsys, layers, message):
    out = tmp_path / "m.bwir"
    assert main(["random-ir", "--layers", layers, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_cli_refuses_kbit_gru_with_exit_2(tmp_path, capsys):
    args = ["random-ir", "--layers", "64,gru:8,4", "--out", str(tmp_path / "m.bwir")]
    assert main([*args, "--wbits", "2"]) == 2
    assert "a GRU layer has 1-bit weights" in capsys.readouterr().err
    assert main([*args, "--in-bits", "2"]) == 2
    assert "a GRU first layer takes a bipolar input" in capsys.readouterr().err


def test_cli_writes_the_gru_networks(tmp_path):
    for layers, ops in (("2052,gru:256,513", ["binary_gru", "binary_dense"]),
                        ("64,gru:32,gru:16,10", ["binary_gru", "binary_gru", "binary_dense"])):  # fmt: skip
        out = tmp_path / "m.bwir"
        assert main(["random-ir", "--layers", layers, "--seed", "3", "--out", str(out)]) == 0
        net = ir.load(out)
        assert [layer.op for layer in net.layers] == ops
        assert net.sha256 == ir.save(random_network(_items(layers), seed=3), tmp_path / "p.bwir")


def _items(layers: str) -> list[int | str]:
    return [item if item.startswith("gru:") else int(item) for item in layers.split(",")]


# ---- MLP random networks unchanged ---------------------------------------------------------
# IR content hashes measured with the random_ir.py of the commit before GRU support
MLP_HASHES = [
    (([100, 37, 9], {"seed": 4}),
     "f0052826e2ae3aeef5bb1d9404b6883ae4fb264b4a70dca603bf2012b828b6b8"),
    (([70, 33, 9], {"wbits": [1, 4], "abits": [2, 1], "seed": 3, "name": "t"}),
     "428d2b8d38e3e0db98dcdabf141aab505b267de77140d59c76188d4b5e1afaa0"),
    (([30, 12, 7], {"wbits": 3, "abits": [3, 2], "in_bits": 3, "seed": 5}),
     "24f5aa55f564bf8102a083b9054eff16e2078b342c9ee3a9493f278aa55890d9"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "digest"), MLP_HASHES)
def test_mlp_random_networks_are_unchanged(tmp_path, call, digest):
    widths, kwargs = call
    net = random_network(widths, **kwargs)
    assert _saved_hash(net, tmp_path) == digest
    assert net.provenance["widths"] == widths
    assert [layer.name for layer in net.layers] == [f"fc{i}" for i in range(len(widths) - 1)]


def test_cli_mlp_random_ir_is_unchanged(tmp_path):
    out = tmp_path / "m.bwir"
    assert main(["random-ir", "--layers", "100,37,9", "--seed", "4", "--out", str(out)]) == 0
    assert ir.load(out).sha256 == MLP_HASHES[0][1]
