"""Leakage in the cost tables and estimates, power at the frame rate as dynamic + leakage, and
the power-gating what-if (``bitwave.cost.gating``). The agreement with synthesis is checked
where the suite already synthesizes: tests/cost/test_cost_synth.py (the table model),
test_cost_gru.py and test_cost_exits.py (the structural model)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from bitwave.app.cli import main
from bitwave.core.errors import BitwaveError
from bitwave.cost.architectures import build
from bitwave.cost.engines import design_holds_state
from bitwave.cost.gating import GatingWhatIf, RatePower, off_leakage_fraction, watts
from bitwave.cost.hardware import Folding, estimate
from bitwave.cost.tables import ACTIONS, DEFAULT_TABLE, load_table, make_table, table_from_dict

REPO = Path(__file__).resolve().parents[2]
MLP_BINARY = REPO / "cost" / "examples" / "mlp_binary.yaml"
SMALL_MLP = {"kind": "mlp", "inputs": 64, "hidden": [32], "outputs": 16, "precision": "binary"}


def _cost_json(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[dict, str]:
    assert main(["cost", *argv, "--json"]) == 0
    out = capsys.readouterr().out
    return json.loads(out.strip().splitlines()[-1])["hardware"], out


def test_committed_table_is_made_from_the_nodes_and_the_liberty():
    """Every entry of cost/tables/default.yaml carries a positive leakage, and the table is
    what `--make-table` derives from reports/nodes/nodes.json and the compact liberty: one
    source for area, energy and leakage."""
    from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY

    table = load_table()
    assert set(table.actions) == set(ACTIONS)
    assert all(a.leakage_w > 0 for a in table.actions.values())
    made = make_table(REPO / "reports" / "nodes" / "nodes.json", COMPACT_LIBRARY)["actions"]
    for name, action in table.actions.items():
        entry = made[name]
        assert action.leakage_w == pytest.approx(entry["leakage_w"]), name
        assert action.area_um2 == pytest.approx(entry["area_um2"]), name
        assert action.overhead_leakage_w == pytest.approx(entry.get("overhead_leakage_w", 0.0))


def _nodes(tmp_path: Path, leak: object = "line") -> Path:
    """Three XNOR nodes on area = 60 + 5.5 N and leakage = 1e-6 + 2e-8 N."""
    nodes = []
    for n in (64, 256, 1024):
        node = {"kind": "xnor", "style": "parallel", "inputs": n, "area_um2": 60 + 5.5 * n,
                "energy_per_mac_j": 1e-14, "clock_mhz": 100, "library": "test"}  # fmt: skip
        if leak == "line":
            node["leakage_w"] = 1e-6 + 2e-8 * n
        elif leak != "none":
            node["leakage_w"] = leak
        nodes.append(node)
    path = tmp_path / "nodes.json"
    path.write_text(json.dumps({"results": nodes}))
    return path


def test_make_table_fits_leakage_per_lane_and_per_neuron(tmp_path):
    entry = make_table(_nodes(tmp_path))["actions"]["mac_binary"]
    assert entry["leakage_w"] == pytest.approx(2e-8)
    assert entry["overhead_leakage_w"] == pytest.approx(1e-6)
    # older node files without leakage give an entry without it (not a zero)
    assert "leakage_w" not in make_table(_nodes(tmp_path, "none"))["actions"]["mac_binary"]


@pytest.mark.parametrize("leak", [-1e-6, "1e-6", True, float("inf")])
def test_make_table_rejects_bad_leakage(tmp_path, leak):
    with pytest.raises(BitwaveError, match=r"results\[0\]\.leakage_w: .*allowed a finite number"):
        make_table(_nodes(tmp_path, leak))


def test_leakage_scales_with_lanes_registers_and_stored_bits():
    table = load_table()
    mac, reg = table.action("mac_binary_const"), table.action("register_bit")
    regfile = table.action("regfile_bit_read")
    arch = build(SMALL_MLP)
    unrolled = estimate(arch, table)
    lanes = 32 * (mac.overhead_leakage_w + 64 * mac.leakage_w)
    lanes += 16 * (mac.overhead_leakage_w + 32 * mac.leakage_w)
    registers = arch.totals().activation_bits * reg.leakage_w
    assert registers > 0 and unrolled.register_leakage_w == pytest.approx(registers)
    assert unrolled.leakage_w == pytest.approx(lanes + registers)
    # per area, like the library's cells (NanGate45 typical: ~15-25 nW/um^2)
    assert 10e-9 < unrolled.leakage_w / unrolled.area_um2 < 30e-9
    wider = estimate(build({**SMALL_MLP, "hidden": [64]}), table)
    assert wider.leakage_w > 1.8 * unrolled.leakage_w and wider.area_um2 > unrolled.area_um2
    # folded: the weights move into a register file that leaks per stored bit
    folded = estimate(arch, table, Folding(pe=4, simd=8))
    bits = sum(layer.weight_memory_bits for layer in arch.layers)
    assert folded.leakage_w > bits * regfile.leakage_w > 0


def test_power_at_the_frame_rate_is_dynamic_plus_leakage(capsys):
    """The issue's example: the 2052-1024x3-513 bitwise MLP at PE=1, SIMD=32."""
    hw, out = _cost_json([str(MLP_BINARY), "--pe", "1", "--simd", "32"], capsys)
    assert hw["power_w"] == pytest.approx(hw["dynamic_w"] + hw["leakage_w"])
    assert hw["dynamic_w"] == pytest.approx(hw["dynamic_energy_per_frame_j"] * 62.5)
    # the figure before leakage is kept under its own name; the switching leaves the nodes'
    # leakage out of it
    assert hw["power_without_leakage_w"] == pytest.approx(hw["energy_per_frame_j"] * 62.5)
    assert 0 < hw["dynamic_energy_per_frame_j"] < hw["energy_per_frame_j"]
    # 4.7 Mbit of weights in flip-flops and muxes: their leakage dominates by far
    regfile = load_table().action("regfile_bit_read").leakage_w
    assert hw["leakage_w"] > 4_727_297 * regfile > 1000 * hw["dynamic_w"]
    assert f"= dynamic {watts(hw['dynamic_w'])} + leakage {watts(hw['leakage_w'])}" in out
    # weights in a register file are state: no power-gating what-if
    assert hw["power_gating_what_if"]["offered"] is False
    assert "register file" in hw["power_gating_what_if"]["reason"]


