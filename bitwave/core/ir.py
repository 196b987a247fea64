"""The bitwave IR: the integer network every stage agrees on, bit for bit.

A ``.bwir`` file is a zip archive holding ``manifest.json`` and one ``.npy`` member per array.
It loads with numpy and the standard library alone. The semantics are written once, in
docs/ir.md, and executed by ``bitwave.core.golden``; this module only describes, saves and
loads.

Value types on the wires between layers:
- ``bipolar``: one bit per element, bit 1 = +1, bit 0 = -1.
- ``uint<k>``: k-bit unsigned integers (1 <= k <= 16).

Layers (``op``): one module per op in ``bitwave.core.ops`` owns its fields (reading,
validation, writing), its golden execution, its folded schedule and its cost counts:
``binary_dense`` (XNOR-popcount), ``int_dense`` (k-bit weights), ``binary_gru`` (version 2, a
bitwise GRU cell). This module keeps the file format (archive, versions, input coding, content
hash) and hands each layer entry to its op.

A file's version is the lowest version that holds its content: version 1 unless it has a
``binary_gru`` layer (version 2) or early exits (version 3), so every version-1 network is still
written (and hashed) as before.

The optional network-level ``mask_floor_db`` (docs/ir.md, "Mask floor") is the gain a mask bit
0 selects, in dB (absent: gain 0, the bin is zeroed). It changes no layer's output, so it needs
no new version; files without it keep their bytes and content hash.

The optional network-level ``audio`` section (docs/ir.md, "Audio path") holds the widths of the
chip's fixed-point front and back end (``bitwave.core.audio.AudioSpec``): 16-bit PCM in,
bit-planes, mask, 16-bit PCM out. Like the floor it changes no layer's output and no version;
files without it keep their bytes and content hash.

Multi-exit networks (``Network.exits``): ``layers`` stays a plain chain whose last layer is the
final exit; each ``Exit`` adds a dense head that reads the output of a layer of the chain and
writes a mask of the network's output width. Exit k of a network runs ``exit_layers(k)``.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bitwave import __version__
from bitwave.core import inputs, ops
from bitwave.core.audio import N_BINS, AudioSpec, AudioSpecError
from bitwave.core.errors import IRError
from bitwave.core.ops.base import (  # noqa: F401 (the IR's vocabulary, re-exported)
    BIPOLAR,
    MAX_BITS,
    WORD_BITS,
    FieldReader,
    ValueType,
    pack_bits,
    uint,
    unpack_bits,
)
from bitwave.core.ops.binary_dense import BinaryDense  # noqa: F401 (re-exported)
from bitwave.core.ops.binary_gru import MAX_GRU_COEFFICIENT, BinaryGRU  # noqa: F401
from bitwave.core.ops.dense import Dense
from bitwave.core.ops.int_dense import IntDense, weight_range  # noqa: F401
from bitwave.core.paths import atomic_write, sanitize_identifier

FORMAT = "bitwave-ir"
VERSION = 3  # the newest version this bitwave writes
SUPPORTED_VERSIONS = (1, 2, 3)
EXITS_VERSION = 3  # the first version with early exits
# The mask floor's allowed range: below -100 dB a floor is inaudible (as good as none, which
# is expressed by omitting the field); 0 dB would pass the noisy input unchanged.
MASK_FLOOR_MIN_DB = -100.0
MASK_FLOOR_MAX_DB = 0.0  # exclusive

Layer = Dense | BinaryGRU


def floor_gain(floor_db: float | None) -> float:
    """The linear gain of a mask floor in dB (None: no floor, gain 0). The one conversion
    every stage uses (eval, enhance, hardware), so they apply the same float64 gain."""
    return 0.0 if floor_db is None else float(10.0 ** (float(floor_db) / 20.0))


def mask_floor_problem(floor_db: object) -> str | None:
    """What is wrong with a mask floor value in dB (None: a valid floor or no floor)."""
    if floor_db is None:
        return None
    if isinstance(floor_db, bool) or not isinstance(floor_db, int | float):
        return f"expected a number of dB, got {type(floor_db).__name__} {floor_db!r}"
    if not MASK_FLOOR_MIN_DB <= floor_db < MASK_FLOOR_MAX_DB:  # NaN fails both comparisons
        return (
            f"expected a number of dB in [{MASK_FLOOR_MIN_DB:g}, {MASK_FLOOR_MAX_DB:g}), got "
            f"{floor_db!r}"
        )
    return None


def parse_mask_floor(text: str) -> float | None:
    """A ``--mask-floor`` argument: ``none`` (no floor) or a number of dB, e.g. -12."""
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        value = text  # refused below with the allowed forms
    problem = mask_floor_problem(value)
    if problem:
        raise IRError(f"{problem}; allowed: 'none' or a number of dB such as -12")
    return value


def required_version(layers: list[Layer], exits: list[Exit] | None = None) -> int:
    """The lowest IR version that can hold these layers and exits (what the writer writes)."""
    needed = max([1] + [ops.op_of(layer).MIN_VERSION for layer in layers])
    return max(needed, EXITS_VERSION) if exits else needed


@dataclass
class Exit:
    """An early exit: the dense layer ``head`` reads the output of the chain layer named
    ``after`` and writes a mask of the network's output width and type."""

    after: str
    head: Dense


