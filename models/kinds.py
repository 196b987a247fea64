"""The kinds of mask estimator ``bitwave train`` knows, one strategy object each.

A kind owns how its model is built from the config, which inputs it sees, how it is
trained (with checkpoints), how it is folded into the IR and how the IR is checked against
torch: ``QuantMLPKind`` (bitwise / k-bit MLP, epochs of shuffled frames, relaxed epochs
first), ``MultiExitMLPKind`` (the same with early exits, trained block by block or jointly),
``FloatMLPKind`` (the float baseline: no IR) and ``BitwiseGRUKind`` (incremental
binarization on sequences). ``model_kind(model_config)`` picks one; ``train.train`` only
runs the steps.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from bitwave.core import golden, ir
from bitwave.core.errors import BitwaveError
from bitwave.models import features
from bitwave.models.baselines import FloatMLP
from bitwave.models.export import export_network
from bitwave.models.layers import QuantMLP
from bitwave.models.multi_exit import MultiExitMLP
from bitwave.models.run import Inputs, Run

FLOAT_BITS = 32


def is_float(model_config: dict) -> bool:
    return model_config["wbits"] == FLOAT_BITS


def _loss_weight(
    magnitudes: np.ndarray, ibm: np.ndarray, weighting: str, speech_weight: float = 1.0
) -> torch.Tensor | None:
    """Per-bin weights of the mask loss. A wrong mask bit adds (or removes) that bin's noisy
    STFT value, an error of energy |X|^2, and SI-SDR is an energy ratio: ``power`` weights each
    bin by |X|^2, ``magnitude`` by |X|, ``none`` counts every bin alike; ``frame_power`` is
    |X|^2 divided by its frame's mean, so quiet frames count as much as loud ones (STOI, unlike
    SI-SDR, scores every speech segment alike). ``speech_weight`` multiplies the weight of the
    bins whose IBM bit is 1: above 1 a missed speech bin costs more than a kept noise bin.
    Normalized to mean 1 per batch so that the learning rate keeps its meaning. (Demo config,
    48 test utterances: bitwise SI-SDRi 1.32 dB with none, 4.48 with magnitude, 4.92 with
    power.)"""
    if weighting == "none" and speech_weight == 1.0:
        return None
    weight = torch.from_numpy(np.asarray(magnitudes, dtype=np.float32))
    if weighting == "none":
        weight = torch.ones_like(weight)
    elif weighting in ("power", "frame_power"):
        weight = weight.square()
    if weighting == "frame_power":
        weight = weight / weight.mean(dim=-1, keepdim=True).clamp_min(1e-12)
    if speech_weight != 1.0:
        weight = weight * (1 + (speech_weight - 1) * torch.from_numpy(ibm.astype(np.float32)))
    return weight / weight.mean().clamp_min(1e-12)


def _bitplane_inputs(config: dict, frames: features.FrameSet) -> Inputs:
    """The Lloyd-Max bit-plane coding of the bitwise / k-bit models, fitted on ``frames``."""
    bits = config.get("features", {}).get("bits", 4)
    coding = features.fit_input_coding(frames.noisy_mag, bits=bits, seed=config["seed"])
    return Inputs(coding=coding)


def check_bit_exact(
    model: QuantMLP | MultiExitMLP, net: ir.Network, magnitudes: np.ndarray
) -> dict:
    """torch (eval, integer semantics) against the golden model on the exported IR, at every
    exit of a multi-exit network (``exit_mismatches``, one count per exit)."""
    bits = features.bitplane_input(magnitudes, net.coding)
    codes = torch.from_numpy(bits.astype(np.int64))
    model.eval()
    with torch.no_grad():
        if net.exits:
            torch_codes = [out.numpy() for out in model.infer_exit_codes(codes)]
            golden_codes = golden.run_exits(net, bits)
        else:
            torch_codes, golden_codes = [model.infer_codes(codes).numpy()], [golden.run(net, bits)]
    if len(torch_codes) != len(golden_codes):
        raise BitwaveError(
            f"torch has {len(torch_codes)} exits, the IR {len(golden_codes)}: export is broken"
        )
    per_exit = [int((t != g).sum()) for t, g in zip(torch_codes, golden_codes, strict=True)]
    result = {
        "frames": int(bits.shape[0]),
        "bits_compared": int(sum(g.size for g in golden_codes)),
        "mismatches": sum(per_exit),
    }
    if net.exits:
        result["exit_mismatches"] = per_exit
    return result


# ---------------------------------------------------------------------------------------------
# MLPs: epochs of shuffled frames
# ---------------------------------------------------------------------------------------------
class MLPKind:
    """What the float and quantized MLPs share: cosine-decayed epochs of shuffled frames,
    validation IBM accuracy after every epoch, a checkpoint every ``checkpoint_every``."""

    checkpoint_counters = {"epoch": int, "history": list}  # what run.read_checkpoint checks

    def stages(self, model: nn.Module, train_config: dict) -> int:
        """How many times train.epochs run (one per block in blockwise multi-exit training);
        the checkpoint's epoch counts through all of them."""
        return 1

    def loss(
        self, model: nn.Module, x: torch.Tensor, target: torch.Tensor,
        weight: torch.Tensor | None, epoch: int, train_config: dict,
    ) -> torch.Tensor:  # fmt: skip
        """The training loss of one batch: BCE with logits on the IBM target."""
        return F.binary_cross_entropy_with_logits(model.logits(x), target, weight=weight)

    def valid_record(self, run: Run, epoch: int) -> dict[str, Any]:
        """What the history records after an epoch besides its loss."""
        batch = run.config["train"]["batch_size"]
        accuracies = _ibm_accuracies(run.model, run.inputs, run.valid_frames, batch)
        return {"valid_ibm_accuracy": accuracies[-1]}

    def begin_epoch(self, model: nn.Module, epoch: int, train_config: dict) -> None:
        """Hook before each epoch (the quantized MLP's relaxed phase)."""

    def after_update(self, model: nn.Module) -> None:
        """Hook after each optimizer step (the quantized MLP's latent-weight clipping)."""

    def fit(self, run: Run) -> dict[str, Any]:
        """Train ``run`` for train.epochs (per stage); returns the summary's history and
        seconds."""
        train_config = run.config["train"]
        epochs = train_config["epochs"] * self.stages(run.model, train_config)
        steps_per_epoch = math.ceil(len(run.train_frames) / train_config["batch_size"])
        history: list[dict] = []
        first_epoch = 0
        if run.resumed is not None:
            history = list(run.resumed["history"])
            first_epoch = run.resumed["epoch"] + 1
        start_time = time.perf_counter()
        bar = tqdm(total=epochs * steps_per_epoch, initial=first_epoch * steps_per_epoch,
                   disable=not run.progress, desc="train", unit="step")  # fmt: skip
        for epoch in range(first_epoch, epochs):
            losses = self._train_epoch(run, epoch, steps_per_epoch, bar)
            history.append(
                {
                    "epoch": epoch + 1,
                    "loss": float(np.mean(losses)),
                    **self.valid_record(run, epoch),
                }
            )
            if (epoch + 1) % train_config["checkpoint_every"] == 0 or epoch + 1 == epochs:
                run.save_checkpoint({"epoch": epoch}, history=history)
        bar.close()
        return {"history": history, "seconds": time.perf_counter() - start_time}

    def _train_epoch(self, run: Run, epoch: int, steps_per_epoch: int, bar: tqdm) -> list[float]:
        """One epoch over the training frames in a seeded random order; the step losses. The
        learning rate decays over each stage's train.epochs."""
        model, optimizer, frames = run.model, run.optimizer, run.train_frames
        train_config = run.config["train"]
        batch, total_steps = train_config["batch_size"], train_config["epochs"] * steps_per_epoch
        stage_epoch = epoch % train_config["epochs"]
        model.train()
        self.begin_epoch(model, epoch, train_config)
        order = np.random.default_rng([run.config["seed"], epoch]).permutation(len(frames))
        losses = []
        for step in range(steps_per_epoch):
            rows = np.sort(order[step * batch : (step + 1) * batch])
            x = run.inputs(frames.noisy_mag[rows])
            target = torch.from_numpy(frames.ibm[rows].astype(np.float32))
            for group in optimizer.param_groups:
                group["lr"] = _lr(train_config["lr"], stage_epoch * steps_per_epoch + step,
                                  total_steps)  # fmt: skip
            weight = _loss_weight(
                frames.noisy_mag[rows],
                frames.ibm[rows],
                train_config["loss_weighting"],
                train_config.get("speech_weight", 1.0),
            )
            loss = self.loss(model, x, target, weight, epoch, train_config)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            self.after_update(model)
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{np.mean(losses[-50:]):.4f}")
        return losses


