"""CLI: ``bitwave synth DIR`` (ASIC area/timing/power or FPGA resources of a generated design),
``bitwave nodes`` (the per-node cost comparison) and ``bitwave derive-liberty``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _handle_synth(args: argparse.Namespace) -> int:
    from bitwave.core.errors import BitwaveError

    if args.target != "asic45" and args.liberty:
        raise BitwaveError(
            "--liberty applies to the ASIC flow only: drop --target or use --target asic45"
        )
    if args.target != "asic45" and args.memories is not None:
        raise BitwaveError(
            "--memories applies to the ASIC flow only (FPGA synthesis maps memories to block RAM itself)"
        )
    if args.target in ("ice40", "ecp5", "xilinx"):
        from bitwave.core.paths import inside
        from bitwave.synth.flows.design import binary_macs_per_frame, read_manifest
        from bitwave.synth.flows.flow import write_json
        from bitwave.synth.flows.fpga import fpga_resources

        manifest = read_manifest(args.design)
        out = inside(manifest.root, "synth")
        result = fpga_resources(
            [manifest.rtl],
            manifest.top,
            args.target,
            workdir=out / f"fpga_{args.target}",
            clock_port=manifest.clock_port,
        )
        macs = binary_macs_per_frame(manifest.layers)
        parallel_macs = sum(
            int(layer.get("pe", 1)) * int(layer.get("simd", 1))
            for layer in manifest.layers
            if isinstance(layer, dict)
        )
        result["luts_per_binary_mac"] = (
            result["resources"]["lut"] / parallel_macs if parallel_macs else None
        )
        result["binary_macs_per_cycle"] = parallel_macs or None
        result["binary_macs_per_frame"] = macs or None
        write_json(out / f"fpga_{args.target}.json", result)
        print(json.dumps({"target": args.target, **result["resources"], "luts_per_binary_mac": result["luts_per_binary_mac"],
                          "place_and_route": result.get("place_and_route")}, indent=2))  # fmt: skip
        return 0
    from bitwave.synth.flows.design import synthesize_design

    summary = synthesize_design(
        args.design,
        liberty=args.liberty,
        clock_mhz=args.clock_mhz,
        inputs=args.inputs,
        memories=args.memories or "auto",
        max_fanout=args.max_fanout,
    )
    print(
        json.dumps(
            {k: (float(v) if isinstance(v, int | float) else v) for k, v in summary.items()},
            indent=2,
        )
    )
    return 0


def _handle_nodes(args: argparse.Namespace) -> int:
    from bitwave.core.errors import BitwaveError
    from bitwave.synth.studies.nodes import run_comparison

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


def _handle_derive(args: argparse.Namespace) -> int:
    from bitwave.synth.eda.derive_liberty import (
        COMPACT_LIBRARY,
        default_full_library,
        derive_compact,
    )

    summary = derive_compact(args.full or default_full_library(), args.out or COMPACT_LIBRARY)
    print(f"wrote {summary['out']}: {summary['cells']} cells, {summary['bytes']} bytes")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from bitwave.synth.eda.fanout import DEFAULT_MAX_FANOUT

    parser = subparsers.add_parser(
        "synth",
        help="synthesize a generated design: area, timing, activity-based power (or FPGA resources)",
        description="Yosys synthesis of DIR (manifest.json + rtl/) onto a liberty library (default: the "
        "compact NanGate45 library shipped with bitwave) or an FPGA. Writes DIR/synth/.",
    )
    parser.add_argument("design", help="generated design folder (with manifest.json and rtl/)")
    parser.add_argument("--liberty", help="liberty file (.lib or .lib.gz) for the ASIC flow")
    parser.add_argument(
        "--target",
        choices=("asic45", "ice40", "ecp5", "xilinx"),
        default="asic45",
        help="asic45 (default) or an FPGA family",
    )
    parser.add_argument(
        "--clock-mhz", type=_positive_float, help="clock for power (default: the manifest's)"
    )
    parser.add_argument(
        "--inputs",
        help=".npy of input frames (n_frames, bits_per_frame), 0/1 or -1/+1; default random",
    )
    parser.add_argument(
        "--memories",
        choices=("auto", "macro", "cells"),
        help="ASIC flow: auto (default) keeps RAMs as macros priced by bitwave's memory macro "
        "model and maps ROMs to logic; macro keeps every memory as a macro; cells maps all to "
        "flip-flops and logic",
    )
    parser.add_argument(
        "--max-fanout",
        type=int,
        default=DEFAULT_MAX_FANOUT,
        metavar="N",
        help=f"ASIC flow: buffer trees on nets with more than N loads before timing, power and "
        f"the golden check (default {DEFAULT_MAX_FANOUT}; 0 = no repair; the clock net is "
        "left ideal)",
    )
    parser.set_defaults(func=_handle_synth)

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

    derive = subparsers.add_parser(
        "derive-liberty",
        help="derive the compact liberty from a full one",
        description="Reduce a full liberty to the compact form bitwave ships (areas, leakage, pins exact; timing/power simplified).",
    )
    derive.add_argument(
        "full",
        nargs="?",
        help="full liberty (.lib or .lib.gz; default ../shared/pdk/nangate45_typ.lib.gz)",
    )
    derive.add_argument(
        "out", nargs="?", help="compact liberty to write (default synth/data/compact45.lib)"
    )
    derive.set_defaults(func=_handle_derive)
