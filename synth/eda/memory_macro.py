"""A model of the memory macros that hold a design's weights: an ESTIMATE built from the
standard cells of the liberty, so that it works with any library (the compact NanGate45, the
full one, or a ``--liberty`` of the user's choice).

Open PDKs such as NanGate45 ship no SRAM compiler, so the macro is modelled as a
standard-cell memory (a register file / latch-free flip-flop array), the kind of macro a
memory generator for a small on-chip store builds from library cells:

* **RAM** (a write port): every stored bit is one plain D flip-flop (``DFF_X1`` on NanGate)
  plus its share of the read multiplexer tree: a ``D``-deep column needs ``D - 1`` 2:1 muxes,
  so one ``MUX2`` per bit (the ``D``-th is not needed; counting it keeps the figure per bit).
  Each word has a write clock gate (the library's integrated clock-gating cell, ``CLKGATE_X1``
  on NanGate) when the library has one; without one every storage flip-flop is clocked every
  cycle and takes a recirculating mux instead (reported in ``notes``).
* **ROM** (no write port; contents hard-wired): the read multiplexer tree only, its data
  inputs tied to the constants. (Logic synthesis would shrink a constant tree further; a
  macro keeps the regular structure.)
* Both have a read-data register of ``width`` flip-flops: the read port is synchronous
  (Amaranth's read port: the data appears one cycle after the address).

Figures (per macro of ``depth`` words x ``width`` bits):

* area = storage + muxes + read register + clock gates (sum of the cells' liberty areas);
* leakage = the same cells' leakage;
* energy per read access = ``width x (levels x E_mux + E_reg)``, where ``levels =
  ceil(log2 depth)`` is the number of 2:1 mux levels a read passes, ``E_mux`` is the MUX2's
  mean internal energy per transition at 50% activity, and ``E_reg`` is the read register
  flip-flop's energy per cycle (two clock edges + 50% data activity);
* energy per bit written = the storage flip-flop's energy per clock cycle (two clock edges of
  the gated clock + 50% data activity);
* energy per cycle (idle or not) = the clock gates' clock-pin energy (two edges each), or
  without clock gating the clock energy of every storage flip-flop;
* access time (address to read register) = ``levels x`` MUX2 delay + the flip-flop's setup;
  read data leave the macro at the read register's clock-to-q.

Every table is looked up at the library's default input slew with one MUX2 data-input
capacitance as the load. Not modelled: address decoding and its buffer trees, wires, bit-line
parasitics of a real SRAM. Treat the numbers as a structural estimate, not a memory
compiler's datasheet.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from bitwave.core.errors import BitwaveError
from bitwave.synth.eda.liberty import Cell, Library
from bitwave.synth.eda.sram_table import SramTable, bank

MACRO_KINDS = ("rom", "ram")
# Truth table of S ? B : A over rows (A = bit 0, B = bit 1, S = bit 2).
_MUX_TABLE = sum(1 << row for row in range(8) if ((row >> 1) & 1 if (row >> 2) & 1 else row & 1))


@dataclass(frozen=True)
class BitFigures:
    """The library cells a macro is made of and their per-bit figures (SI units)."""

    flop: str
    mux: str
    clock_gate: str | None
    flop_area_um2: float
    mux_area_um2: float
    clock_gate_area_um2: float
    flop_leakage_w: float
    mux_leakage_w: float
    clock_gate_leakage_w: float
    register_bit_energy_j: float  # one flip-flop per clock cycle: 2 clock edges + 50% data
    flop_clock_energy_j: float  # one flip-flop's clock pin, both edges of one cycle
    mux_level_energy_j: float  # one 2:1 mux a read passes, 50% activity
    clock_gate_cycle_energy_j: float  # one clock gate's clock pin, both edges of one cycle
    mux_delay_s: float
    flop_setup_s: float
    flop_clock_to_q_s: float
    mux_select_capacitance_f: float
    flop_data_capacitance_f: float
    slew_s: float
    load_f: float


@dataclass(frozen=True)
class MacroModel:
    """One macro of ``depth`` words x ``width`` bits (energies per event, SI units)."""

    kind: str
    depth: int
    width: int
    area_um2: float
    leakage_w: float
    read_energy_j: float  # one read access of a whole word
    write_bit_energy_j: float  # one bit written
    cycle_energy_j: float  # every clock cycle, accessed or not
    access_s: float  # address (or enable) to the read register, setup included
    setup_s: float  # write pins to the storage flip-flops
    clock_to_q_s: float
    levels: int
    cells: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    min_period_s: float = 0.0  # the macro's own cycle limit (a datasheet's; 0: none)

    @property
    def shape(self) -> str:
        return f"macro {self.kind} {self.depth}x{self.width}"

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "depth": self.depth,
            "width": self.width,
            "bits": self.depth * self.width,
            "area_um2": self.area_um2,
            "leakage_w": self.leakage_w,
            "read_energy_j": self.read_energy_j,
            "write_bit_energy_j": self.write_bit_energy_j,
            "cycle_energy_j": self.cycle_energy_j,
            "access_ns": self.access_s * 1e9,
            "clock_to_q_ns": self.clock_to_q_s * 1e9,
            "mux_levels": self.levels,
            "min_period_ns": self.min_period_s * 1e9,
            "cells": dict(self.cells),
            "notes": list(self.notes),
        }


def plain_flop(library: Library) -> Cell:
    """The smallest rising-edge D flip-flop without set, reset or scan (DFF_X1 on NanGate)."""
    best = None
    for cell in library.cells.values():
        seq = cell.sequential
        if cell.dont_use or seq is None or seq.kind != "ff" or seq.clear or seq.preset:
            continue
        if seq.next_state is None or seq.next_state.op != "var":
            continue
        if seq.clocked_on is None or seq.clocked_on.op != "var":
            continue
        if not any(p.function is not None and p.function.op == "var" for p in _outputs(cell)):
            continue
        if best is None or cell.area_um2 < best.area_um2:
            best = cell
    if best is None:
        raise BitwaveError(
            f"liberty {library.path} has no plain D flip-flop: cannot model memory macros"
        )
    return best


def smallest_gate(
    library: Library, inputs: int, table: int
) -> tuple[Cell, tuple[str, ...], str] | None:
    """The smallest one-output combinational cell of ``inputs`` pins computing ``table`` (a
    truth table as ``Expr.truth_table`` gives it) in some pin order: (cell, that pin order,
    output pin), or None."""
    best = None
    for cell in library.cells.values():
        ins, outs = cell.inputs(), cell.outputs()
        if cell.dont_use or cell.sequential or len(ins) != inputs or len(outs) != 1:
            continue
        function = cell.pins[outs[0]].function
        if function is None:
            continue
        for order in itertools.permutations(ins):
            if function.truth_table(order) == table:
                if best is None or cell.area_um2 < best[0].area_um2:
                    best = (cell, tuple(order), outs[0])
                break
    return best


def mux2(library: Library) -> tuple[Cell, tuple[str, str, str], str]:
    """The smallest 2:1 multiplexer: (cell, (data0, data1, select) pins, output pin)."""
    best = smallest_gate(library, 3, _MUX_TABLE)
    if best is None:
        raise BitwaveError(
            f"liberty {library.path} has no 2:1 multiplexer cell: cannot model memory macros"
        )
    return best


def clock_gate(library: Library) -> Cell | None:
    """The smallest integrated clock gate with a positive-edge latch
    (``clock_gating_integrated_cell : latch_posedge``, with or without ``_precontrol``)."""
    cells = [
        cell
        for cell in library.cells.values()
        if cell.clock_gating.startswith("latch_posedge") and not cell.dont_use
    ]
    return min(cells, key=lambda c: c.area_um2) if cells else None


def bit_figures(library: Library) -> BitFigures:
    """Per-bit figures of ``library`` (computed once per library object, kept on it)."""
    figures = library.__dict__.get("_bitwave_macro_figures")
    if figures is None:
        figures = library.__dict__["_bitwave_macro_figures"] = _bit_figures(library)
    return figures


def _bit_figures(library: Library) -> BitFigures:
    flop = plain_flop(library)
    mux, (data0, _, select), mux_out = mux2(library)
    gate = clock_gate(library)
    slew, load = library.default_input_slew_s, mux.pins[data0].capacitance_f
    clock = next(name for name in flop.inputs() if flop.pins[name].is_clock or _clocks(flop, name))
    data = flop.sequential.next_state.name

    def mean_energy(cell: Cell, keep: object) -> float:
        values = [p.energy(slew, load) for p in cell.internal_power if keep(p)]
        return float(np.mean(values)) if values else 0.0

    flop_clock = 2 * mean_energy(flop, lambda p: p.pin == clock)  # two clock edges per cycle
    flop_data = 0.5 * mean_energy(flop, lambda p: p.pin != clock)
    mux_energy = 0.5 * mean_energy(mux, lambda p: True)
    mux_delay = max(
        (a.delay(slew, load) for a in mux.arcs if a.pin == mux_out and a.related_pin == data0),
        default=0.0,
    )
    setup = max(
        (a.constraint(slew) for a in flop.arcs if a.timing_type == "setup_rising"), default=0.0
    )
    clock_to_q = max(
        (a.delay(slew, load) for a in flop.arcs if a.timing_type == "rising_edge"), default=0.0
    )
    gate_clock = 0.0
    if gate is not None:
        gate_clock_pin = next(
            (n for n in gate.inputs() if any(p.pin == n for p in gate.internal_power)), None
        )
        gate_clock = 2 * mean_energy(gate, lambda p: p.pin == gate_clock_pin)
    return BitFigures(
        flop=flop.name,
        mux=mux.name,
        clock_gate=gate.name if gate else None,
        flop_area_um2=flop.area_um2,
        mux_area_um2=mux.area_um2,
        clock_gate_area_um2=gate.area_um2 if gate else 0.0,
        flop_leakage_w=flop.leakage_w,
        mux_leakage_w=mux.leakage_w,
        clock_gate_leakage_w=gate.leakage_w if gate else 0.0,
        register_bit_energy_j=flop_clock + flop_data,
        flop_clock_energy_j=flop_clock,
        mux_level_energy_j=mux_energy,
        clock_gate_cycle_energy_j=gate_clock,
        mux_delay_s=mux_delay,
        flop_setup_s=setup,
        flop_clock_to_q_s=clock_to_q,
        mux_select_capacitance_f=mux.pins[select].capacitance_f,
        flop_data_capacitance_f=flop.pins[data].capacitance_f,
        slew_s=slew,
        load_f=load,
    )


def _outputs(cell: Cell) -> list:
    return [cell.pins[name] for name in cell.outputs()]


def _clocks(cell: Cell, pin: str) -> bool:
    clocked = cell.sequential.clocked_on
    return clocked is not None and pin in clocked.variables()


def mux_levels(depth: int) -> int:
    """2:1 mux levels between the stored bits and the read register of a ``depth``-word macro."""
    return max(1, math.ceil(math.log2(max(depth, 1))))


def with_sram(library: Library, table: SramTable | None) -> Library:
    """``library`` whose memory macros are priced by the datasheet ``table`` (None: by the
    standard-cell model); the library itself is left as it is (it may be shared)."""
    if table is library.sram:
        return library
    return dataclasses.replace(library, sram=table)


def macro_source(library: Library) -> str:
    """What prices the memory macros of ``library``, for the reports."""
    table = library.sram
    if table is None:
        return "standard-cell memory macro model (estimate; synth.eda.memory_macro)"
    return f"SRAM datasheet: {table.label}, banked (estimate; synth.eda.sram_table)"


def macro_model(library: Library, kind: str, depth: int, width: int) -> MacroModel:
    """The model of a ``kind`` ("rom" or "ram") macro of ``depth`` x ``width`` bits: banked
    from the library's SRAM datasheet when it has one, else built of its standard cells."""
    if kind not in MACRO_KINDS:
        raise BitwaveError(f"memory macro kind must be one of {MACRO_KINDS}, got {kind!r}")
    if depth < 1 or width < 1:
        raise BitwaveError(f"memory macro shape must be positive, got {depth}x{width}")
    if library.sram is not None:
        return _banked_model(library, kind, depth, width)
    f = bit_figures(library)
    bits, levels = depth * width, mux_levels(depth)
    cells = {f.mux: (depth - 1) * width, f.flop: width}
    notes = []
    cycle_energy = 0.0
    if kind == "ram":
        cells[f.flop] += bits
        if f.clock_gate is not None:
            cells[f.clock_gate] = depth
            cycle_energy = depth * f.clock_gate_cycle_energy_j
        else:
            # No clock gate: each storage flop is clocked every cycle and holds its value
            # through a recirculating mux (a second MUX2 per bit).
            cells[f.mux] += bits
            cycle_energy = bits * f.flop_clock_energy_j
            notes.append(
                f"liberty has no integrated clock gate: every storage flip-flop is clocked every cycle "
                f"and recirculates through a {f.mux}"
            )
    per_cell = {
        f.flop: (f.flop_area_um2, f.flop_leakage_w),
        f.mux: (f.mux_area_um2, f.mux_leakage_w),
    }
    if f.clock_gate is not None:
        per_cell[f.clock_gate] = (f.clock_gate_area_um2, f.clock_gate_leakage_w)
    area = sum(count * per_cell[name][0] for name, count in cells.items())
    leakage = sum(count * per_cell[name][1] for name, count in cells.items())
    read_energy = width * (levels * f.mux_level_energy_j + f.register_bit_energy_j)
    write_bit = f.register_bit_energy_j if kind == "ram" else 0.0
    return MacroModel(
        kind=kind,
        depth=depth,
        width=width,
        area_um2=area,
        leakage_w=leakage,
        read_energy_j=read_energy,
        write_bit_energy_j=write_bit,
        cycle_energy_j=cycle_energy,
        access_s=levels * f.mux_delay_s + f.flop_setup_s,
        setup_s=f.flop_setup_s,
        clock_to_q_s=f.flop_clock_to_q_s,
        levels=levels,
        cells=cells,
        notes=notes,
    )


