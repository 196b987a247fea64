"""A liberty library as the estimators need it: cell areas, pins (direction, capacitance,
function), flip-flops, timing arcs and internal-power tables, all in SI units.

Parsing is done by ``eda-liberty-parser`` (MIT, pure Python, reads NanGate45 in ~1 s); this
module turns its generic group tree into typed records. Plain and gzipped files are accepted.
"""

from __future__ import annotations

import gzip
import os
import re
import tempfile
from bisect import bisect_left
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bitwave.core.errors import BitwaveError
from bitwave.synth.eda.boolexpr import Expr, parse_function

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_UNIT_SCALE = {"": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15, "a": 1e-18}


@dataclass
class Group:
    """A liberty group: ``kind (args) { simple: value; complex (args); subgroups }``."""

    kind: str
    args: list[str]
    simple: dict[str, str] = field(default_factory=dict)
    complex: list[tuple[str, str]] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)

    def children(self, kind: str) -> list[Group]:
        return [group for group in self.groups if group.kind == kind]

    def complex_args(self, name: str) -> str | None:
        for key, value in self.complex:
            if key == name:
                return value
        return None


@dataclass
class Table:
    """A lookup table over up to two variables; extrapolates linearly like STA tools."""

    variables: tuple[str, ...]
    index: tuple[np.ndarray, ...]
    values: np.ndarray

    def __setattr__(self, name: str, value: object) -> None:
        # Lookups read plain-float copies of the axes and values (``_points``); replacing
        # them (``load_library`` rescales to SI) drops the copies and the remembered energies
        # (``Library.internal_energy``). Tables are replaced, never edited in place.
        global _TABLE_CHANGES
        object.__setattr__(self, name, value)
        self.__dict__.pop("_points", None)
        _TABLE_CHANGES += 1

    def lookup(self, slew: float, load: float, related_slew: float | None = None) -> float:
        """Table value for an input slew (s) and output load (F)."""
        points = self.__dict__.get("_points") or self._build_points()
        roles, axes, values = points
        if not roles:
            return values
        coordinates = [
            load if role == _LOAD else slew if role == _SLEW or related_slew is None
            else related_slew
            for role in roles
        ]  # fmt: skip
        if len(roles) == 1:
            return _interp1(axes[0], values, coordinates[0])
        # Two variables: interpolate the two rows around the first coordinate along the second
        # axis, then between them (the other rows do not contribute).
        rows_axis, columns_axis = axes
        if len(rows_axis) == 1:
            return _interp1(columns_axis, values[0], coordinates[1])
        i = _segment(rows_axis, coordinates[0])
        low = _interp1(columns_axis, values[i], coordinates[1])
        high = _interp1(columns_axis, values[i + 1], coordinates[1])
        return _between(rows_axis, i, low, high, coordinates[0])

    def _build_points(self) -> tuple:
        """(role per variable, axes and values as Python floats): scalar arithmetic on them is
        the same IEEE arithmetic as on numpy scalars, without numpy's per-call overhead."""
        roles = tuple(
            _LOAD if "capacitance" in v else _RELATED if v.startswith("related_pin") else _SLEW
            for v in self.variables
        )
        if len(roles) > 2:
            raise BitwaveError(
                f"liberty table over {len(roles)} variables ({', '.join(self.variables)}): "
                "only tables over slew and load (at most 2 variables) are supported"
            )
        if not roles:
            points = ((), (), float(self.values.reshape(-1)[0]))
        else:
            points = (roles, tuple(axis.tolist() for axis in self.index), self.values.tolist())
        self.__dict__["_points"] = points
        return points

    def mean(self) -> float:
        return float(np.mean(self.values))


_SLEW, _LOAD, _RELATED = 0, 1, 2
_TABLE_CHANGES = 0  # how often any table's variables, axes or values were set


def _segment(xs: list[float], x: float) -> int:
    """The segment [xs[i], xs[i + 1]] that interpolates (or extrapolates) at x."""
    return min(max(bisect_left(xs, x) - 1, 0), len(xs) - 2)


def _between(xs: list[float], i: int, y0: float, y1: float, x: float) -> float:
    x0 = xs[i]
    return float(y0 + (y1 - y0) * (x - x0) / (xs[i + 1] - x0))