# ---------------------------------------------------------------------------------------------
# Input coding and the network
# ---------------------------------------------------------------------------------------------
@dataclass
class BitplaneCodingSpec:
    """Multi-bit features -> bipolar bit-planes. Feature f is quantized to the level index
    q = #{j : x_f >= boundaries[f, j]} (2^bits levels); input bit f*bits + b holds bit
    (bits - 1 - b) of q, i.e. most significant bit first. ``boundaries`` is (features or 1,
    2^bits - 1) float64, sorted ascending; one row means shared by all features."""

    features: int
    bits: int
    boundaries: np.ndarray
    levels: np.ndarray | None = None  # reconstruction values, for documentation and decoding

    kind = "bitplanes"


@dataclass
class Network:
    name: str
    input_width: int
    input_type: ValueType
    layers: list[Layer]
    coding: BitplaneCodingSpec | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    exits: list[Exit] = field(default_factory=list)  # early exits, shallowest first
    # The gain (dB) a mask bit 0 selects; None = no floor (gain 0, today's binary mask).
    mask_floor_db: float | None = None
    # The fixed-point audio path's widths; None = no section (tools use AudioSpec()).
    audio: AudioSpec | None = None

    @property
    def mask_floor_gain(self) -> float:
        """The linear gain of a mask bit 0 (0.0 without a floor); a bit 1 is gain 1."""
        return floor_gain(self.mask_floor_db)

    @property
    def output_type(self) -> ValueType:
        return self.layers[-1].out_type

    @property
    def output_width(self) -> int:
        return self.layers[-1].out_width

    @property
    def version(self) -> int:
        """The IR version this network is written as (2 if it holds a binary_gru, 3 if it has
        early exits, else 1)."""
        return required_version(self.layers, self.exits)

    @property
    def n_exits(self) -> int:
        """Early exits plus the final one (1 for a plain network)."""
        return len(self.exits) + 1

    def exit_layers(self, k: int) -> list[Layer]:
        """The layers exit ``k`` computes, in order: the chain up to the layer its head reads,
        then the head; the final exit (k = len(exits)) is the whole chain."""
        if not 0 <= k < self.n_exits:
            raise IndexError(f"exit {k} of a network with {self.n_exits} exit(s)")
        if k == len(self.exits):
            return list(self.layers)
        names = [layer.name for layer in self.layers]
        depth = names.index(self.exits[k].after) + 1
        return [*self.layers[:depth], self.exits[k].head]

    def exit_network(self, k: int) -> Network:
        """Exit ``k`` as a plain network (no exits): reuses every single-chain tool per exit."""
        return Network(
            f"{self.name}-exit{k}",
            self.input_width,
            self.input_type,
            self.exit_layers(k),
            self.coding,
            dict(self.provenance),
            mask_floor_db=self.mask_floor_db,
            audio=self.audio,
        )

    @property
    def is_recurrent(self) -> bool:
        """True when a layer keeps state from frame to frame (a binary_gru)."""
        return any(isinstance(layer, BinaryGRU) for layer in self.layers)

    @property
    def widths(self) -> list[int]:
        return [self.input_width] + [layer.out_width for layer in self.layers]

    @property
    def sha256(self) -> str:
        """Content hash over the manifest (without provenance) and every array's bytes."""
        manifest, arrays = _to_manifest(self)
        return _content_hash(manifest, arrays)

    def summary(self) -> str:
        lines = [
            f"network {self.name}  (bitwave IR v{self.version}, sha256 {self.sha256[:16]})",
            f"  input  {self.input_width} x {self.input_type}"
            + (
                f"  (bit-planes: {self.coding.features} x {self.coding.bits} bits)"
                if self.coding
                else ""
            ),
        ]
        for layer in self.layers:
            lines.append(_summary_line(layer))
            for index, early in enumerate(self.exits):
                if early.after == layer.name:
                    lines.append(_summary_line(early.head) + f"  (exit {index})")
        if self.exits:
            lines[-1] += f"  (exit {len(self.exits)}, final)"
        if self.mask_floor_db is not None:
            lines.append(
                f"  mask floor {self.mask_floor_db:g} dB (gain {self.mask_floor_gain:.4g} "
                "where a mask bit is 0)"
            )
        if self.audio is not None:
            a = self.audio
            lines.append(
                f"  audio path: window {a.window_bits} b, twiddles {a.twiddle_bits} b, FFT "
                f"{a.fft_bits} b, floor gain {a.gain_bits} b, normalisation {a.norm_bits} b"
            )
        return "\n".join(lines)