def _lr(base: float, step: int, total: int) -> float:
    return base * 0.5 * (1 + math.cos(math.pi * min(step, total) / max(total, 1)))


def _ibm_accuracies(
    model: nn.Module, inputs: Inputs, frameset: features.FrameSet, batch: int
) -> list[float]:
    """IBM accuracy on ``frameset`` of every exit (one for a single-exit model)."""
    model.eval()
    correct = np.zeros(getattr(model, "n_exits", 1), dtype=np.int64)
    with torch.no_grad():
        for start in range(0, len(frameset), batch):
            part = slice(start, start + batch)
            x, ibm = inputs(frameset.noisy_mag[part]), frameset.ibm[part].astype(bool)
            logits = model.exit_logits(x) if isinstance(model, MultiExitMLP) else [model.logits(x)]
            correct += [int(((out >= 0).numpy() == ibm).sum()) for out in logits]
    model.train()
    return [int(count) / frameset.ibm.size for count in correct]


class FloatMLPKind(MLPKind):
    """The float32 baseline on normalised log magnitudes: trained, never exported."""

    label = "float"

    def build(self, model_config: dict, input_width: int, seed: int) -> nn.Module:
        if model_config["abits"] != FLOAT_BITS:
            raise BitwaveError("model: a float model (wbits: 32) needs abits: 32")
        return FloatMLP([input_width, *model_config["hidden"], features.N_BINS])

    def fit_inputs(self, config: dict, frames: features.FrameSet) -> Inputs:
        return Inputs(norm=features.FloatInputNorm.fit(frames.noisy_mag))

    def export(self, run: Run, summary: dict[str, Any]) -> ir.Network | None:
        return None


