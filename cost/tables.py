"""Per-action area/energy tables (in the spirit of Accelergy's component tables) and the
converter that derives them from the project's synthesized nodes.

A table is a YAML file::

    format: bitwave-cost-table
    version: 1
    library: <cell library the figures come from>
    clock_mhz: <clock the nodes were characterised at>
    source: {...provenance...}
    actions:
      mac_binary:  {area_um2: <per MAC lane>, overhead_area_um2: <per neuron>, energy_j: <per MAC>,
                    leakage_w: <per MAC lane>, overhead_leakage_w: <per neuron>, from: "..."}
      mac_binary_const, mac_int8, mac_int16, mac_float32: same keys
      register_bit:     {area_um2: <per bit>, energy_j: <per bit per clock cycle>, leakage_w: <per bit>, from: "..."}
      regfile_bit_read: {area_um2: <per stored bit>, energy_j: <per bit read per mux level>,
                         leakage_w: <per stored bit>, from: "..."}

MAC figures come from ``bitwave nodes`` (reports/nodes/nodes.json): for each kind, the
fully parallel N-input nodes are fitted with area = overhead + lane * N and energy per node
evaluation = e0 + e_lane * N (least squares over the sizes synthesized), so a folded layer with
PE neurons of SIMD lanes costs PE * (overhead + SIMD * lane). Leakage is fitted the same way
from the nodes' synthesized leakage (the liberty's figures of the cells they map to); a node's
energy holds its leakage over one cycle at the table's clock, which the estimate takes out of
the switching (``Action.switching_j``). Storage figures (area, energy, leakage) come from the
liberty's flip-flop and 2:1 mux cells when nodes.json does not characterise them itself. The
leakage keys are optional: a table without them (older or hand-written) gives no leakage, and
the estimate says so rather than assume zero.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bitwave.core.errors import BitwaveError
from bitwave.core.inputs import safe_load_bounded
from bitwave.cost.spec import check_schema

FORMAT = "bitwave-cost-table"
MAC_ACTIONS = {
    "binary": "mac_binary",
    "int8": "mac_int8",
    "int16": "mac_int16",
    "float32": "mac_float32",
}
# XNOR-popcount with the weights wired in as constants (a fully unrolled layer)
CONST_BINARY_ACTION = "mac_binary_const"
STORAGE_ACTIONS = ("register_bit", "regfile_bit_read")
ACTIONS = (*MAC_ACTIONS.values(), CONST_BINARY_ACTION, *STORAGE_ACTIONS)
# node kinds as ``bitwave nodes`` names them -> the table entry they calibrate
NODE_KINDS = {
    "xnor": "mac_binary",
    "binary": "mac_binary",
    "xnor_const": CONST_BINARY_ACTION,
    "int8": "mac_int8",
    "int16": "mac_int16",
    "float32": "mac_float32",
    "fp32": "mac_float32",
}
TABLES_DIR = Path(__file__).resolve().parent / "tables"
DEFAULT_TABLE = TABLES_DIR / "default.yaml"

_NUM = {"type": "number", "minimum": 0}
_ENTRY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["area_um2", "energy_j", "from"],
    "properties": {
        "area_um2": _NUM,
        "energy_j": _NUM,
        "overhead_area_um2": _NUM,
        "overhead_energy_j": _NUM,
        "leakage_w": _NUM,
        "overhead_leakage_w": _NUM,
        "from": {"type": "string"},
    },
}
TABLE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["format", "version", "library", "clock_mhz", "actions"],
    "properties": {
        "format": {"enum": [FORMAT]},
        "version": {"enum": [1]},
        "library": {"type": "string"},
        "clock_mhz": {"type": "number", "exclusiveMinimum": 0},
        "source": {"type": "object"},
        "actions": {
            "type": "object",
            "additionalProperties": False,
            "properties": dict.fromkeys(ACTIONS, _ENTRY),
        },
    },
}


@dataclass(frozen=True)
class Action:
    area_um2: float
    energy_j: float
    overhead_area_um2: float = 0.0
    overhead_energy_j: float = 0.0
    origin: str = ""
    leakage_w: float | None = None  # per lane (MAC) or per bit (storage); None: not in the table
    overhead_leakage_w: float = 0.0  # per neuron (MAC)

    def switching_j(self, clock_mhz: float) -> tuple[float, float]:
        """A MAC entry's (per lane, per neuron) energy without the leakage a synthesized
        node's energy holds over one cycle at ``clock_mhz`` (storage entries are the liberty's
        switching energies already). Without leakage figures: the energies as they are."""
        if self.leakage_w is None:
            return self.energy_j, self.overhead_energy_j
        period = 1e-6 / clock_mhz
        return (max(0.0, self.energy_j - self.leakage_w * period),
                max(0.0, self.overhead_energy_j - self.overhead_leakage_w * period))  # fmt: skip


@dataclass
class CostTable:
    library: str
    clock_mhz: float
    actions: dict[str, Action]
    source: dict
    path: str = ""

    def action(self, name: str) -> Action:
        if name not in self.actions:
            have = ", ".join(sorted(self.actions)) or "none"
            raise BitwaveError(
                f"cost table {self.path or '(in memory)'} has no '{name}' entry (it has: {have}); "
                "add it to the YAML or regenerate with `bitwave cost --make-table`"
            )
        return self.actions[name]


def table_from_dict(data: Any, where: str = "table") -> CostTable:
    check_schema(data, TABLE_SCHEMA, "")
    actions = {
        name: Action(
            float(e["area_um2"]),
            float(e["energy_j"]),
            float(e.get("overhead_area_um2", 0.0)),
            float(e.get("overhead_energy_j", 0.0)),
            e["from"],
            float(e["leakage_w"]) if "leakage_w" in e else None,
            float(e.get("overhead_leakage_w", 0.0)),
        )
        for name, e in data["actions"].items()
    }
    return CostTable(
        data["library"], float(data["clock_mhz"]), actions, data.get("source", {}), where
    )


def load_table(path: str | os.PathLike | None = None) -> CostTable:
    """Read a table (default: cost/tables/default.yaml)."""
    path = Path(path) if path is not None else DEFAULT_TABLE
    if not path.is_file():
        hint = (
            " (the default table is generated by `bitwave cost --make-table reports/nodes/nodes.json`)"
            if path == DEFAULT_TABLE
            else ""
        )
        raise BitwaveError(f"cost table {path} does not exist{hint}")
    data = safe_load_bounded(path)  # bounded safe YAML; its errors name the file
    try:
        return table_from_dict(data, str(path))
    except BitwaveError as error:
        raise BitwaveError(f"{path}: {error}") from None


# ---------------------------------------------------------------------------------------------
# nodes.json -> table
# ---------------------------------------------------------------------------------------------
_NODE_REQUIRED = ("kind", "style", "inputs", "area_um2", "energy_per_mac_j", "clock_mhz", "library")
# ``bitwave nodes`` spells some fields differently; both spellings are read
_ALIASES = {
    "style": ("style", "form"),
    "inputs": ("inputs", "n"),
    "library": ("library", "liberty"),
}


def _normalise(record: Any, top: dict) -> dict:
    if not isinstance(record, dict):
        return {}
    out = {}
    for key in _NODE_REQUIRED:
        for name in _ALIASES.get(key, (key,)):
            if name in record:
                out[key] = record[name]
                break
            if name in top and key in ("clock_mhz", "library"):
                out[key] = top[name]
                break
    if "leakage_w" in record:  # optional: older node files have none
        out["leakage_w"] = record["leakage_w"]
    return out


def read_nodes(path: str | os.PathLike) -> list[dict]:
    """The node records of ``bitwave nodes``: a list, or a mapping whose ``results`` (or
    ``nodes``) list holds them; ``clock_mhz`` and ``liberty`` may be given once at the top."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise BitwaveError(f"cannot read nodes file {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise BitwaveError(f"{path}: not valid JSON: {error}") from None
    top = data if isinstance(data, dict) else {}
    records = data if isinstance(data, list) else top.get("results", top.get("nodes"))
    if not isinstance(records, list) or not records:
        raise BitwaveError(
            f"{path}: expected a non-empty list of nodes (a list, or {{'results': [...]}})"
        )
    nodes = []
    for index, record in enumerate(records):
        node = _normalise(record, top)
        missing = [key for key in _NODE_REQUIRED if key not in node]
        if missing:
            raise BitwaveError(
                f"{path}: results[{index}]: missing {', '.join(missing)}; every node needs "
                + ", ".join("/".join(_ALIASES.get(k, (k,))) for k in _NODE_REQUIRED)
            )
        leak = node.get("leakage_w")
        if leak is not None and (
            isinstance(leak, bool) or not isinstance(leak, int | float) or not 0 <= leak < math.inf
        ):
            raise BitwaveError(
                f"{path}: results[{index}].leakage_w: {leak!r}; allowed a finite number >= 0 (W)"
            )
        nodes.append(node)
    return nodes


def _fit(sizes: list[int], values: list[float]) -> tuple[float, float]:
    """Least-squares value = intercept + slope * size; one size -> all slope. Negative
    intercepts (noise on tiny nodes) are clamped to zero with the slope refitted."""
    x, y = np.asarray(sizes, float), np.asarray(values, float)
    if len(set(sizes)) < 2:
        return 0.0, float(np.sum(y) / np.sum(x))
    slope, intercept = np.polyfit(x, y, 1)
    if intercept < 0:
        return 0.0, float(np.dot(x, y) / np.dot(x, x))
    return float(intercept), float(slope)


def _mac_entries(nodes: list[dict]) -> dict[str, dict]:
    entries = {}
    for node_kind in sorted({n["kind"] for n in nodes}):
        action = NODE_KINDS.get(str(node_kind).lower())
        if action is None:
            continue
        group = [n for n in nodes if n["kind"] == node_kind]
        parallel = [n for n in group if n["style"] == "parallel"]
        if parallel:
            style, sizes = "parallel", [int(n["inputs"]) for n in parallel]
            area0, area_lane = _fit(sizes, [float(n["area_um2"]) for n in parallel])
            energies = [float(n["energy_per_mac_j"]) * int(n["inputs"]) for n in parallel]
            energy0, energy_lane = _fit(sizes, energies)
        else:
            # a serial node is one MAC unit (plus its accumulator) whatever its input count
            style, sizes = "serial", [int(n["inputs"]) for n in group]
            area0, area_lane = 0.0, float(np.mean([float(n["area_um2"]) for n in group]))
            energy0 = 0.0
            energy_lane = float(np.mean([float(n["energy_per_mac_j"]) for n in group]))
        how = (
            "linear fit: per lane + per neuron" if style == "parallel" else "one MAC unit per lane"
        )
        entries[action] = {
            "area_um2": area_lane,
            "overhead_area_um2": area0,
            "energy_j": energy_lane,
            "overhead_energy_j": energy0,
            **_leakage_entry(parallel or group, style),
            "from": f"bitwave nodes: {node_kind} {style} N={','.join(map(str, sorted(set(sizes))))}, {how}",
        }
    return entries


def _leakage_entry(nodes: list[dict], style: str) -> dict[str, float]:
    """Leakage per lane and per neuron, fitted like the area (a serial node: one lane), when
    every node of the kind reports it; otherwise none (the estimate then says so)."""
    if not all("leakage_w" in n for n in nodes):
        return {}
    leaks = [float(n["leakage_w"]) for n in nodes]
    if style != "parallel":
        return {"leakage_w": float(np.mean(leaks)), "overhead_leakage_w": 0.0}
    leak0, leak_lane = _fit([int(n["inputs"]) for n in nodes], leaks)
    return {"leakage_w": leak_lane, "overhead_leakage_w": leak0}


def _storage_from_liberty(path: str | os.PathLike) -> dict[str, dict]:
    """Register bit = the library's plain flip-flop; register-file bit = flip-flop + 2:1 mux
    (a D-deep read tree has D - 1 muxes per bit column). The per-bit figures are the memory
    macro model's (``bitwave.synth.eda.memory_macro``), so the cost model and synthesis agree."""
    from bitwave.synth.eda.liberty import load_library
    from bitwave.synth.eda.memory_macro import bit_figures

    figures = bit_figures(load_library(path))
    name = Path(path).name
    return {
        "register_bit": {
            "area_um2": figures.flop_area_um2,
            "energy_j": figures.register_bit_energy_j,
            "leakage_w": figures.flop_leakage_w,
            "from": f"liberty {name}: {figures.flop} area and leakage; internal energy per clock cycle (2 clock edges + 50% data activity)",
        },
        "regfile_bit_read": {
            "area_um2": figures.flop_area_um2 + figures.mux_area_um2,
            "energy_j": figures.mux_level_energy_j,
            "leakage_w": figures.flop_leakage_w + figures.mux_leakage_w,
            "from": f"liberty {name}: {figures.flop} + {figures.mux} per stored bit, area and leakage (the memory macro model; no SRAM macro in the open library); energy per read per mux level at 50% activity",
        },
    }


def _sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def make_table(nodes_path: str | os.PathLike, liberty: str | os.PathLike | None = None) -> dict:
    """Build a cost table (as a YAML-ready dict) from ``bitwave nodes`` output."""
    nodes = read_nodes(nodes_path)
    actions = _mac_entries(nodes)
    if not actions:
        kinds = sorted({str(n["kind"]) for n in nodes})
        raise BitwaveError(
            f"{nodes_path}: no node kind usable for a MAC entry (have {kinds}; allowed: {', '.join(NODE_KINDS)})"
        )
    libraries = sorted({str(n["library"]) for n in nodes})
    clocks = sorted({float(n["clock_mhz"]) for n in nodes})
    source: dict[str, Any] = {
        "generated_by": "bitwave cost --make-table",
        "nodes": Path(nodes_path).name,
        "nodes_sha256": _sha256(nodes_path),
    }
    if liberty is not None:
        actions.update(_storage_from_liberty(liberty))
        source["liberty"] = Path(liberty).name
        source["liberty_sha256"] = _sha256(liberty)
    return {
        "format": FORMAT,
        "version": 1,
        "library": " + ".join(libraries),
        "clock_mhz": clocks[0] if len(clocks) == 1 else float(np.median(clocks)),
        "source": source,
        "actions": {name: actions[name] for name in ACTIONS if name in actions},
    }


def table_yaml(table: dict) -> str:
    header = (
        "# Generated by `bitwave cost --make-table`; edit freely, or regenerate from the nodes.\n"
    )
    return header + yaml.safe_dump(table, sort_keys=False, width=120)


def depth_levels(depth: int) -> int:
    """2:1 mux levels on the read path of a ``depth``-word register file."""
    return max(1, math.ceil(math.log2(max(depth, 1))))
