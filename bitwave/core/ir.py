"""The bitwave IR: the integer network every stage agrees on, bit for bit.

A ``.bwir`` file is a zip archive holding ``manifest.json`` and one ``.npy`` member per array.
It loads with numpy and the standard library alone. The semantics are written once, in
docs/ir.md, and executed by ``bitwave.core.golden``; this module only describes, saves and loads.

Value types on the wires between layers:
- ``bipolar``: one bit per element, bit 1 = +1, bit 0 = -1.
- ``uint<k>``: k-bit unsigned integers (1 <= k <= 16).

Layers (``op``):
- ``binary_dense``: bipolar input and weights; accumulator = popcount(XNOR(x, w)) in [0, N].
- ``int_dense``: integer weights (``wbits`` = 1 means weights in {-1, +1}; otherwise symmetric
  signed ``wbits``-bit values in [-(2^(wbits-1) - 1), 2^(wbits-1) - 1]) times the input values
  (bipolar bits as -1/+1); accumulator = the signed dot product.
Both end in the same multi-threshold activation: count = #{j : acc >= T[m, j]} when
direction[m] = +1, #{j : acc <= T[m, j]} when direction[m] = -1. The count is the output
value: a bipolar bit when the output type is bipolar (one threshold), a uint<k> otherwise
(2^k - 1 thresholds).
- ``binary_gru`` (version 2): a bitwise GRU cell; frames are consecutive time steps. Gates
  z, r in {0, 1} and the candidate n are single thresholds over weighted XNOR popcounts of
  the input and the state, the reset gate masks the recurrent term of n, h' = z ? h : n.

A file's version is the lowest version that holds its ops: version 1 unless it has a
``binary_gru`` layer, so every version-1 network is still written (and hashed) as before.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bitwave import __version__
from bitwave.core.errors import IRError
from bitwave.core.paths import atomic_write, sanitize_identifier

FORMAT = "bitwave-ir"
VERSION = 2  # the newest version this bitwave writes
SUPPORTED_VERSIONS = (1, 2)
MAX_GRU_COEFFICIENT = 255  # binary_gru popcount weights lie in [1, MAX_GRU_COEFFICIENT]
MAX_BITS = 16
WORD_BITS = 64


# ---------------------------------------------------------------------------------------------
# Value types
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ValueType:
    """The type of the values on a wire: ``bipolar`` (1 bit, +/-1) or ``uint`` with ``bits``."""

    kind: str
    bits: int = 1

    def __post_init__(self) -> None:
        if self.kind not in ("bipolar", "uint"):
            raise IRError(f"value type kind {self.kind!r}: expected 'bipolar' or 'uint'")
        if self.kind == "bipolar" and self.bits != 1:
            raise IRError(f"bipolar values have 1 bit, not {self.bits}")
        if not 1 <= self.bits <= MAX_BITS:
            raise IRError(f"uint values need 1..{MAX_BITS} bits, not {self.bits}")

    @property
    def levels(self) -> int:
        """Number of distinct values (thresholds per neuron = levels - 1)."""
        return 2**self.bits

    def values(self, counts: np.ndarray) -> np.ndarray:
        """Map stored codes (bits or counts) to the arithmetic values a next layer multiplies."""
        counts = np.asarray(counts, dtype=np.int64)
        return 2 * counts - 1 if self.kind == "bipolar" else counts

    def to_json(self) -> dict:
        return {"kind": self.kind, "bits": self.bits}

    def __str__(self) -> str:
        return "bipolar" if self.kind == "bipolar" else f"uint{self.bits}"


BIPOLAR = ValueType("bipolar", 1)


def uint(bits: int) -> ValueType:
    return ValueType("uint", bits)


# ---------------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------------
@dataclass
class Dense:
    """Fields shared by both dense ops; ``thresholds`` is (out_width, levels - 1) int64 and
    ``direction`` is (out_width,) int8 of +1/-1."""

    name: str
    in_width: int
    out_width: int
    thresholds: np.ndarray
    direction: np.ndarray
    in_type: ValueType
    out_type: ValueType

    op = "dense"


@dataclass
class BinaryDense(Dense):
    """XNOR-popcount layer. ``weights`` is packed: (out_width, ceil(in_width/64)) uint64,
    input bit i of neuron m at word i // 64, bit i % 64; padding bits are zero."""

    weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.uint64))
    op = "binary_dense"
    wbits = 1

    def weight_bits(self) -> np.ndarray:
        """Unpacked weight bits (out_width, in_width) uint8, 1 = +1."""
        return unpack_bits(self.weights, self.in_width)

    def weight_values(self) -> np.ndarray:
        """Weights as signed integers (out_width, in_width): -1/+1."""
        return 2 * self.weight_bits().astype(np.int64) - 1


