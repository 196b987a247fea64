"""One mapped design, all the numbers: area (by cell, by block), static timing, and power from
a gate-level simulation, plus the OpenSTA cross-check where ``sta`` is installed.

Memory macros (RAMs with ``memories="auto"``, the default; every memory with "macro") are priced by ``bitwave.synth.eda.memory_macro``:
their area is added to the standard cells', which alone are checked against Yosys ``stat``
(it cannot price ``$mem_v2``); their count is checked against ``stat`` separately.

Fanout repair (``max_fanout`` > 0, ``bitwave.synth.eda.fanout``): the loaded netlist gets buffer
trees on its high-fanout nets before anything is measured, so the gate-level simulation (and
with it the golden-model check of ``bitwave synth``), timing, power and area all see the
repaired netlist. Yosys ``stat`` knows nothing of the buffers: the area check against it leaves
them out. Without memory macros the repaired netlist is also written as ``repaired_flat.v``,
which the OpenSTA cross-check then reads instead of Yosys' ``mapped_flat.v``."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bitwave.core.errors import BitwaveError
from bitwave.core.paths import write_text
from bitwave.synth.eda import fanout
from bitwave.synth.eda.gatesim import WINDOW_MARKS, ActivityCounts, GateSimulator
from bitwave.synth.eda.liberty import Library, load_library
from bitwave.synth.eda.memory_macro import macro_model, macro_source, with_sram
from bitwave.synth.eda.netlist import (
    MACRO_CELL,
    FlatNetlist,
    area_by,
    clock_gating_summary,
    flat_verilog,
    load_netlist,
)
from bitwave.synth.eda.power import MacroActivity, PowerReport, estimate_power
from bitwave.synth.eda.sram_table import SramTable
from bitwave.synth.eda.timing import TimingReport, analyze
from bitwave.synth.flows.asic import MappedDesign, check_memory_mode, map_to_cells, stat_total_area
from bitwave.synth.tools.opensta import run_opensta, sta_available

REPAIRED_VERILOG = "repaired_flat.v"
MAIN_RUN = "main"  # ``AsicResult.windows``' name of the main drive
KEPT_FILES = (
    "mapped.v",
    "mapped.json",
    "mapped_flat.v",
    "stat.txt",
    "synth.log",
    "synth.ys",
    "adders_map.v",
    REPAIRED_VERILOG,
)


@dataclass
class AsicResult:
    top: str
    liberty: str
    yosys_seconds: float
    area_um2: float
    yosys_area_um2: float
    by_cell: dict[str, dict]
    by_block: dict[str, float]
    timing: TimingReport
    power: PowerReport
    cycles: int
    lanes: int
    opensta: dict | None = None
    extra: dict = field(default_factory=dict)
    memories: str = "auto"
    macros: list[dict] = field(default_factory=list)  # per macro: name, block, model figures
    yosys_macro_count: int = 0
    fanout: fanout.FanoutRepair | None = None
    # power of further drives of the same netlist (``measure``'s ``scenarios``), by name
    scenarios: dict[str, PowerReport] = field(default_factory=dict)
    # power over the measurement window a drive marked (``gatesim.WINDOW_MARKS``), by run
    # name (MAIN_RUN: the main drive)
    windows: dict[str, PowerReport] = field(default_factory=dict)
    # clock gates inserted by synthesis and the flip-flops behind them (see asic.CLOCK_GATING)
    clock_gating: dict[str, int] = field(default_factory=dict)
    macro_pricing: str = ""  # what priced the memory macros (memory_macro.macro_source)

    @property
    def buffer_area_um2(self) -> float:
        """Area of the buffers the fanout repair inserted (not in Yosys ``stat``)."""
        return self.fanout.buffer_area_um2 if self.fanout else 0.0

    @property
    def macro_area_um2(self) -> float:
        return sum(macro["area_um2"] for macro in self.macros)

    @property
    def standard_cell_area_um2(self) -> float:
        return self.area_um2 - self.macro_area_um2

    def area_json(self) -> dict:
        return {
            "top": self.top,
            "liberty": self.liberty,
            "memories": self.memories,
            "total_area_um2": self.area_um2,
            "standard_cell_area_um2": self.standard_cell_area_um2,
            "macro_area_um2": self.macro_area_um2,
            "yosys_stat_area_um2": self.yosys_area_um2,
            "cells": sum(
                entry["count"] for name, entry in self.by_cell.items() if not _is_macro(name)
            ),
            "macro_count": len(self.macros),
            "macro_pricing": self.macro_pricing,
            "by_cell": self.by_cell,
            "by_block": self.by_block,
            "macros": self.macros,
            "fanout_repair": self.fanout.to_json() if self.fanout else None,
            "clock_gating": self.clock_gating,
        }


def _is_macro(by_cell_name: str) -> bool:
    return by_cell_name.startswith("macro ")


def run_asic(
    verilog: list[Path],
    top: str,
    liberty_path: str | os.PathLike,
    clock_hz: float,
    drive: Callable[[GateSimulator], None],
    lanes: int = 64,
    keep_dir: Path | None = None,
    library: Library | None = None,
    clock_port: str = "clk",
    cross_check: bool = True,
    memories: str = "auto",
    max_fanout: int = 0,
    scenarios: Mapping[str, Callable[[GateSimulator], None]] | None = None,
    clock_gating: bool = True,
    sram: SramTable | None = None,
) -> AsicResult:
    """Map ``top`` onto the liberty (memories as macros or as cells, clock gates where the
    liberty has them unless not ``clock_gating``: see ``map_to_cells``),
    repair fanout above ``max_fanout`` loads (0: none, see ``bitwave.synth.eda.fanout``), then
    measure. ``drive(sim)`` runs the stimulus (set inputs,
    evaluate, clock) on a ``GateSimulator`` of ``lanes`` lanes; each of ``scenarios`` (name:
    drive) runs on a fresh simulator of the same netlist for its own power
    (``AsicResult.scenarios``). Outputs of Yosys are copied to
    ``keep_dir`` when given; the Yosys working folder is deleted afterwards, also on a failure
    or an interrupt (a Yosys error carries the tail of its log). ``sram``: the datasheet that
    prices the memory macros (None: the standard-cell macro model; see ``memory_macro``)."""
    check_memory_mode(memories)
    fanout.check_max_fanout(max_fanout)
    library = with_sram(library or load_library(liberty_path), sram)
    if keep_dir is not None:
        keep_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=".yosys_", dir=keep_dir))
    try:
        mapped = map_to_cells(
            verilog,
            top,
            liberty_path,
            workdir=workdir,
            library=library,
            memories=memories,
            clock_gating=clock_gating,
        )
        result = measure(mapped, library, clock_hz, drive, lanes, clock_port, cross_check,
                         max_fanout, scenarios)  # fmt: skip
        if keep_dir is not None:
            for name in KEPT_FILES:
                if (workdir / name).exists():
                    shutil.copyfile(workdir / name, keep_dir / name)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def measure(
    mapped: MappedDesign,
    library: Library,
    clock_hz: float,
    drive: Callable[[GateSimulator], None],
    lanes: int,
    clock_port: str = "clk",
    cross_check: bool = True,
    max_fanout: int = 0,
    scenarios: Mapping[str, Callable[[GateSimulator], None]] | None = None,
) -> AsicResult:
    """Area, timing and the power of ``drive`` (and of each of ``scenarios``) of one mapped
    design (see ``run_asic``)."""
    netlist = load_netlist(mapped.netlist_json, mapped.top, library)
    repair = None
    sta_verilog = mapped.sta_verilog
    if max_fanout:
        netlist, repair = fanout.repair_fanout(netlist, library, max_fanout, clock_port)
        if repair.buffers and not netlist.macros:
            sta_verilog = mapped.workdir / REPAIRED_VERILOG
            write_text(sta_verilog, flat_verilog(netlist, library))
    total, by_cell, by_block = area_by(netlist, library)
    yosys_area = stat_total_area(mapped.stat_report.read_text())  # standard cells only
    timing = analyze(netlist, library, clock_port)
    runs = {MAIN_RUN: drive, **(scenarios or {})}
    measured = {name: simulate_power(netlist, library, timing, clock_hz, run, lanes, clock_port)
                for name, run in runs.items()}  # fmt: skip
    power, cycles, _ = measured[MAIN_RUN]
    stat_text = mapped.stat_report.read_text()
    macros = []
    for macro in netlist.macros:
        model = macro_model(library, macro.kind, macro.depth, macro.width)
        macros.append({"name": macro.name, "block": macro.block, "memid": macro.memid,
                       "shape": macro.shape, **model.to_json()})  # fmt: skip
    result = AsicResult(
        top=mapped.top,
        liberty=str(mapped.liberty_path),
        yosys_seconds=mapped.yosys_seconds,
        area_um2=total,
        yosys_area_um2=yosys_area,
        by_cell=by_cell,
        by_block=by_block,
        timing=timing,
        power=power,
        cycles=cycles,
        lanes=lanes,
        memories=mapped.memories,
        macros=macros,
        yosys_macro_count=stat_macro_count(stat_text),
        fanout=repair,
        scenarios={name: m[0] for name, m in measured.items() if name != MAIN_RUN},
        windows={name: m[2] for name, m in measured.items() if m[2] is not None},
        clock_gating=clock_gating_summary(netlist, library, clock_port),
        macro_pricing=macro_source(library) if netlist.macros else "",
    )
    if cross_check and netlist.macros:
        # OpenSTA would need a liberty model of every macro; the memory model is bitwave's own.
        result.extra["opensta_skipped"] = (
            f"{len(netlist.macros)} memory macros: OpenSTA has no model of them"
        )
    elif cross_check and sta_available():
        result.opensta = opensta_cross_check(
            mapped, netlist, library, timing, power, clock_hz, clock_port, sta_verilog
        )
    return result


def simulate_power(
    netlist: FlatNetlist,
    library: Library,
    timing: TimingReport,
    clock_hz: float,
    drive: Callable[[GateSimulator], None],
    lanes: int,
    clock_port: str = "clk",
) -> tuple[PowerReport, int, PowerReport | None]:
    """(power, cycles simulated, power over the window the drive marked or None) of ``drive``
    run on a fresh gate-level simulator of the netlist: activity-based, the memory macros'
    reads and writes counted."""
    sim = GateSimulator(netlist, library, lanes, clock_port)
    drive(sim)
    power = lambda counts: counts_power(  # noqa: E731
        netlist, library, timing, clock_hz, counts, lanes, clock_port
    )
    start, end = (sim.marks.get(name) for name in WINDOW_MARKS)
    window = power(end.since(start)) if start and end and end.cycles > start.cycles else None
    return power(sim.counts()), sim.cycles, window


def counts_power(
    netlist: FlatNetlist,
    library: Library,
    timing: TimingReport,
    clock_hz: float,
    counts: ActivityCounts,
    lanes: int,
    clock_port: str = "clk",
) -> PowerReport:
    """The power of what a simulator counted (its activity and macro accesses)."""
    edges = max(1, counts.clock_edges) * lanes
    accesses = [MacroActivity(stats.reads / edges, stats.bits_written / edges)
                for stats in counts.macros]  # fmt: skip
    power = estimate_power(
        netlist, library, counts.activity(lanes), clock_hz, timing.net_load_f,
        timing.net_slew_s, clock_port, macro_activity=accesses,
    )  # fmt: skip
    for entry, stats in zip(power.macros, counts.macros, strict=True):
        entry["reads"], entry["bits_written"] = stats.reads, stats.bits_written
    return power


def opensta_cross_check(
    mapped: MappedDesign,
    netlist: FlatNetlist,
    library: Library,
    timing: TimingReport,
    power: PowerReport,
    clock_hz: float,
    clock_port: str = "clk",
    sta_verilog: Path | None = None,
) -> dict:
    """OpenSTA report_power and bitwave's estimator, both at the simulation's mean activity on
    every net, and OpenSTA's critical path against bitwave's. ``sta_verilog``: the netlist
    OpenSTA reads (default Yosys' flat netlist; the repaired one after fanout repair)."""
    activity = power.mean_activity
    sta = run_opensta(
        mapped.workdir / "cells.lib",
        sta_verilog or mapped.sta_verilog,
        mapped.top,
        1e9 / clock_hz,
        activity,
        mapped.workdir,
        clock_port,
    )
    uniform = estimate_power(
        netlist,
        library,
        np.full(netlist.n_nets, activity),
        clock_hz,
        timing.net_load_f,
        timing.net_slew_s,
        clock_port,
    )
    return {
        "activity_per_cycle": activity,
        "opensta_total_w": sta.total_power_w,
        "opensta_internal_w": sta.internal_w,
        "opensta_switching_w": sta.switching_w,
        "opensta_leakage_w": sta.leakage_w,
        "bitwave_uniform_total_w": uniform.total_w,
        "power_ratio_bitwave_over_opensta": uniform.total_w / sta.total_power_w,
        "opensta_arrival_ns": sta.arrival_ns,
        "opensta_setup_ns": sta.setup_ns,
        "bitwave_arrival_ns": timing.critical_path_s * 1e9,
        "note": "same average activity on every net (OpenSTA 2.0.17 reads no VCD); "
        "OpenSTA charges internal energy on every arc of a toggling input, bitwave per output transition",
    }


def write_json(path: Path, data: dict) -> None:
    write_text(path, json.dumps(_plain(data), indent=2) + "\n")


def _plain(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def stat_macro_count(stat_text: str) -> int:
    """How many ``$mem_v2`` cells the whole hierarchy holds, from ``stat`` output."""
    hierarchy = stat_text.rsplit("=== design hierarchy ===", 1)[-1]
    counts = re.findall(r"^\s*(\d+)\s+\S+\s+" + re.escape(MACRO_CELL) + r"\s*$", hierarchy, re.M)
    return int(counts[-1]) if counts else 0


def require_ok(result: AsicResult) -> None:
    """Refuse results that would mislead: unmapped area, macros lost or unpriced, zero dynamic
    power. Yosys ``stat`` prices standard cells only: they are compared with it, the macros
    are counted against its ``$mem_v2`` count and must each have a positive modelled area."""
    cells = result.standard_cell_area_um2 - result.buffer_area_um2
    if abs(cells - result.yosys_area_um2) > 1e-3 * max(1.0, cells):
        raise BitwaveError(
            f"standard-cell area from the netlist without the fanout buffers ({cells:.3f} "
            f"um^2) disagrees with yosys stat "
            f"({result.yosys_area_um2:.3f} um^2): the netlist was not read completely"
        )
    if len(result.macros) != result.yosys_macro_count:
        raise BitwaveError(
            f"the netlist holds {len(result.macros)} memory macros, yosys stat counts "
            f"{result.yosys_macro_count} {MACRO_CELL} cells: the netlist was not read completely"
        )
    unpriced = [m["name"] for m in result.macros if not m["area_um2"] > 0]
    if unpriced:
        raise BitwaveError(f"memory macros without a modelled area: {', '.join(unpriced)}")
    require_finite(result)
    if result.power.dynamic_w <= 0:
        raise BitwaveError("zero dynamic power")


def require_finite(result: AsicResult) -> None:
    """A NaN or infinite area, timing or power figure is a broken measurement, never a result
    (NaN also slips through every comparison, so it is named here)."""
    figures = {
        "area (total_area_um2)": result.area_um2,
        "critical path (critical_path_ns)": result.timing.critical_path_s,
        "minimum clock period (min_period_ns)": result.timing.min_period_s,
        "dynamic power (dynamic_w)": result.power.dynamic_w,
        "leakage power (leakage_w)": result.power.leakage_w,
        "total power (total_w)": result.power.total_w,
    }
    bad = [f"{name} = {value}" for name, value in figures.items() if not math.isfinite(value)]
    if bad:
        raise BitwaveError(
            f"synthesis measured a non-finite {', '.join(bad)}; allowed: finite figures (the "
            "liberty or the netlist gave an unusable value)"
        )
