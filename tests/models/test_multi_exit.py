"""Multi-exit (BLOOM-Net-style) MLPs: torch == golden at every exit, blockwise and joint
training, config checks, and evaluation at every exit."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_layers import randomize
from test_train import tiny_config

from bitwave.core import config, golden, ir
from bitwave.core.errors import BitwaveError, ConfigError
from bitwave.models.export import export_network
from bitwave.models.kinds import (
    MultiExitMLPKind,
    QuantMLPKind,
    build_model,
    check_bit_exact,
    model_kind,
)
from bitwave.models.layers import QuantMLP
from bitwave.models.multi_exit import MultiExitMLP

QUANT = {"kind": "mlp", "wbits": 1, "abits": 1}


def random_model(widths, exits, wbits=1, abits=1, seed=0):
    """A MultiExitMLP with random weights, BatchNorm statistics and steps in every block."""
    model = MultiExitMLP(widths, exits, wbits=wbits, abits=abits)
    randomize(SimpleNamespace(blocks=model.all_blocks()), np.random.default_rng(seed))
    return model.eval()


def torch_exits(model, bits):
    with torch.no_grad():
        return [out.numpy() for out in model.infer_exit_codes(torch.from_numpy(bits))]


# ---------------------------------------------------------------------------------------------
# torch == golden at every exit
# ---------------------------------------------------------------------------------------------
architectures = st.integers(2, 4).flatmap(
    lambda hidden: st.tuples(
        st.lists(st.integers(1, 60), min_size=hidden + 2, max_size=hidden + 2),
        st.sets(st.integers(0, hidden - 2), min_size=1).map(sorted),
        st.lists(st.sampled_from([1, 1, 2, 4, 8]), min_size=hidden + 1, max_size=hidden + 1),
        st.lists(st.sampled_from([1, 1, 2, 3]), min_size=hidden + 1, max_size=hidden + 1),
        st.integers(0, 2**31),
    )
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(architectures)
def test_torch_equals_golden_at_every_exit(tmp_path_factory, arch):
    widths, exits, wbits, abits, seed = arch
    model = random_model(widths, exits, wbits, [*abits[:-1], 1], seed)
    path = tmp_path_factory.mktemp("ir") / "m.bwir"
    ir.save(export_network(model, "prop"), path)
    net = ir.load(path)
    assert [(e.after, e.head.name) for e in net.exits] == [
        (f"fc{i}", f"exit{k}") for k, i in enumerate(exits)
    ]
    assert [layer.name for layer in net.layers] == [f"fc{i}" for i in range(len(widths) - 1)]

    bits = np.random.default_rng(seed).integers(0, 2, size=(48, widths[0]))
    expected = golden.run_exits(net, bits)
    assert len(expected) == net.n_exits == len(exits) + 1
    for k, (got, want) in enumerate(zip(torch_exits(model, bits), expected, strict=True)):
        assert np.array_equal(got, want), f"exit {k}"
        assert np.array_equal(golden.run(net.exit_network(k), bits), want)
    with torch.no_grad():
        values = model(torch.from_numpy(2.0 * bits - 1).float()).numpy()
    assert np.array_equal(values, 2.0 * expected[-1] - 1), "forward is the final exit"


def test_the_float_path_agrees_with_the_folded_heads():
    """The heads fold with the step of the k-bit layer they read: the float path (training,
    BatchNorm in eval mode) and the integer semantics differ only at exact ties."""
    model = random_model([300, 120, 80, 60, 40], [0, 1], wbits=[1, 4, 2, 3], abits=[3, 2, 4, 1])
    rng = np.random.default_rng(4)
    bits = rng.integers(0, 2, size=(500, 300))
    with torch.no_grad():
        logits = model.exit_logits(torch.from_numpy(2.0 * bits - 1).float())
    for k, (out, codes) in enumerate(zip(logits, torch_exits(model, bits), strict=True)):
        assert ((out.numpy() >= 0) == codes).mean() > 0.999, f"exit {k}"


def test_the_final_exit_is_the_single_exit_mlp_of_the_same_trunk():
    """The trunk keeps the single-exit MLP's layers and names: exit_network(final) of the
    multi-exit IR is bit for bit (hash) the IR of a QuantMLP holding the trunk's weights."""
    model = random_model([30, 12, 10, 8, 6], [0, 1], seed=3)
    single = QuantMLP([30, 12, 10, 8, 6]).eval()
    single.load_state_dict(model.trunk.state_dict())
    net, plain = export_network(model, "n"), export_network(single, "n")
    assert not plain.exits and plain.version == 1 and net.version == 3
    final = ir.Network("n", 30, ir.BIPOLAR, net.exit_network(2).layers, None, {})
    assert final.sha256 == ir.Network("n", 30, ir.BIPOLAR, plain.layers, None, {}).sha256


