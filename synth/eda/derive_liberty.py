"""Derive the compact 45 nm library shipped in synth/ from a full liberty file.

Kept exactly: cell names, areas, leakage, pin directions, capacitances and functions,
flip-flop / latch / clock-gate behaviour. Reduced: every timing arc becomes 2x2 tables
(input slew x output load) holding the worst case over the arc's ``when`` conditions, every
internal-power group becomes 2x2 (output pins) or 2-point (input pins) tables holding the
mean over its ``when`` conditions, constraints (setup/hold/recovery/removal) become scalars.
That is all the area, timing and power estimators of bitwave.synth read, it keeps OpenSTA and
Yosys/abc working, and it shrinks NanGate45 from 6.7 MB to a few hundred kB.

    python -m bitwave.synth.eda.derive_liberty FULL.lib[.gz] OUT.lib
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from bitwave.core.errors import BitwaveError
from bitwave.core.paths import write_text
from bitwave.synth.eda.liberty import Group, Table, _table, _unit, read_groups

# Representative operating points of the reduced tables, in SI units: slews that span the
# transitions seen inside synthesized logic, loads from one to ten fan-out gates.
SLEW_POINTS_S = (5e-12, 40e-12)
LOAD_POINTS_F = (1.5e-15, 12e-15)

NANGATE_ATTRIBUTION = (
    " * Derived from the NanGate 45nm Open Cell Library (typical corner), as redistributed under the\n"
    " * Apache License 2.0 by OpenROAD-flow-scripts (PDKv1.3_v2010_12.Apache.CCL).\n"
)
ATTRIBUTION = """\
/*
 * Compact standard-cell library for bitwave.
{provenance} * Derived by bitwave.synth.eda.derive_liberty from {source}: cell names, areas, leakage,
 * pin directions, capacitances and functions are copied; timing arcs are reduced to 2x2
 * slew x load tables (worst case over `when` conditions) and internal power to 2x2 / 2-point
 * tables (mean over `when` conditions). Constraints are scalars.
 */
