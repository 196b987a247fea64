"""Torch layers: STE behaviour, folding, and torch == golden bit for bit on random networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bitwave.core import golden, ir
from bitwave.models.export import export_mlp
from bitwave.models.layers import QuantAct, QuantLinear, QuantMLP, binarize


def test_sign_of_zero_is_plus_one_and_gradient_is_clipped():
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0], requires_grad=True)
    y = binarize(x)
    assert y.tolist() == [-1, -1, -1, 1, 1, 1, 1]
    y.sum().backward()
    assert x.grad.tolist() == [0, 1, 1, 1, 1, 1, 0]


def test_quant_linear_weights_are_symmetric_integers():
    layer = QuantLinear(20, 6, wbits=4)
    w = layer.integer_weight()
    assert torch.equal(w, torch.round(w)) and w.abs().max() <= 7
    assert (w.abs().amax(dim=1) == 7).all(), "per-channel scale maps each row's max to qmax"
    loss = layer(torch.randn(3, 20)).pow(2).sum()
    loss.backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


def test_quant_act_levels_and_step_gradient():
    act = QuantAct(bits=2, step=0.5)
    y = torch.tensor([-1.0, 0.2, 0.3, 0.74, 0.76, 5.0], requires_grad=True)
    out = act(y)
    assert out.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0, 1.5]
    out.sum().backward()
    assert act.step.grad is not None


def randomize(model, rng):
    """Random latent weights, BatchNorm statistics (negative scales included) and steps."""
    with torch.no_grad():
        for block in model.blocks:
            n_out = block.linear.out_features
            block.linear.weight.uniform_(-1, 1)
            block.bn.running_mean.copy_(torch.from_numpy(rng.normal(0, 3, n_out)))
            block.bn.running_var.copy_(torch.from_numpy(rng.uniform(0.5, 30, n_out)))
            block.bn.weight.copy_(torch.from_numpy(rng.normal(0, 1, n_out)))
            block.bn.bias.copy_(torch.from_numpy(rng.normal(0, 1, n_out)))
            block.act.step.fill_(float(rng.uniform(0.2, 1.5)))


architectures = st.integers(1, 4).flatmap(
    lambda depth: st.tuples(
        st.lists(st.integers(1, 150), min_size=depth + 1, max_size=depth + 1),
        st.lists(st.sampled_from([1, 1, 2, 3, 4, 8]), min_size=depth, max_size=depth),
        st.lists(st.sampled_from([1, 1, 2, 3, 4]), min_size=depth, max_size=depth),
        st.integers(0, 2**31),
    )
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(architectures)
def test_torch_eval_equals_golden_on_exported_ir(tmp_path_factory, arch):
    widths, wbits, abits, seed = arch
    rng = np.random.default_rng(seed)
    model = QuantMLP(widths, wbits=wbits, abits=abits)
    randomize(model, rng)
    path = tmp_path_factory.mktemp("ir") / "m.bwir"
    ir.save(export_mlp(model, "prop"), path)
    net = ir.load(path)
    assert [layer.op for layer in net.layers] == [
        "binary_dense" if b.is_binary else "int_dense" for b in model.blocks
    ]

    bits = rng.integers(0, 2, size=(64, widths[0]))
    model.eval()
    with torch.no_grad():
        torch_values = model(torch.from_numpy(2.0 * bits - 1).float())
        torch_codes = model.infer_codes(torch.from_numpy(bits))
    expected = golden.run(net, bits).astype(np.int64)
    assert np.array_equal(torch_codes.numpy(), expected)
    out_type = net.output_type
    if out_type.kind == "bipolar":
        assert np.array_equal(torch_values.numpy(), 2 * expected - 1)
    else:
        step = model.blocks[-1].act.value_scale
        assert np.array_equal(np.round(torch_values.numpy() / step).astype(np.int64), expected)


def test_folded_thresholds_agree_with_the_float_path():
    """The float path (BatchNorm in eval mode, then the activation) and the folded integer
    thresholds differ only at exact ties, which random data essentially never hits."""
    rng = np.random.default_rng(0)
    model = QuantMLP([300, 200, 120, 40], wbits=[1, 4, 1], abits=[1, 3, 1])
    randomize(model, rng)
    model.eval()
    x = torch.from_numpy(2.0 * rng.integers(0, 2, size=(500, 300)) - 1).float()
    with torch.no_grad():
        agree = (model(x) == model.float_forward(x)).float().mean().item()
    assert agree > 0.999


def test_mutated_export_is_caught():
    """Mutation: a flipped weight bit in the exported IR no longer matches torch."""
    rng = np.random.default_rng(1)
    model = QuantMLP([128, 64, 32])
    randomize(model, rng)
    model.eval()
    net = export_mlp(model)
    bits = rng.integers(0, 2, size=(2000, 128))
    with torch.no_grad():
        reference = model.infer_codes(torch.from_numpy(bits)).numpy()
    assert np.array_equal(golden.run(net, bits), reference)
    busy = int(np.argmin(np.abs(reference.mean(axis=0) - 0.5)))  # a neuron that switches
    net.layers[1].weights[busy, 0] ^= np.uint64(1)
    assert not np.array_equal(golden.run(net, bits), reference)


def test_training_step_runs_and_changes_weights():
    model = QuantMLP([40, 30, 5], wbits=[1, 2], abits=[2, 1])
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    x = torch.sign(torch.randn(64, 40)) + 0.0
    target = (torch.rand(64, 5) > 0.5).float()
    before = model.blocks[0].linear.weight.detach().clone()
    loss = torch.nn.functional.mse_loss(model(x), 2 * target - 1)
    loss.backward()
    opt.step()
    assert not torch.equal(before, model.blocks[0].linear.weight)


@pytest.mark.parametrize("wbits", [0, 9])
def test_bad_weight_bits_rejected(wbits):
    with pytest.raises(ValueError, match="wbits must be 1..8"):
        QuantLinear(4, 4, wbits)


def test_relaxed_round_is_real_valued_and_the_binary_round_is_not():
    model = QuantMLP([20, 16, 4])
    x = torch.sign(torch.randn(8, 20)) + 0.0
    model.set_relaxed(True)
    hidden = model.blocks[0](x)
    assert not set(hidden.unique().tolist()) <= {-1.0, 1.0}, "hardtanh, not sign"
    model.set_relaxed(False)
    assert set(model.blocks[0](x).unique().tolist()) <= {-1.0, 1.0}