def test_gating_what_if_follows_its_formula(capsys):
    hw, out = _cost_json([str(MLP_BINARY), "--off-leakage-fraction", "0.2"], capsys)
    gating = hw["power_gating_what_if"]
    assert gating["offered"] and gating["label"] == "what-if, not measured"
    duty = hw["latency_cycles"] / (hw["clock_mhz"] * 1e6) * 62.5
    assert gating["duty"] == pytest.approx(duty) and 0 < duty < 1
    expected = hw["dynamic_w"] + hw["leakage_w"] * (duty + 0.2 * (1 - duty))
    assert gating["total_w"] == pytest.approx(expected) and expected < hw["power_w"]
    assert "power gating between frames (what-if, not measured)" in out


def test_gating_bounds():
    rate = RatePower(62.5, 1e-9, 1e-3)
    assert rate.total_w == pytest.approx(62.5e-9 + 1e-3)
    assert GatingWhatIf(rate, 1e-3, 1.0).total_w == pytest.approx(rate.total_w)
    assert GatingWhatIf(rate, 1e-3, 0.0).total_w == pytest.approx(62.5e-9 + 1e-3 * 0.0625)
    # frames that leave no gap cannot be gated
    assert GatingWhatIf(rate, 1.0, 0.0).duty == 1.0
    assert GatingWhatIf(rate, 1.0, 0.0).total_w == pytest.approx(rate.total_w)


@pytest.mark.parametrize("value", ["-0.1", "1.5", "nan", "inf", "half"])
def test_bad_off_fraction_exits_2(value, capsys):
    with pytest.raises(SystemExit) as info:
        main(["cost", str(MLP_BINARY), "--off-leakage-fraction", value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--off-leakage-fraction" in err and "allowed a number from 0 to 1" in err
    with pytest.raises(BitwaveError, match="allowed a number from 0 to 1"):
        off_leakage_fraction(value)


def test_state_refuses_the_what_if():
    table = load_table()
    gru = estimate(build({"kind": "gru", "inputs": 16, "hidden": 8, "layers": 1}), table)
    assert gru.gating is None and "hold state between frames" in gru.gating_why_not
    plain = SimpleNamespace(sequence_start=None, exits=None,
                            layers=[SimpleNamespace(name="fc0", weight_storage="const")])  # fmt: skip
    dense = SimpleNamespace(layers=[SimpleNamespace(name="fc0", op="binary_dense")])
    assert design_holds_state(dense, plain) == ""
    ram = SimpleNamespace(**{**plain.__dict__,
                             "layers": [SimpleNamespace(name="fc0", weight_storage="memory")]})  # fmt: skip
    assert "weights in RAM" in design_holds_state(dense, ram)
    recurrent = SimpleNamespace(layers=[SimpleNamespace(name="gru0", op="binary_gru")])
    assert "recurrent layers (gru0)" in design_holds_state(recurrent, plain)


def test_a_table_without_leakage_says_so(tmp_path, capsys):
    data = yaml.safe_load(DEFAULT_TABLE.read_text())
    for entry in data["actions"].values():
        entry.pop("leakage_w"), entry.pop("overhead_leakage_w", None)
    hardware = estimate(build(SMALL_MLP), table_from_dict(data))
    assert hardware.leakage_w is None and hardware.rate_power is None
    assert hardware.to_json()["power_w"] is None  # never a silent zero
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(data))
    hw, out = _cost_json([str(MLP_BINARY), "--table", str(path)], capsys)
    assert hw["leakage_w"] is None and "leakage           not in table old.yaml" in out
