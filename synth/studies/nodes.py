"""Per-node cost comparison (``bitwave nodes``): synthesize single arithmetic nodes, check
their mapped netlists against the reference at gate level, measure area, power and energy per
MAC, and write the comparison report.

The nodes' RTL, reference and stimulus are hw's (``bitwave.hw.nodes``); the application
(``bitwave.app.nodes``) builds each node there and hands it here as Verilog plus stimulus.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bitwave.core.errors import BitwaveError
from bitwave.core.paths import atomic_write, write_text
from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY
from bitwave.synth.eda.gatesim import GateSimulator, pack_lanes
from bitwave.synth.flows.flow import AsicResult, require_ok, run_asic

DEFAULT_LIBERTY_NAME = "synth/data/compact45.lib (NanGate45 typical, compact)"

# One clock cycle of stimulus (see bitwave.hw.nodes.Step): input port -> (lanes, width) bits,
# then the expected result per lane of output y (or None) and what that result is.
Step = tuple[dict[str, np.ndarray], np.ndarray | None, str]


@dataclass(frozen=True)
class NodeRtl:
    """One node as the study measures it. ``signed_width``: y holds a two's-complement number
    of that many bits (None: unsigned)."""

    kind: str
    form: str
    n: int
    top: str
    verilog: str
    macs_per_cycle: int
    signed_width: int | None = None


@dataclass
class NodeResult:
    kind: str
    form: str
    n: int
    area_um2: float
    cells: int
    dynamic_w: float
    leakage_w: float
    total_w: float
    macs_per_cycle: int
    energy_per_mac_j: float
    area_per_mac_um2: float
    max_clock_mhz: float
    yosys_seconds: float
    flow_seconds: float
    verified_vectors: int


def measure_node(
    node: NodeRtl,
    stimulus: Iterable[Step],
    clock_mhz: float,
    liberty: Path | None = None,
    lanes: int = 64,
    started: float | None = None,
) -> NodeResult:
    """Map the node to the liberty, replay ``stimulus`` on ``lanes`` lanes of its netlist
    (checking every expected result), and measure area, power and energy per MAC.
    ``flow_seconds`` counts from ``started`` (a ``time.perf_counter()``; default now)."""
    started = time.perf_counter() if started is None else started
    checked = [0]

    def drive(sim: GateSimulator) -> None:
        checked[0] = replay(sim, stimulus, node.top, node.signed_width)

    with tempfile.TemporaryDirectory(prefix="bitwave_node_") as tmp:
        rtl = Path(tmp) / f"{node.top}.v"
        rtl.write_text(node.verilog)
        # A node's only table (the serial constant-weight node's) is logic, not a memory.
        result = run_asic([rtl], node.top, liberty or COMPACT_LIBRARY, clock_mhz * 1e6, drive,
                          lanes=lanes, cross_check=False, memories="cells")  # fmt: skip
    require_ok(result)
    if checked[0] == 0:
        raise BitwaveError(f"{node.top}: the simulation checked no output against the reference")
    return _node_result(node, result, clock_mhz, time.perf_counter() - started, checked[0])


def replay(
    sim: GateSimulator, stimulus: Iterable[Step], top: str, signed_width: int | None = None
) -> int:
    """Drive every step on the gate-level simulation, compare y with each expected result
    (a mismatch is an error naming the lane), clock; returns how many results were checked."""
    checked = 0
    for inputs, expected, what in stimulus:
        for port, bits in inputs.items():
            sim.set_input(port, pack_lanes(bits))
        sim.evaluate()
        if expected is not None:
            _check(expected, sim.get_output_int("y"), f"gate-level {top} {what}", signed_width)
            checked += len(expected)
        sim.clock()
    return checked


def _check(expected: np.ndarray, got: np.ndarray, what: str, signed_width: int | None) -> None:
    if signed_width is not None:
        got = np.array([_to_signed(int(v), signed_width) for v in got], dtype=object)
    expected = np.asarray(expected).astype(object)
    bad = np.flatnonzero(np.asarray([int(e) != int(g) for e, g in zip(expected, got, strict=True)]))
    if len(bad):
        raise BitwaveError(
            f"{what}: lane {bad[0]} gives {got[bad[0]]}, reference {expected[bad[0]]}"
        )


def _to_signed(value: int, width: int) -> int:
    return value - (1 << width) if value >> (width - 1) & 1 else value


def _node_result(
    node: NodeRtl, result: AsicResult, clock_mhz: float, seconds: float, checked: int
) -> NodeResult:
    macs = node.macs_per_cycle
    energy_per_cycle = result.power.total_w / (clock_mhz * 1e6)
    return NodeResult(
        kind=node.kind, form=node.form, n=node.n, area_um2=result.area_um2,
        cells=sum(e["count"] for e in result.by_cell.values()),
        dynamic_w=result.power.dynamic_w, leakage_w=result.power.leakage_w, total_w=result.power.total_w,
        macs_per_cycle=macs, energy_per_mac_j=energy_per_cycle / macs, area_per_mac_um2=result.area_um2 / macs,
        max_clock_mhz=result.timing.max_clock_mhz, yosys_seconds=result.yosys_seconds,
        flow_seconds=seconds, verified_vectors=checked,
    )  # fmt: skip


# ---- the comparison report -----------------------------------------------------------------


def comparison_data(
    results: list[NodeResult], skipped: list[dict], clock_mhz: float, liberty: Path | None
) -> dict:
    """The comparison as nodes.json holds it: every result, the nodes not synthesized (with
    the reason) and each kind's cost per MAC relative to the variable-weight XNOR node."""
    return {
        "clock_mhz": clock_mhz,
        "liberty": str(liberty or DEFAULT_LIBERTY_NAME),
        "results": [r.__dict__ for r in results],
        "skipped": skipped,
        "ratios_vs_xnor": _ratios(results),
    }