def _interp1(xs: list[float], ys: list[float], x: float) -> float:
    if len(xs) == 1:
        return float(ys[0])
    i = _segment(xs, x)
    return _between(xs, i, ys[i], ys[i + 1], x)


@dataclass
class Pin:
    name: str
    direction: str  # input / output / inout / internal
    capacitance_f: float = 0.0
    function: Expr | None = None
    function_text: str = ""
    is_clock: bool = False
    # Its role in an integrated clock-gating cell (clock_gate_<role>_pin): clock, enable,
    # test or out; "" elsewhere.
    clock_gate_role: str = ""


@dataclass
class Arc:
    """A timing arc related_pin -> pin (combinational delay, clock-to-Q, or a constraint)."""

    related_pin: str
    pin: str
    timing_type: str
    timing_sense: str
    when: str
    tables: dict[str, Table]  # cell_rise, cell_fall, rise_transition, fall_transition, *_constraint

    def delay(self, slew: float, load: float) -> float:
        values = [
            self.tables[k].lookup(slew, load)
            for k in ("cell_rise", "cell_fall")
            if k in self.tables
        ]
        return max(values) if values else 0.0

    def transition(self, slew: float, load: float) -> float:
        keys = ("rise_transition", "fall_transition")
        values = [self.tables[k].lookup(slew, load) for k in keys if k in self.tables]
        return max(values) if values else 0.0

    def constraint(self, slew: float) -> float:
        keys = ("rise_constraint", "fall_constraint")
        values = [self.tables[k].lookup(slew, 0.0, slew) for k in keys if k in self.tables]
        return max(values) if values else 0.0


@dataclass
class InternalPower:
    """Energy (J) drawn inside the cell per transition of ``pin`` (output pins: caused by
    ``related_pin``; input pins: related_pin is empty)."""

    pin: str
    related_pin: str
    when: str
    rise: Table | None
    fall: Table | None

    def energy(self, slew: float, load: float) -> float:
        values = [t.lookup(slew, load) for t in (self.rise, self.fall) if t is not None]
        # The mean as np.mean computes it (sum, then divide), in plain floats.
        if len(values) == 2:
            return (values[0] + values[1]) / 2
        return values[0] if values else 0.0


@dataclass
class Sequential:
    """A flip-flop (``ff``) or latch: internal state pins and the next-state logic."""

    kind: str
    state: str
    state_inverted: str
    next_state: Expr | None
    clocked_on: Expr | None
    clear: Expr | None
    preset: Expr | None
    texts: dict[str, str]


@dataclass
class Cell:
    name: str
    area_um2: float
    leakage_w: float
    pins: dict[str, Pin]
    arcs: list[Arc]
    internal_power: list[InternalPower]
    sequential: Sequential | None = None
    dont_use: bool = False
    clock_gating: str = ""  # clock_gating_integrated_cell, e.g. "latch_posedge"; "" if none

    @property
    def is_clock_gate(self) -> bool:
        """An integrated clock-gating cell: its output is a gated clock, not a logic value."""
        return bool(self.clock_gating) and any(
            p.clock_gate_role == "out" for p in self.pins.values()
        )

    def clock_gate_pins(self, role: str) -> list[str]:
        return [p.name for p in self.pins.values() if p.clock_gate_role == role]

    def inputs(self) -> list[str]:
        return [p.name for p in self.pins.values() if p.direction == "input"]

    def outputs(self) -> list[str]:
        return [p.name for p in self.pins.values() if p.direction == "output"]

    def internal_energy(self, pin: str, slew: float, load: float) -> float:
        """Mean internal energy per transition of ``pin`` over its arcs and conditions."""
        entries = [p for p in self.internal_power if p.pin == pin]
        if not entries:
            return 0.0
        return float(np.mean([p.energy(slew, load) for p in entries]))


ENERGY_MEMO_SIZE = 1 << 19