@dataclass
class IntDense(Dense):
    """Integer matrix-vector layer. ``weights`` is (out_width, in_width) int8/int16."""

    weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int8))
    wbits: int = 8
    op = "int_dense"

    def weight_values(self) -> np.ndarray:
        """Weights as signed integers (out_width, in_width)."""
        return self.weights.astype(np.int64)


def weight_range(wbits: int) -> tuple[int, int]:
    """Allowed integer weight values for int_dense: {-1, +1} for 1 bit, else symmetric."""
    if wbits == 1:
        return -1, 1
    top = 2 ** (wbits - 1) - 1
    return -top, top


@dataclass
class BinaryGRU:
    """Bitwise GRU cell (IR version 2); semantics in docs/ir.md, executed by bitwave.core.golden.

    Gates are ordered z (update), r (reset), n (candidate) along the first axis of the
    weights and the last axis of ``direction``. With N = in_width and H = out_width (the
    state width):
    - ``weights_x``: (3, H, ceil(N/64)) uint64, packed like binary_dense (padding zero),
    - ``weights_h``: (3, H, ceil(H/64)) uint64,
    - ``coefficients``: (3, 2) int64, per gate (a, b) in [1, MAX_GRU_COEFFICIENT]: the gate
      accumulates a * popcount_x + b * popcount_h,
    - ``thresholds``: (H, 4) int64: T_z, T_r, T_n for r = 0, T_n for r = 1,
    - ``direction``: (H, 3) int8 of +1/-1 for z, r, n,
    - ``initial_state``: (H,) uint8 bits, the state before the first frame of a sequence.
    """

    name: str
    in_width: int
    out_width: int
    weights_x: np.ndarray
    weights_h: np.ndarray
    coefficients: np.ndarray
    thresholds: np.ndarray
    direction: np.ndarray
    initial_state: np.ndarray
    in_type: ValueType = BIPOLAR
    out_type: ValueType = BIPOLAR

    op = "binary_gru"
    wbits = 1
    GATES = ("z", "r", "n")
    MIN_VERSION = 2

    @property
    def state_width(self) -> int:
        return self.out_width

    def weight_bits(self) -> tuple[np.ndarray, np.ndarray]:
        """Unpacked weight bits, 1 = +1: (3, H, N) for the input, (3, H, H) for the state."""
        return unpack_bits(self.weights_x, self.in_width), unpack_bits(
            self.weights_h, self.out_width
        )


Layer = Dense | BinaryGRU


