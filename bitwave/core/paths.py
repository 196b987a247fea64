"""Safe names and atomic writes: nothing derived from user input escapes the output folder,
and nothing is ever left half-written."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bitwave.core.errors import BitwaveError

_IDENT_BAD = re.compile(r"[^A-Za-z0-9_]")
# Verilog and Python keywords that must not become a module or signal name.
_RESERVED = {
    "module", "endmodule", "input", "output", "inout", "wire", "reg", "logic", "assign",
    "always", "begin", "end", "if", "else", "case", "default", "function", "task", "for",
    "while", "initial", "parameter", "localparam", "signed", "integer", "generate",
    "class", "def", "import", "return", "lambda", "none", "true", "false",
}  # fmt: skip


def sanitize_identifier(name: str, prefix: str = "n") -> str:
    """Map any string onto a safe HDL/Python/file identifier: [A-Za-z_][A-Za-z0-9_]*."""
    ident = _IDENT_BAD.sub("_", str(name)).strip("_") or prefix
    if ident[0].isdigit():
        ident = f"{prefix}_{ident}"
    if ident.lower() in _RESERVED:
        ident = f"{ident}_"
    return ident[:64]


def inside(root: str | os.PathLike, *parts: str) -> Path:
    """Join parts under root and refuse any result that escapes root."""
    base = Path(root).resolve()
    path = base.joinpath(*parts).resolve()
    if path != base and base not in path.parents:
        raise BitwaveError(f"refusing to write {path}: it is outside the output folder {base}")
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator:
    """Write to a temporary file beside ``path`` and rename it into place on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_write(path, "w") as handle:
        handle.write(text)