def _banked_model(library: Library, kind: str, depth: int, width: int) -> MacroModel:
    """A ``depth`` x ``width`` memory tiled by one datasheet macro (``sram_table.bank``), each
    macro behind one of the library's clock gates (none in a library without one: then each
    macro's clock runs every cycle and costs its read energy, as the datasheet gives no
    deselected figure apart from it)."""
    tiles = bank(library.sram, kind, depth, width)
    m, n, f = tiles.macro, tiles.count, bit_figures(library)
    cells = {m.name: n}
    area, leakage = n * m.area_um2, n * m.leakage_w
    if f.clock_gate is not None:
        cells[f.clock_gate] = n
        area += n * f.clock_gate_area_um2
        leakage += n * f.clock_gate_leakage_w
        cycle = n * f.clock_gate_cycle_energy_j
    else:
        cycle = n * m.read_energy_j
    return MacroModel(
        kind=kind,
        depth=depth,
        width=width,
        area_um2=area,
        leakage_w=leakage,
        read_energy_j=tiles.cols * m.read_energy_j,
        write_bit_energy_j=tiles.cols * m.write_energy_j / width,
        cycle_energy_j=cycle,
        access_s=m.setup_ns * 1e-9,
        setup_s=m.setup_ns * 1e-9,
        clock_to_q_s=m.clock_to_q_ns * 1e-9,
        levels=0,
        min_period_s=m.min_period_ns * 1e-9,
        cells=cells,
        notes=[
            f"{tiles.rows} x {tiles.cols} {m.name} ({m.words}x{m.width}) from "
            f"{library.sram.label}; {tiles.rows * tiles.cols * m.bits - depth * width} "
            f"of {tiles.rows * tiles.cols * m.bits} bits unused"
        ],
    )