@dataclass
class Library:
    name: str
    path: str
    voltage_v: float
    time_unit_s: float
    cap_unit_f: float
    leakage_unit_w: float
    cells: dict[str, Cell]
    default_input_slew_s: float
    header_simple: dict[str, str]
    # The memory macros' datasheet (``bitwave.synth.eda.sram_table.SramTable``), read beside
    # the cells as a flow reads a macro's .lib beside the standard cells; None: memory macros
    # are priced by the standard-cell model (``memory_macro``). Set with ``memory_macro.with_sram``.
    sram: object | None = field(default=None, compare=False)
    # (cell, pin, slew, load) -> internal energy, valid while no table changed since it was
    # filled (_TABLE_CHANGES then); see internal_energy.
    _energy_memo: dict[tuple[str, str, float, float], float] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _energy_memo_tables: int = field(default=-1, init=False, repr=False, compare=False)

    @property
    def energy_unit_j(self) -> float:
        # Liberty internal-power tables are energies in capacitive_load_unit x voltage_unit^2.
        return self.cap_unit_f

    def cell(self, name: str) -> Cell:
        try:
            return self.cells[name]
        except KeyError:
            raise BitwaveError(f"cell {name!r} is not in liberty {self.path}") from None

    def internal_energy(self, cell: Cell, pin: str, slew: float, load: float) -> float:
        """``cell.internal_energy`` remembered by value: a design's power is estimated for
        several stimuli at the same loads and slews, and many pins share a (cell, pin, slew,
        load). The memory is dropped when it holds ENERGY_MEMO_SIZE values (one large design)
        and when a table was replaced since it was filled."""
        key = (cell.name, pin, slew, load)
        memo = self._energy_memo
        if self._energy_memo_tables != _TABLE_CHANGES:
            memo.clear()
            self._energy_memo_tables = _TABLE_CHANGES
        energy = memo.get(key)
        if energy is None:
            if len(memo) >= ENERGY_MEMO_SIZE:
                memo.clear()
            energy = memo[key] = cell.internal_energy(pin, slew, load)
        return energy


# ---------------------------------------------------------------------------------------------
# Reading


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise BitwaveError(f"liberty file {path} does not exist (give a .lib or .lib.gz path)")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8", errors="replace")


def read_groups(path: str | os.PathLike) -> Group:
    """Parse a liberty file (plain or .gz) into a ``Group`` tree rooted at ``library``."""
    from liberty_parser import LP

    path = Path(path)
    text = _read_text(path)
    # eda-liberty-parser reads from a file path (its from-string mode mistakes text containing
    # '/' for a path), so a gzipped library goes through a temporary plain file.
    with tempfile.TemporaryDirectory(prefix="bitwave_lib_") as tmp:
        plain = Path(tmp) / "library.lib"
        plain.write_text(text)
        try:
            parsed = LP(str(plain)).lib_dict
        except (SyntaxError, ValueError, KeyError, IndexError) as error:
            raise BitwaveError(f"cannot parse liberty {path}: {error}") from error
    libraries = [_convert(e.lib_dict) for e in parsed["E"] if "E" in e.lib_dict]
    libraries = [g for g in libraries if g.kind == "library"]
    if not libraries:
        raise BitwaveError(f"{path} holds no 'library (...) {{ }}' group: not a liberty file")
    return libraries[0]


def _convert(node: dict) -> Group:
    group = Group(kind=node["T"].strip(), args=_split_args(node.get("N", "")))
    for element in node["E"]:
        item = element.lib_dict
        if item.get("T") == "comment":
            continue
        if "E" in item:
            group.groups.append(_convert(item))
        elif "V" in item:
            group.simple[item["N"].strip()] = item["V"].strip().strip('"').strip()
        elif "T" in item:
            group.complex.append((item["T"].strip(), item.get("N", "")))
    return group


def _split_args(text: str) -> list[str]:
    return [part.strip().strip('"').strip() for part in text.split(",") if part.strip()]


def _numbers(text: str) -> np.ndarray:
    return np.array([float(x) for x in _NUMBER.findall(text.replace("\\", " "))], dtype=float)


def _unit(text: str, suffix: str) -> float:
    match = re.fullmatch(r"\s*([\d.]+)\s*([munpfa]?)" + suffix + r"\s*", text, flags=re.IGNORECASE)
    if not match:
        raise BitwaveError(f"cannot read liberty unit {text!r} (expected like '1n{suffix}')")
    return float(match.group(1)) * _UNIT_SCALE[match.group(2).lower()]


