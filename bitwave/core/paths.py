"""Safe names and atomic writes: nothing derived from user input escapes the output folder,
and nothing is ever left half-written."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
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


def symlinks_under(folder: str | os.PathLike) -> list[Path]:
    """Every symbolic link inside ``folder`` (not followed); a folder bitwave made has none."""
    found = []
    for parent, dirs, files in os.walk(folder):
        found += [Path(parent, name) for name in dirs + files if Path(parent, name).is_symlink()]
    return found


def refuse_symlinked_folder(folder: str | os.PathLike, what: str) -> Path:
    """``folder`` (which may not exist yet), refused when it is a symbolic link or holds one:
    bitwave replaces its output folders whole and never writes through a link."""
    folder = Path(folder)
    if folder.is_symlink():
        raise BitwaveError(
            f"{what} {folder} is a symbolic link; allowed: a real folder (bitwave never "
            "writes through a link)"
        )
    links = symlinks_under(folder) if folder.is_dir() else []
    if links:
        raise BitwaveError(
            f"{what} {folder} holds a symbolic link ({links[0]}); allowed: a folder without "
            "links (bitwave never writes through a link)"
        )
    return folder


@contextlib.contextmanager
def replaced_folder(target: str | os.PathLike) -> Iterator[Path]:
    """Build a folder in a new temporary sibling of ``target`` (yielded) and swap it in for
    ``target`` when the block succeeds: the old folder is renamed aside, the new one renamed
    in, the old one deleted. A failure or an interrupt (KeyboardInterrupt too) removes the
    sibling, so ``target`` is always either the old complete folder or the new complete one,
    never a mix, and no file of the old folder survives into the new one."""
    target = Path(target).absolute()
    refuse_symlinked_folder(target, "the output folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        os.chmod(building, 0o777 & ~_umask())  # mkdtemp makes 0700; outputs get the usual mode
        yield building
        _swap_in(building, target)
    finally:
        shutil.rmtree(building, ignore_errors=True)


def _swap_in(new: Path, target: Path) -> None:
    """Rename ``new`` to ``target``; an existing ``target`` is renamed aside first and deleted
    after (restored if the second rename fails)."""
    if not target.exists():
        os.rename(new, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.rename(target, old)  # POSIX: a folder may replace an empty folder
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
