"""The ``bitwave`` command. Each stage contributes its subcommands through a module with a
``register(subparsers)`` function; handlers import their heavy dependencies lazily so that
``bitwave --help`` stays fast."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from bitwave import __version__
from bitwave.core.cli_args import CommandParser
from bitwave.core.errors import BitwaveError

# Modules that add subcommands, in the order of the data flow.
COMMAND_MODULES = (
    "bitwave.app.commands",
    "bitwave.models.data.cli",
    "bitwave.models.cli",
    "bitwave.cost.cli",
    "bitwave.hw.cli",
    "bitwave.app.bench",
    "bitwave.app.ops",
    "bitwave.synth.commands",
    "bitwave.synth.sram_commands",
    "bitwave.app.nodes",
    "bitwave.sim.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="bitwave",
        description="Bitwise speech-enhancement networks: torch -> IR -> Amaranth -> cocotb -> Yosys.",
    )
    parser.add_argument("--version", action="version", version=f"bitwave {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BitwaveError as error:
        return _refuse(args.command, str(error))
    except BrokenPipeError:  # the reader went away (e.g. `| head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as error:  # the system refused a path the user gave: one line, not a traceback
        where = f": {error.filename}" if error.filename else ""
        return _refuse(args.command, f"{error.strerror or error}{where}")
    except MemoryError:
        return _refuse(args.command, "out of memory; allowed: inputs that fit in memory")
    except KeyboardInterrupt:
        print(f"bitwave {args.command}: interrupted", file=sys.stderr)
        return 130


def _refuse(command: str, message: str) -> int:
    print(f"bitwave {command}: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
