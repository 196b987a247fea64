"""bitwave flow refuses, before data and training, a hardware plan the later stages would
refuse: a fold that does not fit the configured layers, or a model whose op the generator does
not support. Nothing is written."""

from __future__ import annotations

import pytest

from bitwave.app.cli import main


@pytest.mark.parametrize(
    "config, message",
    [
        ('hw:\n  fold: "fc0:pe=0,simd=1"\n', "config hw.fold fc0: pe=0 must be in 1..64"),
        ('hw:\n  fold: "fc9:pe=1,simd=1"\n', "config hw.fold names layer 'fc9'"),
        (
            'model:\n  kind: gru\n  hidden: [8]\nhw:\n  fold: "fc0:pe=1,simd=1"\n',
            "config hw.fold names layer 'fc0'; the network's layers are ['gru0', 'fc_out']",
        ),
        (  # hw.fold explore (the default) builds the chip at flow.chip.fold: the demo MLP's
            "model:\n  kind: gru\n  hidden: [8]\n",
            "config flow.chip.fold names layer 'fc0'; the network's layers are ['gru0', 'fc_out']",
        ),
        ("flow:\n  compare: no/such/run\n", "flow.compare: no/such/run holds no flow.json"),
    ],
)
def test_flow_refuses_a_bad_hardware_plan_before_training(tmp_path, capsys, config, message):
    path = tmp_path / "c.yaml"
    path.write_text(config)
    assert main(["flow", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "run").exists()


def test_a_fitting_fold_passes_the_plan_check():
    from bitwave.app.flow import _check_hardware_plan
    from bitwave.core import config

    _check_hardware_plan(config.load(None))  # the demo's own fold


def test_an_op_the_generator_lacks_is_refused_before_training(tmp_path, capsys, monkeypatch):
    from bitwave.core import ops

    monkeypatch.setattr(ops.OPS["binary_gru"], "SUPPORTED_STAGES", ("train", "golden"))
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  kind: gru\n  hidden: [8]\nhw:\n  fold: null\n")
    assert main(["flow", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.kind gru: bitwave generate does not support op" in err[0]
    assert not (tmp_path / "run").exists()


def test_with_explore_the_chip_is_built_at_its_own_fold():
    from bitwave.app.flow import _chip_config
    from bitwave.core import config

    defaults = config.load(None)
    assert defaults["hw"]["fold"] == "explore"
    explored = {"explore": {"fold": "fc0:pe=1,simd=3;fc1:pe=1,simd=1;fc2:pe=1,simd=1",
                            "clock_mhz": 1.0, "weights": "memory"}}  # fmt: skip
    chip_hw = _chip_config(defaults, explored)["hw"]
    assert chip_hw["fold"] == defaults["flow"]["chip"]["fold"]
    assert (chip_hw["clock_mhz"], chip_hw["weight_storage"]) == (
        defaults["hw"]["clock_mhz"],
        "const",
    )
    no_fold = {**defaults, "flow": {**defaults["flow"], "chip": {"utterances": 1, "seconds": 1}}}
    chip_hw = _chip_config(no_fold, explored)["hw"]  # the explored design itself
    assert (chip_hw["fold"], chip_hw["clock_mhz"], chip_hw["weight_storage"]) == (
        explored["explore"]["fold"], 1.0, "memory")  # fmt: skip
