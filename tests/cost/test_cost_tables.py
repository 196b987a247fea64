"""Per-action cost tables (the nodes.json converter) and the area/energy/cycle estimator."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from conftest import NANGATE45 as LIBERTY

from bitwave.app.cli import main
from bitwave.core.errors import BitwaveError
from bitwave.cost.architectures import build
from bitwave.cost.hardware import Folding, estimate
from bitwave.cost.tables import load_table, make_table, table_from_dict, table_yaml

LIB = "NanGate45 typical (synthetic test nodes)"


def _node(kind, style, n, area, energy_per_mac):
    return {
        "kind": kind,
        "style": style,
        "inputs": n,
        "area_um2": area,
        "power_w": energy_per_mac * n * 5e8,
        "energy_per_mac_j": energy_per_mac,
        "clock_mhz": 500,
        "library": LIB,
    }


def synthetic_nodes():
    # binary parallel nodes lie exactly on area = 60 + 5.5 N, energy/node = 2e-14 + 1.5e-15 N
    nodes = [
        _node("xnor", "parallel", n, 60 + 5.5 * n, (2e-14 + 1.5e-15 * n) / n)
        for n in (64, 256, 1024)
    ]
    nodes += [_node("int8", "parallel", n, 100 + 300.0 * n, 2e-13) for n in (16, 64)]
    nodes += [_node("int16", "serial", 64, 900.0, 6e-13)]
    nodes += [
        _node("float32", "serial", 64, 20000.0, 3e-12),
        _node("float32", "serial", 256, 22000.0, 3e-12),
    ]
    return {"nodes": nodes}


@pytest.fixture
def nodes_file(tmp_path):
    path = tmp_path / "nodes.json"
    path.write_text(json.dumps(synthetic_nodes()))
    return path


@pytest.fixture
def table(nodes_file):
    data = make_table(nodes_file)
    # storage entries normally come from the liberty; give fixed ones so the estimator can run
    data["actions"]["register_bit"] = {"area_um2": 4.5, "energy_j": 8e-15, "from": "test"}
    data["actions"]["regfile_bit_read"] = {"area_um2": 6.4, "energy_j": 1.6e-15, "from": "test"}
    return table_from_dict(data, "test-table")


def test_make_table_fits_per_lane_and_per_neuron(nodes_file):
    data = make_table(nodes_file)
    binary = data["actions"]["mac_binary"]
    assert binary["area_um2"] == pytest.approx(5.5) and binary[
        "overhead_area_um2"
    ] == pytest.approx(60)
    assert binary["energy_j"] == pytest.approx(1.5e-15) and binary[
        "overhead_energy_j"
    ] == pytest.approx(2e-14)
    assert data["actions"]["mac_int8"]["area_um2"] == pytest.approx(300.0)
    # serial nodes are one MAC unit each: their area is per lane, whatever N is
    assert data["actions"]["mac_int16"]["area_um2"] == pytest.approx(900.0)
    assert data["actions"]["mac_float32"]["area_um2"] == pytest.approx(21000.0)
    assert data["library"] == LIB and data["clock_mhz"] == 500
    assert len(data["source"]["nodes_sha256"]) == 64


def test_reads_the_bitwave_nodes_layout(tmp_path):
    """``bitwave nodes`` writes {clock_mhz, liberty, results: [{kind, form, n, ...}]}."""
    results = [
        {
            "kind": kind,
            "form": form,
            "n": n,
            "area_um2": area(n),
            "energy_per_mac_j": 1e-15,
            "cells": 1,
        }
        for kind, area in (("xnor", lambda n: 40 + 6.0 * n), ("xnor_const", lambda n: 30 + 4.0 * n))
        for form in ("parallel", "serial")
        for n in (64, 256)
    ]
    path = tmp_path / "nodes.json"
    path.write_text(
        json.dumps(
            {"clock_mhz": 100.0, "liberty": "compact.lib", "results": results, "skipped": []}
        )
    )
    data = make_table(path)
    assert data["clock_mhz"] == 100.0 and data["library"] == "compact.lib"
    assert data["actions"]["mac_binary"]["area_um2"] == pytest.approx(6.0)
    assert data["actions"]["mac_binary_const"]["area_um2"] == pytest.approx(4.0)
    assert data["actions"]["mac_binary_const"]["overhead_area_um2"] == pytest.approx(30.0)


def test_unrolled_binary_layers_use_the_constant_weight_node(table):
    data = {**_as_dict(table)}
    data["actions"]["mac_binary_const"] = {
        "area_um2": 4.0,
        "energy_j": 1e-15,
        "overhead_area_um2": 30.0,
        "from": "test",
    }
    with_const = table_from_dict(data, "t")
    arch = build({"kind": "mlp", "inputs": 64, "hidden": [], "outputs": 8, "precision": "binary"})
    unrolled, folded = (
        estimate(arch, with_const),
        estimate(arch, with_const, Folding(pe=8, simd=32)),
    )
    assert unrolled.layers[0].compute_area_um2 == pytest.approx(8 * (30 + 64 * 4.0))
    assert folded.layers[0].compute_area_um2 == pytest.approx(
        8 * (60 + 32 * 5.5)
    )  # variable weights


def test_table_yaml_round_trip(nodes_file, tmp_path):
    out = tmp_path / "t.yaml"
    out.write_text(table_yaml(make_table(nodes_file)))
    loaded = load_table(out)
    assert loaded.action("mac_binary").area_um2 == pytest.approx(5.5)
    assert yaml.safe_load(out.read_text())["format"] == "bitwave-cost-table"


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d["actions"]["mac_binary"].pop("area_um2"), "area_um2"),
        (lambda d: d["actions"]["mac_binary"].__setitem__("area_um2", -1.0), "out of range"),
        (
            lambda d: d["actions"].__setitem__(
                "mac_int4", {"area_um2": 1, "energy_j": 1, "from": "x"}
            ),
            "mac_int4",
        ),
        (lambda d: d.__setitem__("format", "accelergy"), "format"),
        (lambda d: d.__setitem__("clock_mhz", "fast"), "clock_mhz"),
    ],
)
def test_bad_tables_are_rejected(nodes_file, mutate, fragment):
    data = make_table(nodes_file)
    mutate(data)
    with pytest.raises(BitwaveError, match=fragment):
        table_from_dict(data)


def test_bad_nodes_are_rejected(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    with pytest.raises(BitwaveError, match="non-empty"):
        make_table(empty)
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps([{"kind": "xnor", "inputs": 8}]))
    with pytest.raises(BitwaveError, match=r"results\[0\].*area_um2"):
        make_table(partial)
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps([_node("analog", "parallel", 8, 1.0, 1e-15)]))
    with pytest.raises(BitwaveError, match="no node kind usable"):
        make_table(unknown)


def test_missing_action_names_the_entry(nodes_file):
    table = table_from_dict(make_table(nodes_file), "t.yaml")
    arch = build(
        {"kind": "mlp", "inputs": 64, "hidden": [32], "outputs": 16, "precision": "binary"}
    )
    with pytest.raises(BitwaveError, match="no 'register_bit' entry"):
        estimate(arch, table)


def test_unrolled_binary_estimate_is_exact(table):
    arch = build(
        {"kind": "mlp", "inputs": 256, "hidden": [128], "outputs": 64, "precision": "binary"}
    )
    est = estimate(arch, table)
    compute = 128 * (60 + 256 * 5.5) + 64 * (60 + 128 * 5.5)
    registers = arch.totals().activation_bits * 4.5
    assert est.area_um2 == pytest.approx(compute + registers)
    assert est.cycles_per_frame == 1 and est.latency_cycles == 2
    assert all(layer.hardwired and layer.memory_area_um2 == 0 for layer in est.layers)
    macs = (256 * 128 + 128) + (128 * 64 + 64)
    energy = (256 * 128 + 128) * (1.5e-15 + 2e-14 / 256) + (128 * 64 + 64) * (1.5e-15 + 2e-14 / 128)
    assert macs == arch.totals().binary_ops_per_frame
    assert est.energy_per_frame_j == pytest.approx(energy + arch.totals().activation_bits * 8e-15)


def test_folding_sets_cycles_and_adds_weight_memory(table):
    arch = build(
        {"kind": "mlp", "inputs": 256, "hidden": [128], "outputs": 64, "precision": "binary"}
    )
    est = estimate(arch, table, Folding(pe=16, simd=32))
    first, second = est.layers
    assert first.cycles == math.ceil(128 / 16) * math.ceil(256 / 32)
    assert second.cycles == math.ceil(64 / 16) * math.ceil(128 / 32)
    assert est.cycles_per_frame == max(first.cycles, second.cycles)
    assert est.latency_cycles == first.cycles + second.cycles
    assert first.memory_area_um2 == pytest.approx(arch.layers[0].weight_memory_bits * 6.4)
    assert first.compute_area_um2 == pytest.approx(16 * (60 + 32 * 5.5))
    assert est.real_time  # 64 cycles at 500 MHz is far below 16 ms


def test_estimate_uses_the_mac_kind_of_each_layer(table):
    floating = estimate(
        build({"kind": "gru", "hidden": 32, "layers": 1}), table, Folding(pe=1, simd=1)
    )
    assert {layer.kind for layer in floating.layers} == {"float32"}
    assert floating.layers[0].compute_area_um2 == pytest.approx(21000.0)
    assert floating.cycles_per_frame == 3 * 32 * (513 + 32)  # one MAC per cycle, gates folded
    assert floating.real_time  # 3.3 M cycles/s at 500 MHz
    slow = table_from_dict({**_as_dict(table), "clock_mhz": 1.0}, "slow")
    assert not estimate(
        build({"kind": "gru", "hidden": 32, "layers": 1}), slow, Folding(pe=1, simd=1)
    ).real_time


def _as_dict(table):
    actions = {
        name: {
            "area_um2": a.area_um2,
            "energy_j": a.energy_j,
            "overhead_area_um2": a.overhead_area_um2,
            "overhead_energy_j": a.overhead_energy_j,
            "from": a.origin,
        }
        for name, a in table.actions.items()
    }
    return {
        "format": "bitwave-cost-table",
        "version": 1,
        "library": table.library,
        "clock_mhz": table.clock_mhz,
        "actions": actions,
    }


def test_folding_must_be_positive():
    with pytest.raises(BitwaveError, match="pe"):
        Folding(pe=0)


def test_cli_make_table_then_cost(nodes_file, tmp_path, capsys):
    out = tmp_path / "tables" / "mine.yaml"
    assert main(["cost", "--make-table", str(nodes_file), "--out", str(out)]) == 0
    text = out.read_text()
    assert "mac_binary" in text and LIB in text
    data = yaml.safe_load(text)
    data["actions"]["register_bit"] = {"area_um2": 4.5, "energy_j": 8e-15, "from": "test"}
    out.write_text(yaml.safe_dump(data))
    arch = Path(__file__).resolve().parents[2] / "cost/examples/mlp_binary.yaml"
    capsys.readouterr()
    assert main(["cost", str(arch), "--table", str(out), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert payload["hardware"]["area_um2"] > 0 and payload["hardware"]["cycles_per_frame"] == 1


def test_cli_missing_table_exits_2(tmp_path, capsys):
    arch = Path(__file__).resolve().parents[2] / "cost/examples/mlp_binary.yaml"
    assert main(["cost", str(arch), "--table", str(tmp_path / "none.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.skipif(not LIBERTY.is_file(), reason=f"NanGate45 liberty not found at {LIBERTY}")
def test_storage_entries_from_liberty(nodes_file):
    data = make_table(nodes_file, LIBERTY)
    register = data["actions"]["register_bit"]
    assert register["area_um2"] == pytest.approx(4.522)  # DFF_X1
    assert data["actions"]["regfile_bit_read"]["area_um2"] > register["area_um2"]
    assert 1e-16 < register["energy_j"] < 1e-12
    # leakage from the same cells: DFF_X1 alone, DFF_X1 + MUX2_X1 per stored bit
    assert 1e-9 < register["leakage_w"] < data["actions"]["regfile_bit_read"]["leakage_w"] < 1e-6
    assert data["source"]["liberty"] == LIBERTY.name


def test_default_table_is_used_and_may_be_partial(nodes_file, tmp_path, monkeypatch, capsys):
    from bitwave.cost import tables

    data = make_table(nodes_file)
    data["actions"] = {k: v for k, v in data["actions"].items() if k == "mac_binary"}
    data["actions"]["register_bit"] = {"area_um2": 4.5, "energy_j": 8e-15, "from": "test"}
    default = tmp_path / "default.yaml"
    default.write_text(table_yaml(data))
    monkeypatch.setattr(tables, "DEFAULT_TABLE", default)
    examples = Path(__file__).resolve().parents[2] / "cost/examples"
    assert main(["cost", str(examples / "mlp_binary.yaml")]) == 0
    assert "hardware estimate (PE=all SIMD=all; table default.yaml" in capsys.readouterr().out
    assert (
        main(["cost", str(examples / "mlp_float.yaml")]) == 0
    )  # no float32 entry: a note, not a failure
    assert "no 'mac_float32' entry" in capsys.readouterr().out
    assert (
        main(["cost", str(examples / "mlp_float.yaml"), "--table", str(default)]) == 2
    )  # explicit: an error
