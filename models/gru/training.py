"""Training of the bitwise GRU by incremental binarization: a real-valued phase, 10% weight
increments, 25% gate increments, then the fully binary fine-tune (see the package docstring)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from bitwave.core.errors import BitwaveError
from bitwave.models.gru.model import BitwiseGRU


@dataclass(frozen=True)
class Stage:
    name: str
    fraction: float  # binarized fraction of every weight matrix
    hardness: float  # share of gate / candidate outputs in hard form
    steps: int
    final: bool = False  # the fine-tune of the fully binary network (learning rate decays)

    def learning_rate(self, lr: float, index: int) -> float:
        """``lr`` at this stage's step ``index``: constant, but decaying (cosine, to lr / 10)
        over the final fine-tune."""
        if not self.final or self.steps <= 1:
            return lr
        return lr * (0.1 + 0.45 * (1 + math.cos(math.pi * index / (self.steps - 1))))


def incremental_schedule(
    steps_per_stage: int,
    real_steps: int | None = None,
    binary_steps: int | None = None,
    increment: float = 0.1,
    hardness_increment: float = 0.25,
) -> list[Stage]:
    """real -> weights binarized by ``increment`` (10%, 20%, ..., 100%) -> activations
    hardened by ``hardness_increment`` (25%, 50%, 75%) -> the fully binary fine-tune."""
    steps = {"real": real_steps, "final": binary_steps}
    for name, value in (("steps_per_stage", steps_per_stage), *steps.items()):
        if value is not None and (not isinstance(value, int) or value < 0):
            raise BitwaveError(f"{name} must be a non-negative integer, got {value!r}")
    stages = [Stage("real", 0.0, 0.0, steps_per_stage if real_steps is None else real_steps)]
    for what, step in (("increment", increment), ("hardness_increment", hardness_increment)):
        count = round(1.0 / step) if step > 0 else 0
        if count < 1 or abs(count * step - 1.0) > 1e-9:
            raise BitwaveError(f"{what} must divide 1 (e.g. 0.1, 0.25), got {step}")
    count = round(1.0 / increment)
    for i in range(1, count + 1):
        stages.append(Stage(f"weights {100 * i // count}%", i / count, 0.0, steps_per_stage))
    count = round(1.0 / hardness_increment)
    for i in range(1, count):
        stages.append(Stage(f"gates {100 * i // count}%", 1.0, i / count, steps_per_stage))
    final = steps_per_stage if binary_steps is None else binary_steps
    stages.append(Stage("binary", 1.0, 1.0, final, final=True))
    return stages


@dataclass
class TrainLog:
    """Per-step losses and a per-stage summary of one incremental training run."""

    losses: list[float] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def add_stage(self, stage: Stage, losses: list[float]) -> None:
        """The summary of the steps this run took in ``stage`` (none when it was resumed
        past it)."""
        if losses:
            self.stages.append({
                "name": stage.name, "fraction": stage.fraction, "hardness": stage.hardness,
                "steps": len(losses), "first_loss": losses[0],
                "mean_loss": float(np.mean(losses)), "last_loss": losses[-1],
            })  # fmt: skip


def sequence_loss(
    model: BitwiseGRU,
    x: torch.Tensor,
    target: torch.Tensor,
    tbptt: int,
    optimizer: torch.optim.Optimizer | None = None,
    grad_clip: float = 1.0,
    weight: torch.Tensor | None = None,
) -> float:
    """Mean BCE-with-logits of the mask over a batch of sequences, in truncated-BPTT chunks of
    ``tbptt`` frames (the state carries over, gradients stop at chunk boundaries), each bin
    weighted by ``weight`` (same shape as ``target``) if given. With an optimizer, one update
    per chunk."""
    state = None
    total, frames = 0.0, 0
    for start in range(0, x.shape[1], tbptt):
        chunk_x, chunk_y = x[:, start : start + tbptt], target[:, start : start + tbptt]
        logits, state = model.logits(chunk_x, state)
        state = [s.detach() for s in state]
        chunk_w = None if weight is None else weight[:, start : start + tbptt]
        loss = F.binary_cross_entropy_with_logits(logits, chunk_y, weight=chunk_w)
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            with torch.no_grad():  # the sign STE passes gradients only inside [-1, 1]
                for linear in model.linears():
                    linear.weight.clamp_(-1.0, 1.0)
        total += float(loss.detach()) * chunk_x.shape[1]
        frames += chunk_x.shape[1]
    return total / max(frames, 1)


def train_incremental(
    model: BitwiseGRU,
    batches_fn: Callable[[int], tuple[torch.Tensor, ...]],
    steps_per_stage: int,
    lr: float = 1e-3,
    progress: bool = True,
    *,
    real_steps: int | None = None,
    binary_steps: int | None = None,
    increment: float = 0.1,
    hardness_increment: float = 0.25,
    tbptt: int = 50,
    grad_clip: float = 1.0,
    optimizer: torch.optim.Optimizer | None = None,
    start_step: int = 0,
    on_step: Callable[[int, Stage, float], None] | None = None,
) -> TrainLog:
    """Train ``model`` through the whole incremental-binarization schedule.

    ``batches_fn(step)`` returns one batch of sequences for global step ``step``: bipolar
    input frames (B, T, N) as -1/+1 floats (B >= 2: BatchNorm needs a batch per time step) and
    mask targets (B, T, M) in {0, 1}, optionally a third tensor of per-bin loss weights
    (B, T, M). Stages (``incremental_schedule``): ``real_steps``
    real-valued steps (default ``steps_per_stage``), ``steps_per_stage`` at each binarized
    weight fraction (increment, ..., 100%), ``steps_per_stage`` at each partial gate hardness
    (25%, 50%, 75%), then ``binary_steps`` fully binary; the learning rate is ``lr``
    throughout and decays (cosine, to lr / 10) over the final stage. ``start_step`` resumes a run whose
    model (and ``optimizer``) were restored from a checkpoint taken after that many steps;
    ``on_step(step, stage, loss)`` runs after every step (checkpoints, logging). After the
    last stage the model is fully binary and ``export_gru`` can fold it.
    """
    stages = incremental_schedule(
        steps_per_stage, real_steps, binary_steps, increment, hardness_increment
    )
    total = sum(stage.steps for stage in stages)
    if not 0 <= start_step <= total:
        raise BitwaveError(f"start_step must be in [0, {total}], got {start_step}")
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    log, began = TrainLog(), time.perf_counter()
    model.train()
    bar = tqdm(total=total, initial=start_step, disable=not progress, desc="GRU", unit="step")
    first = 0  # the global step at which the stage begins
    for stage in stages:
        model.set_binarized_fraction(stage.fraction)
        model.set_hardness(stage.hardness)
        losses = []
        for step in range(max(first, start_step), first + stage.steps):
            for group in optimizer.param_groups:
                group["lr"] = stage.learning_rate(lr, step - first)
            loss = _batch_step(model, batches_fn(step), tbptt, optimizer, grad_clip)
            losses.append(loss)
            log.losses.append(loss)
            bar.set_description(f"GRU {stage.name}")
            bar.set_postfix(loss=f"{loss:.4f}")
            bar.update(1)
            if on_step is not None:
                on_step(step, stage, loss)
        log.add_stage(stage, losses)
        first += stage.steps
    bar.close()
    log.seconds = time.perf_counter() - began
    return log


def _batch_step(
    model: BitwiseGRU,
    batch: tuple[torch.Tensor, ...],
    tbptt: int,
    optimizer: torch.optim.Optimizer,
    grad_clip: float,
) -> float:
    """One training step on a batch (inputs, targets[, loss weights]); returns its loss."""
    x, target, *weight = batch
    return sequence_loss(
        model, x, target, tbptt, optimizer, grad_clip, weight[0] if weight else None
    )
