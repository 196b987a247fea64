"""A training run folder and what a model sees of a frame.

``Inputs`` is the input transform a run fits and saves (bit-planes for bitwise / k-bit
models, normalised log magnitudes for float ones); ``Run`` bundles a run's model, optimizer,
inputs and frames and owns its files: ``checkpoint.pt`` (``--resume``) and ``model.pt``.
A checkpoint is untrusted input: ``read_torch_file`` is the one place torch files are loaded
(``weights_only=True``), and a checkpoint is checked against the model before anything of it
is used, so a corrupt, foreign or mismatched file is one ``BitwaveError`` naming it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bitwave.core.errors import BitwaveError
from bitwave.core.ir import BitplaneCodingSpec
from bitwave.core.paths import atomic_write
from bitwave.models import features


@dataclass
class Inputs:
    """How a model sees a frame: bit-planes (+/-1) for bitwise/k-bit models, normalised log
    magnitudes for float ones."""

    coding: BitplaneCodingSpec | None = None
    norm: features.FloatInputNorm | None = None

    @property
    def width(self) -> int:
        """Input values per frame: 513 bins times the coding's bits (1 for float inputs)."""
        return features.N_BINS * (self.coding.bits if self.coding else 1)

    def __call__(self, magnitudes: np.ndarray) -> torch.Tensor:
        if self.coding is not None:
            bits = features.bitplane_input(magnitudes, self.coding)
            return torch.from_numpy(bits.astype(np.float32) * 2 - 1)
        return torch.from_numpy(
            (features.log_magnitude(magnitudes) - self.norm.mean) / self.norm.std
        )

    def state(self) -> dict[str, Any]:
        if self.coding is not None:
            return {"boundaries": torch.from_numpy(self.coding.boundaries), "bits": self.coding.bits,
                    "levels": torch.from_numpy(self.coding.levels)}  # fmt: skip
        return {"mean": torch.from_numpy(self.norm.mean), "std": torch.from_numpy(self.norm.std)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Inputs:
        if "boundaries" in state:
            boundaries = state["boundaries"].numpy()
            return cls(
                coding=BitplaneCodingSpec(
                    features.N_BINS, int(state["bits"]), boundaries, state["levels"].numpy()
                )
            )
        return cls(norm=features.FloatInputNorm(state["mean"].numpy(), state["std"].numpy()))


RESUME_ALLOWED = (
    "allowed: the checkpoint.pt that 'bitwave train' wrote for the same model config "
    "(or train into a new --out)"
)


def _brief(value: Any) -> str:
    """A bounded, one-line repr of a value read from an untrusted file."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def read_torch_file(path: Path, allowed: str = RESUME_ALLOWED) -> Any:
    """``torch.load(path, weights_only=True)``; a corrupt, truncated or foreign file is one
    BitwaveError naming it (torch's own errors advise loading the file unsafely)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. torch's note on an unusual pickle protocol
            return torch.load(path, weights_only=True)
    except (OSError, MemoryError):
        raise  # the CLI reports these in one line
    except Exception as error:  # torch raises a dozen kinds on a bad file; none is a bug here
        what = "empty or truncated" if isinstance(error, EOFError) else (
            "corrupt, truncated or not a torch file of plain tensors")  # fmt: skip
        raise BitwaveError(f"{path}: unreadable ({what}); {allowed}") from None


def read_checkpoint(path: Path, counters: dict[str, type]) -> dict[str, Any]:
    """checkpoint.pt, read and checked for what every checkpoint holds: weights, optimizer,
    inputs and the kind's ``counters`` (a count such as the epoch, or a list of records such
    as the history). ``Run.restore_checkpoint`` checks it against the model."""
    state = read_torch_file(path)
    if not isinstance(state, dict):
        raise _refused(path, f"it holds {type(state).__name__}, not a checkpoint's mapping")
    missing = [key for key in ("model", "optimizer", "inputs", *counters) if key not in state]
    if missing:
        raise _refused(path, f"it has no {', '.join(missing)} (keys: {_brief(list(state))})")
    for key, kind in counters.items():
        value = state[key]
        count = kind is int and isinstance(value, int) and value >= 0
        records = (
            kind is list and isinstance(value, list) and all(isinstance(v, dict) for v in value)
        )
        if not (count or records):
            wanted = "count (0 or more)" if kind is int else "list of records"
            raise _refused(path, f"its {key} is {_brief(value)}, not a {wanted}")
    return state


def _refused(path: Path, problem: str) -> BitwaveError:
    return BitwaveError(f"{path}: not a checkpoint of this run: {problem}; {RESUME_ALLOWED}")


def _config_mismatch(saved: Any, config: dict) -> str | None:
    """Which model settings a checkpoint was trained with differ from the config's."""
    if not isinstance(saved, dict):
        return f"its model config is {_brief(saved)}"
    for key in sorted({*config, *saved}, key=str):
        if saved.get(key) != config.get(key):
            return (f"it was trained with model.{key} {_brief(saved.get(key))}, the config "
                    f"has {_brief(config.get(key))}")  # fmt: skip
    return None


def _form(value: Any) -> str:
    """A tensor's dtype and shape (and layout unless dense), or a plain value's brief repr."""
    if not isinstance(value, torch.Tensor):
        return _brief(value)
    layout = "" if value.layout == torch.strided else f"{value.layout} "
    return f"{layout}{str(value.dtype).removeprefix('torch.')} {tuple(value.shape)}"


def state_mismatch(what: str, saved: Any, expected: dict[str, Any]) -> str | None:
    """How a saved state dict differs from ``expected`` in names, tensor dtypes and shapes or
    plain values (None when it fits), so that nothing of a mismatched file is loaded."""
    if not isinstance(saved, dict):
        return f"its {what} are {type(saved).__name__}, not a mapping"
    missing = [name for name in expected if name not in saved]
    unexpected = [name for name in saved if name not in expected]
    if missing or unexpected:
        return (f"its {what} have names {_brief(unexpected[:3])} where the config's model has "
                f"{_brief(missing[:3])}")  # fmt: skip
    for name, want in expected.items():
        got = saved[name]
        if type(got) is not type(want) or _form(got) != _form(want):
            return f"its {what} {name} is {_form(got)} where the config's model has {_form(want)}"
    return None


def _setting_types(optimizer: torch.optim.Optimizer) -> list[dict[str, type]]:
    return [{key: type(value) for key, value in group.items()} for group in optimizer.param_groups]


@dataclass
class Run:
    """One training run: its folder, configuration, model, optimizer, inputs and frames;
    ``resumed`` is the checkpoint it continues (None for a new run)."""

    out: Path
    config: dict
    model: nn.Module
    optimizer: torch.optim.Optimizer
    inputs: Inputs
    train_frames: features.FrameSet
    valid_frames: features.FrameSet
    progress: bool = True
    resumed: dict[str, Any] | None = None

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint.pt"

    def save_checkpoint(self, position: dict[str, int], **extra: Any) -> None:
        """checkpoint.pt: ``position`` (epoch or step), the weights, optimizer, inputs and
        model config, then ``extra`` (e.g. the history)."""
        state = {**position, "model": self.model.state_dict(),
                 "optimizer": self.optimizer.state_dict(), "inputs": self.inputs.state(),
                 "model_config": self.config["model"], **extra}  # fmt: skip
        with atomic_write(self.checkpoint_path) as handle:
            torch.save(state, handle)

    def restore_checkpoint(self, state: dict[str, Any]) -> None:
        """Load a checkpoint ``read_checkpoint`` returned into the model, optimizer and inputs,
        once its model config, weights and inputs are known to fit; it becomes ``resumed``."""
        problem = (
            _config_mismatch(state.get("model_config", self.config["model"]), self.config["model"])
            or state_mismatch("weights", state["model"], self.model.state_dict())
            or state_mismatch("inputs", state["inputs"], self.inputs.state())
        )
        if problem:
            raise _refused(self.checkpoint_path, problem)
        self.model.load_state_dict(state["model"])
        self.inputs = Inputs.from_state(state["inputs"])
        self._restore_optimizer(state["optimizer"])
        self.resumed = state

    def _restore_optimizer(self, saved: Any) -> None:
        """The optimizer's state, refused unless its settings keep their types and its
        tensors fit the parameters one to one."""
        params = [param for group in self.optimizer.param_groups for param in group["params"]]
        settings = _setting_types(self.optimizer)
        problem = "its optimizer state does not fit the model's parameters"
        try:
            self.optimizer.load_state_dict(saved)
        except Exception:  # torch's ValueError / KeyError / TypeError on a foreign state
            raise _refused(self.checkpoint_path, problem) from None
        fits = _setting_types(self.optimizer) == settings and all(
            isinstance(value, torch.Tensor) and (value.dim() == 0 or value.shape == param.shape)
            for param in params
            for value in self.optimizer.state[param].values()
        )
        if not fits:
            raise _refused(self.checkpoint_path, problem)

    def save_model(self) -> None:
        """model.pt: the final weights, the input transform and the model config."""
        with atomic_write(self.out / "model.pt") as handle:
            torch.save(
                {"model": self.model.state_dict(), "inputs": self.inputs.state(),
                 "model_config": self.config["model"]},
                handle,
            )  # fmt: skip

    @property
    def provenance(self) -> dict[str, Any]:
        """What an exported IR records of the run that made it."""
        return {"run": self.out.name, "seed": self.config["seed"]}

    def frame_counts(self) -> dict[str, int]:
        return {"train": len(self.train_frames), "valid": len(self.valid_frames)}
