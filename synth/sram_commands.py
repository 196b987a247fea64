"""CLI: ``bitwave sram setup|compile|show``, the SRAM macro datasheet table that prices weight
memories (``--sram``): OpenRAM's environment, compiling FreePDK45 macros into a table, and
printing a table (synth/README.md "SRAM macros")."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from bitwave.core import cli_args
from bitwave.core.cli_args import add_command
from bitwave.core.errors import BitwaveError
from bitwave.synth.eda.sram_table import SramMacro, SramTable

if TYPE_CHECKING:
    from bitwave.synth.tools.openram import Compiled

# The shape limits OpenRAM's single-port compiler accepts (words a power of two).
MIN_WORDS, MAX_WORDS, MAX_WIDTH = 16, 65536, 256


def _handle_setup(args: argparse.Namespace) -> int:
    """make OpenRAM's own environment and print its folder

    Creates (once) a Python environment with openram and numpy<2, kept apart from bitwave's:
    ~/.cache/bitwave/openram-VERSION, or the folder in BITWAVE_OPENRAM_ENV.
    """
    from bitwave.synth.tools.openram import ensure_env, env_dir

    print(f"OpenRAM environment {env_dir()} (made on first use, ~35 s)", file=sys.stderr)
    print(ensure_env().folder)
    return 0


def _handle_compile(args: argparse.Namespace) -> int:
    """compile FreePDK45 SRAM macros with OpenRAM into a datasheet table

    Every --words x --width shape is compiled (layout unless --netlist-only) and characterized
    (analytical model, TT 1.0 V 25 C); its entry replaces the one of the same name in --out
    (default: the table bitwave ships), other entries are kept.
    """
    from bitwave.synth.eda.sram_table import OPENRAM_TABLE, load_table, write_table
    from bitwave.synth.tools.openram import compile_macro, ensure_env

    out = Path(args.out or OPENRAM_TABLE)
    table = load_table(out) if out.is_file() else None
    if args.netlist_only:  # refused now, not after the compiles
        _area_source(table.macros if table else (), _estimated(table.source) if table else ())
    env = ensure_env()
    shapes = sorted({(w, d) for w in args.width for d in args.words}, key=lambda s: s[0] * s[1])
    workdir = args.workdir or tempfile.mkdtemp(prefix="bitwave_openram_")
    print(f"OpenRAM's files (GDS, LEF, Verilog, .lib) go to {workdir}", file=sys.stderr)
    for i, (width, words) in enumerate(shapes, 1):
        print(f"[{i}/{len(shapes)}] OpenRAM {words} words x {width} bits ...", file=sys.stderr)
        result = compile_macro(words, width, workdir, layout=not args.netlist_only,
                               timeout=args.timeout, env=env)  # fmt: skip
        macro = result.macro
        when = "reused from --workdir, compiled in" if result.reused else "compiled in"
        print(f"[{i}/{len(shapes)}] {macro.name}: {when} {result.seconds:.0f} s, area "
              f"{macro.area_um2:.0f} um^2, leakage {macro.leakage_w:.3e} W", file=sys.stderr)  # fmt: skip
        # Written after every macro: a later failure or interrupt keeps the finished ones.
        table = merge(table, [result])
        write_table(out, table)
    print(f"wrote {out}: {len(table.macros)} macros")
    return 0


def merge(old: SramTable | None, compiled: list[Compiled]) -> SramTable:
    """The table ``old`` (or none) with the ``compiled`` macros added or replaced by name. A
    netlist-only macro has no layout area: it gets the area per bit of the table's layout macro
    nearest in size, and the table's source names it as estimated."""
    macros = {m.name: m for m in (old.macros if old else ())}
    estimated = set(_estimated(old.source)) if old else set()
    for result in compiled:
        macros[result.macro.name] = result.macro
        estimated.discard(result.macro.name)
    for result in compiled:
        if not result.layout:
            macros[result.macro.name] = replace(
                result.macro, area_um2=_area_estimate(result.macro, macros.values(), estimated)
            )
            estimated.add(result.macro.name)
    return SramTable(source=table_source(sorted(estimated)), process="freepdk45",
                     macros=tuple(macros.values()))  # fmt: skip


# OpenRAM's analytical model is uncalibrated: its FreePDK45 tech.py gives every bitcell and
# gate a leakage of 1 nW ("many values are temporary") and its energies assume every gate
# switches once per access (synth/README.md "SRAM macros"); the source says so.
_SOURCE = (
    "OpenRAM {version}, FreePDK45, TT 1.0 V 25 C, analytical characterization (uncalibrated: "
    "1 nW leakage per bitcell and gate), layout (no DRC/LVS, supplies not routed)"
)
_ESTIMATED = "; netlist only, area estimated from the layout macro nearest in bits: "