def required_version(layers: list[Layer]) -> int:
    """The lowest IR version that can hold these layers (what the writer writes)."""
    return max([1] + [getattr(layer, "MIN_VERSION", 1) for layer in layers])


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

    @property
    def output_type(self) -> ValueType:
        return self.layers[-1].out_type

    @property
    def output_width(self) -> int:
        return self.layers[-1].out_width

    @property
    def version(self) -> int:
        """The IR version this network is written as (2 only if it holds a binary_gru)."""
        return required_version(self.layers)

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
            lines.append(
                f"  {layer.name:<12} {layer.op:<13} {layer.in_width:>6} -> {layer.out_width:<6}"
                f" w{layer.wbits} {layer.in_type} -> {layer.out_type}"
            )
        return "\n".join(lines)


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """(..., n) array of 0/1 -> (..., ceil(n/64)) uint64, bit i at word i//64, bit i%64."""
    bits = np.asarray(bits, dtype=np.uint8)
    n = bits.shape[-1]
    words = -(-n // WORD_BITS)
    padded = np.zeros(bits.shape[:-1] + (words * WORD_BITS,), np.uint8)
    padded[..., :n] = bits
    packed = np.packbits(padded, axis=-1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u8").astype(np.uint64, copy=False)


def unpack_bits(words: np.ndarray, n: int) -> np.ndarray:
    """Inverse of pack_bits: (..., w) uint64 -> (..., n) uint8."""
    as_bytes = np.ascontiguousarray(words.astype("<u8", copy=False)).view(np.uint8)
    return np.unpackbits(as_bytes, axis=-1, bitorder="little")[..., :n]


# ---------------------------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------------------------
def _gru_manifest(index: int, layer: BinaryGRU) -> tuple[dict, dict[str, np.ndarray]]:
    prefix = f"layers.{index}"
    arrays = {
        f"{prefix}.weights_x": layer.weights_x,
        f"{prefix}.weights_h": layer.weights_h,
        f"{prefix}.coefficients": np.asarray(layer.coefficients, np.int64),
        f"{prefix}.thresholds": np.asarray(layer.thresholds, np.int64),
        f"{prefix}.direction": np.asarray(layer.direction, np.int8),
        f"{prefix}.initial_state": np.asarray(layer.initial_state, np.uint8),
    }
    entry = {
        "name": layer.name,
        "op": layer.op,
        "in_width": layer.in_width,
        "out_width": layer.out_width,
        "in_type": layer.in_type.to_json(),
        "out_type": layer.out_type.to_json(),
        **{key.rsplit(".", 1)[1]: key for key in arrays},
    }
    return entry, arrays


def _layer_manifest(index: int, layer: Layer) -> tuple[dict, dict[str, np.ndarray]]:
    if isinstance(layer, BinaryGRU):
        return _gru_manifest(index, layer)
    prefix = f"layers.{index}"
    entry = {
        "name": layer.name,
        "op": layer.op,
        "in_width": layer.in_width,
        "out_width": layer.out_width,
        "in_type": layer.in_type.to_json(),
        "out_type": layer.out_type.to_json(),
        "weights": f"{prefix}.weights",
        "thresholds": f"{prefix}.thresholds",
        "direction": f"{prefix}.direction",
    }
    if isinstance(layer, IntDense):
        entry["wbits"] = layer.wbits
    arrays = {
        f"{prefix}.weights": layer.weights,
        f"{prefix}.thresholds": np.asarray(layer.thresholds, np.int64),
        f"{prefix}.direction": np.asarray(layer.direction, np.int8),
    }
    return entry, arrays


def _to_manifest(net: Network) -> tuple[dict, dict[str, np.ndarray]]:
    arrays: dict[str, np.ndarray] = {}
    layers = []
    for index, layer in enumerate(net.layers):
        entry, layer_arrays = _layer_manifest(index, layer)
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
# Loading: every field checked, errors name the field and what was expected
# ---------------------------------------------------------------------------------------------
class _Reader:
    """Typed access to manifest fields that raises IRError naming the field path."""

    def __init__(self, source: str, arrays: dict[str, np.ndarray]) -> None:
        self.source = source
        self.arrays = arrays

    def fail(self, where: str, message: str) -> IRError:
        return IRError(f"{self.source}: {where}: {message}")

    def get(self, obj: dict, key: str, kind: type | tuple, where: str) -> Any:
        if not isinstance(obj, dict):
            raise self.fail(where, f"expected an object, got {type(obj).__name__}")
        if key not in obj:
            raise self.fail(f"{where}.{key}" if where else key, "missing field")
        value = obj[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in kinds)
            path = f"{where}.{key}" if where else key
            raise self.fail(path, f"expected {names}, got {type(value).__name__} {value!r}")
        return value

    def positive(self, obj: dict, key: str, where: str) -> int:
        value = self.get(obj, key, int, where)
        if value < 1:
            raise self.fail(f"{where}.{key}", f"expected a positive integer, got {value}")
        return value

    def array(self, obj: dict, key: str, where: str, kinds: str, shape: tuple) -> np.ndarray:
        """An array referenced by name, checked for dtype kind ('u', 'i', 'f') and shape."""
        name = self.get(obj, key, str, where)
        path = f"{where}.{key}"
        if name not in self.arrays:
            raise self.fail(path, f"array {name!r} is not in the file")
        array = self.arrays[name]
        if array.dtype.kind not in kinds:
            raise self.fail(path, f"expected dtype kind {kinds!r}, got {array.dtype}")
        if tuple(array.shape) != tuple(shape):
            raise self.fail(path, f"expected shape {tuple(shape)}, got {tuple(array.shape)}")
        return array

    def value_type(self, obj: dict, key: str, where: str) -> ValueType:
        spec = self.get(obj, key, dict, where)
        path = f"{where}.{key}"
        kind = self.get(spec, "kind", str, path)
        bits = self.get(spec, "bits", int, path)
        try:
            return ValueType(kind, bits)
        except IRError as error:
            raise self.fail(path, str(error)) from None


def _read_archive(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    source = str(path)
    if not path.is_file():
        raise IRError(f"{source}: no such IR file")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "manifest.json" not in names:
                raise IRError(f"{source}: manifest.json missing (not a bitwave IR archive)")
            try:
                manifest = json.loads(archive.read("manifest.json"))
            except (json.JSONDecodeError, UnicodeDecodeError, zlib.error) as error:
                raise IRError(f"{source}: manifest.json is not valid JSON ({error})") from None
            arrays = {}
            for member in names:
                if member.endswith(".npy"):
                    try:
                        data = archive.read(member)
                        arrays[member[:-4]] = np.load(io.BytesIO(data), allow_pickle=False)
                    except (ValueError, OSError, EOFError, zlib.error) as error:
                        raise IRError(f"{source}: array {member} is corrupt ({error})") from None
    except zipfile.BadZipFile as error:
        raise IRError(
            f"{source}: not a bitwave IR file: truncated or not a zip archive ({error})"
        ) from None
    except zipfile.LargeZipFile as error:
        raise IRError(f"{source}: unreadable archive ({error})") from None
    except (OSError, EOFError, RuntimeError, zlib.error) as error:  # bad CRC or deflate data
        raise IRError(f"{source}: corrupt archive ({error})") from None
    if not isinstance(manifest, dict):
        raise IRError(f"{source}: manifest.json must hold an object")
    return manifest, arrays


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
    r = _Reader(source, arrays)
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
    needed = required_version(layers)
    if version != needed:  # versions are canonical: the content hash covers the version
        raise r.fail(
            "version",
            f"the file says version {version}, but its ops need version {needed}; "
            f"bitwave writes a network with only version-1 ops as version 1",
        )
    net = Network(name, input_width, input_type, layers, coding, provenance)
    return net


def _read_coding(
    r: _Reader, spec: dict, width: int, value_type: ValueType
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


def _read_packed(
    r: _Reader, spec: dict, key: str, where: str, shape: tuple, bits: int
) -> np.ndarray:
    """Packed uint64 weight words whose last axis holds ``bits`` bits, padding zero."""
    weights = r.array(spec, key, where, "u", shape)
    if weights.dtype != np.uint64:
        raise r.fail(f"{where}.{key}", f"expected uint64 packed words, got {weights.dtype}")
    pad = bits % WORD_BITS
    if pad and np.any(weights[..., -1] >> np.uint64(pad)):
        raise r.fail(f"{where}.{key}", f"padding bits above bit {bits} must be zero")
    return weights


def _read_gru(r: _Reader, spec: dict, where: str, name: str) -> BinaryGRU:
    n = r.positive(spec, "in_width", where)
    h = r.positive(spec, "out_width", where)
    for key in ("in_type", "out_type"):
        value_type = r.value_type(spec, key, where)
        if value_type != BIPOLAR:
            raise r.fail(f"{where}.{key}", f"binary_gru is bipolar in and out, got {value_type}")
    words_x, words_h = -(-n // WORD_BITS), -(-h // WORD_BITS)
    weights_x = _read_packed(r, spec, "weights_x", where, (3, h, words_x), n)
    weights_h = _read_packed(r, spec, "weights_h", where, (3, h, words_h), h)
    coefficients = r.array(spec, "coefficients", where, "i", (3, 2)).astype(np.int64)
    if np.any((coefficients < 1) | (coefficients > MAX_GRU_COEFFICIENT)):
        raise r.fail(
            f"{where}.coefficients",
            f"expected integers in [1, {MAX_GRU_COEFFICIENT}], got {coefficients.tolist()}",
        )
    thresholds = r.array(spec, "thresholds", where, "i", (h, 4)).astype(np.int64)
    direction = r.array(spec, "direction", where, "i", (h, 3))
    if not np.all(np.abs(direction) == 1):
        raise r.fail(f"{where}.direction", "expected only +1 (acc >= T) or -1 (acc <= T)")
    initial = r.array(spec, "initial_state", where, "u", (h,))
    if np.any(initial > 1):
        raise r.fail(f"{where}.initial_state", "expected state bits 0 (-1) or 1 (+1)")
    return BinaryGRU(name, n, h, weights_x, weights_h, coefficients, thresholds,
                     direction.astype(np.int8), initial.astype(np.uint8))  # fmt: skip


def _read_layer(
    r: _Reader, spec: dict, where: str, width: int, value_type: ValueType, version: int = 1
) -> Layer:
    name = r.get(spec, "name", str, where)
    if sanitize_identifier(name) != name:
        raise r.fail(
            f"{where}.name", f"{name!r} is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)"
        )
    op = r.get(spec, "op", str, where)
    if op == "binary_gru" and version < BinaryGRU.MIN_VERSION:
        raise r.fail(
            f"{where}.op", f"op 'binary_gru' needs IR version 2, the file says version {version}"
        )
    if op not in ("binary_dense", "int_dense", "binary_gru"):
        raise r.fail(
            f"{where}.op",
            f"unknown op {op!r}; version 1 has 'binary_dense' and 'int_dense', "
            f"version 2 adds 'binary_gru'",
        )
    if op == "binary_gru":
        layer = _read_gru(r, spec, where, name)
        if layer.in_width != width or value_type != BIPOLAR:
            raise r.fail(
                where,
                f"input is {layer.in_width} x bipolar, but the previous stage gives "
                f"{width} x {value_type}",
            )
        return layer
    in_width = r.positive(spec, "in_width", where)
    out_width = r.positive(spec, "out_width", where)
    in_type = r.value_type(spec, "in_type", where)
    out_type = r.value_type(spec, "out_type", where)
    if in_width != width or in_type != value_type:
        raise r.fail(
            where,
            f"input is {in_width} x {in_type}, but the previous stage gives {width} x {value_type}",
        )
    thresholds = r.array(spec, "thresholds", where, "i", (out_width, out_type.levels - 1))
    direction = r.array(spec, "direction", where, "i", (out_width,))
    if not np.all(np.abs(direction) == 1):
        raise r.fail(f"{where}.direction", "expected only +1 (acc >= T) or -1 (acc <= T)")
    common = dict(name=name, in_width=in_width, out_width=out_width, thresholds=thresholds.astype(np.int64),
                  direction=direction.astype(np.int8), in_type=in_type, out_type=out_type)  # fmt: skip
    if op == "binary_dense":
        if in_type != BIPOLAR:
            raise r.fail(f"{where}.in_type", f"binary_dense needs bipolar input, got {in_type}")
        words = (out_width, -(-in_width // WORD_BITS))
        weights = _read_packed(r, spec, "weights", where, words, in_width)
        return BinaryDense(**common, weights=weights)
    wbits = r.get(spec, "wbits", int, where)
    if not 1 <= wbits <= MAX_BITS:
        raise r.fail(f"{where}.wbits", f"expected 1..{MAX_BITS}, got {wbits}")
    weights = r.array(spec, "weights", where, "i", (out_width, in_width))
    low, high = weight_range(wbits)
    values = weights.astype(np.int64)
    bad = (values < low) | (values > high) | ((values == 0) & (wbits == 1))
    if np.any(bad):
        allowed = "{-1, +1}" if wbits == 1 else f"[{low}, {high}]"
        raise r.fail(
            f"{where}.weights", f"{int(bad.sum())} weights outside {allowed} for wbits={wbits}"
        )
    return IntDense(**common, weights=weights, wbits=wbits)


def validate(net: Network) -> None:
    """Check an in-memory network by the same rules as loading."""
    manifest, arrays = _to_manifest(net)
    manifest["provenance"] = dict(net.provenance)
    manifest["sha256"] = ""
    manifest["arrays"] = {
        k: {"dtype": v.dtype.str, "shape": list(v.shape)} for k, v in arrays.items()
    }
    from_manifest(manifest, arrays, source=f"network {net.name!r}")