def _table(group: Group, templates: dict[str, Group], scale: float) -> Table:
    template = templates.get(group.args[0]) if group.args else None
    variables: list[str] = []
    index: list[np.ndarray] = []
    for k in (1, 2, 3):
        variable = template.simple.get(f"variable_{k}") if template else None
        if variable is None:
            break
        variables.append(variable)
        own = group.complex_args(f"index_{k}")
        source = own if own is not None else (template.complex_args(f"index_{k}") or "")
        index.append(_numbers(source))
    values = _numbers(group.complex_args("values") or "") * scale
    if variables:
        shape = tuple(len(i) for i in index)
        if int(np.prod(shape)) != values.size:
            if values.size == 1:
                return Table((), (), values)
            raise BitwaveError(
                f"liberty table {group.kind} has {values.size} values for shape {shape}"
            )
        values = values.reshape(shape)
    # Index axes in SI: slews in seconds, loads in farads.
    return Table(tuple(variables), tuple(index), values)


def load_library(path: str | os.PathLike) -> Library:
    """Read a liberty file into a ``Library`` (SI units)."""
    root = read_groups(path)
    simple = root.simple
    time_unit = _unit(simple.get("time_unit", "1ns"), "s")
    leakage_unit = _unit(simple.get("leakage_power_unit", "1nW"), "W")
    cap_args = _split_args(root.complex_args("capacitive_load_unit") or "1,ff")
    # (1,ff) -> 1e-15 F: the prefix is everything before the final "f" of farad.
    cap_unit = float(cap_args[0]) * _UNIT_SCALE[cap_args[1].lower()[:-1]]
    voltage = float(simple.get("nom_voltage", "0") or 0)
    for group in root.children("operating_conditions"):
        if "voltage" in group.simple:
            voltage = float(group.simple["voltage"])
    if voltage <= 0:
        raise BitwaveError(f"liberty {path} gives no nom_voltage or operating_conditions voltage")
    templates = {g.args[0]: g for g in root.groups if g.kind.endswith("template") and g.args}
    cells = {}
    for group in root.children("cell"):
        cell = _cell(group, templates, cap_unit, leakage_unit)
        cells[cell.name] = cell
    if not cells:
        raise BitwaveError(f"liberty {path} defines no cells")
    slew = float(simple.get("default_max_transition", "0") or 0) * time_unit * 0.1
    library = Library(
        name=root.args[0] if root.args else "library",
        path=str(path),
        voltage_v=voltage,
        time_unit_s=time_unit,
        cap_unit_f=cap_unit,
        leakage_unit_w=leakage_unit,
        cells=cells,
        default_input_slew_s=slew if slew > 0 else 20e-12,
        header_simple=dict(simple),
    )
    _scale_tables(library)
    return library


def _scale_tables(library: Library) -> None:
    """Convert table axes (slew, load) and values to SI in place."""
    t, c, e = library.time_unit_s, library.cap_unit_f, library.energy_unit_j
    for cell in library.cells.values():
        for arc in cell.arcs:
            for table in arc.tables.values():
                _scale_axes(table, t, c)
                table.values = table.values * t
        for power in cell.internal_power:
            for table in (power.rise, power.fall):
                if table is not None:
                    _scale_axes(table, t, c)
                    table.values = table.values * e


def _scale_axes(table: Table, time_unit: float, cap_unit: float) -> None:
    table.index = tuple(
        axis * (cap_unit if "capacitance" in variable else time_unit)
        for variable, axis in zip(table.variables, table.index, strict=True)
    )


def _cell(group: Group, templates: dict[str, Group], cap_unit: float, leak_unit: float) -> Cell:
    """One ``cell`` group: pins, timing arcs and internal power per pin, sequential function,
    leakage (table axes and values still in library units, see ``_scale_tables``)."""
    pins: dict[str, Pin] = {}
    arcs: list[Arc] = []
    powers: list[InternalPower] = []
    for pin_group in group.children("pin"):
        for pin_name in pin_group.args:
            pins[pin_name] = _pin(pin_group, pin_name, cap_unit)
            arcs += _arcs(pin_group, pin_name, templates)
            powers += _internal_powers(pin_group, pin_name, templates)
    return Cell(
        name=group.args[0],
        area_um2=float(group.simple.get("area", "0") or 0),
        leakage_w=_leakage(group) * leak_unit,
        pins=pins,
        arcs=arcs,
        internal_power=powers,
        sequential=_sequential(group),
        dont_use=group.simple.get("dont_use", "false") == "true",
        clock_gating=group.simple.get("clock_gating_integrated_cell", ""),
    )


