"""CLI: ``bitwave synth DIR`` (ASIC area/timing/power or FPGA resources of a generated design)
and ``bitwave derive-liberty``. (``bitwave nodes`` is the application's: bitwave.app.nodes.)"""

from __future__ import annotations

import argparse
import json

from bitwave.core import cli_args, inputs
from bitwave.core.cli_args import add_command
from bitwave.core.errors import BitwaveError

FPGA_TARGETS = ("ice40", "ecp5", "xilinx")


def _handle_synth(args: argparse.Namespace) -> int:
    """synthesize a generated design: area, timing, activity-based power (or FPGA resources)

    Yosys synthesis of DIR (manifest.json + rtl/) onto a liberty library (default: the compact
    NanGate45 library shipped with bitwave) or an FPGA. Writes DIR/synth/.
    """
    if args.target != "asic45" and args.liberty:
        raise BitwaveError(
            "--liberty applies to the ASIC flow only: drop --target or use --target asic45"
        )
    if args.target != "asic45" and args.memories is not None:
        raise BitwaveError(
            "--memories applies to the ASIC flow only (FPGA synthesis maps memories to block RAM itself)"
        )
    if args.target != "asic45" and args.sram is not None:
        raise BitwaveError("--sram applies to the ASIC flow only: drop it or use --target asic45")
    for path in args.inputs or ():
        if not str(path).lower().endswith(".wav"):  # a full chip's WAV is read by the flow
            inputs.npy_header(path, "--inputs")
    if args.target in FPGA_TARGETS:
        return _fpga(args)
    from bitwave.synth.flows.design import synthesize_design

    summary = synthesize_design(
        args.design,
        liberty=args.liberty,
        clock_mhz=args.clock_mhz,
        inputs=_inputs(args.inputs),
        memories=args.memories or "auto",
        max_fanout=args.max_fanout,
        sram=args.sram,
    )
    print(
        json.dumps(
            {k: (float(v) if isinstance(v, int | float) else v) for k, v in summary.items()},
            indent=2,
        )
    )
    return 0


def _inputs(paths: list[str] | None) -> str | tuple[str, ...] | None:
    """One --inputs file as itself, several as the utterances they are."""
    if not paths:
        return None
    return paths[0] if len(paths) == 1 else tuple(paths)


def _fpga(args: argparse.Namespace) -> int:
    """FPGA resources (and iCE40 place-and-route) of the design: DIR/synth/fpga_<target>.json."""
    from bitwave.core import contract
    from bitwave.synth.flows.design import binary_macs_per_frame, design_ir, synth_folder
    from bitwave.synth.flows.flow import write_json
    from bitwave.synth.flows.fpga import fpga_resources

    design = contract.load(args.design)
    out = synth_folder(design)
    result = fpga_resources(
        [design.verilog],
        design.top,
        args.target,
        workdir=out / f"fpga_{args.target}",
        clock_port=design.clock.port,
    )
    macs = binary_macs_per_frame(design.layers, design_ir(design))
    parallel_macs = sum(layer.pe * layer.simd for layer in design.layers)
    result["luts_per_binary_mac"] = (
        result["resources"]["lut"] / parallel_macs if parallel_macs else None
    )
    result["binary_macs_per_cycle"] = parallel_macs or None
    result["binary_macs_per_frame"] = macs or None
    write_json(out / f"fpga_{args.target}.json", result)
    print(json.dumps({"target": args.target, **result["resources"], "luts_per_binary_mac": result["luts_per_binary_mac"],
                      "place_and_route": result.get("place_and_route")}, indent=2))  # fmt: skip
    return 0


def _handle_derive(args: argparse.Namespace) -> int:
    """derive the compact liberty from a full one

    Reduce a full liberty to the compact form bitwave ships (areas, leakage, pins exact;
    timing/power simplified).
    """
    from bitwave.synth.eda.derive_liberty import (
        COMPACT_LIBRARY,
        default_full_library,
        derive_compact,
    )

    summary = derive_compact(args.full or default_full_library(), args.out or COMPACT_LIBRARY)
    print(f"wrote {summary['out']}: {summary['cells']} cells, {summary['bytes']} bytes")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_synth(subparsers)
    _register_derive_liberty(subparsers)


def _register_synth(subparsers: argparse._SubParsersAction) -> None:
    from bitwave.synth.eda.fanout import DEFAULT_MAX_FANOUT

    parser = add_command(subparsers, "synth", _handle_synth)
    parser.add_argument(
        "design",
        type=cli_args.input_path(),
        help="generated design folder (with manifest.json and rtl/)",
    )
    parser.add_argument("--liberty", help="liberty file (.lib or .lib.gz) for the ASIC flow")
    parser.add_argument(
        "--target",
        choices=("asic45", *FPGA_TARGETS),
        default="asic45",
        help="asic45 (default) or an FPGA family",
    )
    parser.add_argument(
        "--clock-mhz",
        type=cli_args.positive_float,
        help="clock for power (default: the manifest's)",
    )
    parser.add_argument(
        "--inputs",
        type=cli_args.input_path(),
        action="append",
        metavar="X.npy|U.wav",
        help=".npy of input frames (n_frames, bits_per_frame), 0/1 or -1/+1; default random. "
        "Repeat it for several utterances: each file is one, and a recurrent (GRU) design gets "
        "the sequence-start flag with each file's first frame. A full chip (generate --audio) "
        "takes utterances: WAV files (any rate, mixed to mono) or 1-d int16 .npy samples, each "
        "at least the manifest's min_utterance_samples; default two synthetic speech-like ones",
    )
    parser.add_argument(
        "--memories",
        choices=("auto", "macro", "cells"),
        help="ASIC flow: auto (default) keeps RAMs as macros priced by bitwave's memory macro "
        "model and maps ROMs to logic; macro keeps every memory as a macro; cells maps all to "
        "flip-flops and logic",
    )
    parser.add_argument(
        "--sram",
        type=cli_args.sram_source,
        metavar="cells|openram|TABLE.yaml",
        help="ASIC flow: what prices the memory macros: cells (default) the standard-cell "
        "model; openram the FreePDK45 macros OpenRAM compiled (shipped table); or a datasheet "
        "table of your process's SRAM macros (YAML, synth/README.md 'SRAM macros')",
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


def _register_derive_liberty(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "derive-liberty", _handle_derive)
    parser.add_argument(
        "full",
        nargs="?",
        help="full liberty (.lib or .lib.gz; default ../shared/pdk/nangate45_typ.lib.gz)",
    )
    parser.add_argument(
        "out",
        nargs="?",
        type=cli_args.out_file,
        help="compact liberty to write (default synth/data/compact45.lib)",
    )
