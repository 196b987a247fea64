"""The input-validation layer at the edge of every command (docs/security.md).

Everything a user hands to bitwave is checked here before any work starts, and every refusal
is one BitwaveError naming what is wrong and what is allowed:

- output paths: not empty, the right kind (folder or file), in a writable place;
- numbers: finite and in range (a seed fits 32 bits);
- .npy files: the header is read and checked (magic, dtype without pickles, declared size
  under a limit and equal to the file's size) before a single data byte is read;
- YAML: safe-loaded, with the file size and the expanded size of anchors and aliases bounded,
  so a "billion laughs" is refused in milliseconds instead of exploding downstream.

``what`` names the flag or key a value came from (``--out``, ``hw.clock_mhz``); an empty
``what`` leaves the name to the caller (argparse prefixes ``argument --out:`` itself).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bitwave.core.errors import BitwaveError

MAX_NPY_BYTES = 1 << 30  # 1 GiB: larger arrays are refused from their header
MAX_YAML_BYTES = 4 << 20  # configs, architectures and cost tables are a few KiB
MAX_YAML_NODES = 100_000  # nodes after alias expansion; a real config has a few hundred
MAX_YAML_DEPTH = 100
SEED_MAX = 2**32 - 1  # numpy's SeedSequence words; also what torch.manual_seed takes safely
NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float


def _named(what: str, text: str) -> str:
    return f"{what}: {text}" if what else text


# ---------------------------------------------------------------------------- numbers


def positive_finite(value: object, what: str = "") -> float:
    """``value`` as a float that is finite and > 0."""
    number = _as_float(value, what, "a positive finite number")
    if not math.isfinite(number) or number <= 0:
        raise BitwaveError(
            _named(what, f"{value} is out of range; allowed: a positive finite number")
        )
    return number


def _as_float(value: object, what: str, allowed: str) -> float:
    if isinstance(value, bool):
        raise BitwaveError(_named(what, f"{value!r} is not a number; allowed: {allowed}"))
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BitwaveError(_named(what, f"{value!r} is not a number; allowed: {allowed}")) from None


def int_in_range(
    value: object, what: str = "", low: int | None = None, high: int | None = None
) -> int:
    """``value`` as an integer in [low, high] (either bound may be open)."""
    allowed = f"an integer {_range_text(low, high)}".rstrip()
    if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
        raise BitwaveError(_named(what, f"{value!r} is not an integer; allowed: {allowed}"))
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        raise BitwaveError(
            _named(what, f"{value!r} is not an integer; allowed: {allowed}")
        ) from None
    if (low is not None and number < low) or (high is not None and number > high):
        raise BitwaveError(_named(what, f"{number} is out of range; allowed: {allowed}"))
    return number


def _range_text(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"{low} .. {high}"
    if low is not None:
        return f">= {low}"
    return f"<= {high}" if high is not None else ""


def seed(value: object, what: str = "--seed") -> int:
    """A random seed: an integer 0 .. 2**32-1."""
    return int_in_range(value, what, 0, SEED_MAX)


# ---------------------------------------------------------------------------- output paths


def output_dir(path: str | os.PathLike, what: str = "--out") -> Path:
    """A folder to write into: an existing folder, or a new one in a writable place."""
    path = _nonempty(path, what, "a folder path")
    if _exists(path, what) and not path.is_dir():
        raise BitwaveError(
            _named(what, f"{path} is an existing file; allowed: a folder (new or existing)")
        )
    _writable_place(path, path, what)
    return path


def output_file(path: str | os.PathLike, what: str = "--out") -> Path:
    """A file to (re)write: not a folder, in a writable folder (created if missing)."""
    path = _nonempty(path, what, "a file path")
    if _exists(path, what) and path.is_dir():
        raise BitwaveError(_named(what, f"{path} is an existing folder; allowed: a file path"))
    if path.name in ("", ".", ".."):
        raise BitwaveError(_named(what, f"{str(path)!r} names no file; allowed: a file path"))
    _writable_place(path, path.parent, what)
    return path


def _exists(path: Path, what: str) -> bool:
    """Path.exists, with the system's refusal of a path (a name too long, a loop of links)
    reported as bad input."""
    try:
        return path.exists()
    except OSError as error:
        raise BitwaveError(
            _named(what, f"{str(path)[:80]!r}: {error.strerror}; allowed: a usable path")
        ) from None


def _nonempty(path: str | os.PathLike, what: str, allowed: str) -> Path:
    text = os.fspath(path)
    if not str(text).strip():
        raise BitwaveError(_named(what, f"the path is empty; allowed: {allowed}"))
    if "\0" in str(text):
        raise BitwaveError(_named(what, f"the path contains a NUL byte; allowed: {allowed}"))
    return Path(text)


def _writable_place(target: Path, folder: Path, what: str) -> None:
    """``folder`` (which will hold ``target``), or its nearest existing ancestor, is a
    writable folder."""
    existing = folder.absolute()
    while not _exists(existing, what) and not existing.is_symlink() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise BitwaveError(
            _named(
                what,
                f"cannot create {target}: {existing} is not a folder; allowed: a path "
                "whose existing part is a folder",
            )  # fmt: skip
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BitwaveError(
            _named(
                what,
                f"cannot write {target}: {existing} is not writable; allowed: a place "
                "you can write to",
            )  # fmt: skip
        )


# ---------------------------------------------------------------------------- .npy files


def npy_header(path: str | os.PathLike, what: str = "", max_bytes: int = MAX_NPY_BYTES,
               kinds: str = NUMERIC_KINDS) -> tuple[tuple[int, ...], np.dtype]:  # fmt: skip
    """(shape, dtype) of a .npy file, checked from its header alone (``read_npy_header``)
    and against the file: exactly the declared bytes follow the header. Nothing is read past
    the header."""
    path = Path(path)
    if not path.is_file():
        raise BitwaveError(_named(what, f"{path}: no such input file (expected a .npy array)"))
    size = path.stat().st_size
    if size == 0:
        raise BitwaveError(_named(what, f"{path} is empty; allowed: a .npy array (numpy.save)"))
    with open(path, "rb") as handle:
        label = _named(what, str(path))
        shape, _, dtype, header_end = read_npy_header(handle, label, max_bytes, kinds)
    data_bytes = math.prod(shape) * dtype.itemsize
    if header_end + data_bytes != size:
        raise BitwaveError(
            _named(
                what,
                f"{path} declares shape {shape} ({data_bytes} data bytes) but holds "
                f"{size - header_end}; the file is truncated or padded",
            )  # fmt: skip
        )
    return shape, dtype


def read_npy_header(
    stream: Any, label: str, max_bytes: int | None = MAX_NPY_BYTES, kinds: str = NUMERIC_KINDS,
    error: type[BitwaveError] = BitwaveError, allowed: str = "an array saved with numpy.save",
) -> tuple[tuple[int, ...], bool, np.dtype, int]:  # fmt: skip
    """(shape, fortran_order, dtype, header_end) of the .npy header at the start of a binary
    ``stream`` (a file or a zip member), nothing read past it: format version 1, 2 or 3, a
    numeric dtype of ``kinds`` (never objects: no pickle is ever loaded), dimensions >= 0
    that numpy can address, and at most ``max_bytes`` of data (None: the caller compares
    the declared size with what it holds). ``label`` names the input in ``error``'s message."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(stream)
    except (ValueError, EOFError):
        raise error(
            f"{label}: not a readable .npy array because it is not a .npy file; allowed: {allowed}"
        ) from None
    try:
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ValueError(f"unsupported .npy version {version[0]}.{version[1]}")
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = read_header(stream)
    except (ValueError, SyntaxError, TypeError, OverflowError, EOFError) as problem:
        text = " ".join(str(problem).split())[:200]
        raise error(
            f"{label}: not a readable .npy array (unreadable .npy header: {text}); "
            f"allowed: {allowed}"
        ) from None
    if dtype.hasobject or dtype.kind not in kinds:
        raise error(
            f"{label} holds {dtype} data; allowed: numeric arrays (bool, integer, "
            "float), never Python objects"
        )
    if any(dim < 0 for dim in shape):
        raise error(f"{label}: negative dimension in shape {shape}; allowed: sizes >= 0")
    if any(dim > np.iinfo(np.intp).max for dim in shape):
        raise error(
            f"{label}: shape {shape} is too large for numpy; allowed: sizes numpy can address"
        )
    data_bytes = math.prod(shape) * dtype.itemsize
    if max_bytes is not None and data_bytes > max_bytes:
        raise error(
            f"{label} declares shape {shape} ({data_bytes} bytes); allowed: at most "
            f"{max_bytes} bytes"
        )
    return tuple(shape), bool(fortran), dtype, stream.tell()


