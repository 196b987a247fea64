"""The main job on a tiny multi-exit network: the scalable stages (the other training strategy,
each exit's separate network, trained, generated and synthesized) and the quality/energy curve
with measured figures per exit."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from bitwave.app import scalable
from bitwave.core import config, ir

TINY_EXITS = {
    "data": {"train_utterances": 6, "valid_utterances": 2, "test_utterances": 2, "max_seconds": 1.0,
             "train_speakers": 3, "test_speakers": 1},
    "features": {"bits": 1},
    "model": {"hidden": [8, 8], "exits": [0]},
    "train": {"epochs": 1, "relaxed_epochs": 0, "batch_size": 64, "lr": 0.01, "exits": "joint"},
    "flow": {"verify_vectors": 6, "baseline": False, "simulator": "icarus", "chip": None},
    # shallow folds: few cycles per frame, so the gate-level power runs (one per exit and one
    # switching) stay short; fc0 513 -> 8, exit0 and fc2 8 -> 513, fc1 8 -> 8
    "hw": {"fold": "fc0:pe=8,simd=57;exit0:pe=27,simd=8;fc1:pe=8,simd=8;fc2:pe=27,simd=8"},
}  # fmt: skip


@pytest.fixture(scope="module")
def exits_run(tmp_path_factory):
    from bitwave.app.flow import run_flow

    tmp = tmp_path_factory.mktemp("flow_exits")
    user = copy.deepcopy(TINY_EXITS)
    user["data"]["cache_dir"] = str(tmp / "cache")
    (tmp / "c.yaml").write_text(yaml.safe_dump(user))
    summary = run_flow(config.load(tmp / "c.yaml"), tmp / "run", report_dir=tmp / "published")
    return tmp / "run", summary


def test_separate_and_alternative_configs():
    settings = config.merge(config.defaults(), copy.deepcopy(TINY_EXITS))
    settings["model"]["hidden"] = [8, 6, 4]
    settings["model"]["exits"] = [0, 1]
    assert scalable.exit_depths(settings) == [1, 2, 3]
    for k, hidden in enumerate(([8], [8, 6], [8, 6, 4])):
        separate = scalable.separate_config(settings, k)
        assert separate["model"]["hidden"] == hidden
        assert "exits" not in separate["model"] and "exits" not in separate["train"]
    assert scalable.alternative_config(settings)["train"]["exits"] == "blockwise"
    assert settings["model"]["exits"] == [0, 1], "the config itself is not changed"


@pytest.mark.slow
def test_flow_reports_the_curve_of_measured_figures(exits_run):
    run, summary = exits_run
    net = ir.load(run / "bitwise" / "model.bwir")
    assert net.n_exits == 2
    section = summary["scalable"]
    metrics = json.loads((run / "bitwise" / "eval" / "metrics.json").read_text())
    power = json.loads((run / "hw" / "synth" / "power.json").read_text())
    for k, point in enumerate(section["points"]):
        assert point["quality"] == metrics["exits"][k]["model"]
        assert point["hardware"] == power["exits"][k]
        alone = json.loads((run / "separate" / f"exit{k}" / "eval" / "metrics.json").read_text())
        assert point["separate"]["quality"] == alone["model"]
        separate_area = json.loads(
            (run / "separate" / f"exit{k}" / "hw" / "synth" / "area.json").read_text()
        )
        assert point["separate"]["area_um2"] == separate_area["total_area_um2"]
    total = sum(p["separate"]["area_um2"] for p in section["points"])
    assert section["area_ratio_to_separate"] == pytest.approx(
        summary["hardware"]["area_um2"] / total
    )
    verified = json.loads((run / "hw" / "verify" / "result.json").read_text())
    assert verified["passed"] and len(verified["exits"]["per_exit"]) == 2
    area = json.loads((run / "hw" / "synth" / "area.json").read_text())
    assert section["clock_gating"] == area["clock_gating"] and area["clock_gating"]["gates"] > 0
    assert all(0 <= scalable.idle_share(p["hardware"]) < 1 for p in section["points"])
    report = (run / "report.md").read_text()
    assert "quality/energy curve" in report and f"{section['area_ratio_to_separate']:.0%}" in report
    assert (run.parent / "published" / "scalable.png").stat().st_size > 5000


def test_idle_share_is_the_idle_layers_part_of_the_dynamic_power():
    hardware = {"dynamic_w": 10.0, "idle_blocks_dynamic_w": 2.5}
    assert scalable.idle_share(hardware) == 0.25
    assert scalable.idle_share({"dynamic_w": 10.0}) is None
    lines = scalable.report_lines({"strategy": "joint", "other_strategy": "blockwise",
                                   "points": [], "clock_gating": {"gates": 3, "flops": 9,
                                                                  "gated_flops": 8}})  # fmt: skip
    assert any("8 of 9 flip-flops" in line for line in lines)