class QuantMLPKind(MLPKind):
    """The bitwise / k-bit MLP: relaxed epochs first, then the binary network that is
    exported, its IR checked against torch on the validation frames."""

    label = ""

    def build(self, model_config: dict, input_width: int, seed: int) -> nn.Module:
        widths, abits = self.shape(model_config, input_width)
        return QuantMLP(widths, wbits=model_config["wbits"], abits=abits)

    @staticmethod
    def shape(model_config: dict, input_width: int) -> tuple[list[int], list[int]]:
        """The layer widths and activation bits (the output: a 1-bit mask) of the config."""
        if model_config["abits"] == FLOAT_BITS:
            raise BitwaveError(
                "model.abits: 32 (float) needs wbits: 32; quantized models take abits 1..8"
            )
        hidden_bits = [model_config["abits"]] * len(model_config["hidden"])
        return [input_width, *model_config["hidden"], features.N_BINS], [*hidden_bits, 1]

    def fit_inputs(self, config: dict, frames: features.FrameSet) -> Inputs:
        return _bitplane_inputs(config, frames)

    def fit(self, run: Run) -> dict[str, Any]:
        train_config = run.config["train"]
        if train_config["relaxed_epochs"] >= train_config["epochs"]:
            raise BitwaveError(
                f"train.relaxed_epochs ({train_config['relaxed_epochs']}) must be less than "
                f"train.epochs ({train_config['epochs']}): the last epochs train the binary "
                "network that is exported"
            )
        return super().fit(run)

    def begin_epoch(self, model: nn.Module, epoch: int, train_config: dict) -> None:
        model.set_relaxed(epoch % train_config["epochs"] < train_config["relaxed_epochs"])

    def after_update(self, model: nn.Module) -> None:
        model.clip_latent_weights()

    def export(self, run: Run, summary: dict[str, Any]) -> ir.Network | None:
        return export_network(run.model, run.config["name"], run.inputs.coding, run.provenance)

    def bit_exact(self, run: Run, net: ir.Network) -> dict[str, int]:
        return check_bit_exact(run.model, net, run.valid_frames.noisy_mag)


# ---------------------------------------------------------------------------------------------
# Multi-exit MLPs: blockwise (BLOOM-Net) or joint training
# ---------------------------------------------------------------------------------------------
DEFAULT_EXIT_TRAINING = "blockwise"  # train.exits when a config does not name it


def exit_training(train_config: dict) -> str:
    """train.exits: ``blockwise`` trains block k with exit k on the frozen blocks before it,
    train.epochs per block (as BLOOM-Net); ``joint`` trains all blocks at once on the sum of
    the exit losses."""
    return train_config.get("exits", DEFAULT_EXIT_TRAINING)


