"""``bitwave train CONFIG.yaml --out RUN``: train a mask estimator on SE data and export it.

A run folder holds everything a later stage needs:
- ``config.yaml``: the effective configuration (defaults merged with the user's file),
- ``checkpoint.pt``: the latest epoch (weights, optimizer, losses) for ``--resume``,
- ``model.bwir``: the exported IR of a bitwise / k-bit model (with its input coding),
- ``model.pt``: final weights (float baselines also carry their input normalisation),
- ``train.json``: losses, validation IBM accuracy, wall time and the torch == golden check.

How each kind of model is built, trained and exported is its strategy in ``kinds``; the run
folder's files are ``run.Run``'s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from bitwave.core import ir
from bitwave.core.errors import BitwaveError
from bitwave.core.paths import write_text
from bitwave.models import features
from bitwave.models.kinds import build_model, model_kind
from bitwave.models.run import Inputs, Run, read_checkpoint, read_torch_file, state_mismatch


def prepare_data(
    config: dict, progress: bool = True
) -> tuple[Any, features.FrameSet, features.FrameSet]:
    from bitwave.models.data import build_dataset

    dataset = build_dataset(config.get("data") or {}, progress=progress)
    return dataset, features.frames(dataset.train), features.frames(dataset.valid)


def _check_run_folder(out: Path, resume: bool) -> None:
    """Refuse to overwrite a run, or to resume none."""
    checkpoint_path = out / "checkpoint.pt"
    if checkpoint_path.exists() and not resume:
        raise BitwaveError(
            f"{out} already holds a training run; pass --resume to continue it or choose another --out"
        )
    if resume and not checkpoint_path.exists():
        raise BitwaveError(f"--resume: {checkpoint_path} does not exist")


def train(config: dict, out: str | Path, resume: bool = False, progress: bool = True) -> dict:
    """Train the model ``config`` describes into the run folder ``out``; returns train.json.
    On --resume the checkpoint is read first and checked against the built model before the
    run's config.yaml is rewritten, so a refused checkpoint leaves the run as it was."""
    out = Path(out)
    _check_run_folder(out, resume)
    kind = model_kind(config["model"])
    saved = read_checkpoint(out / "checkpoint.pt", kind.checkpoint_counters) if resume else None
    torch.manual_seed(config["seed"])
    _, train_frames, valid_frames = prepare_data(config, progress)
    inputs = kind.fit_inputs(config, train_frames)
    model = kind.build(config["model"], inputs.width, config["seed"])
    optimizer = torch.optim.Adam(model.parameters(), lr=config["train"]["lr"])
    run = Run(out, config, model, optimizer, inputs, train_frames, valid_frames, progress)
    if saved is not None:
        run.restore_checkpoint(saved)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "config.yaml", yaml.safe_dump(config, sort_keys=False))

    summary: dict[str, Any] = {"model": config["model"], "frames": run.frame_counts()}
    summary.update(kind.fit(run))
    run.save_model()
    net = kind.export(run, summary)
    if net is not None:
        net.mask_floor_db = config["model"].get("mask_floor_db")  # the model's gain floor
        audio = config.get("hw", {}).get("audio")  # the fixed-point audio path's widths
        net.audio = None if audio is None else ir.AudioSpec.from_json(audio)
        summary["ir_sha256"] = ir.save(net, out / "model.bwir")
        summary["bit_exact"] = kind.bit_exact(run, net)
        if summary["bit_exact"]["mismatches"]:
            raise BitwaveError(
                f"torch and golden disagree on {summary['bit_exact']['mismatches']} bits: "
                f"{kind.label}export is broken"
            )
    write_text(out / "train.json", json.dumps(summary, indent=1))
    return summary


def load_model(run: str | Path) -> tuple[nn.Module, Inputs, dict]:
    """The final model of a run folder, in eval mode, with its input transform."""
    path = Path(run) / "model.pt"
    if not path.is_file():
        raise BitwaveError(
            f"{run}: no model.pt; train first with 'bitwave train CONFIG --out {run}'"
        )
    allowed = f"allowed: the model.pt that 'bitwave train' wrote (train again with --out {run})"
    state = read_torch_file(path, allowed)
    if not isinstance(state, dict) or not {"model", "inputs", "model_config"} <= state.keys():
        raise BitwaveError(
            f"{path}: not a bitwave model (no model, inputs, model_config); {allowed}"
        )
    try:
        inputs = Inputs.from_state(state["inputs"])
        model = build_model(state["model_config"], inputs.width)
    except (KeyError, TypeError, AttributeError, ValueError):
        raise BitwaveError(
            f"{path}: its inputs or model_config are not bitwave's; {allowed}"
        ) from None
    problem = state_mismatch("weights", state["model"], model.state_dict())
    if problem:
        raise BitwaveError(
            f"{path}: not the model its model_config describes: {problem}; {allowed}"
        )
    model.load_state_dict(state["model"])
    model.eval()
    return model, inputs, state["model_config"]