def write_report(data: dict, out: Path) -> None:
    """Write nodes.json, nodes.png and README.md for comparison data (as comparison_data
    builds it, or as read back from a nodes.json)."""
    results = [NodeResult(**entry) for entry in data["results"]]
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "nodes.json", json.dumps(data, indent=2) + "\n")
    _plot(results, out / "nodes.png")
    write_text(out / "README.md", _readme(data, results))


def _plot(results: list[NodeResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    labels = [f"{r.kind}\n{r.form} N={r.n}" for r in results]
    colors = {
        "float32": "#c0392b",
        "int16": "#e67e22",
        "int8": "#f1c40f",
        "xnor": "#27ae60",
        "xnor_const": "#2980b9",
    }
    for ax, key, title in (
        (axes[0], "area_per_mac_um2", "area per MAC (um^2)"),
        (axes[1], "energy_per_mac_j", "energy per MAC (fJ)"),
    ):
        values = [getattr(r, key) * (1e15 if key.startswith("energy") else 1.0) for r in results]
        ax.bar(range(len(results)), values, color=[colors[r.kind] for r in results])
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xticks(range(len(results)))
        ax.set_xticklabels(labels, rotation=90, fontsize=6)
    fig.suptitle("Per-node cost on NanGate45 (Yosys + activity-based power)")
    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=120)
    plt.close(fig)


def _readme(data: dict, results: list[NodeResult]) -> str:
    lines = [
        "# Per-node cost: float32 / int16 / int8 MAC vs XNOR-popcount",
        "",
        f"Generated by `bitwave nodes` at {data['clock_mhz']:g} MHz on {data['liberty']}. Every number below is measured "
        "by the flow: Yosys mapping (extract_fa + FA/HA cells, abc), area from the liberty, power from a zero-delay "
        "gate-level simulation of the mapped netlist on random operands (64 lanes), whose outputs are checked against "
        "the numpy reference (float32: IEEE-754 RNE per multiply and per add, subnormals flushed).",
        "",
        "`parallel` = N MACs per cycle, registered: N products and a pairwise adder tree (float32, int16, int8), or for "
        "XNOR the generator's own full-adder compressor tree (bitwave.hw.popcount; a constant weight of -1 costs no gate); "
        "`serial` = one MAC per cycle into an accumulator.",
        "",
        f"Sizes: N = {', '.join(str(n) for n in sorted({r.n for r in results}))}. Power and energy are at the common "
        f"{data['clock_mhz']:g} MHz clock; nodes marked '(below clock)' have a longer critical path than that period "
        "(unpipelined trees) and would need pipeline registers to run there, which would add area.",
        "",
        "| node | form | N | area um^2 | cells | area/MAC um^2 | power mW | energy/MAC fJ | max clock MHz | yosys s | flow s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    clock = data["clock_mhz"]
    for r in results:
        slow = " (below clock)" if r.max_clock_mhz < clock else ""
        lines.append(
            f"| {r.kind} | {r.form} | {r.n} | {r.area_um2:,.1f} | {r.cells} | {r.area_per_mac_um2:,.2f} | {r.total_w * 1e3:.4f} | "
            f"{r.energy_per_mac_j * 1e15:,.3f} | {r.max_clock_mhz:,.0f}{slow} | {r.yosys_seconds:.1f} | {r.flow_seconds:.1f} |"
        )
    lines += [
        "",
        "## Ratios to the variable-weight XNOR node (per MAC)",
        "",
        "| node | form | N | area ratio | energy ratio |",
        "|---|---|---|---|---|",
    ]
    for ratio in data["ratios_vs_xnor"]:
        lines.append(
            f"| {ratio['kind']} | {ratio['form']} | {ratio['n']} | {ratio['area_per_mac_ratio']:,.1f} | {ratio['energy_per_mac_ratio']:,.1f} |"
        )
    if data["skipped"]:
        lines += ["", "## Not synthesized", ""]
        lines += [f"- {s['kind']} {s['form']} N={s['n']}: {s['reason']}" for s in data["skipped"]]
    lines += ["", "![per-node cost](nodes.png)", ""]
    return "\n".join(lines)


def _ratios(results: list[NodeResult]) -> list[dict]:
    """Per (form, N): area and energy per MAC of each kind divided by the variable-weight XNOR node's."""
    index = {(r.kind, r.form, r.n): r for r in results}
    ratios = []
    for (kind, form, n), r in sorted(index.items()):
        base = index.get(("xnor", form, n))
        if base is None or kind == "xnor":
            continue
        ratios.append({
            "kind": kind, "form": form, "n": n,
            "area_per_mac_ratio": r.area_per_mac_um2 / base.area_per_mac_um2,
            "energy_per_mac_ratio": r.energy_per_mac_j / base.energy_per_mac_j,
        })  # fmt: skip
    return ratios