class MultiExitMLPKind(QuantMLPKind):
    """The bitwise / k-bit MLP with early exits (model.exits): every exit is exported and
    checked against the golden model; the history records every exit's validation accuracy."""

    label = "multi-exit "

    def build(self, model_config: dict, input_width: int, seed: int) -> nn.Module:
        widths, abits = self.shape(model_config, input_width)
        return MultiExitMLP(widths, model_config["exits"], wbits=model_config["wbits"], abits=abits)

    def stages(self, model: nn.Module, train_config: dict) -> int:
        return model.n_exits if exit_training(train_config) == "blockwise" else 1

    def fit(self, run: Run) -> dict[str, Any]:
        summary = super().fit(run)
        return {**summary, "exit_training": exit_training(run.config["train"])}

    def _stage(self, epoch: int, train_config: dict) -> int | None:
        """The block a blockwise epoch trains (None in joint training)."""
        if exit_training(train_config) == "joint":
            return None
        return epoch // train_config["epochs"]

    def begin_epoch(self, model: nn.Module, epoch: int, train_config: dict) -> None:
        stage = self._stage(epoch, train_config)
        if stage is None:
            return super().begin_epoch(model, epoch, train_config)
        model.train_stage(stage, epoch % train_config["epochs"] < train_config["relaxed_epochs"])

    def loss(
        self, model: nn.Module, x: torch.Tensor, target: torch.Tensor,
        weight: torch.Tensor | None, epoch: int, train_config: dict,
    ) -> torch.Tensor:  # fmt: skip
        """Blockwise: the loss of the stage's exit; joint: the sum of every exit's loss."""
        stage = self._stage(epoch, train_config)
        logits = model.exit_logits(x, last=stage)
        if stage is not None:
            logits = logits[stage:]
        return sum(F.binary_cross_entropy_with_logits(out, target, weight=weight) for out in logits)

    def valid_record(self, run: Run, epoch: int) -> dict[str, Any]:
        """The accuracy of the exit being trained (the final one in joint training), and of
        every exit trained so far."""
        train_config = run.config["train"]
        stage = self._stage(epoch, train_config)
        accuracies = _ibm_accuracies(run.model, run.inputs, run.valid_frames,
                                     train_config["batch_size"])  # fmt: skip
        trained = accuracies if stage is None else accuracies[: stage + 1]
        record = {} if stage is None else {"block": stage + 1}
        return {**record, "valid_ibm_accuracy": trained[-1], "valid_ibm_accuracy_exits": trained}


def _check_exits(model_config: dict) -> None:
    """model.exits, refused where it cannot apply, before any data is built."""
    exits, hidden = model_config["exits"], len(model_config["hidden"])
    if model_config["kind"] != "mlp" or is_float(model_config):
        raise BitwaveError(
            "model.exits: early exits need a quantized MLP (model.kind: mlp, wbits 1..8); "
            f"this config has kind {model_config['kind']}, wbits {model_config['wbits']}"
        )
    if hidden < 2:
        raise BitwaveError(
            f"model.exits {exits}: early exits need at least two hidden layers (model.hidden "
            f"has {hidden}; the last one feeds the final exit)"
        )
    if exits != sorted(set(exits)) or exits[-1] > hidden - 2:
        raise BitwaveError(
            f"model.exits {exits}: allowed are increasing hidden-layer indices in 0.."
            f"{hidden - 2} (model.hidden has {hidden} layers; the last one feeds the final exit)"
        )


