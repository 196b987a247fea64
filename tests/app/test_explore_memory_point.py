"""One explored memory-weights point: bitwave explore --sram (RAM weights priced by a
datasheet table, the table part of each point's cache key by its content, not its path, the
pricing recorded, a bad table refused before any cluster starts), and its activity for power
from the compiled gate-level simulation against the Python (numpy) one on its netlist."""

import json
import shutil

import numpy as np
import pytest

from bitwave.app import explore as ex
from bitwave.app.cli import main
from bitwave.core import ir
from bitwave.core.random_ir import random_network
from bitwave.synth.eda.sram_table import SramMacro, SramTable, write_table

SLOW = "fc0:pe=1,simd=4;fc1:pe=1,simd=8"  # folded: the weights sit in RAMs read per cycle
CLUSTER = ex.Cluster(workers=1, processes=False, progress=False)


def _options(sram: str) -> ex.Options:
    return ex.Options(
        clocks=(1.0,), weights=("memory",), lanes=4, folds=(SLOW,), sram=sram, buffering=("double",)
    )


def _table(path, leakage_w: float = 1e-7):
    """A small datasheet table (two RAM macros) written to ``path``."""
    macros = tuple(SramMacro(name=f"ram{words}x{width}", words=words, width=width,
                             area_um2=area, leakage_w=leakage_w * words * width / 64,
                             read_energy_j=2e-12, write_energy_j=3e-12, setup_ns=0.01,
                             clock_to_q_ns=0.3, min_period_ns=1.2)
                   for words, width, area in ((16, 4, 200.0), (64, 16, 1500.0)))  # fmt: skip
    write_table(path, SramTable("explore test datasheet", "test45", macros))
    return path


def test_sram_key_is_the_tables_content_not_its_path(tmp_path):
    cells, cells_label = ex.sram_key("cells")
    table, table_label = ex.sram_key(str(_table(tmp_path / "a.yaml")))
    assert cells == "cells" and "standard-cell" in cells_label
    assert table.startswith("table:") and "explore test datasheet" in table_label
    moved = shutil.copyfile(tmp_path / "a.yaml", tmp_path / "moved.yaml")
    assert ex.sram_key(str(moved))[0] == table  # another path, the same macros
    assert ex.sram_key(str(_table(tmp_path / "edited.yaml", 2e-7)))[0] != table
    planned = ex.Planned(ex.Point(SLOW, 1.0, "memory", 16), "explicit")
    keys = {ex.point_key("0" * 64, planned, 4, "v", key) for key in (cells, table)}
    assert len(keys) == 2


def test_a_bad_table_exits_2_before_any_cluster(tmp_path, monkeypatch, capsys):
    ir.save(random_network([16, 8, 4], seed=0, name="tiny"), tmp_path / "tiny.bwir")

    def no_cluster(*_):
        raise AssertionError("a cluster was started")

    monkeypatch.setattr(ex, "_client", no_cluster)
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: x\nprocess: y\nmacros: []\n")
    args = ["explore", str(tmp_path / "tiny.bwir"), "--out", str(tmp_path / "o"), "--quiet",
            "--threads", "--weights", "memory", "--fold", SLOW]  # fmt: skip
    assert main([*args, "--sram", str(bad)]) == 2
    assert "macros must be a non-empty list" in capsys.readouterr().err
    assert not (tmp_path / "o" / "points.jsonl").exists()  # refused before planning
    with pytest.raises(SystemExit) as stop:
        main([*args, "--sram", str(tmp_path / "none.yaml")])
    assert stop.value.code == 2 and "openram" in capsys.readouterr().err


@pytest.fixture(scope="module")
def priced_sweeps(tmp_path_factory):
    """One memory-weights point priced by a datasheet table, then the sweep again with the
    table at another path (one shared cache)."""
    root = tmp_path_factory.mktemp("explore_sram")
    ir.save(random_network([16, 8, 4], seed=0, name="tiny"), root / "tiny.bwir")
    version = ex.code_version()
    run = lambda name, sram: ex.explore(root / "tiny.bwir", root / name, _options(sram), CLUSTER,  # noqa: E731
                                        cache=root / "cache", version=version)  # fmt: skip
    table = _table(root / "table.yaml")
    moved = shutil.copyfile(table, root / "moved.yaml")
    return {"table": run("table", str(table)), "moved": run("moved", str(moved)), "root": root}


def _record(root, name: str) -> dict:
    lines = (root / name / "points.jsonl").read_text().splitlines()
    (record,) = [json.loads(line) for line in lines]
    return record