def _summary_line(layer: Layer) -> str:
    return (
        f"  {layer.name:<12} {layer.op:<13} {layer.in_width:>6} -> {layer.out_width:<6}"
        f" w{layer.wbits} {layer.in_type} -> {layer.out_type}"
    )


# ---------------------------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------------------------
def _to_manifest(net: Network) -> tuple[dict, dict[str, np.ndarray]]:
    arrays: dict[str, np.ndarray] = {}
    layers = []
    for index, layer in enumerate(net.layers):
        entry, layer_arrays = ops.op_of(layer).write(layer, f"layers.{index}")
        layers.append(entry)
        arrays.update(layer_arrays)
    coding = None
    if net.coding is not None:
        coding = {
            "kind": "bitplanes",
            "features": net.coding.features,
            "bits": net.coding.bits,
            "boundaries": "coding.boundaries",
        }
        arrays["coding.boundaries"] = np.asarray(net.coding.boundaries, np.float64)
        if net.coding.levels is not None:
            coding["levels"] = "coding.levels"
            arrays["coding.levels"] = np.asarray(net.coding.levels, np.float64)
    manifest = {
        "format": FORMAT,
        "version": net.version,
        "name": net.name,
        "input": {"width": net.input_width, "type": net.input_type.to_json(), "coding": coding},
        "layers": layers,
    }
    if net.exits:  # absent otherwise: files without exits keep their bytes and hash
        manifest["exits"] = []
        for index, early in enumerate(net.exits):
            entry, head_arrays = ops.op_of(early.head).write(early.head, f"exits.{index}")
            manifest["exits"].append({"after": early.after, "layer": entry})
            arrays.update(head_arrays)
    if net.mask_floor_db is not None:  # absent otherwise: older files keep bytes and hash
        manifest["mask_floor_db"] = float(net.mask_floor_db)
    if net.audio is not None:  # absent otherwise: older files keep bytes and hash
        manifest["audio"] = net.audio.to_json()
    return manifest, arrays


