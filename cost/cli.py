"""``bitwave cost``: what a network costs (parameters, MACs/s, memory, area/energy/cycles),
the reproduction of the published complexity table, and cost-table generation."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bitwave.core import cli_args, inputs
from bitwave.core.cli_args import add_command
from bitwave.core.errors import BitwaveError
from bitwave.cost.gating import DEFAULT_OFF_LEAKAGE_FRACTION, WHAT_IF_LABEL, off_leakage_fraction

EPILOG = """examples:
  bitwave cost cost/examples/gru_2x1024.yaml
  bitwave cost net.bwir --json --pe 16 --simd 64
  bitwave cost DESIGN_DIR --json          (a generated design, at its folding and clock)
  bitwave cost DESIGN_DIR --off-leakage-fraction 0.1   (the power-gating what-if's off state)
  bitwave cost --seed-table --out reports/cost --json
  bitwave cost --make-table reports/nodes/nodes.json --liberty LIB --out cost/tables/default.yaml
  bitwave cost --make-rom-table --out cost/tables/rom_logic.yaml"""


def _load_arch(path: Path, frames_per_second: float | None):  # noqa: ANN202 - returns ArchCost
    from bitwave.cost.adapters import DEFAULT_FPS, load_ir
    from bitwave.cost.architectures import build
    from bitwave.cost.spec import load_yaml

    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        if frames_per_second is not None:
            raise BitwaveError(
                "--frames-per-second applies to IR files; a YAML description sets 'audio' instead"
            )
        return build(load_yaml(path))
    if suffix == ".bwir":
        if not path.is_file():
            raise BitwaveError(f"IR file {path} does not exist")
        return load_ir(path, frames_per_second or DEFAULT_FPS)
    raise BitwaveError(
        f"{path}: unknown input type {suffix or '(none)'}; allowed: .yaml/.yml architecture descriptions or .bwir IR files"
    )


def _cost_design(args: argparse.Namespace) -> int:
    """A design folder: the structural estimate at its foldings and clock."""
    from bitwave.cost.engines import estimate_design
    from bitwave.cost.report import design_text
    from bitwave.cost.tables import load_table

    if args.pe or args.simd:
        raise BitwaveError(
            "--pe/--simd apply to ARCH files; a design folder carries its own folding "
            "(regenerate it with bitwave generate --fold to change it)"
        )
    table = load_table(args.table) if args.table else None
    estimate = estimate_design(args.arch, table, frames_per_second=args.frames_per_second,
                               off_leakage_fraction=_off_fraction(args),
                               sram=args.sram)  # fmt: skip
    print(design_text(estimate))
    if args.json:
        print(json.dumps(estimate.to_json()))
    return 0


def _make_rom_table(args: argparse.Namespace) -> int:
    from bitwave.core.paths import write_text
    from bitwave.cost.engines import make_rom_fit, rom_table_yaml

    if not args.out:
        raise BitwaveError(
            "--make-rom-table needs --out FILE.yaml (e.g. cost/tables/rom_logic.yaml)"
        )
    inputs.output_file(args.out, "--out")
    fit = make_rom_fit(args.liberty)
    write_text(args.out, rom_table_yaml(fit))
    print(f"wrote {args.out}: {len(fit.points)} tables measured")
    return 0


def _cost_one(args: argparse.Namespace) -> int:
    from bitwave.cost.hardware import Folding, estimate
    from bitwave.cost.report import arch_json, arch_text
    from bitwave.cost.tables import DEFAULT_TABLE, load_table

    if args.sram is not None:
        raise BitwaveError(
            "--sram prices the RAMs of a design folder (bitwave generate --weights memory); "
            "an ARCH file's estimate uses the cost table's register file"
        )
    arch = _load_arch(Path(args.arch), args.frames_per_second)
    hardware, note = None, ""
    folding, fraction = Folding(args.pe, args.simd), _off_fraction(args)
    if args.table:
        hardware = estimate(arch, load_table(args.table), folding, fraction)
    elif DEFAULT_TABLE.is_file():
        try:
            hardware = estimate(arch, load_table(DEFAULT_TABLE), folding, fraction)
        except BitwaveError as error:  # the default table may not cover every MAC kind yet
            note = f"not available from the default table: {error}"
    else:
        note = f"no table ({DEFAULT_TABLE.name} not generated yet: `bitwave cost --make-table reports/nodes/nodes.json`)"
    print(arch_text(arch, hardware, note))
    if args.json:
        print(json.dumps(arch_json(arch, hardware)))
    return 0


def _off_fraction(args: argparse.Namespace) -> float:
    if args.off_leakage_fraction is None:
        return DEFAULT_OFF_LEAKAGE_FRACTION
    return args.off_leakage_fraction


def _seed_table(args: argparse.Namespace) -> int:
    from bitwave.cost.report import seed_markdown, seed_results, write_seed_report

    results = seed_results()
    written = write_seed_report(Path(args.out), results)
    print(seed_markdown(results))
    for path in written:
        print(f"wrote {path}")
    if args.json:
        keys = ("name", "published_params_m", "params_m", "published_gmacs", "gmacs")
        print(json.dumps({"rows": [{k: row[k] for k in keys} for row in results["rows"]]}))
    failures = [
        r["name"] for r in results["rows"] if "FAIL" in (r["params_status"], r["gmacs_status"])
    ]
    if failures:
        print(f"rows outside tolerance: {', '.join(failures)}")
        return 1
    return 0


def _default_liberty() -> str | None:
    """The project's compact NanGate45 library (same cells and areas), when the synthesis
    stage provides it: the register and register-file entries come from its cells."""
    try:
        from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY
    except ImportError:
        return None
    return str(COMPACT_LIBRARY) if Path(COMPACT_LIBRARY).is_file() else None


def _make_table(args: argparse.Namespace) -> int:
    from bitwave.core.paths import write_text
    from bitwave.cost.tables import make_table, table_from_dict, table_yaml

    if not args.out:
        raise BitwaveError("--make-table needs --out FILE.yaml (e.g. cost/tables/default.yaml)")
    inputs.output_file(args.out, "--out")
    liberty = args.liberty or _default_liberty()
    table = make_table(args.make_table, liberty)
    table_from_dict(table)  # the generated table must satisfy the schema it will be read with
    write_text(args.out, table_yaml(table))
    print(
        f"wrote {args.out}: {', '.join(table['actions'])} from {table['library']} at {table['clock_mhz']:g} MHz"
    )
    if args.json:
        print(json.dumps(table))
    return 0


def _handle(args: argparse.Namespace) -> int:
    """parameters, MACs/s, memory and area/energy estimates of a network

    Cost of a speech-enhancement network from a YAML architecture description or an IR file:
    parameters, MACs per second of audio, binary ops, weight and activation memory, and area /
    energy per frame / cycles per frame at a folding from a per-action table.
    """
    modes = [bool(args.arch), args.seed_table, bool(args.make_table), args.make_rom_table]
    if sum(modes) != 1:
        raise BitwaveError(
            "give exactly one of: ARCH (a .yaml or .bwir file, or a design folder), "
            "--seed-table, --make-table NODES.json, --make-rom-table"
        )
    if args.off_leakage_fraction is not None and not args.arch:
        raise BitwaveError(
            "--off-leakage-fraction goes with ARCH (a .yaml or .bwir file, or a design folder)"
        )
    if args.seed_table:
        if not args.out:
            raise BitwaveError("--seed-table needs --out DIR (e.g. reports/cost)")
        inputs.output_dir(args.out, "--out")
        return _seed_table(args)
    if args.make_table:
        return _make_table(args)
    if args.make_rom_table:
        return _make_rom_table(args)
    if args.out:
        raise BitwaveError(
            "--out goes with --seed-table, --make-table or --make-rom-table; ARCH results go to "
            "stdout (--json for JSON)"
        )
    if Path(args.arch).is_dir():
        return _cost_design(args)
    return _cost_one(args)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "cost", _handle, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument(
        "arch",
        nargs="?",
        help="architecture .yaml, IR .bwir file, or a generated design folder (bitwave generate)",
    )
    cli_args.add_json(parser, "also print one JSON object on the last line")
    parser.add_argument(
        "--table",
        help="per-action area/energy table YAML (default cost/tables/default.yaml)",
    )
    for flag, text in (
        ("--pe", "neurons computed in parallel per layer (default: all)"),
        ("--simd", "inputs per neuron per cycle (default: all)"),
    ):
        parser.add_argument(flag, type=cli_args.positive_int, help=text)
    parser.add_argument(
        "--frames-per-second",
        type=cli_args.positive_float,
        help="frame rate for IR files and design folders (default 62.5 = 16 kHz / hop 256; a "
        "design folder: its target)",
    )
    parser.add_argument(
        "--off-leakage-fraction",
        type=cli_args.parser_type(lambda text: off_leakage_fraction(text, ""), "fraction"),
        metavar="F",
        help=f"power-gating {WHAT_IF_LABEL}: the share of its leakage a design switched off "
        f"between frames keeps, 0..1 (default {DEFAULT_OFF_LEAKAGE_FRACTION:g}); offered for "
        "designs that hold no state between frames (feed-forward, constant weights)",
    )
    parser.add_argument(
        "--sram",
        type=cli_args.sram_source,
        metavar="cells|openram|TABLE.yaml",
        help="a design folder with memory weights: what prices its RAMs, as bitwave synth "
        "--sram (default cells, the standard-cell macro model)",
    )
    parser.add_argument(
        "--seed-table", action="store_true", help="reproduce the published complexity table"
    )
    parser.add_argument(
        "--make-table", metavar="NODES_JSON", help="build a cost table from `bitwave nodes` output"
    )
    parser.add_argument(
        "--make-rom-table",
        action="store_true",
        help="synthesize random constant tables as logic and fit the ROM figures design "
        "estimates use (minutes)",
    )
    parser.add_argument(
        "--liberty",
        help="with --make-table: liberty file for the register / register-file entries; with "
        "--make-rom-table: the liberty to synthesize on",
    )
    cli_args.add_out(
        parser, "output folder (--seed-table) or table file (--make-table)", kind="any"
    )
