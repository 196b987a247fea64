"""SRAM datasheet tables (`bitwave synth --sram TABLE.yaml`): validation, banking, and the
flow pricing its memory macros with them."""

import json
import math
import re
import shutil

import pytest
import yaml
from conftest import folded_designs

from bitwave.app.cli import main
from bitwave.core.errors import BitwaveError
from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY
from bitwave.synth.eda.liberty import load_library
from bitwave.synth.eda.memory_macro import bit_figures, macro_model, with_sram
from bitwave.synth.eda.sram_table import (
    SramMacro,
    SramTable,
    bank,
    load_table,
    resolve_sram,
    write_table,
)
from bitwave.synth.flows.design import synthesize_design


def _macro(name, words, width, leakage_w, area_um2=1000.0, kind="ram"):
    return SramMacro(name=name, words=words, width=width, area_um2=area_um2,
                     leakage_w=leakage_w, read_energy_j=2e-12, write_energy_j=3e-12,
                     setup_ns=0.01, clock_to_q_ns=0.3, min_period_ns=1.2, kind=kind)  # fmt: skip


TABLE = SramTable("test datasheet", "test45", (
    _macro("small", 16, 4, 1e-7, 200.0),
    _macro("wide", 64, 16, 5e-7, 1500.0),
))  # fmt: skip


@pytest.fixture(scope="module")
def library():
    return load_library(COMPACT_LIBRARY)


@pytest.fixture
def table_file(tmp_path):
    path = tmp_path / "sram.yaml"
    write_table(path, TABLE)
    return path


def test_table_round_trip(table_file):
    loaded = load_table(table_file)
    assert loaded.macros == tuple(sorted(TABLE.macros, key=lambda m: (m.width, m.words)))
    assert (loaded.source, loaded.process) == ("test datasheet", "test45")


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda d: d["macros"][1].update(area_um2=-1.0), "macros[1].area_um2 must be a finite"),
        (lambda d: d["macros"][0].update(words=0), "macros[0].words must be a positive integer"),
        (lambda d: d["macros"][0].update(colour="red"), "unknown field(s) ['colour']"),
        (lambda d: d["macros"][0].update(kind="flash"), "macros[0].kind must be one of"),
        (lambda d: d.update(macros=[]), "macros must be a non-empty list"),
        (lambda d: d.pop("source"), "source must be a non-empty string"),
    ],
)
def test_a_bad_table_is_refused_naming_the_field(table_file, edit, message):
    data = yaml.safe_load(table_file.read_text())
    edit(data)
    table_file.write_text(yaml.safe_dump(data))
    with pytest.raises(BitwaveError, match=re.escape(message)):
        load_table(table_file)


def test_bank_takes_the_tiling_of_least_leakage():
    # 64 x 16 bits: one "wide" macro (5e-7 W) beats 4 x 4 = 16 "small" ones (1.6e-6 W)
    tiles = bank(TABLE, "ram", 64, 16)
    assert (tiles.macro.name, tiles.rows, tiles.cols) == ("wide", 1, 1)
    # 16 x 4 bits: one small macro (1e-7 W) beats one wide one
    assert bank(TABLE, "ram", 16, 4).macro.name == "small"
    # 100 x 20 bits by wide macros: 2 rows x 2 cols; by small ones 7 x 5 = 35 macros
    tiles = bank(TABLE, "ram", 100, 20)
    assert (tiles.macro.name, tiles.rows, tiles.cols) == ("wide", 2, 2)
    # a ROM takes the table's RAMs when it has no ROM
    assert bank(TABLE, "rom", 64, 16).macro.name == "wide"


def test_banked_model_is_the_macros_and_their_clock_gates(library):
    priced = with_sram(library, TABLE)
    assert library.sram is None  # the shared library is left alone
    model = macro_model(priced, "ram", 100, 20)
    gate = bit_figures(library)
    assert model.cells == {"wide": 4, gate.clock_gate: 4}
    assert math.isclose(model.area_um2, 4 * (1500.0 + gate.clock_gate_area_um2))
    assert math.isclose(model.leakage_w, 4 * (5e-7 + gate.clock_gate_leakage_w))
    assert math.isclose(model.read_energy_j, 2 * 2e-12)  # one row of two macros
    assert math.isclose(model.write_bit_energy_j, 2 * 3e-12 / 20)
    assert math.isclose(model.cycle_energy_j, 4 * gate.clock_gate_cycle_energy_j)
    assert math.isclose(model.min_period_s, 1.2e-9)
    assert model.notes and "2 x 2 wide" in model.notes[0]
    assert macro_model(library, "ram", 100, 20).area_um2 != model.area_um2


def test_resolve_sram_names_what_is_allowed(tmp_path):
    assert resolve_sram(None) is None and resolve_sram("cells") is None
    with pytest.raises(BitwaveError, match="no such file; use cells, openram"):
        resolve_sram(tmp_path / "missing.yaml")


def test_synth_prices_ram_weights_with_the_table(tmp_path, table_file):
    design = folded_designs(tmp_path)["memory"]
    cells = synthesize_design(design, frames_per_lane=2)
    area_cells = json.loads((design / "synth" / "area.json").read_text())
    summary = synthesize_design(design, frames_per_lane=2, sram=table_file)
    area = json.loads((design / "synth" / "area.json").read_text())
    power = json.loads((design / "synth" / "power.json").read_text())
    assert "test datasheet" in area["macro_pricing"]
    assert "standard-cell" in area_cells["macro_pricing"]
    library = with_sram(load_library(COMPACT_LIBRARY), load_table(table_file))
    priced = [macro_model(library, m["kind"], m["depth"], m["width"]) for m in area["macros"]]
    assert area["macro_area_um2"] == pytest.approx(sum(m.area_um2 for m in priced))
    assert area["macro_area_um2"] != pytest.approx(area_cells["macro_area_um2"])
    macro_leakage = sum(m["leakage_w"] for m in power["macros"])
    assert macro_leakage == pytest.approx(sum(m.leakage_w for m in priced))
    assert summary["total_area_um2"] != cells["total_area_um2"]
    assert "test datasheet" in summary["macro_pricing"]
    assert (
        "priced by: SRAM datasheet: test datasheet" in (design / "synth" / "report.md").read_text()
    )


def test_cli_refuses_an_unknown_pricing(tmp_path, capsys):
    design = tmp_path / "d"
    design.mkdir()
    with pytest.raises(SystemExit) as exit_:
        main(["synth", str(design), "--sram", "dram"])
    assert exit_.value.code == 2
    assert "allowed cells" in capsys.readouterr().err


def test_cli_refuses_a_bad_table_before_synthesis(tmp_path, capsys):
    design = folded_designs(tmp_path)["memory"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: x\nprocess: y\nmacros: [{name: a}]\n")
    assert main(["synth", str(design), "--sram", str(bad)]) == 2
    assert "macros[0].words" in capsys.readouterr().err
    assert not (design / "synth").exists()
    shutil.rmtree(design)
