"""SRAM macro datasheets: a table of compiled (or vendor) macros, and the banking model that
prices any memory of a design with them.

A table is a small YAML file (read with ``yaml.safe_load``; every field validated, errors name
the field's path)::

    source: OpenRAM 1.2.48, FreePDK45, TT 1.0 V 25 C, analytical characterization
    process: freepdk45
    macros:
      - name: sram_32x256
        words: 256            # depth
        width: 32             # bits per word
        area_um2: 16004.0
        leakage_w: 8.606e-06
        read_energy_j: 1.3235e-11   # one read access of a whole word (OpenRAM: mW at 100 MHz)
        write_energy_j: 1.3235e-11  # one write access of a whole word
        setup_ns: 0.009       # address, data and control pins before the clock edge
        clock_to_q_ns: 0.322  # clock edge to read data
        min_period_ns: 1.195
        kind: ram             # optional: ram (default) or rom

bitwave ships one table, ``OPENRAM_TABLE``: FreePDK45 macros compiled and characterized by
OpenRAM on this machine (``bitwave sram compile``, synth/README.md "SRAM macros"). A user
passes a table of their own process's datasheet figures the same way (``--sram TABLE.yaml``).

Banking (``bank``): a memory of ``depth`` x ``width`` bits is tiled by copies of ONE macro of
the table, ``rows = ceil(depth / words)`` by ``cols = ceil(width / macro width)``; of the
tables' macros the tiling of least leakage is taken (then least area). A read or write
accesses one row of ``cols`` macros. Each macro sits behind an integrated clock gate of the
standard-cell library enabled by its row's select, so a macro that is not accessed takes no
clock edge (the analytical OpenRAM model charges its clock pin the same whether selected or
not; a designer gates it). The bank's figures are therefore the macros' and their clock
gates': an ESTIMATE from the datasheet, wires and the row decoder not counted.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from bitwave.core.errors import BitwaveError
from bitwave.core.paths import atomic_write

OPENRAM_TABLE = Path(__file__).resolve().parent.parent / "data" / "sram" / "freepdk45_openram.yaml"
_KINDS = ("ram", "rom")
_FLOATS = ("area_um2", "leakage_w", "read_energy_j", "write_energy_j", "setup_ns",
           "clock_to_q_ns", "min_period_ns")  # fmt: skip


@dataclass(frozen=True)
class SramMacro:
    """One macro of a datasheet table (SI units apart from the *_ns timing fields)."""

    name: str
    words: int
    width: int
    area_um2: float
    leakage_w: float
    read_energy_j: float
    write_energy_j: float
    setup_ns: float
    clock_to_q_ns: float
    min_period_ns: float
    kind: str = "ram"

    @property
    def bits(self) -> int:
        return self.words * self.width


@dataclass(frozen=True)
class SramTable:
    source: str
    process: str
    macros: tuple[SramMacro, ...]
    path: str = ""

    @property
    def label(self) -> str:
        return f"{self.source} ({Path(self.path).name})" if self.path else self.source


def resolve_sram(spec: str | os.PathLike | None) -> SramTable | None:
    """``None`` or "cells": the standard-cell macro model (no table); "openram": the shipped
    FreePDK45 OpenRAM table; anything else: the path of a datasheet table."""
    if spec is None or str(spec) == "cells":
        return None
    path = OPENRAM_TABLE if str(spec) == "openram" else Path(spec)
    if not path.is_file():
        if str(spec) == "openram":
            raise BitwaveError(f"the OpenRAM macro table {path} is missing from the installation")
        raise BitwaveError(
            f"--sram {spec}: no such file; use cells, openram or the path of a datasheet table "
            "(YAML, synth/README.md 'SRAM macros')"
        )
    return load_table(path)


def load_table(path: str | os.PathLike) -> SramTable:
    """Read and validate a datasheet table (cached per path and modification time)."""
    path = Path(path)
    key = (str(path.resolve()), path.stat().st_mtime_ns)
    if key not in _TABLES:
        _TABLES[key] = _parse(path)
    return _TABLES[key]


_TABLES: dict[tuple[str, int], SramTable] = {}


def _parse(path: Path) -> SramTable:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise BitwaveError(f"cannot read SRAM table {path}: {error}") from error
    where = str(path)
    if not isinstance(data, dict):
        raise BitwaveError(f"{where}: an SRAM table is a mapping with source, process, macros")
    macros = data.get("macros")
    if not isinstance(macros, list) or not macros:
        raise BitwaveError(f"{where}: macros must be a non-empty list of macro entries")
    parsed = tuple(_macro(entry, f"{where}: macros[{i}]") for i, entry in enumerate(macros))
    return SramTable(source=_text(data, "source", where), process=_text(data, "process", where),
                     macros=parsed, path=str(path))  # fmt: skip


def _text(data: dict, key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BitwaveError(f"{where}: {key} must be a non-empty string")
    return value


def _macro(entry: object, where: str) -> SramMacro:
    if not isinstance(entry, dict):
        raise BitwaveError(f"{where} must be a mapping")
    known = {"name", "words", "width", "kind", *_FLOATS}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise BitwaveError(f"{where}: unknown field(s) {unknown}; allowed: {sorted(known)}")
    fields: dict = {"name": _text(entry, "name", where)}
    for key in ("words", "width"):
        value = entry.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BitwaveError(f"{where}.{key} must be a positive integer, got {value!r}")
        fields[key] = value
    for key in _FLOATS:
        value = entry.get(key)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or value < 0:
            raise BitwaveError(f"{where}.{key} must be a finite number >= 0, got {value!r}")
        fields[key] = float(value)
    kind = entry.get("kind", "ram")
    if kind not in _KINDS:
        raise BitwaveError(f"{where}.kind must be one of {_KINDS}, got {kind!r}")
    return SramMacro(kind=kind, **fields)


def write_table(path: str | os.PathLike, table: SramTable) -> None:
    """Write ``table`` as YAML, atomically (macros sorted by width, then words)."""
    macros = sorted(table.macros, key=lambda m: (m.width, m.words, m.kind, m.name))
    data = {"source": table.source, "process": table.process,
            "macros": [_entry(m) for m in macros]}  # fmt: skip
    with atomic_write(path, "w") as handle:
        yaml.safe_dump(data, handle, sort_keys=False)


def _entry(macro: SramMacro) -> dict:
    entry = asdict(macro)
    if entry["kind"] == "ram":
        del entry["kind"]
    return entry


@dataclass(frozen=True)
class Bank:
    """A ``rows`` x ``cols`` tiling of one macro for a ``depth`` x ``width`` memory."""

    macro: SramMacro
    rows: int
    cols: int

    @property
    def count(self) -> int:
        return self.rows * self.cols


def bank(table: SramTable, kind: str, depth: int, width: int) -> Bank:
    """The tiling of least leakage (then area) of a ``kind`` memory by one macro of ``table``.
    A ROM takes the table's ROM macros if it has any, else its RAMs (preloaded)."""
    candidates = [m for m in table.macros if m.kind == kind] or list(table.macros)
    if depth < 1 or width < 1:
        raise BitwaveError(f"memory shape must be positive, got {depth}x{width}")
    tilings = [Bank(m, math.ceil(depth / m.words), math.ceil(width / m.width)) for m in candidates]
    return min(tilings, key=lambda b: (b.count * b.macro.leakage_w, b.count * b.macro.area_um2,
                                       b.macro.name))  # fmt: skip
