"""``bitwave train CONFIG.yaml --out RUN``: train a mask estimator on SE data and export it.

A run folder holds everything a later stage needs:
- ``config.yaml``: the effective configuration (defaults merged with the user's file),
- ``checkpoint.pt``: the latest epoch (weights, optimizer, losses) for ``--resume``,
- ``model.bwir``: the exported IR of a bitwise / k-bit model (with its input coding),
- ``model.pt``: final weights (float baselines also carry their input normalisation),
- ``train.json``: losses, validation IBM accuracy, wall time and the torch == golden check.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from bitwave.core import golden, ir
from bitwave.core.errors import BitwaveError
from bitwave.core.ir import BitplaneCodingSpec
from bitwave.core.paths import atomic_write, write_text
from bitwave.models import features
from bitwave.models.baselines import FloatMLP
from bitwave.models.export import export_mlp
from bitwave.models.layers import QuantMLP

FLOAT_BITS = 32


@dataclass
class Inputs:
    """How a model sees a frame: bit-planes (+/-1) for bitwise/k-bit models, normalised log
    magnitudes for float ones."""

    coding: BitplaneCodingSpec | None = None
    norm: features.FloatInputNorm | None = None

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


def is_float(model_config: dict) -> bool:
    return model_config["wbits"] == FLOAT_BITS


def build_model(model_config: dict, input_width: int, seed: int = 0) -> nn.Module:
    """The torch model a config describes: 513 mask outputs, 1 bit for bitwise/k-bit models."""
    if model_config["kind"] == "gru":
        from bitwave.models.gru import BitwiseGRU

        if model_config["wbits"] != 1 or model_config["abits"] != 1:
            raise BitwaveError("model: the GRU is bitwise only (wbits: 1, abits: 1)")
        return BitwiseGRU(input_width, list(model_config["hidden"]), features.N_BINS, seed=seed)
    widths = [input_width, *model_config["hidden"], features.N_BINS]
    if is_float(model_config):
        if model_config["abits"] != FLOAT_BITS:
            raise BitwaveError("model: a float model (wbits: 32) needs abits: 32")
        return FloatMLP(widths)
    if model_config["abits"] == FLOAT_BITS:
        raise BitwaveError(
            "model.abits: 32 (float) needs wbits: 32; quantized models take abits 1..8"
        )
    hidden_bits = [model_config["abits"]] * len(model_config["hidden"])
    return QuantMLP(widths, wbits=model_config["wbits"], abits=[*hidden_bits, 1])


def _lr(base: float, step: int, total: int) -> float:
    return base * 0.5 * (1 + math.cos(math.pi * min(step, total) / max(total, 1)))


def _loss_weight(magnitudes: np.ndarray, weighting: str) -> torch.Tensor | None:
    """Per-bin weights of the mask loss. A wrong mask bit adds (or removes) that bin's noisy
    STFT value, an error of energy |X|^2, and SI-SDR is an energy ratio: ``power`` weights each
    bin by |X|^2, ``magnitude`` by |X|, ``none`` counts every bin alike. Normalized to mean 1
    per batch so that the learning rate keeps its meaning. (Demo config, 48 test utterances:
    bitwise SI-SDRi 1.32 dB with none, 4.48 with magnitude, 4.92 with power.)"""
    if weighting == "none":
        return None
    weight = torch.from_numpy(np.asarray(magnitudes, dtype=np.float32))
    if weighting == "power":
        weight = weight.square()
    return weight / weight.mean().clamp_min(1e-12)


def _ibm_accuracy(
    model: nn.Module, inputs: Inputs, frameset: features.FrameSet, batch: int
) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(frameset), batch):
            part = slice(start, start + batch)
            mask = model.logits(inputs(frameset.noisy_mag[part])) >= 0
            correct += int((mask.numpy() == frameset.ibm[part].astype(bool)).sum())
    model.train()
    return correct / frameset.ibm.size


def check_bit_exact(model: QuantMLP, net: ir.Network, magnitudes: np.ndarray) -> dict:
    """torch (eval, integer semantics) against the golden model on the exported IR."""
    bits = features.bitplane_input(magnitudes, net.coding)
    model.eval()
    with torch.no_grad():
        torch_codes = model.infer_codes(torch.from_numpy(bits.astype(np.int64))).numpy()
    golden_codes = golden.run(net, bits)
    mismatches = int((torch_codes != golden_codes).sum())
    return {
        "frames": int(bits.shape[0]),
        "bits_compared": int(golden_codes.size),
        "mismatches": mismatches,
    }


def prepare_data(
    config: dict, progress: bool = True
) -> tuple[Any, features.FrameSet, features.FrameSet]:
    from bitwave.models.data import build_dataset

    dataset = build_dataset(config.get("data") or {}, progress=progress)
    return dataset, features.frames(dataset.train), features.frames(dataset.valid)


def train(config: dict, out: str | Path, resume: bool = False, progress: bool = True) -> dict:
    """Train the model ``config`` describes into the run folder ``out``; returns train.json."""
    out = Path(out)
    checkpoint_path = out / "checkpoint.pt"
    if checkpoint_path.exists() and not resume:
        raise BitwaveError(
            f"{out} already holds a training run; pass --resume to continue it or choose another --out"
        )
    if resume and not checkpoint_path.exists():
        raise BitwaveError(f"--resume: {checkpoint_path} does not exist")
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "config.yaml", yaml.safe_dump(config, sort_keys=False))

    seed = config["seed"]
    torch.manual_seed(seed)
    _, train_frames, valid_frames = prepare_data(config, progress)
    model_config, train_config = config["model"], config["train"]
    if is_float(model_config):
        inputs = Inputs(norm=features.FloatInputNorm.fit(train_frames.noisy_mag))
    else:
        bits = config.get("features", {}).get("bits", 4)
        inputs = Inputs(
            coding=features.fit_input_coding(train_frames.noisy_mag, bits=bits, seed=seed)
        )
    input_width = features.N_BINS * (inputs.coding.bits if inputs.coding else 1)
    model = build_model(model_config, input_width, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_config["lr"])
    if model_config["kind"] == "gru":
        return _train_gru(
            config, out, model, optimizer, inputs, train_frames, valid_frames, resume, progress
        )

    epochs, batch = train_config["epochs"], train_config["batch_size"]
    if isinstance(model, QuantMLP) and train_config["relaxed_epochs"] >= epochs:
        raise BitwaveError(
            f"train.relaxed_epochs ({train_config['relaxed_epochs']}) must be less than train.epochs "
            f"({epochs}): the last epochs train the binary network that is exported"
        )
    steps_per_epoch = math.ceil(len(train_frames) / batch)
    total_steps = epochs * steps_per_epoch
    history: list[dict] = []
    first_epoch = 0
    if resume:
        state = torch.load(checkpoint_path, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        inputs = Inputs.from_state(state["inputs"])
        history = list(state["history"])
        first_epoch = int(state["epoch"]) + 1

    start_time = time.perf_counter()
    bar = tqdm(
        total=total_steps,
        initial=first_epoch * steps_per_epoch,
        disable=not progress,
        desc="train",
        unit="step",
    )
    for epoch in range(first_epoch, epochs):
        model.train()
        if isinstance(model, QuantMLP):
            model.set_relaxed(epoch < train_config["relaxed_epochs"])
        order = np.random.default_rng([seed, epoch]).permutation(len(train_frames))
        losses = []
        for step in range(steps_per_epoch):
            rows = np.sort(order[step * batch : (step + 1) * batch])
            x = inputs(train_frames.noisy_mag[rows])
            target = torch.from_numpy(train_frames.ibm[rows].astype(np.float32))
            for group in optimizer.param_groups:
                group["lr"] = _lr(train_config["lr"], epoch * steps_per_epoch + step, total_steps)
            weight = _loss_weight(train_frames.noisy_mag[rows], train_config["loss_weighting"])
            loss = F.binary_cross_entropy_with_logits(model.logits(x), target, weight=weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if isinstance(model, QuantMLP):
                model.clip_latent_weights()
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{np.mean(losses[-50:]):.4f}")
        accuracy = _ibm_accuracy(model, inputs, valid_frames, batch)
        history.append(
            {"epoch": epoch + 1, "loss": float(np.mean(losses)), "valid_ibm_accuracy": accuracy}
        )
        if (epoch + 1) % train_config["checkpoint_every"] == 0 or epoch + 1 == epochs:
            with atomic_write(checkpoint_path) as handle:
                torch.save({"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "inputs": inputs.state(), "history": history}, handle)  # fmt: skip
    bar.close()

    summary: dict[str, Any] = {
        "model": model_config, "frames": {"train": len(train_frames), "valid": len(valid_frames)},
        "history": history, "seconds": time.perf_counter() - start_time,
    }  # fmt: skip
    with atomic_write(out / "model.pt") as handle:
        torch.save(
            {"model": model.state_dict(), "inputs": inputs.state(), "model_config": model_config},
            handle,
        )
    if isinstance(model, QuantMLP):
        net = export_mlp(
            model, config["name"], coding=inputs.coding, provenance={"run": out.name, "seed": seed}
        )
        summary["ir_sha256"] = ir.save(net, out / "model.bwir")
        summary["bit_exact"] = check_bit_exact(model, net, valid_frames.noisy_mag)
        if summary["bit_exact"]["mismatches"]:
            raise BitwaveError(
                f"torch and golden disagree on {summary['bit_exact']['mismatches']} bits: export is broken"
            )
    write_text(out / "train.json", json.dumps(summary, indent=1))
    return summary


def _sequence_batches(
    frames: features.FrameSet, inputs: Inputs, length: int, batch: int, seed: int,
    weighting: str = "none",
) -> Any:  # fmt: skip
    """batches_fn for the GRU: ``batch`` random windows of ``length`` frames from whole
    utterances (shorter utterances are tiled), as +/-1 bit-plane inputs, IBM targets and the
    loss weights of ``weighting`` (see ``_loss_weight``)."""
    bits = features.bitplane_input(frames.noisy_mag, inputs.coding)

    def batches(step: int) -> tuple[torch.Tensor, ...]:
        rng = np.random.default_rng([seed, step])
        rows = []
        for utterance in rng.integers(0, frames.utterances, size=batch):
            span = frames.utterance(int(utterance))
            index = np.arange(span.start, span.stop)
            index = np.resize(index, max(length, index.size))
            start = int(rng.integers(0, index.size - length + 1))
            rows.append(index[start : start + length])
        rows = np.stack(rows)
        x = torch.from_numpy(bits[rows].astype(np.float32) * 2 - 1)
        target = torch.from_numpy(frames.ibm[rows].astype(np.float32))
        weight = _loss_weight(frames.noisy_mag[rows], weighting)
        return (x, target) if weight is None else (x, target, weight)

    return batches


def _train_gru(config: dict, out: Path, model: nn.Module, optimizer: Any, inputs: Inputs,
               train_frames: features.FrameSet, valid_frames: features.FrameSet,
               resume: bool, progress: bool) -> dict:  # fmt: skip
    """Incremental binarization (real -> 10% steps of binary weights -> hard gates -> binary
    fine-tune) with checkpoints; then export and the torch == golden check per utterance."""
    from bitwave.models.gru import export_gru, train_incremental

    train_config, seed = config["train"], config["seed"]
    checkpoint_path = out / "checkpoint.pt"
    start_step = 0
    if resume:
        state = torch.load(checkpoint_path, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_step = int(state["step"]) + 1
    every = train_config["checkpoint_every"] * 50

    def checkpoint(step: int, stage: Any, loss: float) -> None:
        if (step + 1) % every == 0:
            with atomic_write(checkpoint_path) as handle:
                torch.save({"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "inputs": inputs.state()}, handle)  # fmt: skip

    batches = _sequence_batches(
        train_frames,
        inputs,
        train_config["sequence_frames"],
        train_config["sequences_per_batch"],
        seed,
        train_config["loss_weighting"],
    )
    log = train_incremental(model, batches, train_config["steps_per_stage"], lr=train_config["lr"], progress=progress,
                            optimizer=optimizer, start_step=start_step, on_step=checkpoint)  # fmt: skip
    model.eval()
    with atomic_write(out / "model.pt") as handle:
        torch.save(
            {
                "model": model.state_dict(),
                "inputs": inputs.state(),
                "model_config": config["model"],
            },
            handle,
        )
    net = export_gru(
        model, config["name"], coding=inputs.coding, provenance={"run": out.name, "seed": seed}
    )
    summary: dict[str, Any] = {"model": config["model"], "frames": {"train": len(train_frames), "valid": len(valid_frames)},
                               "history": [{"epoch": 1, "loss": log.losses[-1] if log.losses else float("nan"),
                                            "valid_ibm_accuracy": _gru_accuracy(net, valid_frames)}],
                               "stages": log.stages, "seconds": log.seconds}  # fmt: skip
    summary["ir_sha256"] = ir.save(net, out / "model.bwir")
    checked = mismatches = 0
    for u in range(min(3, valid_frames.utterances)):
        bits = features.bitplane_input(
            valid_frames.noisy_mag[valid_frames.utterance(u)], net.coding
        )
        with torch.no_grad():
            torch_codes = model.infer_codes(torch.from_numpy(bits.astype(np.int64))).numpy()
        mismatches += int((torch_codes != golden.run(net, bits)).sum())
        checked += bits.shape[0]
    summary["bit_exact"] = {"frames": checked, "mismatches": mismatches}
    if mismatches:
        raise BitwaveError(f"torch and golden disagree on {mismatches} bits: GRU export is broken")
    write_text(out / "train.json", json.dumps(summary, indent=1))
    return summary


def _gru_accuracy(net: ir.Network, frames: features.FrameSet) -> float:
    """IBM accuracy of the exported GRU, each validation utterance run as one sequence."""
    correct = 0
    for u in range(frames.utterances):
        span = frames.utterance(u)
        mask = golden.run(net, features.bitplane_input(frames.noisy_mag[span], net.coding))
        correct += int((mask == frames.ibm[span]).sum())
    return correct / frames.ibm.size


def load_model(run: str | Path) -> tuple[nn.Module, Inputs, dict]:
    """The final model of a run folder, in eval mode, with its input transform."""
    path = Path(run) / "model.pt"
    if not path.is_file():
        raise BitwaveError(
            f"{run}: no model.pt; train first with 'bitwave train CONFIG --out {run}'"
        )
    state = torch.load(path, weights_only=True)
    inputs = Inputs.from_state(state["inputs"])
    width = features.N_BINS * (inputs.coding.bits if inputs.coding else 1)
    model = build_model(state["model_config"], width)
    model.load_state_dict(state["model"])
    model.eval()
    return model, inputs, state["model_config"]
