"""`bitwave cost DESIGN --sram`: RAM weights priced by an SRAM datasheet, as synthesis prices
them (synth.eda.sram_table)."""

import json

import pytest
from conftest import folded_designs

from bitwave.app.cli import main
from bitwave.cost.engines import estimate_design
from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY
from bitwave.synth.eda.liberty import load_library
from bitwave.synth.eda.memory_macro import macro_model, with_sram
from bitwave.synth.eda.sram_table import SramMacro, SramTable, write_table

MACRO = SramMacro(name="m32x64", words=64, width=32, area_um2=900.0, leakage_w=4e-7,
                  read_energy_j=1e-12, write_energy_j=1e-12, setup_ns=0.01,
                  clock_to_q_ns=0.3, min_period_ns=1.0)  # fmt: skip


@pytest.fixture(scope="module")
def memory_design(tmp_path_factory):
    return folded_designs(tmp_path_factory.mktemp("cost_sram"))["memory"]


def _ram_parts(estimate):
    return [p for b in estimate.to_json()["blocks"] for p in b["parts"]
            if p["name"] == "weight store (RAM macro)"]  # fmt: skip


def test_ram_weights_are_priced_by_the_table(memory_design, tmp_path):
    table = tmp_path / "sram.yaml"
    write_table(table, SramTable("test datasheet", "test45", (MACRO,)))
    cells = estimate_design(memory_design)
    priced = estimate_design(memory_design, sram=table)
    rams = _ram_parts(priced)
    assert rams, "the memory design's weight stores are priced as RAMs"
    library = with_sram(load_library(COMPACT_LIBRARY), SramTable("t", "t", (MACRO,)))
    manifest = json.loads((memory_design / "manifest.json").read_text())
    regions = manifest["weight_memory"]["regions"]
    expected = [macro_model(library, "ram", max(r["depth"], 2), r["word_bits"]).area_um2
                for r in regions]  # fmt: skip
    assert [p["area_um2"] for p in rams] == pytest.approx(expected)
    assert priced.leakage_w != pytest.approx(cells.leakage_w)


def test_sram_is_refused_for_an_arch_file(capsys):
    assert main(["cost", "cost/examples/mlp_binary.yaml", "--sram", "cells"]) == 2
    assert "--sram prices the RAMs of a design folder" in capsys.readouterr().err