def _content_hash(manifest: dict, arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode())
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save(net: Network, path: str | os.PathLike) -> str:
    """Validate and write ``net`` to ``path`` atomically; returns the content hash."""
    validate(net)
    manifest, arrays = _to_manifest(net)
    content = _content_hash(manifest, arrays)
    provenance = {"producer": f"bitwave {__version__}", **net.provenance}
    full = {
        **manifest,
        "provenance": provenance,
        "arrays": {k: {"dtype": v.dtype.str, "shape": list(v.shape)} for k, v in arrays.items()},
        "sha256": content,
    }
    with atomic_write(path, "wb") as handle:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("manifest.json", json.dumps(full, indent=1, sort_keys=True))
            for name, array in arrays.items():
                buffer = io.BytesIO()
                np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
                archive.writestr(f"{name}.npy", buffer.getvalue())
    return content


# ---------------------------------------------------------------------------------------------
# Reading an archive: limits from the headers first, then bounded reads
# ---------------------------------------------------------------------------------------------
# An IR file may come from anyone, so every size is checked from the zip directory and the
# .npy headers before a byte is inflated. The largest real network, 2052-1024-1024-1024-513,
# holds about 45 MB even with every array stored as int64 (its largest array, the 1024 x 2052
# int_dense weight matrix, is 16.8 MB as int64 and 2.1 MB as the int8 bitwave writes; 8-bit
# thresholds of all layers 7.3 MB); a 1000-unit binary_gru on 2052 inputs holds 1.2 MB.
MAX_MEMBER_BYTES = 64 << 20  # one array: 4x that largest int64 matrix
MAX_ARCHIVE_BYTES = 256 << 20  # all members together, and the file itself: 5x that network
MAX_MEMBERS = 1024  # a layer has at most 6 arrays
MAX_MANIFEST_BYTES = 1 << 20  # a real manifest is a few KiB
MAX_MANIFEST_DEPTH = 64  # a real manifest nests 4 levels deep
_COMPRESSION = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
_CHUNK = 1 << 20  # array data is inflated this much at a time