def table_source(estimated: list[str]) -> str:
    from bitwave.synth.tools.openram import OPENRAM_VERSION

    source = _SOURCE.format(version=OPENRAM_VERSION)
    return source + (_ESTIMATED + ", ".join(estimated) if estimated else "")


def _estimated(source: str) -> list[str]:
    _, _, names = source.partition(_ESTIMATED)
    return [name.strip() for name in names.split(",") if name.strip()]


def _area_estimate(macro: SramMacro, macros: Iterable[SramMacro], estimated: set[str]) -> float:
    laid_out = _area_source([m for m in macros if m is not macro], estimated)
    nearest = min(laid_out, key=lambda m: (abs(m.bits - macro.bits), abs(m.width - macro.width)))
    return nearest.area_um2 / nearest.bits * macro.bits


def _area_source(macros: Iterable[SramMacro], estimated: Iterable[str]) -> list[SramMacro]:
    """The macros with a layout area, which a netlist-only macro's area is estimated from."""
    laid_out = [m for m in macros if m.name not in set(estimated) and m.area_um2 > 0]
    if not laid_out:
        raise BitwaveError(
            "--netlist-only gives no layout area and the table has no layout macro to estimate "
            "it from; compile at least one shape with layout into the table first"
        )
    return laid_out


def _handle_show(args: argparse.Namespace) -> int:
    """print an SRAM macro datasheet table

    One line per macro: shape, area, leakage (and per bit), read and write energy, timing.
    Default: the FreePDK45 OpenRAM table bitwave ships.
    """
    from bitwave.synth.eda.sram_table import OPENRAM_TABLE, load_table

    path = Path(args.table or OPENRAM_TABLE)
    if not path.is_file():
        raise BitwaveError(f"no SRAM table {path}; allowed: an existing datasheet table (YAML)")
    table = load_table(path)
    print(f"{path}\nsource: {table.source}\nprocess: {table.process}")
    print(f"{'name':<16}{'words':>7}{'width':>6}{'kind':>5}{'area um2':>11}{'um2/bit':>9}"
          f"{'leak uW':>9}{'nW/bit':>8}{'read pJ':>9}{'write pJ':>9}{'tck ns':>8}")  # fmt: skip
    for m in sorted(table.macros, key=lambda m: (m.width, m.words, m.name)):
        print(f"{m.name:<16}{m.words:>7}{m.width:>6}{m.kind:>5}{m.area_um2:>11.0f}"
              f"{m.area_um2 / m.bits:>9.3f}{m.leakage_w * 1e6:>9.3f}"
              f"{m.leakage_w / m.bits * 1e9:>8.3f}{m.read_energy_j * 1e12:>9.3f}"
              f"{m.write_energy_j * 1e12:>9.3f}{m.min_period_ns:>8.3f}")  # fmt: skip
    return 0


def _words(text: str) -> int:
    value = cli_args.int_range(MIN_WORDS, MAX_WORDS)(text)
    if value & (value - 1):
        raise argparse.ArgumentTypeError(
            f"{value} words is not a power of two; allowed: 16, 32, ..., {MAX_WORDS}"
        )
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "sram", _handle_sram)
    commands = parser.add_subparsers(dest="sram_command", metavar="SUBCOMMAND", required=True)
    add_command(commands, "setup", _handle_setup)
    compile_ = add_command(commands, "compile", _handle_compile)
    compile_.add_argument("--words", type=_words, action="append", required=True, metavar="N",
                          help="depth in words (a power of two >= 16); repeat for several")  # fmt: skip
    compile_.add_argument("--width", type=cli_args.int_range(1, MAX_WIDTH), action="append",
                          required=True, metavar="W",
                          help="bits per word; repeat for several (every width x every depth)")  # fmt: skip
    cli_args.add_out(compile_, "table to write (YAML; default: the shipped FreePDK45 table)",
                     kind="file")  # fmt: skip
    compile_.add_argument("--netlist-only", action="store_true",
                          help="no layout (faster); area estimated from the table's layout "
                          "macros and marked so in the table's source")  # fmt: skip
    cli_args.add_out(compile_, "folder for OpenRAM's files (default: a new temporary one); a "
                     "finished compile of the same shape there is reused", flag="--workdir")  # fmt: skip
    compile_.add_argument("--timeout", type=cli_args.positive_float, default=3600.0,
                          metavar="S", help="seconds allowed per macro (default 3600)")  # fmt: skip
    show = add_command(commands, "show", _handle_show)
    show.add_argument("table", nargs="?", type=cli_args.input_path(),
                      help="datasheet table (YAML; default: the shipped FreePDK45 table)")  # fmt: skip


def _handle_sram(args: argparse.Namespace) -> int:
    """SRAM macro datasheets: OpenRAM environment, compile macros, show a table

    Subcommands: setup, compile, show (bitwave sram SUBCOMMAND --help).
    """
    raise BitwaveError("choose a subcommand: setup, compile or show")
