"""``bitwave bench gru``: the bitwise GRU's figures, all measured in one run.

- Speed: golden ``binary_gru`` time per frame at the SE size (2052 -> 1000 -> 513) and the
  torch integer path on the same frames (and that the two agree bit for bit).
- Learning: the full incremental-binarization schedule on a synthetic SE-like task (noisy
  +/-1 observations of prototype frames that persist for ~10 frames; the target is the
  prototype's mask bits). The per-frame nearest-prototype decoder is the best any memoryless
  model can do, so a fully binary GRU above it is using its state.
"""

from __future__ import annotations

import time

import numpy as np


def _prototype_task(
    inputs: int, outputs: int, prototypes: int, frames: int, flip: float, seed: int
) -> tuple:
    rng = np.random.default_rng(seed)
    protos = rng.integers(0, 2, size=(prototypes, inputs))
    masks = rng.integers(0, 2, size=(prototypes, outputs))

    def batch(step: int, size: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        g = np.random.default_rng((seed, step))
        kind = np.zeros((size, frames), np.int64)
        kind[:, 0] = g.integers(0, prototypes, size)
        for t in range(1, frames):
            switch = g.random(size) < 0.1
            kind[:, t] = np.where(switch, g.integers(0, prototypes, size), kind[:, t - 1])
        noisy = protos[kind] ^ (g.random((size, frames, inputs)) < flip)
        return noisy, masks[kind], kind

    return protos, masks, batch


def _learning(hidden: int, steps_per_stage: int, flip: float, seed: int) -> tuple:
    """Train on the prototype task; (figures, trained IR, test inputs, torch predictions)."""
    import torch

    from bitwave.models.gru import BitwiseGRU, export_gru, train_incremental

    result: dict = {}
    inputs, outputs = 64, 32
    protos, masks, batch = _prototype_task(inputs, outputs, 8, 40, flip, seed)

    def batches(step: int) -> tuple:
        noisy, target, _ = batch(step)
        return torch.from_numpy(2.0 * noisy - 1).float(), torch.from_numpy(target).float()

    torch.manual_seed(seed)
    model = BitwiseGRU(inputs, hidden, outputs, seed=seed + 1)
    start = time.perf_counter()
    log = train_incremental(
        model, batches, steps_per_stage, lr=3e-3, progress=False,
        real_steps=4 * steps_per_stage, binary_steps=4 * steps_per_stage, tbptt=20,
    )  # fmt: skip
    result["train_seconds"] = time.perf_counter() - start
    result["stage_last_loss"] = {s["name"]: round(s["last_loss"], 4) for s in log.stages}
    model.eval()
    noisy, target, _ = batch(10**6, 64)
    with torch.no_grad():
        predicted = model.infer_codes(torch.from_numpy(noisy)).numpy()
    nearest = (noisy[:, :, None, :] == protos[None, None]).sum(-1).argmax(-1)
    result["binary_gru_bit_accuracy"] = float((predicted == target).mean())
    result["memoryless_nearest_prototype_accuracy"] = float((masks[nearest] == target).mean())
    return result, export_gru(model), noisy, predicted


def _speed(seed: int) -> dict:
    """Torch integer path and golden binary_gru per frame at the SE size, and their match."""
    import torch

    from bitwave.core import golden
    from bitwave.models.gru import BitwiseGRU, export_gru

    result: dict = {}
    model = BitwiseGRU(2052, 1000, 513, seed=seed)
    model.set_binarized_fraction(1.0)
    model.set_hardness(1.0)
    model.eval()
    net = export_gru(model, "bench")
    bits = np.random.default_rng(seed).integers(0, 2, size=(400, 2052))
    start = time.perf_counter()
    with torch.no_grad():
        codes = model.infer_codes(torch.from_numpy(bits)).numpy()
    result["torch_integer_ms_per_frame_2052_1000_513"] = 1e3 * (time.perf_counter() - start) / 400
    golden.run(net, bits[:2])  # compile
    start = time.perf_counter()
    expected = golden.run(net, bits)
    result["golden_ms_per_frame_2052_1000_513"] = 1e3 * (time.perf_counter() - start) / 400
    result["torch_equals_golden"] = bool(np.array_equal(codes, expected))
    return result


def run(hidden: int = 48, steps_per_stage: int = 15, flip: float = 0.4, seed: int = 0) -> dict:
    import torch

    from bitwave.core import golden

    # Learning runs first: after numba's OpenMP-parallel popcount kernel has run, its spinning
    # worker threads slow small torch ops down by orders of magnitude on a 2-core machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the recurrence is many small ops
    try:
        result, trained, noisy, predicted = _learning(hidden, steps_per_stage, flip, seed)
        result.update(_speed(seed))
        replay = np.stack(golden.run_sequences(trained, list(noisy)))
        result["trained_torch_equals_golden"] = bool(np.array_equal(replay, predicted))
        return result
    finally:
        torch.set_num_threads(threads)
