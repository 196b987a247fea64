"""What every command's parser shares: how a subcommand is declared, the common arguments
(the config positional, --out, --json, --seed) and the argparse ``type=`` functions built on
bitwave.core.inputs, so that a bad number or path is refused by the parser itself: exit 2 and
one line naming the flag and what is allowed, before any work starts."""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

from bitwave.core import inputs
from bitwave.core.errors import BitwaveError

T = TypeVar("T")
Handler = Callable[[argparse.Namespace], int]


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (the usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        text = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {text} (see {self.prog} --help)\n")


def add_command(
    subparsers: argparse._SubParsersAction, name: str, handler: Handler, **kwargs: object
) -> argparse.ArgumentParser:
    """The subcommand ``name`` running ``handler``. Its one-line help is the first paragraph of
    the handler's docstring and its description the rest, so a command is documented once,
    beside the code that runs it."""
    summary, _, details = inspect.cleandoc(handler.__doc__ or "").partition("\n\n")
    parser = subparsers.add_parser(
        name, help=" ".join(summary.split()), description=" ".join(details.split()) or None,
        **kwargs,
    )  # fmt: skip
    parser.set_defaults(func=handler)
    return parser


def parser_type(check: Callable[[str], T], name: str) -> Callable[[str], T]:
    """An argparse ``type=`` function from a check that raises BitwaveError (argparse names
    the flag itself)."""

    def convert(text: str) -> T:
        try:
            return check(text)
        except BitwaveError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = name
    return convert


def int_range(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """``type=``: an integer in [low, high]."""
    return parser_type(lambda text: inputs.int_in_range(text, "", low, high), "integer")


positive_float = parser_type(lambda text: inputs.positive_finite(text, ""), "positive number")
positive_int = int_range(1)
nonnegative_int = int_range(0)
seed = parser_type(lambda text: inputs.seed(text, ""), "seed")


def _checked(check: Callable[[str, str], object]) -> Callable[[str], str]:
    """A path check that keeps the text as given (handlers print it back unchanged)."""

    def keep(text: str) -> str:
        check(text, "")
        return text

    return keep


out_dir = parser_type(_checked(inputs.output_dir), "folder")
out_file = parser_type(_checked(inputs.output_file), "file")


def add_config(
    parser: argparse.ArgumentParser, help: str = "YAML config (default: the built-in demo)"
) -> None:
    parser.add_argument("config", nargs="?", help=help)


def add_run(parser: argparse.ArgumentParser) -> None:
    """A command that reads a config (default: the built-in demo) into a run folder."""
    add_config(parser)
    add_out(parser, "run folder", required=True)


def add_json(parser: argparse.ArgumentParser, help: str = "print JSON") -> None:
    parser.add_argument("--json", action="store_true", help=help)


def add_seed(
    parser: argparse.ArgumentParser, help: str | None = None, default: int | None = 0
) -> None:
    parser.add_argument("--seed", type=seed, default=default, help=help)


def add_out(
    parser: argparse.ArgumentParser, help: str, kind: str = "dir", required: bool = False,
    default: str | None = None, flag: str = "--out",
) -> None:  # fmt: skip
    """An output path flag checked when parsed (``kind`` "dir": a folder, "file": a file,
    "any": only refused when empty, for a flag whose kind depends on the mode)."""
    checks = {"dir": out_dir, "file": out_file, "any": parser_type(_nonempty_path, "path")}
    parser.add_argument(flag, type=checks[kind], required=required, default=default, help=help)


def _nonempty_path(text: str) -> str:
    if not text.strip():
        raise BitwaveError("the path is empty; allowed: a folder or file path")
    return text


SRAM_SOURCES = ("cells", "openram")  # or the path of an SRAM datasheet table (YAML)


def _sram_source(text: str) -> str:
    if text in SRAM_SOURCES or Path(text).is_file():
        return text
    raise BitwaveError(
        f"{text!r} is not a memory macro pricing: allowed cells (the standard-cell model), "
        "openram (the shipped FreePDK45 OpenRAM macros) or an existing datasheet table file"
    )


sram_source = parser_type(_sram_source, "SRAM macro source")


def input_path(convert: Callable[[str], T] = str) -> Callable[[str], T]:
    """``type=``: an input path, refused when empty (Path("") would silently mean ".");
    whether it exists is the command's to say. ``convert`` (str or Path) makes the value."""
    return parser_type(lambda text: convert(_nonempty_path(text)), "path")
