"""Single N-input nodes for the per-node cost comparison ("efficiency in hardware"), in Amaranth:

* ``float32``: IEEE-754 binary32 multiply then add, each rounded to nearest even (subnormals
  flushed, see fp32.py);
* ``int16`` / ``int8``: signed fixed-point multiply-accumulate, exact (wide accumulator);
* ``xnor``: XNOR-popcount with variable weights (weights are inputs, as in the talk);
* ``xnor_const``: XNOR-popcount with constant weights baked into the logic.

The parallel XNOR nodes count with the generator's compressor tree (bitwave.hw.popcount), the
circuit a generated neuron uses, so that the cost table calibrated on them (``bitwave cost
--make-table``) prices generated networks; the multi-bit nodes sum with a pairwise adder tree.

Each in two forms at the same clock: ``parallel`` (N MACs per cycle: N products and an adder
tree, result registered) and ``serial`` (one MAC per cycle into an accumulator; ``start``
restarts the accumulation with the current product).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from amaranth import Const, Module, Mux, Signal
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from bitwave.core.errors import BitwaveError
from bitwave.hw.popcount import popcount_tree
from bitwave.synth.studies.fp32 import fp_add, fp_mul, reference_add, reference_mul

KINDS = ("float32", "int16", "int8", "xnor", "xnor_const")
FORMS = ("parallel", "serial")
WIDTH = {"float32": 32, "int16": 16, "int8": 8, "xnor": 1, "xnor_const": 1}


def output_width(kind: str, n: int) -> int:
    if kind == "float32":
        return 32
    if kind.startswith("xnor"):
        return n.bit_length()
    return 2 * WIDTH[kind] + max(1, (n - 1).bit_length()) + 1


def constant_weights(n: int, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, n).astype(bool)


class Node(wiring.Component):
    """One node. Ports: x (N*width, lane i at bits i*width), w (absent for xnor_const), start
    (serial only), y (registered result)."""

    def __init__(self, kind: str, n: int, form: str) -> None:
        if kind not in KINDS:
            raise BitwaveError(f"unknown node kind {kind!r}; choose from {', '.join(KINDS)}")
        if form not in FORMS:
            raise BitwaveError(f"unknown node form {form!r}; choose parallel or serial")
        self.kind, self.n, self.form = kind, n, form
        lanes = n if form == "parallel" else 1
        ports = {"x": In(lanes * WIDTH[kind]), "y": Out(output_width(kind, n))}
        if kind != "xnor_const":
            ports["w"] = In(lanes * WIDTH[kind])
        if form == "serial":
            ports["start"] = In(1)
        super().__init__(ports)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        width = WIDTH[self.kind]
        lanes = self.n if self.form == "parallel" else 1
        if self.kind == "xnor_const" and self.form == "serial":
            # The constant weight of the current input comes from a counter-indexed table.
            index = Signal(range(self.n))
            with m.If(self.start | (index == self.n - 1)):
                m.d.sync += index.eq(Mux(self.start, 1, 0))
            with m.Else():
                m.d.sync += index.eq(index + 1)
            table = constant_weights(self.n)
            weight = Signal()
            with m.Switch(Mux(self.start, 0, index)):
                for i, bit in enumerate(table):
                    with m.Case(i):
                        m.d.comb += weight.eq(int(bit))
            weights = [weight]
        elif self.kind == "xnor_const":
            weights = [Const(int(bit), 1) for bit in constant_weights(self.n)]
        else:
            weights = [self.w[i * width : (i + 1) * width] for i in range(lanes)]
        xs = [self.x[i * width : (i + 1) * width] for i in range(lanes)]
        if self.kind.startswith("xnor") and self.form == "parallel":
            total = self._popcount(m, xs, weights)
        else:
            products = [
                self._product(m, x, w, i) for i, (x, w) in enumerate(zip(xs, weights, strict=True))
            ]
            total = self._tree(m, products)
        if self.form == "parallel":
            m.d.sync += self.y.eq(total)
        else:
            accumulated = self._add(m, self.y, total, "acc")
            m.d.sync += self.y.eq(Mux(self.start, total, accumulated))
        return m

    def _popcount(self, m: Module, xs: list, weights: list) -> object:
        """The generator's own compressor tree (bitwave.hw.popcount), so that the node costs
        what a generated neuron costs: XNOR(x, w) = ~(x ^ w) enters as a negated bit, and a
        constant weight of -1 (0) as a negated x, which costs no gate at all."""
        if self.kind == "xnor_const":
            bits = xs
            negate = [not bool(w.value) for w in weights]
        else:
            bits = [
                self._signal(m, x ^ w, f"differ{i}")
                for i, (x, w) in enumerate(zip(xs, weights, strict=True))
            ]
            negate = [True] * len(bits)
        count, _ = popcount_tree(m, bits, negate)
        return count

    @staticmethod
    def _signal(m: Module, expr: object, name: str) -> Signal:
        signal = Signal(name=name)
        m.d.comb += signal.eq(expr)
        return signal

    def _product(self, m: Module, x: object, w: object, i: int) -> object:
        if self.kind.startswith("xnor"):
            agree = Signal(name=f"agree{i}")
            m.d.comb += agree.eq(~(x ^ w))
            return agree
        # Each multiplier is its own component, hence its own Verilog module: Yosys and abc then
        # work on one small module at a time (one flat module of N multipliers is much slower).
        unit = Operator("fmul" if self.kind == "float32" else "imul", WIDTH[self.kind])
        m.submodules[f"mul{i}"] = unit
        m.d.comb += [unit.a.eq(x), unit.b.eq(w)]
        return unit.y.as_signed() if self.kind != "float32" else unit.y

    def _add(self, m: Module, a: object, b: object, name: str) -> object:
        if self.kind == "float32":
            unit = Operator("fadd", 32)
            m.submodules[name] = unit
            m.d.comb += [unit.a.eq(a), unit.b.eq(b)]
            return unit.y
        if self.kind.startswith("xnor"):
            return a + b
        return a.as_signed() + b.as_signed() if hasattr(a, "as_signed") else a + b

    def _tree(self, m: Module, terms: list) -> object:
        """Balanced pairwise tree: level by level, (t0+t1), (t2+t3), ...; an odd last term
        passes up unchanged. The reference model sums in the same order."""
        level = 0
        while len(terms) > 1:
            nxt = []
            for j in range(0, len(terms) - 1, 2):
                if self.kind == "float32":
                    nxt.append(self._add(m, terms[j], terms[j + 1], name=f"add{level}_{j}"))
                else:
                    nxt.append(terms[j] + terms[j + 1])
            if len(terms) % 2:
                nxt.append(terms[-1])
            terms, level = nxt, level + 1
        return terms[0]


class Operator(wiring.Component):
    """One arithmetic operator as a component: fmul / fadd (binary32) or imul (signed)."""

    def __init__(self, op: str, width: int) -> None:
        self.op = op
        out = 2 * width if op == "imul" else 32
        super().__init__({"a": In(width), "b": In(width), "y": Out(out)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        if self.op == "fmul":
            m.d.comb += self.y.eq(fp_mul(m, self.a, self.b))
        elif self.op == "fadd":
            m.d.comb += self.y.eq(fp_add(m, self.a, self.b))
        else:
            m.d.comb += self.y.eq(self.a.as_signed() * self.b.as_signed())
        return m


# ---- reference model ---------------------------------------------------------------------


def reference_tree(kind: str, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The parallel node's result for x, w of shape (vectors, N) (raw integers / bit patterns /
    booleans); same pairwise order as the hardware."""
    if kind == "float32":
        terms = [reference_mul(x[:, i], w[:, i]) for i in range(x.shape[1])]
        while len(terms) > 1:
            nxt = [reference_add(terms[j], terms[j + 1]) for j in range(0, len(terms) - 1, 2)]
            if len(terms) % 2:
                nxt.append(terms[-1])
            terms = nxt
        return terms[0]
    if kind.startswith("xnor"):
        return (~(x.astype(bool) ^ w.astype(bool))).sum(axis=1)
    return (x.astype(np.int64) * w.astype(np.int64)).sum(axis=1)


