"""flow.compare: another flow's result side by side in the report (the GRU against the MLP)."""

from __future__ import annotations

import json

import pytest

from bitwave.app.compare import load_compared, parameters, report_lines
from bitwave.core.errors import BitwaveError
from bitwave.core.random_ir import random_network


def summary(name: str, si_sdri: float, energy_j: float, area: float, params: int) -> dict:
    return {
        "name": name, "model": "w1a1 x", "parameters": params,
        "quality": {"bitwise": {"si_sdri": si_sdri, "stoi": 0.8, "pesq": 1.3}},
        "hardware": {"area_um2": area, "energy_per_frame_j": energy_j, "realtime_w": 1e-3},
    }  # fmt: skip


def test_report_puts_both_designs_side_by_side_with_difference_and_ratio():
    gru = summary("demo_gru", 6.0, 2e-9, 50_000.0, 150_000)
    mlp = summary("demo", 5.0, 4e-9, 100_000.0, 200_000) | {"source": "reports/demo/flow.json"}
    lines = report_lines(gru, mlp)
    table = {line.split(" | ")[0].lstrip("| "): line for line in lines if line.startswith("| ")}
    assert table["SI-SDRi (dB)"].split(" | ")[1:] == ["6", "5", "1", "1.2 |"]
    assert table["area (um^2)"].split(" | ")[-1] == "0.5 |"
    assert table["parameters"].split(" | ")[1:3] == ["150,000", "200,000"]
    # quality per unit of energy: 6 dB / 2 nJ against 5 dB / 4 nJ
    assert table["SI-SDRi per nJ per frame (dB/nJ)"].split(" | ")[1:3] == ["3", "1.25"]


def test_missing_hardware_figures_are_not_invented():
    gru = summary("demo_gru", 6.0, 2e-9, 50_000.0, 1)
    mlp = {"name": "old", "quality": {"bitwise": {"si_sdri": 5.0}}, "source": "x"}
    row = next(line for line in report_lines(gru, mlp) if line.startswith("| area"))
    assert row.endswith("| n/a | n/a | n/a |")


def test_compared_result_is_checked(tmp_path):
    with pytest.raises(BitwaveError, match="holds no flow.json"):
        load_compared(tmp_path)
    (tmp_path / "flow.json").write_text("[1, 2]")
    with pytest.raises(BitwaveError, match="not a flow.json"):
        load_compared(tmp_path)
    (tmp_path / "flow.json").write_text("{not json")
    with pytest.raises(BitwaveError, match="not a JSON flow result"):
        load_compared(tmp_path)
    (tmp_path / "flow.json").write_text(json.dumps(summary("m", 1.0, 1e-9, 1.0, 1)))
    assert load_compared(tmp_path)["source"] == str(tmp_path / "flow.json")


def test_parameters_count_every_op():
    net = random_network([20, "gru:8", 4], seed=0)
    assert parameters(net) == 3 * 8 * (20 + 8) + 8 * 4