def load_npy(path: str | os.PathLike, what: str = "", max_bytes: int = MAX_NPY_BYTES,
             kinds: str = NUMERIC_KINDS) -> np.ndarray:  # fmt: skip
    """A numeric .npy array, its header checked by ``npy_header`` before anything is read."""
    npy_header(path, what, max_bytes, kinds)
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise BitwaveError(_named(what, f"{path}: unreadable .npy array ({error})")) from None


# ---------------------------------------------------------------------------- YAML


def safe_load_bounded(source: str | bytes | os.PathLike, name: str = "",
                      max_bytes: int = MAX_YAML_BYTES, max_nodes: int = MAX_YAML_NODES) -> Any:  # fmt: skip
    """``yaml.safe_load`` of a file (a Path) or of text (str/bytes) whose size, nesting and
    alias expansion are bounded. ``name`` labels messages (default: the file name)."""
    if not isinstance(source, str | bytes):
        name = name or str(source)
        source = _read_bounded(Path(source), name, max_bytes)
    if len(source) > max_bytes:
        raise BitwaveError(
            _named(name, f"{len(source)} bytes; allowed: YAML of at most {max_bytes} bytes")
        )
    try:
        return _load_bounded(source, max_nodes, name)
    except yaml.YAMLError as error:  # PyYAML's text spans lines: keep the message one line
        raise BitwaveError(
            _named(name, f"not valid YAML ({' '.join(str(error).split())})")
        ) from None
    except RecursionError:
        raise BitwaveError(
            _named(name, f"nested too deeply; allowed: {MAX_YAML_DEPTH} levels")
        ) from None