def test_a_mutated_head_is_caught_at_its_exit_only():
    """Mutation twins: a flipped weight bit in exit0's head and a threshold off by one in
    exit1's head each show up at that exit of check_bit_exact and nowhere else."""
    from bitwave.models import features

    model = random_model([2052, 16, 14, 12, 513], [0, 1], seed=7)
    rng = np.random.default_rng(2)
    magnitudes = np.abs(rng.normal(size=(300, 513))).astype(np.float32)
    coding = features.fit_input_coding(magnitudes, bits=4, seed=0)
    net = export_network(model, "m", coding)
    assert check_bit_exact(model, net, magnitudes)["exit_mismatches"] == [0, 0, 0]

    bits = features.bitplane_input(magnitudes, coding)
    outputs = golden.run_exits(net, bits)
    busy = [int(np.argmin(np.abs(out.mean(axis=0) - 0.5))) for out in outputs]  # switching
    net.exits[0].head.weights[busy[0], 0] ^= np.uint64(0xFFFF)
    net.exits[1].head.thresholds[busy[1], 0] += 1
    counts = check_bit_exact(model, net, magnitudes)["exit_mismatches"]
    assert counts[0] > 0 and counts[1] > 0 and counts[2] == 0


# ---------------------------------------------------------------------------------------------
# Config: model.exits and train.exits
# ---------------------------------------------------------------------------------------------
def test_no_exits_is_the_single_exit_mlp_and_the_defaults_have_none():
    defaults = config.load()
    assert "exits" not in defaults["model"] and "exits" not in defaults["train"]
    for model_config in (defaults["model"], {**defaults["model"], "exits": []}):
        assert type(model_kind(model_config)) is QuantMLPKind
        assert type(build_model(model_config, 20)) is QuantMLP
    multi = build_model({**defaults["model"], "hidden": [8, 8, 8], "exits": [0, 1]}, 20)
    assert isinstance(multi, MultiExitMLP) and multi.n_exits == 3


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"hidden": [8, 8], "exits": [1]}, r"allowed are increasing hidden-layer indices in 0..0"),
        ({"hidden": [8, 8, 8], "exits": [1, 0]}, r"model.exits \[1, 0\]: allowed are increasing"),
        ({"hidden": [8], "exits": [0]}, r"need at least two hidden layers \(model.hidden has 1"),
        ({**QUANT, "kind": "gru", "hidden": [8, 8], "exits": [0]}, "need a quantized MLP"),
        ({**QUANT, "wbits": 32, "abits": 32, "hidden": [8, 8], "exits": [0]}, "wbits 32"),
    ],
)
def test_exits_that_cannot_apply_are_refused(model, message):
    with pytest.raises(BitwaveError, match=message):
        model_kind({**QUANT, **model})


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"train": {"exits": "greedy"}}, r"train.exits: 'greedy' is not allowed; choose one of"),
        ({"model": {"exits": [-1]}}, r"model.exits.0: -1 is out of range"),
        ({"model": {"exits": [0, 0]}}, r"model.exits: .*non-unique"),
        ({"model": {"exits": 1}}, r"model.exits: expected array"),
    ],
)
def test_the_schema_names_what_is_allowed(tmp_path, section, message):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(section))
    with pytest.raises(ConfigError, match=message):
        config.load(path)


def test_the_demo_config_is_valid_and_folds_every_layer():
    from bitwave.core.random_ir import random_network
    from bitwave.hw.folding import parse_fold_spec

    settings_ = config.load("models/configs/demo_exits.yaml")
    assert settings_["model"]["exits"] == [0, 1] and settings_["model"]["hidden"] == [64, 64, 64]
    assert type(model_kind(settings_["model"])) is MultiExitMLPKind
    stand_in = random_network([2052, 64, "exit", 64, "exit", 64, 513])
    names = [layer.name for layer in stand_in.layers] + [e.head.name for e in stand_in.exits]
    entries = [entry.split(":")[0] for entry in settings_["hw"]["fold"].split(";")]
    assert sorted(entries) == sorted(names)
    folds = parse_fold_spec(settings_["hw"]["fold"], stand_in)  # every entry fits its layer
    assert folds["exit0"].pe == 27 and folds["fc0"].simd == 114


# ---------------------------------------------------------------------------------------------
# Training: blockwise freezes the blocks before the stage; joint trains all on the sum
# ---------------------------------------------------------------------------------------------
def _snapshot(blocks):
    return [{k: v.clone() for k, v in block.state_dict().items()} for block in blocks]


