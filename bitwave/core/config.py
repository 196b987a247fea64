"""YAML configuration: safe loading, embedded defaults, schema validation with key paths.

The schema (bitwave/core/config_schema.yaml) is JSON Schema; every section a stage reads is
declared there with its types and ranges, and bitwave/core/config_defaults.yaml holds the
defaults. A user file only overrides what it names. The file is read through the bounded YAML
loader of bitwave.core.inputs, and NaN or infinite numbers are refused anywhere (JSON Schema
cannot say "finite"), so `bitwave config` and every command agree on what is valid."""

from __future__ import annotations

import copy
import os
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from bitwave.core.errors import BitwaveError, ConfigError
from bitwave.core.inputs import non_finite_numbers, safe_load_bounded


@cache
def _packaged(name: str) -> Any:
    return yaml.safe_load(resources.files("bitwave.core").joinpath(name).read_text())


def schema() -> dict:
    return _packaged("config_schema.yaml")


def defaults() -> dict:
    return copy.deepcopy(_packaged("config_defaults.yaml"))


def merge(base: dict, override: dict) -> dict:
    """Deep merge: mappings merge key by key, everything else is replaced."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _describe(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return (
            f"{path}: unknown key {', '.join(map(repr, extra))}; allowed keys: {', '.join(allowed)}"
        )
    if error.validator == "type":
        return f"{path}: expected {error.validator_value}, got {type(error.instance).__name__} {error.instance!r}"
    if error.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        low = error.schema.get("minimum", error.schema.get("exclusiveMinimum", "-inf"))
        high = error.schema.get("maximum", error.schema.get("exclusiveMaximum", "inf"))
        return f"{path}: {error.instance!r} is out of range; allowed: {low} .. {high}"
    if error.validator == "enum":
        return f"{path}: {error.instance!r} is not allowed; choose one of {error.validator_value}"
    return f"{path}: {error.message}"


def validate(config: dict, source: str = "config") -> dict:
    """``config`` if it satisfies the schema and holds only finite numbers, else ConfigError
    naming the key paths (at most five) and what is allowed."""
    problems = [
        f"{path}: not a finite number; allowed: finite numbers (no .nan or .inf)"
        for path in non_finite_numbers(config)
    ]
    if not problems:
        errors = sorted(
            jsonschema.Draft202012Validator(schema()).iter_errors(config),
            key=lambda e: list(e.absolute_path),
        )
        problems = [_describe(e) for e in errors]
    if not problems and (config.get("hw") or {}).get("audio") is not None:
        # the widths' joint limits (an FFT wide enough for its shifts) before any training
        from bitwave.core.audio import AudioSpec, AudioSpecError

        try:
            AudioSpec.from_json(config["hw"]["audio"])
        except AudioSpecError as error:
            problems = [f"hw.{error}"]
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems[:5]))
    return config


def read_user_file(path: str | os.PathLike) -> dict:
    """The user's YAML file as a mapping (empty for an empty file), read with bounded size and
    alias expansion."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        user = safe_load_bounded(path)
    except BitwaveError as error:
        raise ConfigError(str(error)) from None
    if user is None:
        return {}
    if not isinstance(user, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of sections, got {type(user).__name__}"
        )
    return user


def load(path: str | os.PathLike | None = None) -> dict:
    """Defaults merged with the user's YAML file (if any), validated."""
    if path is None:
        return validate(defaults(), "built-in defaults")
    return validate(merge(defaults(), read_user_file(path)), str(path))
