"""Architecture descriptions in YAML: the schema of every kind, validation with errors that
name the key path and what is allowed, and the defaults.

A description is a mapping with ``kind`` (one of ``KINDS``) and that kind's keys; see
cost/examples/ for one file per kind. Validation uses ``jsonschema`` for structure and
types, then a few cross-field checks; every failure raises ``BitwaveError`` with the path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jsonschema

from bitwave.core.errors import BitwaveError
from bitwave.core.inputs import safe_load_bounded
from bitwave.cost.counts import FLOAT_BITS, Precision

KINDS = ("mlp", "gru", "lstm", "convtasnet", "bloomnet", "mixture", "lsh_knn")
PRECISION_HELP = "float32, binary, int2..int16, or a mapping {weights: W, activations: A} with W, A in 1..16 or 32"

_INT = {"type": "integer", "minimum": 1, "maximum": 1 << 24}
_BOOL = {"type": "boolean"}

_AUDIO = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "sample_rate": {"type": "integer", "minimum": 1000, "maximum": 384000},
        "n_fft": {"type": "integer", "minimum": 16, "maximum": 65536},
        "hop": {"type": "integer", "minimum": 1, "maximum": 65536},
    },
}
_STFT = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"frontend": _BOOL, "backend": _BOOL, "bits": {"enum": [16, 32]}},
}
_COMMON = {
    "name": {"type": "string", "minLength": 1, "maxLength": 128},
    "kind": {"enum": list(KINDS)},
    "precision": {},
}
_STFT_COMMON = {"audio": _AUDIO, "stft": _STFT}

_KIND_PROPERTIES: dict[str, dict[str, Any]] = {
    "mlp": {
        **_STFT_COMMON,
        "inputs": _INT,
        "hidden": {"type": "array", "items": _INT, "maxItems": 64},
        "outputs": _INT,
    },
    "gru": {
        **_STFT_COMMON,
        "inputs": _INT,
        "hidden": _INT,
        "layers": {**_INT, "maximum": 64},
        "outputs": _INT,
    },
    "lstm": {
        **_STFT_COMMON,
        "inputs": _INT,
        "hidden": _INT,
        "layers": {**_INT, "maximum": 64},
        "outputs": _INT,
    },
    "convtasnet": {
        "audio": {**_AUDIO, "properties": {"sample_rate": _AUDIO["properties"]["sample_rate"]}},
        **{key: _INT for key in ("N", "L", "B", "H", "P", "X", "R", "Sc", "stride", "sources")},
        "norm": _BOOL,
    },
    "bloomnet": {
        "audio": {**_AUDIO, "properties": {"sample_rate": _AUDIO["properties"]["sample_rate"]}},
        **{key: _INT for key in ("N", "L", "B", "H", "P", "blocks", "convs_per_block", "stride")},
        "norm": _BOOL,
        "head": {"enum": ["per_exit", "shared"]},
    },
    "mixture": {
        "gating": {"type": "object"},
        "specialist": {"type": "object"},
        "count": {**_INT, "maximum": 4096},
        "specialists": {
            "type": "array",
            "items": {"type": "object"},
            "minItems": 1,
            "maxItems": 4096,
        },
    },
    "lsh_knn": {
        **_STFT_COMMON,
        "inputs": _INT,
        "code_bits": {**_INT, "maximum": 65536},
        "dictionary": _INT,
        "k": _INT,
        "projection_precision": {},
    },
}
_REQUIRED = {
    "mlp": ["hidden"],
    "gru": ["hidden", "layers"],
    "lstm": ["hidden", "layers"],
    "convtasnet": ["N", "L", "B", "H", "P", "X", "R"],
    "bloomnet": ["N", "L", "B", "H", "P", "blocks"],
    "mixture": ["gating"],
    "lsh_knn": ["code_bits", "dictionary", "k"],
}


def schema_for(kind: str) -> dict:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["kind", *_REQUIRED[kind]],
        "properties": {**_COMMON, **_KIND_PROPERTIES[kind]},
    }


def _where(prefix: str, path: Any) -> str:
    text = prefix
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _describe(error: jsonschema.ValidationError, prefix: str) -> str:
    where = _where(prefix, error.absolute_path)
    kind, schema, value = error.validator, error.schema, error.instance
    if kind == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        unknown = sorted(set(value) - set(allowed), key=str)
        key = unknown[0] if unknown else "?"
        return f"{_where(prefix, [*error.absolute_path, key])}: unknown key; allowed keys here: {', '.join(allowed)}"
    if kind == "required":
        return f"{where}: {error.message.replace(' is a required property', '')} is required"
    if kind == "type":
        return f"{where}: expected {schema['type']}, got {type(value).__name__} {value!r}"
    if kind in ("minimum", "maximum"):
        low, high = schema.get("minimum", "-inf"), schema.get("maximum", "inf")
        return f"{where}: {value!r} is out of range; allowed {low}..{high}"
    if kind == "enum":
        return f"{where}: {value!r} is not allowed; allowed: {', '.join(map(repr, schema['enum']))}"
    if kind in ("minItems", "maxItems", "minLength", "maxLength"):
        return f"{where}: {error.message}"
    return f"{where}: {error.message}"


def check_schema(spec: Any, schema: dict, prefix: str) -> None:
    if not isinstance(spec, dict):
        raise BitwaveError(
            f"{prefix or '(top level)'}: expected a mapping, got {type(spec).__name__}"
        )
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(
        validator.iter_errors(spec),
        key=lambda e: (len(e.absolute_path), str(list(e.absolute_path))),
    )
    if errors:
        raise BitwaveError(_describe(errors[0], prefix))


def parse_precision(value: Any, where: str, default: Precision) -> Precision:
    """``float32``/``float``, ``binary``, ``int<k>`` or ``{weights: W, activations: A}``."""
    if value is None:
        return default
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("float32", "float"):
            return Precision(FLOAT_BITS, FLOAT_BITS)
        if text == "binary":
            return Precision(1, 1)
        if text.startswith("int") and text[3:].isdigit() and 2 <= int(text[3:]) <= 16:
            return Precision(int(text[3:]), int(text[3:]))
    elif isinstance(value, dict) and set(value) <= {"weights", "activations"} and len(value) == 2:
        bits = [value["weights"], value["activations"]]
        if all(
            isinstance(b, int) and not isinstance(b, bool) and (1 <= b <= 16 or b == FLOAT_BITS)
            for b in bits
        ):
            return Precision(bits[0], bits[1])
    raise BitwaveError(f"{where}: {value!r} is not a precision; allowed: {PRECISION_HELP}")


def validate(spec: Any, prefix: str = "") -> dict:
    """Check one architecture description (recursively for mixtures); returns it unchanged."""
    if not isinstance(spec, dict):
        raise BitwaveError(
            f"{prefix or '(top level)'}: expected a mapping with 'kind', got {type(spec).__name__}"
        )
    kind = spec.get("kind")
    if kind not in KINDS:
        where = f"{prefix}.kind" if prefix else "kind"
        raise BitwaveError(
            f"{where}: {kind!r} is not an architecture kind; allowed: {', '.join(KINDS)}"
        )
    check_schema(spec, schema_for(kind), prefix)
    dot = f"{prefix}." if prefix else ""
    parse_precision(spec.get("precision"), f"{dot}precision", Precision(FLOAT_BITS, FLOAT_BITS))
    audio = spec.get("audio", {})
    if "n_fft" in audio and audio["n_fft"] & (audio["n_fft"] - 1):
        raise BitwaveError(
            f"{dot}audio.n_fft: {audio['n_fft']} is not a power of two; allowed 16, 32, ..., 65536"
        )
    if audio.get("hop", 0) > audio.get("n_fft", 1024):
        raise BitwaveError(f"{dot}audio.hop: {audio['hop']} exceeds n_fft; allowed 1..n_fft")
    if kind in ("convtasnet", "bloomnet") and spec.get("stride", 1) > spec["L"]:
        raise BitwaveError(
            f"{dot}stride: {spec['stride']} exceeds the filter length L={spec['L']}; allowed 1..L"
        )
    if kind == "lsh_knn":
        parse_precision(
            spec.get("projection_precision"),
            f"{dot}projection_precision",
            Precision(FLOAT_BITS, FLOAT_BITS),
        )
        if spec["k"] > spec["dictionary"]:
            raise BitwaveError(
                f"{dot}k: {spec['k']} exceeds the dictionary size {spec['dictionary']}; allowed 1..dictionary"
            )
    if kind == "mixture":
        has_one, has_list = "specialist" in spec, "specialists" in spec
        if has_one == has_list:
            raise BitwaveError(
                f"{dot}specialist/specialists: give exactly one: 'specialist' with 'count', or a 'specialists' list"
            )
        if has_one != ("count" in spec):
            raise BitwaveError(
                f"{dot}count: 'count' goes with 'specialist' (K copies of one specialist) and only with it"
            )
        validate(spec["gating"], f"{dot}gating")
        for index, sub in enumerate(spec["specialists"] if has_list else [spec["specialist"]]):
            where = f"{dot}specialists[{index}]" if has_list else f"{dot}specialist"
            validate(sub, where)
            if isinstance(sub, dict) and sub.get("kind") == "mixture":
                raise BitwaveError(
                    f"{where}.kind: a specialist cannot itself be a mixture; allowed: {', '.join(k for k in KINDS if k != 'mixture')}"
                )
    return spec


def load_yaml(path: str | os.PathLike) -> dict:
    """Read and validate an architecture file (safe YAML, its size and alias expansion
    bounded: ``inputs.safe_load_bounded``)."""
    path = Path(path)
    spec = safe_load_bounded(path)
    try:
        return validate(spec)
    except BitwaveError as error:
        raise BitwaveError(f"{path}: {error}") from None