def _read_archive(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    source = str(path)
    if not path.is_file():
        raise IRError(f"{source}: no such IR file")
    size = path.stat().st_size
    if size > MAX_ARCHIVE_BYTES:
        raise IRError(f"{source}: {size} bytes; allowed: IR files of at most {MAX_ARCHIVE_BYTES}")
    try:
        with zipfile.ZipFile(path) as archive:
            members = _checked_members(archive, source)
            manifest = _read_manifest(archive, members["manifest.json"], source)
            arrays = {
                name[:-4]: _read_npy(archive, info, f"{source}: array {name}")
                for name, info in members.items()
                if name.endswith(".npy")
            }
    except zipfile.BadZipFile as error:
        raise IRError(
            f"{source}: not a bitwave IR file: truncated or not a zip archive ({_line(error)})"
        ) from None
    except zipfile.LargeZipFile as error:
        raise IRError(f"{source}: unreadable archive ({_line(error)})") from None
    except (OSError, EOFError, RuntimeError, ValueError, NotImplementedError, zlib.error,
            struct.error) as error:  # fmt: skip
        raise IRError(f"{source}: corrupt archive ({_line(error)})") from None
    return manifest, arrays


def _line(error: BaseException) -> str:
    """An exception's text on one line (a refusal is one line on stderr)."""
    return " ".join(str(error).split()) or type(error).__name__


def _checked_members(archive: zipfile.ZipFile, source: str) -> dict[str, zipfile.ZipInfo]:
    """The archive's members by name, refused from the zip directory alone: too many, a path
    instead of a plain name, a name twice, a compression other than stored/deflated, and
    declared uncompressed sizes over the limits."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise IRError(f"{source}: {len(infos)} archive members; allowed: at most {MAX_MEMBERS}")
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        if "/" in name or "\\" in name or name in ("", ".", ".."):
            raise IRError(
                f"{source}: archive member {name!r} is a path; allowed: plain file names "
                "(manifest.json, <array>.npy)"
            )
        if name in members:
            raise IRError(f"{source}: archive member {name!r} appears twice; allowed: once")
        members[name] = info
    if "manifest.json" not in members:
        raise IRError(f"{source}: manifest.json missing (not a bitwave IR archive)")
    read = [info for name, info in members.items() if name.endswith(".npy")]
    for info in [members["manifest.json"], *read]:
        _check_member(info, source)
    total = sum(info.file_size for info in [members["manifest.json"], *read])
    if total > MAX_ARCHIVE_BYTES:
        raise IRError(
            f"{source}: the members declare {total} bytes uncompressed; allowed: at most "
            f"{MAX_ARCHIVE_BYTES} in all"
        )
    return members


def _check_member(info: zipfile.ZipInfo, source: str) -> None:
    name = info.filename
    if info.flag_bits & 0x1:
        raise IRError(f"{source}: archive member {name!r} is encrypted; allowed: plain members")
    if info.compress_type not in _COMPRESSION:
        raise IRError(
            f"{source}: archive member {name!r} uses compression method {info.compress_type}; "
            f"allowed: {' or '.join(_COMPRESSION.values())}"
        )
    limit = MAX_MANIFEST_BYTES if name == "manifest.json" else MAX_MEMBER_BYTES
    if info.file_size > limit:
        raise IRError(
            f"{source}: archive member {name!r} declares {info.file_size} bytes uncompressed; "
            f"allowed: at most {limit}"
        )


def _read_manifest(archive: zipfile.ZipFile, info: zipfile.ZipInfo, source: str) -> dict:
    """manifest.json as a dict: UTF-8 JSON, an object, nested at most MAX_MANIFEST_DEPTH."""
    with archive.open(info) as stream:
        data = stream.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise IRError(
            f"{source}: manifest.json holds {len(data)} bytes, its zip entry declares "
            f"{info.file_size}; allowed: exactly the declared size"
        )
    try:
        manifest = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise IRError(
            f"{source}: manifest.json is not valid JSON: not UTF-8 text ({_line(error)}); "
            "allowed: a UTF-8 JSON object"
        ) from None
    except RecursionError:
        raise IRError(
            f"{source}: manifest.json is nested too deeply; allowed: {MAX_MANIFEST_DEPTH} levels"
        ) from None
    except ValueError as error:  # JSONDecodeError, or an integer of too many digits
        raise IRError(f"{source}: manifest.json is not valid JSON ({_line(error)})") from None
    if not isinstance(manifest, dict):
        raise IRError(f"{source}: manifest.json must hold an object")
    if _depth(manifest) > MAX_MANIFEST_DEPTH:
        raise IRError(
            f"{source}: manifest.json is nested too deeply; allowed: {MAX_MANIFEST_DEPTH} levels"
        )
    return manifest


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item)
    return deepest


def _read_npy(archive: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> np.ndarray:
    """One .npy member: its header checked (numeric dtype, declared size equal to what the
    member holds) before the data are inflated, in chunks, into an array of that size."""
    with archive.open(info) as stream:
        shape, fortran, dtype, header_end = inputs.read_npy_header(
            stream, label, max_bytes=None, error=IRError, allowed="numpy.save output"
        )  # the declared size is compared with the member's below
        declared = math.prod(shape) * dtype.itemsize
        held = info.file_size - header_end
        if declared != held:
            raise IRError(
                f"{label}: the header declares shape {shape} of {dtype} ({declared} bytes), "
                f"the member holds {held}; allowed: exactly the declared data"
            )
        try:
            array = np.empty(shape[::-1] if fortran else shape, dtype)
        except ValueError:  # dimensions beyond numpy's, even if one of them is 0
            raise IRError(f"{label}: shape {shape} is too large for numpy") from None
        _read_exactly(stream, array.reshape(-1).view(np.uint8), label)
    return array.T if fortran else array


def _read_exactly(stream: Any, target: np.ndarray, label: str) -> None:
    """Fill ``target`` (bytes) from ``stream`` and refuse a stream that ends early or holds
    more: never more than len(target) + 1 bytes are inflated, whatever the zip header says."""
    filled = 0
    while filled < target.size:
        chunk = stream.read(min(_CHUNK, target.size - filled))
        if not chunk:
            raise IRError(f"{label}: the data end after {filled} of {target.size} bytes")
        target[filled : filled + len(chunk)] = np.frombuffer(chunk, np.uint8)
        filled += len(chunk)
    if stream.read(1):
        raise IRError(f"{label}: more data than its header declares ({target.size} bytes)")


# ---------------------------------------------------------------------------------------------
# Loading: every field checked, errors name the field and what was expected
# ---------------------------------------------------------------------------------------------
def load(path: str | os.PathLike) -> Network:
    """Load and fully validate a ``.bwir`` file; raises IRError naming any problem."""
    path = Path(path)
    manifest, arrays = _read_archive(path)
    net = from_manifest(manifest, arrays, source=str(path))
    expected = manifest.get("sha256")
    actual = net.sha256
    if expected != actual:
        raise IRError(
            f"{path}: sha256: content hash mismatch (file says {expected!r}, content is "
            f"{actual}): the file was modified or is corrupt"
        )
    return net


def from_manifest(manifest: dict, arrays: dict[str, np.ndarray], source: str = "<ir>") -> Network:
    r = FieldReader(source, arrays)
    fmt = r.get(manifest, "format", str, "")
    if fmt != FORMAT:
        raise r.fail("format", f"expected {FORMAT!r}, got {fmt!r}")
    version = r.get(manifest, "version", int, "")
    if version not in SUPPORTED_VERSIONS:
        newer = " (written by a newer bitwave)" if version > VERSION else ""
        raise r.fail(
            "version",
            f"unsupported version {version}{newer}; this bitwave reads {SUPPORTED_VERSIONS}",
        )
    name = r.get(manifest, "name", str, "")
    provenance = r.get(manifest, "provenance", dict, "")
    r.get(manifest, "sha256", str, "")
    declared = r.get(manifest, "arrays", dict, "")
    for array_name, spec in declared.items():
        where = f"arrays.{array_name}"
        if array_name not in arrays:
            raise r.fail(where, "declared array is missing from the file")
        dtype = r.get(spec, "dtype", str, where)
        shape = r.get(spec, "shape", list, where)
        if arrays[array_name].dtype.str != dtype or list(arrays[array_name].shape) != shape:
            raise r.fail(
                where,
                f"declared {dtype} {shape}, file holds {arrays[array_name].dtype.str} "
                f"{list(arrays[array_name].shape)}",
            )
    undeclared = sorted(set(arrays) - set(declared))
    if undeclared:
        raise r.fail("arrays", f"file holds undeclared arrays {undeclared}")

    spec = r.get(manifest, "input", dict, "")
    input_width = r.positive(spec, "width", "input")
    input_type = r.value_type(spec, "type", "input")
    coding = _read_coding(r, spec, input_width, input_type)

    layer_specs = r.get(manifest, "layers", list, "")
    if not layer_specs:
        raise r.fail("layers", "expected at least one layer")
    layers: list[Layer] = []
    width, value_type = input_width, input_type
    for index, layer_spec in enumerate(layer_specs):
        layer = _read_layer(r, layer_spec, f"layers[{index}]", width, value_type, version)
        layers.append(layer)
        width, value_type = layer.out_width, layer.out_type
    exits = _read_exits(r, manifest, layers, version)
    mask_floor_db = _read_mask_floor(r, manifest, layers[-1])
    audio = _read_audio(r, manifest, coding, layers[-1])
    needed = required_version(layers, exits)
    if version != needed:  # versions are canonical: the content hash covers the version
        raise r.fail(
            "version",
            f"the file says version {version}, but its content needs version {needed} "
            "(binary_gru needs 2, exits need 3); bitwave writes the lowest version that holds "
            "a network",
        )
    return Network(
        name, input_width, input_type, layers, coding, provenance, exits, mask_floor_db, audio
    )


def _read_mask_floor(r: FieldReader, manifest: dict, last: Layer) -> float | None:
    """The optional mask floor: a finite number of dB in [MASK_FLOOR_MIN_DB, 0) on a network
    whose output is a mask bit per bin (bipolar)."""
    if "mask_floor_db" not in manifest:
        return None
    value = float(r.get(manifest, "mask_floor_db", (int, float), ""))
    problem = mask_floor_problem(value)
    if problem:
        raise r.fail(
            "mask_floor_db", f"{problem}; omit the field for no floor (a mask bit 0 zeroes its bin)"
        )
    if last.out_type != BIPOLAR:
        raise r.fail(
            "mask_floor_db",
            f"a mask floor needs a mask-bit (bipolar) output; this network outputs {last.out_type}",
        )
    return value


def _read_audio(
    r: FieldReader, manifest: dict, coding: BitplaneCodingSpec | None, last: Layer
) -> AudioSpec | None:
    """The optional audio path: AudioSpec fields (each checked, errors name ``audio.<field>``)
    on a network that codes 513 magnitude bins and outputs one mask bit per bin."""
    if "audio" not in manifest:
        return None
    entry = r.get(manifest, "audio", dict, "")
    try:
        spec = AudioSpec.from_json(entry)
    except AudioSpecError as error:
        raise r.fail(f"audio.{error.field}" if error.field else "audio", error.detail) from None
    if coding is None or coding.features != N_BINS:
        raise r.fail(
            "audio",
            f"an audio path needs a bit-plane input coding of {N_BINS} magnitude bins, the "
            f"network has {'none' if coding is None else f'{coding.features} features'}",
        )
    if last.out_type != BIPOLAR or last.out_width != N_BINS:
        raise r.fail(
            "audio",
            f"an audio path needs one mask bit per bin ({N_BINS} x bipolar out), the network "
            f"outputs {last.out_width} x {last.out_type}",
        )
    return spec


def _read_exits(r: FieldReader, manifest: dict, layers: list[Layer], version: int) -> list[Exit]:
    """The optional early exits: each head reads a chain layer (not the last, shallowest
    first) and writes the network's output width and type; only feed-forward networks."""
    if "exits" not in manifest:
        return []
    specs = r.get(manifest, "exits", list, "")
    if version < EXITS_VERSION:
        raise r.fail("exits", f"exits need IR version {EXITS_VERSION}, the file says {version}")
    if not specs:
        raise r.fail("exits", "expected at least one early exit (omit the key for none)")
    if any(ops.op_of(layer).STATEFUL for layer in layers):
        raise r.fail("exits", "early exits need a feed-forward network (no binary_gru layer)")
    chain = [layer.name for layer in layers[:-1]]
    exits, last, names = [], -1, {layer.name for layer in layers}
    for index, spec in enumerate(specs):
        where = f"exits[{index}]"
        after = r.get(spec, "after", str, where)
        if after not in chain or chain.index(after) <= last:
            raise r.fail(
                f"{where}.after",
                f"{after!r} is not a layer after the previous exit's; allowed: layers "
                f"{chain[last + 1 :]} (not the last layer: it is the final exit)",
            )
        last = chain.index(after)
        source = layers[last]
        head = _read_layer(
            r,
            r.get(spec, "layer", dict, where),
            f"{where}.layer",
            source.out_width,
            source.out_type,
            version,
        )
        _check_head(r, head, f"{where}.layer", layers[-1], names)
        names.add(head.name)
        exits.append(Exit(after, head))
    return exits


def _check_head(r: FieldReader, head: Layer, where: str, final: Layer, names: set[str]) -> None:
    if head.name in names:
        raise r.fail(f"{where}.name", f"{head.name!r} is already a layer or exit name")
    if ops.op_of(head).STATEFUL:
        raise r.fail(f"{where}.op", f"an exit head must be a dense op, got {head.op!r}")
    if (head.out_width, head.out_type) != (final.out_width, final.out_type):
        raise r.fail(
            where,
            f"an exit writes the network's output ({final.out_width} x {final.out_type}), "
            f"this head writes {head.out_width} x {head.out_type}",
        )


def _read_coding(
    r: FieldReader, spec: dict, width: int, value_type: ValueType
) -> BitplaneCodingSpec | None:
    if "coding" not in spec or spec["coding"] is None:
        return None
    coding = r.get(spec, "coding", dict, "input")
    where = "input.coding"
    kind = r.get(coding, "kind", str, where)
    if kind != "bitplanes":
        raise r.fail(f"{where}.kind", f"expected 'bitplanes', got {kind!r}")
    features = r.positive(coding, "features", where)
    bits = r.positive(coding, "bits", where)
    if bits > MAX_BITS:
        raise r.fail(f"{where}.bits", f"expected 1..{MAX_BITS}, got {bits}")
    if value_type != BIPOLAR or features * bits != width:
        raise r.fail(
            where,
            f"bit-planes of {features} x {bits} need a bipolar input of width {features * bits}, the input is {width} x {value_type}",
        )
    name = r.get(coding, "boundaries", str, where)
    rows = r.arrays.get(name, np.zeros((0, 0))).shape[0]
    boundaries = r.array(
        coding, "boundaries", where, "f", (rows if rows in (1, features) else features, 2**bits - 1)
    )
    if not np.all(np.isfinite(boundaries)) or np.any(np.diff(boundaries, axis=1) < 0):
        raise r.fail(
            f"{where}.boundaries", "expected finite values sorted ascending along each row"
        )
    levels = None
    if "levels" in coding:
        levels = r.array(coding, "levels", where, "f", (boundaries.shape[0], 2**bits))
    return BitplaneCodingSpec(features, bits, boundaries, levels)


def _read_layer(
    r: FieldReader, spec: dict, where: str, width: int, value_type: ValueType, version: int = 1
) -> Layer:
    """One layer entry: the fields every layer has, then its op's own (``ops.<op>.read``)."""
    name = r.get(spec, "name", str, where)
    if sanitize_identifier(name) != name:
        raise r.fail(
            f"{where}.name", f"{name!r} is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)"
        )
    op = r.get(spec, "op", str, where)
    if op in ops.OPS and version < ops.OPS[op].MIN_VERSION:
        needed = ops.OPS[op].MIN_VERSION
        raise r.fail(
            f"{where}.op",
            f"op {op!r} needs IR version {needed}, the file says version {version}",
        )
    if op not in ops.OPS:
        raise r.fail(f"{where}.op", f"unknown op {op!r}; {_ops_by_version()}")
    return ops.OPS[op].read(r, spec, where, name, width, value_type)


def _ops_by_version() -> str:
    """ "version 1 has 'binary_dense' and 'int_dense', version 2 adds 'binary_gru'"."""
    parts = []
    for version in SUPPORTED_VERSIONS:
        names = [f"{n!r}" for n, module in ops.OPS.items() if module.MIN_VERSION == version]
        verb = "has" if version == SUPPORTED_VERSIONS[0] else "adds"
        parts.append(f"version {version} {verb} {' and '.join(names)}")
    return ", ".join(parts)


def validate(net: Network) -> None:
    """Check an in-memory network by the same rules as loading."""
    manifest, arrays = _to_manifest(net)
    manifest["provenance"] = dict(net.provenance)
    manifest["sha256"] = ""
    manifest["arrays"] = {
        k: {"dtype": v.dtype.str, "shape": list(v.shape)} for k, v in arrays.items()
    }
    from_manifest(manifest, arrays, source=f"network {net.name!r}")