def _changed(blocks, before):
    return [
        any(not torch.equal(v, snap[k]) for k, v in block.state_dict().items())
        for block, snap in zip(blocks, before, strict=True)
    ]


@pytest.mark.parametrize("mode", ["blockwise", "joint"])
def test_blockwise_training_freezes_the_earlier_blocks(mode):
    torch.manual_seed(0)
    model = MultiExitMLP([24, 10, 9, 8, 6], [0, 1])
    kind, train_config = MultiExitMLPKind(), {"epochs": 3, "relaxed_epochs": 1, "exits": mode}
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    x = torch.sign(torch.randn(64, 24)) + 0.0
    target = (torch.rand(64, 6) > 0.5).float()
    epoch = 3 * 1 + 2  # blockwise: block 1, a binary epoch
    model.train()
    kind.begin_epoch(model, epoch, train_config)
    before = _snapshot(model.all_blocks())
    for _ in range(3):
        loss = kind.loss(model, x, target, None, epoch, train_config)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        kind.after_update(model)
    changed = dict(
        zip(map(id, model.all_blocks()), _changed(model.all_blocks(), before), strict=True)
    )
    stage = [[changed[id(block)] for block in model.stage_blocks(s)] for s in range(3)]
    if mode == "blockwise":  # block 0 (fc0 and exit0) frozen, BatchNorm statistics too
        assert stage == [[False, False], [True, True], [False, False]]
        assert kind.stages(model, train_config) == 3
    else:
        assert stage == [[True, True], [True, True], [True, True]]
        assert kind.stages(model, train_config) == 1


def test_the_losses_are_the_stage_exit_or_the_sum():
    from torch.nn.functional import binary_cross_entropy_with_logits as bce

    torch.manual_seed(1)
    model = MultiExitMLP([16, 8, 8, 5], [0]).train()
    x, target = torch.sign(torch.randn(32, 16)) + 0.0, (torch.rand(32, 5) > 0.5).float()
    kind = MultiExitMLPKind()
    logits = model.exit_logits(x)
    blockwise = {"epochs": 2, "exits": "blockwise"}
    for epoch, exit_ in ((0, 0), (1, 0), (2, 1), (3, 1)):
        loss = kind.loss(model, x, target, None, epoch, blockwise)
        assert torch.allclose(loss, bce(logits[exit_], target))
    joint = kind.loss(model, x, target, None, 3, {"epochs": 2, "exits": "joint"})
    assert torch.allclose(joint, bce(logits[0], target) + bce(logits[1], target))


def test_the_blocks_partition_the_network():
    model = MultiExitMLP([10, 6, 6, 6, 6, 4], [0, 2])
    blocks = [block for s in range(model.n_exits) for block in model.stage_blocks(s)]
    assert sorted(map(id, blocks)) == sorted(map(id, model.all_blocks()))
    assert [len(model.stage_blocks(s)) for s in range(3)] == [2, 3, 2]
    assert model.stage_blocks(2)[-1] is model.trunk.blocks[-1]
    with pytest.raises(ValueError, match=r"increasing hidden-layer indices in 0..2"):
        MultiExitMLP([10, 6, 6, 6, 6, 4], [3])


# ---------------------------------------------------------------------------------------------
# End to end on the tiny built-in data set: train (both ways), export, eval at every exit
# ---------------------------------------------------------------------------------------------
def _exits_config(tmp_path, mode):
    path = tiny_config(tmp_path, hidden=[20, 16, 12], exits=[0, 1])
    user = yaml.safe_load(path.read_text())
    user["train"].update({"epochs": 2, "relaxed_epochs": 1, "exits": mode})
    path.write_text(yaml.safe_dump(user))
    return config.load(path)


@pytest.fixture(scope="module")
def blockwise_run(tmp_path_factory):
    from bitwave.models.train import train

    tmp = tmp_path_factory.mktemp("exits")
    return tmp / "run", train(_exits_config(tmp, "blockwise"), tmp / "run", progress=False)