def test_memory_points_are_priced_by_the_chosen_table(priced_sweeps):
    from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY
    from bitwave.synth.eda.liberty import load_library
    from bitwave.synth.eda.memory_macro import macro_model, with_sram
    from bitwave.synth.eda.sram_table import load_table

    root = priced_sweeps["root"]
    table = _record(root, "table")
    assert table["status"] == "ok" and "explore test datasheet" in table["macro_pricing"]
    macros = json.loads((ex.Path(table["design"]) / "synth" / "area.json").read_text())["macros"]
    assert macros and {m["kind"] for m in macros} == {"ram"}
    library = load_library(COMPACT_LIBRARY)

    def area(priced_library):
        return sum(macro_model(priced_library, "ram", m["depth"], m["width"]).area_um2
                   for m in macros)  # fmt: skip

    by_table = area(with_sram(library, load_table(root / "table.yaml")))
    assert table["macro_area_um2"] == pytest.approx(by_table)
    assert abs(area(library) - by_table) > 0.1 * by_table  # the cell model would differ
    planned = ex.Planned(ex.Point(SLOW, 1.0, "memory", 16), "explicit", frames_per_lane=8)
    summary = priced_sweeps["table"]
    key = lambda sram: ex.point_key(summary["ir_sha256"], planned, 4, summary["code_version"],  # noqa: E731
                                    sram)  # fmt: skip
    assert table["key"] == key(summary["sram"]["key"])
    assert table["key"] != key("cells")  # the same point priced by cells is another entry
    assert priced_sweeps["table"]["sram"]["spec"] == str(root / "table.yaml")
    assert "explore test datasheet" in priced_sweeps["table"]["sram"]["pricing"]
    assert "priced by: SRAM datasheet" in (root / "table" / "pareto.md").read_text()


def test_a_moved_table_reuses_the_cache(priced_sweeps):
    moved, table = priced_sweeps["moved"], priced_sweeps["table"]
    assert moved["synthesized"] == 0 and moved["cached"] == 1
    assert moved["front"] == table["front"]
    assert table["synthesized"] == 1


# ------------------------------------------------------------------------------ activity
def _simulated(netlist, library, reset: str, compiled: bool, cycles: int = 150):
    """The point's mapped netlist under one random stimulus (70 lanes: two words)."""
    from bitwave.synth.eda.gatesim import GateSimulator, pack_lanes

    sim = GateSimulator(netlist, library, 70, compiled=compiled)
    rng = np.random.default_rng(11)
    inputs = [n for n, p in netlist.ports.items() if p.direction == "input" and n != "clk"]
    for cycle in range(cycles):
        for name in inputs:
            high = 0.9 if name == reset and cycle < 3 else (0.02 if name == reset else 0.5)
            sim.set_input(name, pack_lanes(rng.random((70, len(netlist.ports[name].nets))) < high))
        sim.evaluate()
        sim.clock()
    return sim


def _agree(a, b, tolerance: float = 0.01) -> bool:
    """Per-net toggle counts and macro accesses within ``tolerance`` (relative to the larger
    count, at least one toggle)."""
    counts = max(abs(int(x) - int(y)) / max(1, x, y) for x, y in zip(a, b, strict=True))
    return counts <= tolerance


def test_compiled_activity_equals_the_python_simulation(priced_sweeps):
    """The compiled simulator (explore's deep folds) against the Python path: per-net toggles,
    macro accesses and the dynamic power they give, within 1% (in fact equal); a twin with one
    net's count perturbed by 2% must fail the same check."""
    from bitwave.synth.eda.liberty import load_library
    from bitwave.synth.eda.netlist import load_netlist
    from bitwave.synth.eda.timing import analyze
    from bitwave.synth.flows.flow import counts_power

    design = contract_of(_record(priced_sweeps["root"], "table")["design"])
    library = load_library(design["liberty"])
    netlist = load_netlist(design["mapped"], design["top"], library)
    fast, slow = (_simulated(netlist, library, design["reset"], c) for c in (True, False))
    assert fast.compiled and not slow.compiled and netlist.macros
    a, b = fast.counts(), slow.counts()
    assert a.cycles == b.cycles > 100 and a.toggles.sum() > 0
    assert _agree(a.toggles, b.toggles)
    assert [(m.reads, m.bits_written) for m in a.macros] == [
        (m.reads, m.bits_written) for m in b.macros]  # fmt: skip
    assert sum(m.reads for m in a.macros) > 0  # the RAMs' path ran
    timing = analyze(netlist, library)
    power = [counts_power(netlist, library, timing, 1e6, c, 70).dynamic_w for c in (a, b)]
    assert power[0] == pytest.approx(power[1], rel=0.01)
    twin = b.toggles.copy()
    busiest = int(np.argmax(twin))
    twin[busiest] = int(twin[busiest] * 1.02) + 1
    assert not _agree(a.toggles, twin)


def contract_of(folder: str) -> dict:
    """What the activity test needs of a synthesized design folder."""
    from bitwave.core import contract
    from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY

    design = contract.load(folder)
    mapped = ex.Path(folder) / "synth" / "mapped.json"
    return {"top": design.top, "reset": design.reset.port, "mapped": mapped,
            "liberty": COMPACT_LIBRARY}  # fmt: skip
