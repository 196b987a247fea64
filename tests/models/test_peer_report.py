"""`bitwave eval` prints the deployed peers beside the model: their scores, MAC/s and notes."""

from __future__ import annotations

import pytest

from bitwave.app.cli import main
from bitwave.models import evaluate


def _result(**extra: object) -> dict:
    """An evaluate_run result as metrics.json holds it (figures chosen to be recognizable)."""
    scores = {"si_sdri": 5.42, "stoi": 0.777, "pesq": 1.21, "ibm_accuracy": 0.81}
    return {
        "run": "demo", "kind": "bitwise", "utterances": 48, "mask_floor_db": None,
        "model": scores, "oracle_ibm": {"si_sdri": 16.26, "stoi": 0.963, "pesq": 2.34},
        "noisy": {"stoi": 0.848, "pesq": 1.09}, **extra,
    }  # fmt: skip


def _eval_output(monkeypatch, capsys, result: dict, tmp_path) -> list[str]:
    monkeypatch.setattr(evaluate, "evaluate_run", lambda *args, **kwargs: result)
    assert main(["eval", str(tmp_path), "--quiet"]) == 0
    return capsys.readouterr().out.splitlines()


def test_eval_prints_each_peer_with_its_mac_rate_beside_the_networks(monkeypatch, capsys, tmp_path):
    rnnoise = {"si_sdri": 3.23, "stoi": 0.751, "pesq": 1.33, "macs_per_second": 2.877312e8}
    result = _result(peers={"rnnoise": rnnoise}, macs_per_second=1.05e7, peer_notes=[])
    lines = _eval_output(monkeypatch, capsys, result, tmp_path)
    row = next(line for line in lines if line.strip().startswith("rnnoise:"))
    assert row.split() == ["rnnoise:", "SI-SDRi", "3.23", "dB", "STOI", "0.751", "PESQ", "1.33",
                           "288", "MMAC/s"]  # fmt: skip
    assert "  bitwise network: 10.5 MMAC/s" in lines
    assert not any("note:" in line for line in lines)
    # the lines come before the closing "wrote" line, after the model's and the oracle's
    assert lines.index(row) > next(i for i, line in enumerate(lines) if "oracle IBM" in line)
    assert lines[-1].startswith("wrote ")


def test_eval_without_the_peer_prints_its_note_and_no_invented_row(monkeypatch, capsys, tmp_path):
    note = "RNNoise row omitted: RNNoise needs the pyrnnoise package (no module)"
    result = _result(macs_per_second=None, peer_notes=[note])  # a float run, pyrnnoise missing
    lines = _eval_output(monkeypatch, capsys, result, tmp_path)
    assert f"  note: {note}" in lines
    assert not any("rnnoise:" in line for line in lines)
    assert "  bitwise network: n/a" in lines


@pytest.mark.parametrize("peers", [None, {}])
def test_an_old_metrics_result_prints_no_peer_lines(monkeypatch, capsys, tmp_path, peers):
    # results written before the peers existed have none of the keys
    result = _result() if peers is None else _result(peers=peers)
    lines = _eval_output(monkeypatch, capsys, result, tmp_path)
    assert not any("MMAC/s" in line or "note:" in line for line in lines)