"""

_PIN_KEEP = (
    "direction", "capacitance", "max_capacitance", "function", "three_state", "clock",
    "clock_gate_clock_pin", "clock_gate_enable_pin", "clock_gate_test_pin", "clock_gate_out_pin",
    "state_function", "internal_node", "nextstate_type",
)  # fmt: skip
_CELL_KEEP = (
    "area",
    "cell_leakage_power",
    "dont_use",
    "dont_touch",
    "clock_gating_integrated_cell",
)
_LIB_KEEP = (
    "delay_model", "time_unit", "leakage_power_unit", "voltage_unit", "current_unit",
    "pulling_resistance_unit", "nom_process", "nom_temperature", "nom_voltage",
    "slew_lower_threshold_pct_fall", "slew_lower_threshold_pct_rise",
    "slew_upper_threshold_pct_fall", "slew_upper_threshold_pct_rise", "slew_derate_from_library",
    "input_threshold_pct_fall", "input_threshold_pct_rise",
    "output_threshold_pct_fall", "output_threshold_pct_rise",
    "default_inout_pin_cap", "default_input_pin_cap", "default_output_pin_cap",
    "default_fanout_load", "default_max_transition", "default_leakage_power_density",
    "default_cell_leakage_power",
)  # fmt: skip
_DELAY_TABLES = ("cell_rise", "cell_fall", "rise_transition", "fall_transition")
_CONSTRAINT_TABLES = ("rise_constraint", "fall_constraint")
_QUOTED = {"function", "three_state", "state_function", "next_state", "clocked_on", "clear", "preset",
           "data_in", "enable", "time_unit", "leakage_power_unit", "voltage_unit", "current_unit",
           "pulling_resistance_unit", "related_pin", "clear_preset_var1", "clear_preset_var2",
           "table"}  # fmt: skip


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _attr(name: str, value: str, indent: str) -> str:
    if name in _QUOTED:
        return f'{indent}{name} : "{value}";\n'
    return f"{indent}{name} : {value};\n"


def _values_2x2(
    tables: list[Table], slews: tuple[float, float], loads: tuple[float, float], reduce: str
) -> str:
    grid = np.array([[[t.lookup(s, c) for c in loads] for s in slews] for t in tables])
    merged = grid.max(axis=0) if reduce == "max" else grid.mean(axis=0)
    rows = ", ".join('"' + ", ".join(_fmt(v) for v in row) + '"' for row in merged)
    return f"values ({rows});"


def _values_slew(tables: list[Table], slews: tuple[float, float]) -> str:
    merged = np.mean([[t.lookup(s, 0.0) for s in slews] for t in tables], axis=0)
    return 'values ("' + ", ".join(_fmt(v) for v in merged) + '");'


def derive_compact(full_path: str | os.PathLike, out_path: str | os.PathLike) -> dict:
    """Write the compact library for ``full_path`` to ``out_path``; return a summary."""
    root = read_groups(full_path)
    time_unit = _unit(root.simple.get("time_unit", "1ns"), "s")
    cap_args = [a.strip() for a in (root.complex_args("capacitive_load_unit") or "1,ff").split(",")]
    cap_unit = float(cap_args[0]) * {"": 1.0, "p": 1e-12, "f": 1e-15}[cap_args[1].lower()[:-1]]
    slews = tuple(s / time_unit for s in SLEW_POINTS_S)
    loads = tuple(c / cap_unit for c in LOAD_POINTS_F)
    templates = {g.args[0]: g for g in root.groups if g.kind.endswith("template") and g.args}

    name = root.args[0] if root.args else "library"
    provenance = (
        NANGATE_ATTRIBUTION if "nangate" in name.lower() else f" * Source library: {name}.\n"
    )
    out: list[str] = [ATTRIBUTION.format(source=Path(full_path).name, provenance=provenance)]
    # bitwave's own library: its own name, the source named in the attribution above
    out.append(f"library ({COMPACT_NAME}) {{\n")
    for key in _LIB_KEEP:
        if key in root.simple:
            out.append(_attr(key, root.simple[key], "  "))
    for key, value in root.complex:
        if key in ("capacitive_load_unit", "voltage_map", "technology"):
            out.append(f"  {key} ({value.strip()});\n")
    # OpenSTA needs operating_conditions declared before default_operating_conditions, or it
    # reports zero dynamic power.
    conditions = root.children("operating_conditions")
    for group in conditions:
        out.append(f"  operating_conditions ({group.args[0]}) {{\n")
        for key in ("process", "voltage", "temperature", "tree_type"):
            if key in group.simple:
                out.append(_attr(key, group.simple[key], "    "))
        out.append("  }\n")
    if conditions:
        out.append(
            _attr(
                "default_operating_conditions",
                root.simple.get("default_operating_conditions", conditions[0].args[0]),
                "  ",
            )
        )
    slew_index = ", ".join(_fmt(s) for s in slews)
    load_index = ", ".join(_fmt(c) for c in loads)
    out.append(
        "  lu_table_template (bw_delay_2x2) {\n"
        "    variable_1 : input_net_transition;\n    variable_2 : total_output_net_capacitance;\n"
        f'    index_1 ("{slew_index}");\n    index_2 ("{load_index}");\n  }}\n'
        "  power_lut_template (bw_power_2x2) {\n"
        "    variable_1 : input_transition_time;\n    variable_2 : total_output_net_capacitance;\n"
        f'    index_1 ("{slew_index}");\n    index_2 ("{load_index}");\n  }}\n'
        "  power_lut_template (bw_power_slew_2) {\n"
        f'    variable_1 : input_transition_time;\n    index_1 ("{slew_index}");\n  }}\n'
    )
    n_cells = 0
    for cell in root.children("cell"):
        out.append(_cell_text(cell, templates, slews, loads))
        n_cells += 1
    out.append("}\n")
    text = "".join(out)
    write_text(out_path, text)
    return {"cells": n_cells, "bytes": len(text.encode()), "out": str(out_path)}


def _cell_text(cell: Group, templates: dict[str, Group], slews: tuple, loads: tuple) -> str:
    out = [f"  cell ({cell.args[0]}) {{\n"]
    for key in _CELL_KEEP:
        if key in cell.simple:
            out.append(_attr(key, cell.simple[key], "    "))
    if "cell_leakage_power" not in cell.simple:
        states = [
            float(g.simple["value"]) for g in cell.children("leakage_power") if "value" in g.simple
        ]
        if states:
            out.append(_attr("cell_leakage_power", _fmt(float(np.mean(states))), "    "))
    for group in cell.groups:
        if group.kind in ("ff", "latch", "statetable"):
            args = ", ".join(f'"{a}"' for a in group.args)
            out.append(f"    {group.kind} ({args}) {{\n")
            for key, value in group.simple.items():
                value = " ".join(value.replace("\\", " ").split())  # one-line statetable rows
                out.append(_attr(key, value, "      "))
            out.append("    }\n")
    for pin in cell.children("pin"):
        out.append(_pin_text(pin, templates, slews, loads))
    out.append("  }\n")
    return "".join(out)


def _pin_text(pin: Group, templates: dict[str, Group], slews: tuple, loads: tuple) -> str:
    out = [f"    pin ({', '.join(pin.args)}) {{\n"]
    for key in _PIN_KEEP:
        if key in pin.simple:
            out.append(_attr(key, pin.simple[key], "      "))
    # Timing arcs grouped by (related pin, type): conditional copies merge into one worst case.
    arcs: dict[tuple[str, str], list[Group]] = defaultdict(list)
    for timing in pin.children("timing"):
        kind = timing.simple.get("timing_type", "combinational")
        if kind == "min_pulse_width":
            continue
        arcs[(timing.simple.get("related_pin", ""), kind)].append(timing)
    for (related, kind), group_list in arcs.items():
        out.append(_timing_text(related, kind, group_list, templates, slews, loads))
    powers: dict[str, list[Group]] = defaultdict(list)
    for power in pin.children("internal_power"):
        powers[power.simple.get("related_pin", "")].append(power)
    for related, group_list in powers.items():
        out.append(_power_text(related, group_list, templates, slews, loads))
    out.append("    }\n")
    return "".join(out)


def _tables_of(groups: list[Group], kind: str, templates: dict[str, Group]) -> list[Table]:
    """Every ``kind`` table of ``groups`` (the conditional copies of one arc or power)."""
    return [_table(t, templates, 1.0) for g in groups for t in g.groups if t.kind == kind]


def _timing_text(
    related: str,
    kind: str,
    group_list: list[Group],
    templates: dict[str, Group],
    slews: tuple,
    loads: tuple,
) -> str:
    """One merged timing group: worst delays at the 2x2 points, worst scalar constraints."""
    senses = {g.simple.get("timing_sense", "") for g in group_list}
    out = ["      timing () {\n"]
    out.append(_attr("related_pin", related, "        "))
    out.append(_attr("timing_type", kind, "        "))
    if len(senses) == 1 and "" not in senses:
        out.append(_attr("timing_sense", senses.pop(), "        "))
    elif senses - {""}:
        out.append(_attr("timing_sense", "non_unate", "        "))
    for table_kind in _DELAY_TABLES:
        tables = _tables_of(group_list, table_kind, templates)
        if tables:
            out.append(
                f"        {table_kind} (bw_delay_2x2) {{ {_values_2x2(tables, slews, loads, 'max')} }}\n"
            )
    for table_kind in _CONSTRAINT_TABLES:
        tables = _tables_of(group_list, table_kind, templates)
        if tables:
            # Constrained (data) pin at the slow slew point, clock at the fast one.
            worst = max(t.lookup(slews[1], 0.0, slews[0]) for t in tables)
            out.append(f'        {table_kind} (scalar) {{ values ("{_fmt(worst)}"); }}\n')
    out.append("      }\n")
    return "".join(out)


def _power_text(
    related: str, group_list: list[Group], templates: dict[str, Group], slews: tuple, loads: tuple
) -> str:
    """One merged internal_power group: mean energies at the 2x2 (or 2 slew) points."""
    out = ["      internal_power () {\n"]
    if related:
        out.append(_attr("related_pin", related, "        "))
    for table_kind in ("rise_power", "fall_power"):
        tables = _tables_of(group_list, table_kind, templates)
        if not tables:
            continue
        if any(len(t.variables) == 2 for t in tables):
            out.append(
                f"        {table_kind} (bw_power_2x2) {{ {_values_2x2(tables, slews, loads, 'mean')} }}\n"
            )
        else:
            out.append(
                f"        {table_kind} (bw_power_slew_2) {{ {_values_slew(tables, slews)} }}\n"
            )
    out.append("      }\n")
    return "".join(out)


def default_full_library() -> Path:
    """Where the full NanGate45 liberty lives next to a checkout: ../shared/pdk from the repo."""
    return Path(__file__).resolve().parents[3] / "shared" / "pdk" / "nangate45_typ.lib.gz"


COMPACT_LIBRARY = Path(__file__).resolve().parents[1] / "data" / "compact45.lib"
COMPACT_NAME = "bitwave_compact45"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bitwave.synth.eda.derive_liberty",
        description="Derive the compact liberty (areas, leakage, pins, reduced timing/power) from a full one.",
    )
    parser.add_argument(
        "full",
        nargs="?",
        default=str(default_full_library()),
        help="full liberty (.lib or .lib.gz)",
    )
    parser.add_argument(
        "out", nargs="?", default=str(COMPACT_LIBRARY), help="compact liberty to write"
    )
    args = parser.parse_args(argv)
    try:
        summary = derive_compact(args.full, args.out)
    except BitwaveError as error:
        print(f"derive_liberty: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {summary['out']}: {summary['cells']} cells, {summary['bytes']} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