def _read_bounded(path: Path, name: str, max_bytes: int) -> bytes:
    if not path.is_file():
        raise BitwaveError(_named(name, "no such file"))
    size = path.stat().st_size
    if size > max_bytes:
        raise BitwaveError(
            _named(name, f"{size} bytes; allowed: YAML of at most {max_bytes} bytes")
        )
    return path.read_bytes()


class _DepthBoundedLoader(yaml.SafeLoader):
    """A SafeLoader whose composer refuses nesting deeper than MAX_YAML_DEPTH before Python's
    recursion limit is reached (which would take seconds to unwind)."""

    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        self.depth += 1
        try:
            if self.depth > MAX_YAML_DEPTH:
                raise RecursionError
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _load_bounded(data: str | bytes, max_nodes: int, name: str) -> Any:
    """Compose the node graph (aliases share nodes, so this is cheap), measure its expanded
    size, and only then construct Python objects."""
    loader = _DepthBoundedLoader(data)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, max_nodes, name)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _expanded_size(root: yaml.Node, limit: int, name: str) -> int:
    """Nodes the document has once every alias is expanded (each distinct node is counted
    once and its size remembered, so this takes time in the document's size, not its
    expansion's). Refuses recursive aliases, deep nesting and expansions beyond ``limit``."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise BitwaveError(
                _named(name, "a YAML alias refers to its own anchor; allowed: acyclic YAML")
            )
        if depth > MAX_YAML_DEPTH:
            raise BitwaveError(_named(name, f"nested too deeply; allowed: {MAX_YAML_DEPTH} levels"))
        open_nodes.add(key)
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        total = 1 + sum(size(child, depth + 1) for child in children)
        open_nodes.discard(key)
        if total > limit:
            raise BitwaveError(
                _named(
                    name,
                    f"expands to more than {limit} YAML nodes (anchors and aliases); "
                    f"allowed: at most {limit}",
                )  # fmt: skip
            )
        sizes[key] = total
        return total

    return size(root, 0)


# ---------------------------------------------------------------------------- parsed data


def non_finite_numbers(data: Any, prefix: str = "") -> list[str]:
    """Key paths (``hw.clock_mhz``, ``model.hidden[1]``) of NaN or infinite floats in data."""
    found: list[str] = []
    if isinstance(data, float) and not math.isfinite(data):
        found.append(prefix or "(top level)")
    elif isinstance(data, dict):
        for key, value in data.items():
            found += non_finite_numbers(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, list | tuple):
        for index, value in enumerate(data):
            found += non_finite_numbers(value, f"{prefix}[{index}]")
    return found