# ---------------------------------------------------------------------------------------------
# The bitwise GRU: incremental binarization on sequences
# ---------------------------------------------------------------------------------------------
class BitwiseGRUKind:
    """The bitwise GRU: incremental binarization (real -> 10% steps of binary weights -> hard
    gates -> binary fine-tune) on random windows of utterances, with checkpoints; its
    validation accuracy and the torch == golden check run per utterance on the IR."""

    label = "GRU "
    checkpoint_steps = 50  # train.checkpoint_every counts units of this many steps
    checkpoint_counters = {"step": int}

    def build(self, model_config: dict, input_width: int, seed: int) -> nn.Module:
        from bitwave.models.gru import BitwiseGRU

        if model_config["wbits"] != 1 or model_config["abits"] != 1:
            raise BitwaveError("model: the GRU is bitwise only (wbits: 1, abits: 1)")
        return BitwiseGRU(input_width, list(model_config["hidden"]), features.N_BINS, seed=seed)

    def fit_inputs(self, config: dict, frames: features.FrameSet) -> Inputs:
        return _bitplane_inputs(config, frames)

    def fit(self, run: Run) -> dict[str, Any]:
        """The whole schedule; returns the summary's history (the last loss; the accuracy
        is measured on the IR by ``export``), stages and seconds."""
        from bitwave.models.gru import train_incremental

        train_config = run.config["train"]
        start_step = run.resumed["step"] + 1 if run.resumed is not None else 0
        every = train_config["checkpoint_every"] * self.checkpoint_steps

        def checkpoint(step: int, stage: Any, loss: float) -> None:
            if (step + 1) % every == 0:
                run.save_checkpoint({"step": step})

        batches = _sequence_batches(
            run.train_frames, run.inputs, train_config["sequence_frames"],
            train_config["sequences_per_batch"], run.config["seed"],
            train_config["loss_weighting"], train_config.get("speech_weight", 1.0),
        )  # fmt: skip
        log = train_incremental(
            run.model, batches, train_config["steps_per_stage"], lr=train_config["lr"],
            progress=run.progress, optimizer=run.optimizer, start_step=start_step,
            on_step=checkpoint, **_schedule_overrides(train_config),
        )  # fmt: skip
        run.model.eval()
        last_loss = log.losses[-1] if log.losses else float("nan")
        return {"history": [{"epoch": 1, "loss": last_loss}], "stages": log.stages,
                "seconds": log.seconds}  # fmt: skip

    def export(self, run: Run, summary: dict[str, Any]) -> ir.Network | None:
        """The IR, and the validation IBM accuracy of it in the summary's history."""
        net = export_network(run.model, run.config["name"], run.inputs.coding, run.provenance)
        summary["history"][0]["valid_ibm_accuracy"] = _sequence_accuracy(net, run.valid_frames)
        return net

    def bit_exact(self, run: Run, net: ir.Network) -> dict[str, int]:
        """torch against golden on the first (up to) three validation utterances."""
        frames, checked, mismatches = run.valid_frames, 0, 0
        for u in range(min(3, frames.utterances)):
            bits = features.bitplane_input(frames.noisy_mag[frames.utterance(u)], net.coding)
            with torch.no_grad():
                codes = run.model.infer_codes(torch.from_numpy(bits.astype(np.int64))).numpy()
            mismatches += int((codes != golden.run(net, bits)).sum())
            checked += bits.shape[0]
        return {"frames": checked, "mismatches": mismatches}


# train.* keys of the GRU schedule -> train_incremental's arguments (absent: its defaults)
SCHEDULE_KEYS = {"real_steps": "real_steps", "binary_steps": "binary_steps",
                 "weight_increment": "increment"}  # fmt: skip


def _schedule_overrides(train_config: dict) -> dict[str, Any]:
    return {arg: train_config[key] for key, arg in SCHEDULE_KEYS.items() if key in train_config}


def _sequence_batches(
    frames: features.FrameSet, inputs: Inputs, length: int, batch: int, seed: int,
    weighting: str = "none", speech_weight: float = 1.0,
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
        weight = _loss_weight(frames.noisy_mag[rows], frames.ibm[rows], weighting, speech_weight)
        return (x, target) if weight is None else (x, target, weight)

    return batches


def _sequence_accuracy(net: ir.Network, frames: features.FrameSet) -> float:
    """IBM accuracy of an exported sequence model, each utterance run as one sequence."""
    correct = 0
    for u in range(frames.utterances):
        span = frames.utterance(u)
        mask = golden.run(net, features.bitplane_input(frames.noisy_mag[span], net.coding))
        correct += int((mask == frames.ibm[span]).sum())
    return correct / frames.ibm.size


ModelKind = QuantMLPKind | MultiExitMLPKind | FloatMLPKind | BitwiseGRUKind


def model_kind(model_config: dict) -> ModelKind:
    """The strategy of the model a config describes (model.kind, then float or quantized,
    then early exits or none)."""
    if model_config.get("exits"):
        _check_exits(model_config)
        return MultiExitMLPKind()
    if model_config["kind"] == "gru":
        return BitwiseGRUKind()
    return FloatMLPKind() if is_float(model_config) else QuantMLPKind()


def build_model(model_config: dict, input_width: int, seed: int = 0) -> nn.Module:
    """The torch model a config describes: 513 mask outputs, 1 bit for bitwise/k-bit models."""
    return model_kind(model_config).build(model_config, input_width, seed)
