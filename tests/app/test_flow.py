"""The main job end to end on a tiny network: every stage runs and the report holds measured figures."""

from __future__ import annotations

import json

import pytest
import yaml

from bitwave.app.cli import main
from bitwave.core import config, ir

TINY = {
    "data": {"train_utterances": 6, "valid_utterances": 2, "test_utterances": 2, "max_seconds": 1.0,
             "train_speakers": 3, "test_speakers": 1},
    "features": {"bits": 1},
    "model": {"hidden": [8]},
    "train": {"epochs": 1, "relaxed_epochs": 0, "batch_size": 64, "lr": 0.01},
    "flow": {"verify_vectors": 6, "chip": None},  # the chip stage: tests/app/test_flow_chip.py
    "hw": {"fold": None},  # the solver's folding for this shape
}  # fmt: skip


@pytest.fixture(scope="module")
def flow_run(tmp_path_factory):
    from bitwave.app.flow import run_flow

    tmp = tmp_path_factory.mktemp("flow")
    user = {**TINY, "data": {**TINY["data"], "cache_dir": str(tmp / "cache")}}
    (tmp / "c.yaml").write_text(yaml.safe_dump(user))
    summary = run_flow(config.load(tmp / "c.yaml"), tmp / "run", report_dir=tmp / "published")
    return tmp, summary


@pytest.mark.slow
def test_flow_writes_a_report_of_measured_figures(flow_run):
    tmp, summary = flow_run
    run = tmp / "run"
    net = ir.load(run / "bitwise" / "model.bwir")
    assert summary["ir_sha256"] == net.sha256
    manifest = json.loads((run / "hw" / "manifest.json").read_text())
    assert manifest["ir_sha256"] == net.sha256, "the hardware is built from the trained IR"
    hw = summary["hardware"]
    assert (
        hw["verify_status"] == "passed"
        and hw["verify_mismatches"] == 0
        and hw["verify_vectors"] == 6
    )
    assert hw["area_um2"] > 0 and hw["dynamic_w"] > 0 and hw["energy_per_frame_j"] > 0
    for name in ("bitwise", "float", "oracle_ibm"):
        assert name in summary["quality"]
    report = (run / "report.md").read_text()
    assert f"{hw['area_um2']:.0f} um^2" in report and "passed" in report
    assert (tmp / "published" / "report.md").read_text() == report
    assert (tmp / "published" / "quality.png").stat().st_size > 5000
    assert (tmp / "published" / "breakdown.png").stat().st_size > 5000
    noises = summary["quality_by_noise"]
    assert sum(row["utterances"] for row in noises.values()) == 2
    for noise, row in noises.items():
        assert {"bitwise", "float", "oracle_ibm"} <= set(row)
        assert f"| {noise}" in report


@pytest.mark.slow
def test_flow_rerun_keeps_finished_stages(flow_run, capsys):
    tmp, _ = flow_run
    assert main(["flow", str(tmp / "c.yaml"), "--out", str(tmp / "run")]) == 0
    out = capsys.readouterr().out
    for stage in ("train bitwise", "generate", "verify", "synth"):
        assert f"[flow] {stage}: already done, kept" in out


def test_flow_bad_config_exits_2(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("flow: {verify_vectors: 1}\n")
    assert main(["flow", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "run")]) == 2
    assert "flow.verify_vectors: 1 is out of range" in capsys.readouterr().err


@pytest.mark.slow
def test_flow_rerun_with_another_config_is_refused(flow_run, capsys):
    """Finished stages are reused only for the configuration that made them."""
    tmp, _ = flow_run
    user = yaml.safe_load((tmp / "c.yaml").read_text())
    user["train"]["lr"] = 0.02
    (tmp / "other.yaml").write_text(yaml.safe_dump(user))
    assert main(["flow", str(tmp / "other.yaml"), "--out", str(tmp / "run")]) == 2
    err = capsys.readouterr().err
    assert "made with another configuration" in err and "--force" in err