def reference_serial(kind: str, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Accumulate x[:, t] * w[:, t] over t in order (the serial node after N cycles)."""
    if kind == "float32":
        acc = reference_mul(x[:, 0], w[:, 0])
        for t in range(1, x.shape[1]):
            acc = reference_add(acc, reference_mul(x[:, t], w[:, t]))
        return acc
    return reference_tree(kind, x, w)


def random_operands(
    kind: str, vectors: int, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Random x, w of shape (vectors, n) as the node's raw port values."""
    if kind == "float32":
        # Gaussian values over a moderate exponent range: every product and sum stays normal.
        def draw() -> np.ndarray:
            return (
                (rng.standard_normal((vectors, n)) * np.exp2(rng.integers(-8, 8, (vectors, n))))
                .astype(np.float32)
                .view(np.uint32)
            )

        return draw(), draw()
    if kind in ("int16", "int8"):
        bits = WIDTH[kind]
        lo, hi = -(1 << (bits - 1)), 1 << (bits - 1)
        return rng.integers(lo, hi, (vectors, n)), rng.integers(lo, hi, (vectors, n))
    x = rng.integers(0, 2, (vectors, n)).astype(bool)
    if kind == "xnor_const":
        return x, np.broadcast_to(constant_weights(n), (vectors, n))
    return x, rng.integers(0, 2, (vectors, n)).astype(bool)


def pack_word(values: np.ndarray, width: int) -> list[int]:
    """(vectors, lanes) values -> one integer per vector with lane i at bits i*width."""
    mask = (1 << width) - 1
    out = []
    for row in values:
        word = 0
        for i, v in enumerate(row):
            word |= (int(v) & mask) << (i * width)
        out.append(word)
    return out


def operand_bits(values: np.ndarray, width: int) -> np.ndarray:
    """(vectors, lanes) integers -> (vectors, lanes*width) bits, lane i at bits i*width (two's
    complement for negative values)."""
    values = np.asarray(values).astype(np.int64)
    shifts = np.arange(width, dtype=np.int64)
    return ((values[:, :, None] >> shifts) & 1).astype(bool).reshape(values.shape[0], -1)


def to_signed(value: int, width: int) -> int:
    return value - (1 << width) if value >> (width - 1) & 1 else value


def node_verilog(kind: str, n: int, form: str, top: str) -> str:
    return verilog.convert(Node(kind, n, form), name=top, emit_src=False)


# ---- the comparison ----------------------------------------------------------------------


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


def synthesize_node(
    kind: str,
    n: int,
    form: str,
    clock_mhz: float,
    liberty: Path | None = None,
    lanes: int = 64,
    cycles: int = 24,
    seed: int = 0,
) -> NodeResult:
    """Map one node to the liberty, simulate it on random operands (checking its outputs
    against the numpy reference), and measure area, power and energy per MAC."""
    from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY
    from bitwave.synth.eda.gatesim import GateSimulator, pack_lanes
    from bitwave.synth.flows.flow import require_ok, run_asic

    liberty = liberty or COMPACT_LIBRARY
    top = f"node_{kind}_{form}_{n}"
    rng = np.random.default_rng(seed)
    width = WIDTH[kind]
    out_width = output_width(kind, n)
    checked = {"vectors": 0}
    start = time.perf_counter()

    def check(expected: np.ndarray, got: np.ndarray, what: str) -> None:
        if kind in ("int16", "int8"):
            got = np.array([to_signed(int(v), out_width) for v in got], dtype=object)
        expected = np.asarray(expected).astype(object)
        bad = np.flatnonzero(
            np.asarray([int(e) != int(g) for e, g in zip(expected, got, strict=True)])
        )
        if len(bad):
            raise BitwaveError(
                f"gate-level {top} {what}: lane {bad[0]} gives {got[bad[0]]}, reference {expected[bad[0]]}"
            )
        checked["vectors"] += len(expected)

    def drive_parallel(sim: GateSimulator) -> None:
        previous = None
        for _ in range(cycles):
            x, w = random_operands(kind, lanes, n, rng)
            sim.set_input("x", pack_lanes(operand_bits(x, width)))
            if kind != "xnor_const":
                sim.set_input("w", pack_lanes(operand_bits(w, width)))
            sim.evaluate()
            if previous is not None:
                check(reference_tree(kind, *previous), sim.get_output_int("y"), "parallel result")
            sim.clock()
            previous = (x, w)

    def drive_serial(sim: GateSimulator) -> None:
        # Back-to-back accumulations of N MACs each; the result is checked when the next starts.
        rounds = max(1, cycles // n) if n <= cycles else 1
        total_cycles = max(cycles, rounds * n)
        x, w = random_operands(kind, lanes, total_cycles, rng)
        if kind == "xnor_const":
            w = np.broadcast_to(
                np.tile(constant_weights(n), total_cycles // n + 1)[:total_cycles],
                (lanes, total_cycles),
            )
        for t in range(total_cycles + 1):
            if t < total_cycles:
                sim.set_input("x", pack_lanes(operand_bits(x[:, t : t + 1], width)))
                if kind != "xnor_const":
                    sim.set_input("w", pack_lanes(operand_bits(w[:, t : t + 1], width)))
                sim.set_input_int("start", 1 if t % n == 0 else 0)
            sim.evaluate()
            if t > 0 and t % n == 0:
                check(
                    reference_serial(kind, x[:, t - n : t], w[:, t - n : t]),
                    sim.get_output_int("y"),
                    "serial accumulation",
                )
            sim.clock()

    with tempfile.TemporaryDirectory(prefix="bitwave_node_") as tmp:
        rtl = Path(tmp) / f"{top}.v"
        rtl.write_text(node_verilog(kind, n, form, top))
        result = run_asic(
            [rtl],
            top,
            liberty,
            clock_mhz * 1e6,
            drive_parallel if form == "parallel" else drive_serial,
            lanes=lanes,
            cross_check=False,
            # A node's only table (the serial constant-weight node's) is logic, not a memory.
            memories="cells",
        )
    require_ok(result)
    if checked["vectors"] == 0:
        raise BitwaveError(f"{top}: the simulation checked no output against the reference")
    macs = n if form == "parallel" else 1
    energy_per_cycle = result.power.total_w / (clock_mhz * 1e6)
    return NodeResult(
        kind=kind, form=form, n=n, area_um2=result.area_um2,
        cells=sum(e["count"] for e in result.by_cell.values()),
        dynamic_w=result.power.dynamic_w, leakage_w=result.power.leakage_w, total_w=result.power.total_w,
        macs_per_cycle=macs, energy_per_mac_j=energy_per_cycle / macs, area_per_mac_um2=result.area_um2 / macs,
        max_clock_mhz=result.timing.max_clock_mhz, yosys_seconds=result.yosys_seconds,
        flow_seconds=time.perf_counter() - start, verified_vectors=checked["vectors"],
    )  # fmt: skip


def run_comparison(
    sizes: list[int],
    clock_mhz: float,
    out: Path,
    kinds: list[str] | None = None,
    float_max_parallel: int = 64,
    liberty: Path | None = None,
    workers: int = 1,
) -> dict:
    """Synthesize every (kind, form, N) and write out/README.md, out/nodes.json, out/nodes.png;
    ``workers`` nodes at a time (each in its own process)."""
    if workers < 1:
        raise BitwaveError(f"--jobs must be at least 1, got {workers}")

    kinds = kinds or list(KINDS)
    for kind in kinds:
        if kind not in KINDS:
            raise BitwaveError(f"unknown node kind {kind!r}; choose from {', '.join(KINDS)}")
    jobs, skipped = [], []
    for n in sizes:
        for kind in kinds:
            for form in FORMS:
                if kind == "float32" and form == "parallel" and n > float_max_parallel:
                    skipped.append(
                        {
                            "kind": kind,
                            "form": form,
                            "n": n,
                            "reason": f"fully parallel float32 above N={float_max_parallel} is skipped (--float-max-parallel): synthesis time",
                        }
                    )
                    continue
                jobs.append((kind, form, n))
    results, failed = _synthesize_all(jobs, clock_mhz, liberty, workers)
    skipped += failed
    data = {
        "clock_mhz": clock_mhz,
        "liberty": str(liberty or "synth/data/compact45.lib (NanGate45 typical, compact)"),
        "results": [r.__dict__ for r in results],
        "skipped": skipped,
        "ratios_vs_xnor": _ratios(results),
    }
    write_report(data, out)
    return data


def _synthesize_all(
    jobs: list[tuple[str, str, int]], clock_mhz: float, liberty: Path | None, workers: int
) -> tuple[list[NodeResult], list[dict]]:
    """Results in the order of ``jobs``, whatever order they finish in, and the nodes Yosys
    could not synthesize (recorded with the reason; any other error, such as a gate-level
    mismatch, stops the comparison)."""
    from concurrent.futures import Future, ProcessPoolExecutor, as_completed

    from tqdm import tqdm

    from bitwave.synth.tools.yosys import YosysError

    outcomes: dict[int, NodeResult | YosysError] = {}

    def settle(index: int, run: Callable[[], NodeResult]) -> None:
        try:
            outcomes[index] = run()
        except YosysError as error:
            kind, form, n = jobs[index]
            tqdm.write(
                f"warning: {kind} {form} N={n} not synthesized: {str(error).splitlines()[0]}"
            )
            outcomes[index] = error

    if workers == 1:
        for index, (kind, form, n) in enumerate(tqdm(jobs, desc="node synthesis", unit="node")):
            settle(index, partial(synthesize_node, kind, n, form, clock_mhz, liberty=liberty))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            # Largest nodes first, so that the long ones do not start last.
            order = sorted(range(len(jobs)), key=lambda index: -jobs[index][2])
            futures: dict[Future, int] = {
                pool.submit(
                    synthesize_node, jobs[i][0], jobs[i][2], jobs[i][1], clock_mhz, liberty=liberty
                ): i
                for i in order
            }
            for future in tqdm(
                as_completed(futures), total=len(jobs), desc="node synthesis", unit="node"
            ):
                settle(futures[future], future.result)
    results, failed = [], []
    for index, (kind, form, n) in enumerate(jobs):
        outcome = outcomes[index]
        if isinstance(outcome, NodeResult):
            results.append(outcome)
        else:
            failed.append({"kind": kind, "form": form, "n": n, "reason": _failure_reason(outcome)})
    return results, failed


def _failure_reason(error: Exception) -> str:
    """One line for the report: Yosys' exit status and the last line it printed (the log
    tail and stderr follow the first line of a YosysError); no temporary paths."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    head = lines[0].split(" running ")[0] if lines else "yosys failed"
    return f"{head}: {lines[-1]}" if len(lines) > 1 else head


def write_report(data: dict, out: Path) -> None:
    """Write nodes.json, nodes.png and README.md for comparison data (as run_comparison builds
    it, or as read back from a nodes.json)."""
    from bitwave.core.paths import write_text

    results = [NodeResult(**entry) for entry in data["results"]]
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "nodes.json", json.dumps(data, indent=2) + "\n")
    _plot(results, out / "nodes.png")
    write_text(out / "README.md", _readme(data, results))


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


def _plot(results: list[NodeResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bitwave.core.paths import atomic_write

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