def test_blockwise_training_exports_every_exit_bit_exactly(blockwise_run):
    run, summary = blockwise_run
    net = ir.load(run / "model.bwir")
    assert net.version == 3 and net.widths == [2052, 20, 16, 12, 513]
    assert [(e.after, e.head.name, e.head.in_width) for e in net.exits] == [
        ("fc0", "exit0", 20), ("fc1", "exit1", 16)
    ]  # fmt: skip
    check = summary["bit_exact"]
    assert check["exit_mismatches"] == [0, 0, 0] and check["frames"] > 0
    assert summary["exit_training"] == "blockwise"
    history = summary["history"]
    assert [(h["epoch"], h["block"]) for h in history] == [(e + 1, e // 2 + 1) for e in range(6)]
    assert [len(h["valid_ibm_accuracy_exits"]) for h in history] == [1, 1, 2, 2, 3, 3]
    assert all(0.5 < a <= 1 for a in history[-1]["valid_ibm_accuracy_exits"])
    # block 0 was frozen after its stage: the exit-0 accuracy stays what it was
    assert history[1]["valid_ibm_accuracy"] == history[-1]["valid_ibm_accuracy_exits"][0]


def test_the_trained_run_reloads_and_resumes(blockwise_run, tmp_path):
    import shutil

    from bitwave.models.train import load_model, train

    run, _ = blockwise_run
    model, _, model_config = load_model(run)
    assert isinstance(model, MultiExitMLP) and model_config["exits"] == [0, 1]
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    settings_ = yaml.safe_load((run / "config.yaml").read_text())
    settings_["train"]["epochs"] = 3  # three stages of 3 epochs: 9 epochs, 6 already done
    summary = train(settings_, copy, resume=True, progress=False)
    assert len(summary["history"]) == 9 and summary["bit_exact"]["mismatches"] == 0


def test_joint_training_exports_every_exit_bit_exactly(tmp_path):
    from bitwave.models.train import train

    summary = train(_exits_config(tmp_path, "joint"), tmp_path / "run", progress=False)
    assert summary["exit_training"] == "joint"
    assert [h["epoch"] for h in summary["history"]] == [1, 2]
    assert len(summary["history"][-1]["valid_ibm_accuracy_exits"]) == 3
    assert summary["bit_exact"]["exit_mismatches"] == [0, 0, 0]


def test_eval_measures_every_exit(blockwise_run):
    from bitwave.models.evaluate import evaluate_run

    run, _ = blockwise_run
    result = evaluate_run(run, progress=False)
    rows = result["exits"]
    assert [row["label"] for row in rows] == [
        "bitwise exit 0 (1 block)", "bitwise exit 1 (2 blocks)", "bitwise exit 2 (3 blocks)"
    ]  # fmt: skip
    assert rows[-1]["model"] == result["model"], "the final exit is the top-level model"
    for row in rows:
        assert all(np.isfinite(row["model"][key]) for key in ("si_sdri", "stoi", "ibm_accuracy"))
    assert rows[0]["model"]["si_sdri"] != rows[1]["model"]["si_sdri"]
    table = (run / "eval" / "exits.md").read_text()
    assert table.count("\n| bitwise exit") == 3 and "| oracle IBM |" in table
    saved = json.loads((run / "eval" / "metrics.json").read_text())
    assert [row["exit"] for row in saved["exits"]] == [0, 1, 2]


def test_evaluate_scores_each_exit_mask_and_single_exit_output_is_unchanged(blockwise_run):
    """With exit masks the inverted IBM, all-one and the IBM, the rows come out in that order;
    without exits_fn there is no ``exits`` entry (the single-exit output)."""
    from bitwave.models import features
    from bitwave.models.data import build_dataset
    from bitwave.models.evaluate import evaluate

    run, _ = blockwise_run
    data = yaml.safe_load((run / "config.yaml").read_text())["data"]
    mixtures = build_dataset(data, progress=False).test[:1]
    ibm = features.mixture_frames(mixtures[0])[2].astype(np.float32)

    def masks(magnitudes):
        return [1 - ibm, np.ones_like(magnitudes), ibm]

    result = evaluate(lambda m: ibm, mixtures, progress=False, exits_fn=masks)
    accuracy = [row["model"]["ibm_accuracy"] for row in result["exits"]]
    assert accuracy[0] == 0.0 and 0 < accuracy[1] < 1 and accuracy[2] == 1.0
    assert abs(result["exits"][1]["model"]["si_sdri"]) < 1e-3, "an all-one mask is the input"
    assert result["exits"][2]["model"]["si_sdri"] == result["oracle_ibm"]["si_sdri"]
    assert "exits" not in evaluate(lambda m: ibm, mixtures, progress=False)


def test_eval_command_prints_every_exit(blockwise_run, capsys):
    from bitwave.app.cli import main

    run, _ = blockwise_run
    assert main(["eval", str(run), "--quiet"]) == 0
    out = capsys.readouterr().out
    for k, blocks in enumerate(("1 block", "2 blocks", "3 blocks")):
        assert f"  bitwise exit {k} ({blocks}): SI-SDRi" in out
