"""``bitwave nodes``: the per-node cost comparison. hw builds each node (Verilog, reference,
stimulus: ``bitwave.hw.nodes``), synth maps, checks and measures it and writes the report
(``bitwave.synth.studies.nodes``); this module plans the nodes and runs them, several at once
when asked."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from bitwave.core.errors import BitwaveError
from bitwave.synth.tools.yosys import YosysError

if TYPE_CHECKING:
    from bitwave.synth.studies.nodes import NodeResult

# hw and synth are imported where used, so that ``bitwave --help`` does not load Amaranth.

Job = tuple[str, str, int]  # kind, form, N


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
    """Build one node in hw, then map it to the liberty, simulate it on random operands
    (checking its outputs against the numpy reference) and measure it in synth."""
    from bitwave.hw.nodes import node_stimulus, node_top, node_verilog, output_width, signed_output
    from bitwave.synth.studies.nodes import NodeRtl, measure_node

    started = time.perf_counter()
    top = node_top(kind, n, form)
    node = NodeRtl(
        kind=kind,
        form=form,
        n=n,
        top=top,
        verilog=node_verilog(kind, n, form, top),
        macs_per_cycle=n if form == "parallel" else 1,
        signed_width=output_width(kind, n) if signed_output(kind) else None,
    )
    stimulus = node_stimulus(kind, n, form, lanes=lanes, cycles=cycles, seed=seed)
    return measure_node(node, stimulus, clock_mhz, liberty, lanes=lanes, started=started)


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
    from bitwave.hw.nodes import KINDS
    from bitwave.synth.studies.nodes import comparison_data, write_report

    if workers < 1:
        raise BitwaveError(f"--jobs must be at least 1, got {workers}")
    jobs, skipped = _plan(sizes, kinds or list(KINDS), float_max_parallel)
    results, failed = _synthesize_all(jobs, clock_mhz, liberty, workers)
    data = comparison_data(results, skipped + failed, clock_mhz, liberty)
    write_report(data, out)
    return data


def _plan(
    sizes: list[int], kinds: list[str], float_max_parallel: int
) -> tuple[list[Job], list[dict]]:
    """The nodes to synthesize, and those skipped (large parallel float32) with the reason."""
    from bitwave.hw.nodes import FORMS, KINDS

    for kind in kinds:
        if kind not in KINDS:
            raise BitwaveError(f"unknown node kind {kind!r}; choose from {', '.join(KINDS)}")
    jobs, skipped = [], []
    for n in sizes:
        for kind in kinds:
            for form in FORMS:
                if kind == "float32" and form == "parallel" and n > float_max_parallel:
                    reason = (
                        f"fully parallel float32 above N={float_max_parallel} is skipped "
                        "(--float-max-parallel): synthesis time"
                    )
                    skipped.append({"kind": kind, "form": form, "n": n, "reason": reason})
                    continue
                jobs.append((kind, form, n))
    return jobs, skipped


def _synthesize_all(
    jobs: list[Job], clock_mhz: float, liberty: Path | None, workers: int
) -> tuple[list[NodeResult], list[dict]]:
    """Results in the order of ``jobs``, whatever order they finish in, and the nodes Yosys
    could not synthesize (recorded with the reason; any other error, such as a gate-level
    mismatch, stops the comparison)."""
    from tqdm import tqdm

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
        _synthesize_in_processes(jobs, clock_mhz, liberty, workers, settle)
    results, failed = [], []
    for index, (kind, form, n) in enumerate(jobs):
        outcome = outcomes[index]
        if isinstance(outcome, YosysError):
            failed.append({"kind": kind, "form": form, "n": n, "reason": outcome.summary()})
        else:
            results.append(outcome)
    return results, failed


def _synthesize_in_processes(
    jobs: list[Job],
    clock_mhz: float,
    liberty: Path | None,
    workers: int,
    settle: Callable[[int, Callable[[], NodeResult]], None],
) -> None:
    from concurrent.futures import Future, ProcessPoolExecutor, as_completed

    from tqdm import tqdm

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


# ---- the command ---------------------------------------------------------------------------


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _handle_nodes(args: argparse.Namespace) -> int:
    try:
        sizes = [int(x) for x in args.inputs.split(",") if x.strip()]
    except ValueError:
        raise BitwaveError(
            f"--inputs must be comma-separated integers like 64,256,1024, got {args.inputs!r}"
        ) from None
    if not sizes or any(n < 2 or n > 4096 for n in sizes):
        raise BitwaveError(f"--inputs sizes must be between 2 and 4096, got {args.inputs!r}")
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()] if args.kinds else None
    run_comparison(
        sizes,
        args.clock_mhz,
        Path(args.out),
        kinds=kinds,
        float_max_parallel=args.float_max_parallel,
        workers=args.jobs,
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    nodes = subparsers.add_parser(
        "nodes",
        help="per-node cost comparison: float32 / int16 / int8 MAC vs XNOR-popcount on NanGate45",
        description="Synthesize single N-input nodes (fully parallel and one MAC per cycle) and compare area, power and energy per MAC.",
    )
    nodes.add_argument(
        "--inputs", default="64,256,1024", help="comma-separated node sizes N (default 64,256,1024)"
    )
    nodes.add_argument(
        "--clock-mhz", type=_positive_float, default=100.0, help="common clock (default 100)"
    )
    nodes.add_argument(
        "--out", default="reports/nodes", help="output folder (default reports/nodes)"
    )
    nodes.add_argument("--kinds", help="subset of node kinds, comma-separated (default all)")
    nodes.add_argument(
        "--float-max-parallel",
        type=int,
        default=64,
        help="largest fully parallel float32 node synthesized (default 64)",
    )
    nodes.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="nodes synthesized at once, one process each (default 1)",
    )
    nodes.set_defaults(func=_handle_nodes)
