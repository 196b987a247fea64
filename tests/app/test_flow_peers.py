"""The flow's report puts the deployed peer (RNNoise) in its quality table, with its MAC/s
beside the bitwise network's binary MAC/s, from the bitwise model's eval/metrics.json."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bitwave.app import flow

QUALITY = {
    "bitwise": {"si_sdri": 5.42, "stoi": 0.777, "pesq": 1.21, "ibm_accuracy": 0.81},
    "float": {"si_sdri": 8.23, "stoi": 0.837, "pesq": 1.41, "ibm_accuracy": 0.86},
    "oracle_ibm": {"si_sdri": 16.26, "stoi": 0.963, "pesq": 2.34},
    "noisy": {"stoi": 0.848, "pesq": 1.09},
}
RNNOISE = {"si_sdri": 3.23, "stoi": 0.751, "pesq": 1.33, "macs_per_second": 2.877312e8}


def _table(metrics: dict) -> dict[str, list[str]]:
    """The report's quality table by row name (cells after the name), and its other lines."""
    lines = flow.quality_table({"quality": QUALITY, "peers": flow.peer_summary(metrics)})
    rows = {line.split(" | ")[0].lstrip("| "): line.strip("| ").split(" | ")[1:]
            for line in lines if line.startswith("| ")}  # fmt: skip
    rows["_other"] = [line for line in lines if line and not line.startswith("|")]
    return rows


def test_report_has_the_peer_row_with_its_mac_rate_beside_the_binary_one():
    rows = _table({"peers": {"rnnoise": RNNOISE}, "macs_per_second": 1.05e7, "peer_notes": []})
    assert rows["rnnoise (deployed peer)"] == ["3.23", "0.751", "1.33", "n/a", "288 M"]
    assert rows["bitwise"] == ["5.42", "0.777", "1.21", "0.810", "10.5 M (binary)"]
    assert rows["float"][-1] == rows["oracle_ibm"][-1] == "-"
    names = [name for name in rows if name != "_other"]
    assert names == ["model", "bitwise", "float", "rnnoise (deployed peer)", "oracle_ibm", "noisy"]
    assert rows["_other"] == []


def test_a_missing_peer_leaves_its_note_and_no_row():
    note = "RNNoise row omitted: RNNoise needs the pyrnnoise package (no module)"
    rows = _table({"macs_per_second": 1.05e7, "peer_notes": [note]})
    assert not any("rnnoise" in name for name in rows) and rows["_other"] == [note]
    # an evaluation written before the peers existed: no row, no MAC/s, and a note saying why
    old = _table({})
    assert not any("rnnoise" in name for name in old) and old["bitwise"][-1] == "-"
    assert len(old["_other"]) == 1 and "predates" in old["_other"][0]


def test_the_report_takes_the_peer_from_a_real_evaluation(tmp_path):
    pytest.importorskip("pyrnnoise", reason="the RNNoise peer needs pyrnnoise")
    from bitwave.models import evaluate, peers
    from bitwave.models.data import Mixture
    from bitwave.models.data.speech import Speaker, synthesize

    speech = synthesize("the report listens", Speaker("en", "m3", 50, 50, 170))
    noise = 0.5 * np.std(speech) * np.random.default_rng(0).standard_normal(speech.size)
    mixture = Mixture("a", speech, noise.astype(np.float32), noise_type="white", snr_db=6.0)
    result = evaluate.evaluate(
        lambda mag: np.ones_like(mag), [mixture], progress=False, peers=[peers.rnnoise()]
    )
    metrics = json.loads(json.dumps({**result, "macs_per_second": 1.05e7, "peer_notes": []}))
    summary = {"name": "t", "quality": {**QUALITY, "bitwise": result["model"]},
               "targets": {"fraction_of_oracle": 0.5}, "stages": {},
               "peers": flow.peer_summary(metrics),
               "quality_by_group": {"by_source": metrics["by_source"]}}  # fmt: skip
    report = flow._report_md(summary)
    (group,) = result["by_source"]
    source = next(line for line in report.splitlines() if line.startswith(f"| {group} |"))
    assert f"| {result['noisy']['stoi']:.3f} | {result['model']['stoi']:.3f} |" in source
    row = next(line for line in report.splitlines() if line.startswith("| rnnoise"))
    assert f"| {result['peers']['rnnoise']['si_sdri']:.2f} |" in row and "288 M |" in row
    assert "10.5 M (binary)" in report
