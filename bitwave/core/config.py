"""YAML configuration: safe loading, embedded defaults, schema validation with key paths.

The schema (bitwave/config_schema.yaml) is JSON Schema; every section a stage reads is
declared there with its types and ranges, and bitwave/config_defaults.yaml holds the
defaults. A user file only overrides what it names."""

from __future__ import annotations

import copy
import os
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from bitwave.core.errors import ConfigError


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
    errors = sorted(
        jsonschema.Draft202012Validator(schema()).iter_errors(config),
        key=lambda e: list(e.absolute_path),
    )
    if errors:
        raise ConfigError(f"{source}: " + "; ".join(_describe(e) for e in errors[:5]))
    return config


def load(path: str | os.PathLike | None = None) -> dict:
    """Defaults merged with the user's YAML file (if any), validated."""
    config = defaults()
    source = "built-in defaults"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file")
        try:
            user = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML ({error})") from None
        if user is None:
            user = {}
        if not isinstance(user, dict):
            raise ConfigError(
                f"{path}: the top level must be a mapping of sections, got {type(user).__name__}"
            )
        config = merge(config, user)
    return validate(config, source)
