"""The bitwise GRU: golden binary_gru semantics, torch (eval, fully binary) == golden on the
exported IR v2, mutations that must break the match, IR validation of the new op's fields,
the incremental-binarization mechanics, and training on a toy sequence task."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from conftest import rewrite_ir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bitwave.core import golden, ir
from bitwave.core.errors import BitwaveError, IRError
from bitwave.core.random_ir import random_network
from bitwave.models.gru import (
    BitwiseGRU,
    IncrementalBinaryLinear,
    coefficient_pair,
    export_gru,
    fold_threshold,
    incremental_schedule,
    train_incremental,
)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The recurrent loop is many tiny ops: one thread is ~10x faster on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def not_byte_aligned(low: int, high: int) -> st.SearchStrategy[int]:
    return st.integers(low, high).filter(lambda n: n % 8 != 0)


# ---------------------------------------------------------------------------------------------
# Helpers: random fully binary models and random IR layers
# ---------------------------------------------------------------------------------------------
def randomize(model: BitwiseGRU, rng: np.random.Generator) -> None:
    """Random latent weights (with random per-matrix magnitudes, so the coefficient pairs
    vary), BatchNorm statistics centred where the gates switch, negative scales included, and
    a random initial state; then fully binary, hard gates, eval mode."""
    with torch.no_grad():
        for gru in model.grus:
            n_in, width = gru.input_size, gru.hidden_size
            for g in range(3):
                for linear in (gru.wx[g], gru.wh[g]):
                    linear.weight.uniform_(-1, 1).mul_(float(rng.uniform(0.05, 1.0)))
                spread = float(gru.wx[g].weight.abs().mean()) * np.sqrt(n_in + width) * 2
                bn = gru.bn[g]
                bn.running_mean.copy_(torch.from_numpy(rng.normal(0, 0.5 * spread, width)))
                bn.running_var.copy_(torch.from_numpy(rng.uniform(0.3, 3, width) * spread**2))
                bn.weight.copy_(torch.from_numpy(rng.normal(0, 1, width)))
                bn.bias.copy_(torch.from_numpy(rng.normal(0, 0.5, width)))
            gru.initial_state.copy_(torch.from_numpy(rng.integers(0, 2, width).astype(np.uint8)))
        out = model.out
        n_out, width = out.linear.out_features, out.linear.in_features
        out.linear.weight.uniform_(-1, 1)
        spread = float(out.linear.weight.abs().mean()) * np.sqrt(width)
        out.bn.running_mean.copy_(torch.from_numpy(rng.normal(0, 0.5 * spread, n_out)))
        out.bn.running_var.copy_(torch.from_numpy(rng.uniform(0.3, 3, n_out) * spread**2))
        out.bn.weight.copy_(torch.from_numpy(rng.normal(0, 1, n_out)))
        out.bn.bias.copy_(torch.from_numpy(rng.normal(0, 0.5, n_out)))
    model.set_binarized_fraction(1.0)
    model.set_hardness(1.0)
    model.eval()


def random_gru_layer(n_in: int, width: int, rng: np.random.Generator) -> ir.BinaryGRU:
    """A binary_gru layer built directly in the IR, thresholds near mid-range so gates switch."""
    coefficients = rng.integers(1, 16, size=(3, 2)).astype(np.int64)
    a, b = coefficients[:, 0], coefficients[:, 1]
    mid = (a * n_in + b * width) / 2  # expected accumulator of random bits, per gate
    spread = np.sqrt(a**2 * n_in + b**2 * width) / 2
    thresholds = np.stack([
        np.round(mid[0] + rng.normal(0, spread[0], width)),
        np.round(mid[1] + rng.normal(0, spread[1], width)),
        np.round(a[2] * n_in / 2 + rng.normal(0, spread[2], width)),
        np.round(mid[2] + rng.normal(0, spread[2], width)),
    ], axis=1).astype(np.int64)  # fmt: skip
    return ir.BinaryGRU(
        name="g",
        in_width=n_in,
        out_width=width,
        weights_x=ir.pack_bits(rng.integers(0, 2, size=(3, width, n_in))),
        weights_h=ir.pack_bits(rng.integers(0, 2, size=(3, width, width))),
        coefficients=coefficients,
        thresholds=thresholds,
        direction=rng.choice(np.array([-1, 1], np.int8), size=(width, 3)),
        initial_state=rng.integers(0, 2, size=width).astype(np.uint8),
    )


def naive_gru(layer: ir.BinaryGRU, x_bits: np.ndarray) -> np.ndarray:
    """docs/ir.md binary_gru, unit by unit with +/-1 dot products instead of packed popcounts."""
    wx, wh = (2 * bits.astype(np.int64) - 1 for bits in layer.weight_bits())
    n_in, width = layer.in_width, layer.out_width
    h = layer.initial_state.astype(np.int64).copy()
    out = []
    for x in x_bits:
        xv, hv = 2 * x - 1, 2 * h - 1
        new = h.copy()
        for m in range(width):
            px = [(int(wx[g, m] @ xv) + n_in) // 2 for g in range(3)]
            ph = [(int(wh[g, m] @ hv) + width) // 2 for g in range(3)]

            def fire(acc: int, threshold: int, d: int) -> int:
                return int(acc >= threshold) if d > 0 else int(acc <= threshold)

            (a_z, b_z), (a_r, b_r), (a_n, b_n) = layer.coefficients.tolist()
            t, d = layer.thresholds[m], layer.direction[m]
            z = fire(a_z * px[0] + b_z * ph[0], t[0], d[0])
            r = fire(a_r * px[1] + b_r * ph[1], t[1], d[1])
            n = fire(a_n * px[2] + r * b_n * ph[2], t[3] if r else t[2], d[2])
            new[m] = h[m] if z else n
        h = new
        out.append(h)
    return np.array(out)


def gru_network(layer: ir.BinaryGRU, n_out: int, rng: np.random.Generator) -> ir.Network:
    dense = random_network([layer.out_width, n_out], seed=int(rng.integers(2**31))).layers[0]
    return ir.Network("g", layer.in_width, ir.BIPOLAR, [layer, dense])


# ---------------------------------------------------------------------------------------------
# Golden semantics
# ---------------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(n_in=st.integers(1, 140), width=st.integers(1, 70), frames=st.integers(0, 12),
       seed=st.integers(0, 2**31))  # fmt: skip
def test_golden_gru_matches_the_documented_formula(n_in, width, frames, seed):
    rng = np.random.default_rng(seed)
    layer = random_gru_layer(n_in, width, rng)
    x = rng.integers(0, 2, size=(frames, n_in))
    expected = naive_gru(layer, x).reshape(frames, width)
    assert np.array_equal(golden.run_gru(layer, x), expected)


def test_gates_switch_and_trace_is_consistent():
    """The trace's gates reproduce the state update h' = z ? h : n, and every gate switches
    (a test of random layers whose gates were constant would prove little)."""
    rng = np.random.default_rng(4)
    layer = random_gru_layer(75, 37, rng)
    x = rng.integers(0, 2, size=(200, 75))
    trace = golden.run_gru(layer, x, trace=True)
    previous = np.vstack([layer.initial_state[None].astype(np.int64), trace["h"][:-1]])
    assert np.array_equal(trace["h"], np.where(trace["z"] == 1, previous, trace["n"]))
    for gate in ("z", "r", "n"):
        assert 0.05 < trace[gate].mean() < 0.95, gate
    # the compiled recurrence and the numpy step agree on every traced field
    px = golden.gru_input_popcounts(layer, x)
    h = layer.initial_state.astype(np.int64)
    for t in range(len(x)):
        step = golden.gru_step(layer, px[t], h)
        for key, value in step.items():
            assert np.array_equal(value, trace[key][t]), (key, t)
        h = step["h"]


def test_starts_and_run_sequences_reset_the_state():
    rng = np.random.default_rng(5)
    net = gru_network(random_gru_layer(50, 30, rng), 9, rng)
    seqs = [rng.integers(0, 2, size=(n, 50)) for n in (7, 1, 12)]
    outs = golden.run_sequences(net, seqs)
    assert [o.shape for o in outs] == [(7, 9), (1, 9), (12, 9)]
    for seq, out in zip(seqs, outs, strict=True):
        assert np.array_equal(golden.run(net, seq), out)
    joined = golden.run(net, np.concatenate(seqs))  # one long sequence: state carries over
    assert not np.array_equal(joined[7:8], outs[1]) or not np.array_equal(joined[8:], outs[2])
    with pytest.raises(
        BitwaveError, match=r"starts must be a boolean vector of one flag per frame \(20\)"
    ):
        golden.run(net, np.concatenate(seqs), starts=np.ones(3, bool))


# ---------------------------------------------------------------------------------------------
# torch == golden
# ---------------------------------------------------------------------------------------------
architectures = st.tuples(
    not_byte_aligned(1, 150),  # input width
    st.lists(not_byte_aligned(1, 90), min_size=1, max_size=2),  # GRU widths
    not_byte_aligned(1, 40),  # output width
    st.lists(st.integers(1, 25), min_size=1, max_size=3),  # sequence lengths
    st.integers(0, 2**31),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(architectures)
def test_torch_eval_equals_golden_on_exported_ir(tmp_path_factory, arch):
    n_in, hidden, n_out, lengths, seed = arch
    rng = np.random.default_rng(seed)
    model = BitwiseGRU(n_in, hidden, n_out, seed=seed % 1000)
    randomize(model, rng)
    path = tmp_path_factory.mktemp("ir") / "gru.bwir"
    ir.save(export_gru(model, "prop"), path)
    net = ir.load(path)
    assert net.version == 2
    assert [layer.op for layer in net.layers] == ["binary_gru"] * len(hidden) + ["binary_dense"]

    seqs = [rng.integers(0, 2, size=(t, n_in)) for t in lengths]
    expected = [e.astype(np.int64) for e in golden.run_sequences(net, seqs)]
    starts = np.zeros(sum(lengths), bool)
    starts[np.cumsum([0] + lengths[:-1])] = True
    golden_layers = golden.run_layers(net, np.concatenate(seqs), starts)
    with torch.no_grad():
        for i, seq in enumerate(seqs):
            codes = model.infer_codes(torch.from_numpy(seq)).numpy()
            assert np.array_equal(codes, expected[i])
            values, _ = model(torch.from_numpy(2.0 * seq - 1).float())
            assert np.array_equal(values.numpy(), 2 * expected[i] - 1)
            layers, _ = model.infer_layers(torch.from_numpy(seq))
            begin = sum(lengths[:i])
            for torch_layer, golden_layer in zip(layers, golden_layers, strict=True):
                assert np.array_equal(torch_layer.numpy(), golden_layer[begin : begin + len(seq)])


def test_batched_and_chunked_inference_equal_whole_sequences():
    """A batch of sequences, and a sequence fed in chunks with the state carried over, give
    what golden gives for the whole sequences."""
    rng = np.random.default_rng(11)
    model = BitwiseGRU(70, 45, 20, seed=2)
    randomize(model, rng)
    net = export_gru(model)
    x = rng.integers(0, 2, size=(3, 40, 70))
    expected = np.stack(golden.run_sequences(net, list(x)))
    with torch.no_grad():
        assert np.array_equal(model.infer_codes(torch.from_numpy(x)).numpy(), expected)
        first, state = model.infer_codes(torch.from_numpy(x[:, :17]), return_state=True)
        rest = model.infer_codes(torch.from_numpy(x[:, 17:]), state)
    assert np.array_equal(torch.cat([first, rest], dim=1).numpy(), expected)


def test_float_reference_path_agrees_with_the_integer_path():
    """The float path (BatchNorm in eval mode, float32) differs from the folded integer path
    only at exact ties; over a recurrence one flipped state bit can propagate, so we compare
    step by step with the same state (teacher forcing through the integer states)."""
    rng = np.random.default_rng(3)
    model = BitwiseGRU(300, 120, 60, seed=5)
    randomize(model, rng)
    x = rng.integers(0, 2, size=(4, 50, 300))
    with torch.no_grad():
        layers, _ = model.infer_layers(torch.from_numpy(x))
        states = layers[0]
        previous = torch.cat(
            [model.grus[0].initial_state.long().expand(4, 1, -1), states[:, :-1]], 1
        )
        agree = []
        for t in range(50):
            float_h, _ = model.grus[0](
                2.0 * torch.from_numpy(x[:, t : t + 1]).float() - 1,
                2.0 * previous[:, t].float() - 1,
            )
            agree.append((float_h[:, 0] > 0).long() == states[:, t])
        rate = torch.stack(agree).float().mean().item()
        float_out, _ = model.float_forward(2.0 * torch.from_numpy(x).float() - 1)
    assert rate > 0.999
    assert (float_out > 0).float().mean().item() > 0.05


# ---------------------------------------------------------------------------------------------
# Mutations: the comparison must fail when the IR is wrong
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference():
    rng = np.random.default_rng(21)
    torch.set_num_threads(1)
    model = BitwiseGRU(90, 53, 30, seed=9)
    randomize(model, rng)
    x = rng.integers(0, 2, size=(300, 90))
    with torch.no_grad():
        layers, _ = model.infer_layers(torch.from_numpy(x))
    net = export_gru(model)
    assert np.array_equal(golden.run(net, x), layers[-1].numpy())
    return net, x, layers[0].numpy(), layers[-1].numpy()


def test_flipping_a_recurrent_candidate_weight_bit_is_caught(reference):
    """Flip one bit of U_n at a unit and step where the candidate is used (z = 0), the reset
    gate lets the recurrent term in (r = 1), and the accumulator is within one coefficient of
    its threshold: the state must change there (or earlier), so torch != golden."""
    net, x, states, outputs = reference
    layer = net.layers[0]
    trace = golden.run_gru(layer, x, trace=True)
    b = int(layer.coefficients[2, 1])
    previous = np.vstack([layer.initial_state[None].astype(np.int64), trace["h"][:-1]])
    u_bits = layer.weight_bits()[1][2]
    for t, m in zip(*np.nonzero((trace["z"] == 0) & (trace["r"] == 1)), strict=True):
        threshold, d, acc = layer.thresholds[m, 3], layer.direction[m, 2], trace["acc_n"][t, m]
        fired = trace["n"][t, m] == 1
        lower = fired == (d > 0)  # to flip n the accumulator must go down (else up) by b
        if lower:
            crosses = acc - b < threshold if d > 0 else acc - b <= threshold
        else:
            crosses = acc + b >= threshold if d > 0 else acc + b > threshold
        # flipping a matching bit (U == h) lowers the popcount by one, a mismatching one raises it
        candidates = np.nonzero((u_bits[m] == previous[t]) == lower)[0]
        if crosses and candidates.size:
            j = int(candidates[0])
            break
    else:
        pytest.fail("no U_n bit found whose flip must change the output")
    mutated = ir.Network(net.name, net.input_width, net.input_type, list(net.layers))
    mutated.layers[0] = ir.BinaryGRU(**{**layer.__dict__, "weights_h": layer.weights_h.copy()})
    mutated.layers[0].weights_h[2, m, j // 64] ^= np.uint64(1 << (j % 64))
    assert not np.array_equal(golden.run_layers(mutated, x)[0], states)
    assert np.array_equal(golden.run(net, x), outputs), "the unmutated IR still matches"


def test_shifting_a_gate_threshold_is_caught(reference):
    """Shift T_z by one at the first step where acc_z sits exactly on it and where z decides
    between two different values (n != h): z flips there, so the state does."""
    net, x, states, _ = reference
    layer = net.layers[0]
    trace = golden.run_gru(layer, x, trace=True)
    previous = np.vstack([layer.initial_state[None].astype(np.int64), trace["h"][:-1]])
    on_threshold = trace["acc_z"] == layer.thresholds[None, :, 0]
    chosen = None
    for m in range(layer.out_width):
        hits = np.nonzero(on_threshold[:, m])[0]
        if hits.size and trace["n"][hits[0], m] != previous[hits[0], m]:
            chosen = m
            break
    assert chosen is not None, "no unit whose z-threshold shift is visible"
    mutated = ir.Network(net.name, net.input_width, net.input_type, list(net.layers))
    mutated.layers[0] = ir.BinaryGRU(**{**layer.__dict__, "thresholds": layer.thresholds.copy()})
    # on the threshold: direction +1 fires (acc >= T), so T + 1 stops it; direction -1 the same
    mutated.layers[0].thresholds[chosen, 0] += 1 if layer.direction[chosen, 0] > 0 else -1
    assert not np.array_equal(golden.run_layers(mutated, x)[0], states)


# ---------------------------------------------------------------------------------------------
# The IR file: version 2, and every new field validated by name
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    rng = np.random.default_rng(8)
    net = gru_network(random_gru_layer(70, 5, rng), 3, rng)
    path = tmp_path / "g.bwir"
    ir.save(net, path)
    return path


def rewrite(src, dst, manifest_edit=None, arrays_edit=None):
    return rewrite_ir(src, dst, manifest_edit, arrays_edit, redeclare=True)


def test_gru_round_trip_is_version_2_and_dense_networks_stay_version_1(tmp_path, saved):
    net = ir.load(saved)
    assert (
        net.version == 2
        and json.loads(zipfile.ZipFile(saved).read("manifest.json"))["version"] == 2
    )
    assert isinstance(net.layers[0], ir.BinaryGRU) and "IR v2" in net.summary()
    dense = random_network([30, 10], seed=1)
    path = tmp_path / "d.bwir"
    ir.save(dense, path)
    assert json.loads(zipfile.ZipFile(path).read("manifest.json"))["version"] == 1
    assert ir.load(path).sha256 == dense.sha256
    x = np.random.default_rng(0).integers(0, 2, size=(6, 30))
    assert np.array_equal(golden.run(dense, x, starts=np.ones(6, bool)), golden.run(dense, x))


def _array(name, func):
    def edit(arrays):
        arrays[name] = func(arrays[name])

    return edit


def _set(path, value):
    def edit(manifest):
        node = manifest
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


def _with(array, index, value):
    array = array.copy()
    array[index] = value
    return array


DAMAGE = {
    "weights_h shape": (None, _array("layers.0.weights_h", lambda a: a[:, :4]),
                        r"layers\[0\]\.weights_h: expected shape \(3, 5, 1\), got \(3, 4, 1\)"),
    "weights_x padding": (None, _array("layers.0.weights_x", lambda a: _with(a, (1, 2, 1), np.uint64(1 << 60))),
                          r"layers\[0\]\.weights_x: padding bits above bit 70 must be zero"),
    "weights_x dtype": (None, _array("layers.0.weights_x", lambda a: a.astype(np.uint32)),
                        r"layers\[0\]\.weights_x: expected uint64 packed words, got uint32"),
    "coefficients zero": (None, _array("layers.0.coefficients", lambda a: _with(a, (2, 1), 0)),
                          r"layers\[0\]\.coefficients: expected integers in \[1, 255\]"),
    "coefficients shape": (None, _array("layers.0.coefficients", lambda a: a[:2]),
                           r"layers\[0\]\.coefficients: expected shape \(3, 2\), got \(2, 2\)"),
    "thresholds shape": (None, _array("layers.0.thresholds", lambda a: a[:, :3]),
                         r"layers\[0\]\.thresholds: expected shape \(5, 4\), got \(5, 3\)"),
    "direction zero": (None, _array("layers.0.direction", lambda a: _with(a, (0, 2), 0)),
                       r"layers\[0\]\.direction: expected only \+1"),
    "initial_state value": (None, _array("layers.0.initial_state", lambda a: _with(a, 0, 2)),
                            r"layers\[0\]\.initial_state: expected state bits 0 \(-1\) or 1 \(\+1\)"),
    "initial_state dtype": (None, _array("layers.0.initial_state", lambda a: a.astype(np.float32)),
                            r"layers\[0\]\.initial_state: expected dtype kind 'u', got float32"),
    "missing field": (lambda m: m["layers"][0].pop("weights_x"), None, r"layers\[0\]\.weights_x: missing field"),
    "in_type": (_set(["layers", 0, "in_type"], {"kind": "uint", "bits": 2}), None,
                r"layers\[0\]\.in_type: binary_gru is bipolar in and out, got uint2"),
    "width vs input": (_set(["input", "width"], 71), None,
                       r"layers\[0\]: input is 70 x bipolar, but the previous stage gives 71 x bipolar"),
    "dense after gru": (_set(["layers", 1, "in_width"], 6), None,
                        r"layers\[1\]: input is 6 x bipolar, but the previous stage gives 5 x bipolar"),
    "gru in version 1": (_set(["version"], 1), None, r"layers\[0\]\.op: op 'binary_gru' needs IR version 2"),
}  # fmt: skip


@pytest.mark.parametrize("case", DAMAGE, ids=list(DAMAGE))
def test_gru_field_damage_is_named(tmp_path, saved, case):
    manifest_edit, arrays_edit, message = DAMAGE[case]
    bad = rewrite(saved, tmp_path / "bad.bwir", manifest_edit, arrays_edit)
    with pytest.raises(IRError, match=message):
        ir.load(bad)


def test_version_2_label_on_a_dense_network_is_rejected(tmp_path):
    path = tmp_path / "d.bwir"
    ir.save(random_network([30, 10], seed=1), path)
    bad = rewrite(path, tmp_path / "bad.bwir", _set(["version"], 2))
    with pytest.raises(
        IRError, match="version: the file says version 2, but its content needs version 1"
    ):
        ir.load(bad)


def test_modified_gru_content_fails_the_hash(tmp_path, saved):
    bad = rewrite(saved, tmp_path / "bad.bwir", None,
                  _array("layers.0.thresholds", lambda a: a + 1))  # fmt: skip
    with pytest.raises(IRError, match="content hash mismatch"):
        ir.load(bad)


# ---------------------------------------------------------------------------------------------
# Folding and incremental binarization mechanics
# ---------------------------------------------------------------------------------------------
def test_coefficient_pair_is_the_closest_small_rational():
    assert coefficient_pair(1.0) == (1, 1)
    assert coefficient_pair(0.5) == (2, 1)
    assert coefficient_pair(2 / 3) == (3, 2)
    assert coefficient_pair(100.0) == (1, 15) and coefficient_pair(0.001) == (15, 1)
    for ratio in np.random.default_rng(0).uniform(0.1, 10, 200):
        a, b = coefficient_pair(float(ratio))
        best = min(abs(np.log(q / p / ratio)) for p in range(1, 16) for q in range(1, 16))
        assert abs(np.log(b / a / ratio)) <= best + 1e-12


def test_fold_threshold_matches_the_real_comparison():
    rng = np.random.default_rng(1)
    k = np.concatenate([rng.normal(0, 1, 300), [0.0, 0.0]])
    c = np.concatenate([rng.normal(0, 40, 300), [1.0, -1.0]])
    thresholds, direction = fold_threshold(k, c, 0, 60)
    acc = np.arange(0, 61)[:, None]
    real = k[None] * acc + c[None] >= 0
    folded = np.where(direction[None] > 0, acc >= thresholds[None], acc <= thresholds[None])
    assert np.array_equal(real, folded)


def test_incremental_binarization_is_nested_and_scaled_by_mean_magnitude():
    layer = IncrementalBinaryLinear(37, 23, order_seed=4)
    total = 37 * 23
    previous = torch.zeros(23, 37, dtype=torch.bool)
    for step in range(11):
        layer.set_fraction(step / 10)
        mask = layer.binarized_mask()
        assert int(mask.sum()) == round(step / 10 * total)
        assert torch.all(mask | ~previous), "weights binarized earlier stay binarized"
        previous = mask
        w = layer.effective_weight().detach()
        alpha = layer.weight.detach().abs().mean()
        assert torch.allclose(w[mask].abs(), alpha.expand(int(mask.sum())))
        assert torch.equal(w[~mask], layer.weight.detach()[~mask])
    assert layer.fully_binary


def test_schedule_and_export_refuses_unfinished_models():
    stages = incremental_schedule(5, real_steps=7, binary_steps=9)
    assert [s.fraction for s in stages] == [0.0] + [i / 10 for i in range(1, 11)] + [1.0] * 4
    assert [s.hardness for s in stages][-4:] == [0.25, 0.5, 0.75, 1.0]
    assert stages[0].steps == 7 and stages[-1].steps == 9 and stages[-1].final
    with pytest.raises(BitwaveError, match="increment must divide 1"):
        incremental_schedule(5, increment=0.3)
    model = BitwiseGRU(20, 10, 4)
    model.set_binarized_fraction(0.5)
    with pytest.raises(BitwaveError, match="not fully binary yet"):
        export_gru(model)


# ---------------------------------------------------------------------------------------------
# Training on a toy sequence task that needs memory
# ---------------------------------------------------------------------------------------------
def delayed_copy_batch(
    step: int, batch: int = 16, frames: int = 20, n_in: int = 12, n_out: int = 6
):
    """Random +/-1 frames; the target is the previous frame's first bits: a memoryless model
    cannot beat 50% accuracy, so anything above it is the recurrence at work."""
    rng = np.random.default_rng(step)
    bits = rng.integers(0, 2, size=(batch, frames, n_in))
    target = np.zeros((batch, frames, n_out))
    target[:, 1:] = bits[:, :-1, :n_out]
    return torch.from_numpy(2.0 * bits - 1).float(), torch.from_numpy(target).float()


def test_incremental_training_learns_a_memory_task():
    torch.manual_seed(0)
    model = BitwiseGRU(12, 24, 6, seed=1)
    steps = []
    log = train_incremental(
        model, delayed_copy_batch, steps_per_stage=6, lr=0.01, progress=False,
        real_steps=40, binary_steps=40, tbptt=10, on_step=lambda step, stage, loss: steps.append(step),
    )  # fmt: skip
    assert steps == list(range(40 + 10 * 6 + 3 * 6 + 40)) and len(log.losses) == len(steps)
    real = log.stages[0]
    assert real["last_loss"] < 0.5 * real["first_loss"], "the real-valued phase learns"
    assert log.stages[-1]["name"] == "binary" and model.fully_binary
    model.eval()
    x, target = delayed_copy_batch(10**6, batch=64)
    net = export_gru(model)
    bits = (x > 0).long()
    with torch.no_grad():
        codes = model.infer_codes(bits).numpy()
    assert np.array_equal(np.stack(golden.run_sequences(net, list(bits.numpy()))), codes)
    accuracy = (codes[:, 1:] == target.numpy()[:, 1:]).mean()
    assert accuracy > 0.6, f"fully binary GRU accuracy {accuracy:.3f} on the delayed copy"


def test_sequence_loss_weights_bins():
    """Per-bin weights scale each bin's BCE: all-zero weights give zero loss, uniform weights of
    2 double it."""
    from bitwave.models.gru import sequence_loss

    torch.manual_seed(0)
    model = BitwiseGRU(12, 8, 6, seed=1)
    x, target = delayed_copy_batch(3, batch=4)
    plain = sequence_loss(model, x, target, tbptt=10)
    assert plain > 0
    assert sequence_loss(model, x, target, tbptt=10, weight=torch.zeros_like(target)) == 0
    doubled = sequence_loss(model, x, target, tbptt=10, weight=torch.full_like(target, 2.0))
    assert doubled == pytest.approx(2 * plain, rel=1e-5)