def _pin(pin_group: Group, pin_name: str, cap_unit: float) -> Pin:
    s = pin_group.simple
    function_text = s.get("function", "")
    return Pin(
        name=pin_name,
        direction=s.get("direction", "input"),
        capacitance_f=float(s.get("capacitance", "0") or 0) * cap_unit,
        function=parse_function(function_text) if function_text else None,
        function_text=function_text,
        is_clock=s.get("clock", "false") == "true",
        clock_gate_role=next(
            (r for r in CLOCK_GATE_ROLES if s.get(f"clock_gate_{r}_pin", "false") == "true"), ""
        ),
    )


CLOCK_GATE_ROLES = ("clock", "enable", "test", "out")


TIMING_TABLES = ("cell_rise", "cell_fall", "rise_transition", "fall_transition",
                 "rise_constraint", "fall_constraint")  # fmt: skip


def _arcs(pin_group: Group, pin_name: str, templates: dict[str, Group]) -> list[Arc]:
    """One arc per ``timing`` group of the pin and related pin (the pin's tables shared)."""
    arcs = []
    for timing in pin_group.children("timing"):
        tables = {
            g.kind: _table(g, templates, 1.0) for g in timing.groups if g.kind in TIMING_TABLES
        }
        for related in (timing.simple.get("related_pin", "") or "").split():
            arcs.append(
                Arc(
                    related_pin=related,
                    pin=pin_name,
                    timing_type=timing.simple.get("timing_type", "combinational"),
                    timing_sense=timing.simple.get("timing_sense", ""),
                    when=timing.simple.get("when", ""),
                    tables=tables,
                )
            )
    return arcs


def _internal_powers(
    pin_group: Group, pin_name: str, templates: dict[str, Group]
) -> list[InternalPower]:
    """One entry per ``internal_power`` group and related pin ("" when none is named)."""
    powers = []
    for power in pin_group.children("internal_power"):
        rise = next((g for g in power.groups if g.kind == "rise_power"), None)
        fall = next((g for g in power.groups if g.kind == "fall_power"), None)
        related_pins = (power.simple.get("related_pin", "") or "").split() or [""]
        for related in related_pins:
            powers.append(
                InternalPower(
                    pin=pin_name,
                    related_pin=related,
                    when=power.simple.get("when", ""),
                    rise=_table(rise, templates, 1.0) if rise else None,
                    fall=_table(fall, templates, 1.0) if fall else None,
                )
            )
    return powers


def _sequential(group: Group) -> Sequential | None:
    """The cell's ``ff`` or ``latch`` group (the last one when there are several)."""
    sequential = None
    for kind in ("ff", "latch"):
        for seq in group.children(kind):
            texts = dict(seq.simple)
            state, inverted = (seq.args + ["", ""])[:2]

            def expr(key: str, texts: dict[str, str] = texts) -> Expr | None:
                return parse_function(texts[key]) if texts.get(key) else None

            sequential = Sequential(
                kind=kind,
                state=state,
                state_inverted=inverted,
                next_state=expr("next_state") if kind == "ff" else expr("data_in"),
                clocked_on=expr("clocked_on") if kind == "ff" else expr("enable"),
                clear=expr("clear"),
                preset=expr("preset"),
                texts=texts,
            )
    return sequential


def _leakage(group: Group) -> float:
    """The cell's leakage in library units."""
    if "cell_leakage_power" in group.simple:
        return float(group.simple["cell_leakage_power"])
    # Some cells give only state-dependent leakage: take the mean over the states.
    states = [
        float(g.simple["value"]) for g in group.children("leakage_power") if "value" in g.simple
    ]
    return float(np.mean(states)) if states else 0.0
