"""Input coding: multi-bit features presented to a binary network as +/-1 bit-planes.

Each feature is quantized with a Lloyd-Max quantizer (2^bits levels, fitted on training data
to minimise the mean squared error) and the level index is written MSB first as ``bits``
bipolar inputs (bit 1 = +1). The SE case: 513 magnitude bins x 4 bits = 2052 input bits.
"""

from __future__ import annotations

import numpy as np

from bitwave.core.errors import BitwaveError
from bitwave.core.ir import BitplaneCodingSpec

MAX_FIT_SAMPLES = 200_000


def _lloyd_max_1d(
    values: np.ndarray, levels: int, iterations: int
) -> tuple[np.ndarray, np.ndarray]:
    """Boundaries (levels - 1) and reconstruction levels (levels) for one set of samples."""
    values = np.sort(values)
    recon = np.quantile(values, (np.arange(levels) + 0.5) / levels)
    for _ in range(iterations):
        recon = np.maximum.accumulate(recon)
        bounds = 0.5 * (recon[:-1] + recon[1:])
        cells = np.searchsorted(values, bounds, side="left")
        edges = np.concatenate(([0], cells, [len(values)]))
        sums = np.add.reduceat(np.append(values, 0.0), edges[:-1])
        counts = np.diff(edges)
        sums = np.where(counts > 0, sums, 0.0)
        recon = np.where(counts > 0, sums / np.maximum(counts, 1), recon)
    recon = np.maximum.accumulate(recon)
    return 0.5 * (recon[:-1] + recon[1:]), recon


def fit_lloyd_max(
    features: np.ndarray,
    bits: int = 4,
    per_feature: bool = True,
    iterations: int = 30,
    seed: int = 0,
) -> BitplaneCodingSpec:
    """Fit a bit-plane coding to training features of shape (frames, features)."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise BitwaveError(f"features to fit must be (frames >= 2, features), got {features.shape}")
    if not 1 <= bits <= 8:
        raise BitwaveError(f"coding bits must be 1..8, got {bits}")
    if not np.all(np.isfinite(features)):
        raise BitwaveError("features to fit contain NaN or infinite values")
    rng = np.random.default_rng(seed)
    if features.shape[0] * (1 if per_feature else features.shape[1]) > MAX_FIT_SAMPLES:
        keep = MAX_FIT_SAMPLES // (1 if per_feature else features.shape[1])
        features = features[rng.choice(features.shape[0], keep, replace=False)]
    columns = features.T if per_feature else features.reshape(1, -1)
    fitted = [_lloyd_max_1d(column, 2**bits, iterations) for column in columns]
    boundaries = np.stack([b for b, _ in fitted])
    levels = np.stack([r for _, r in fitted])
    return BitplaneCodingSpec(features.shape[1], bits, boundaries, levels)


def encode(coding: BitplaneCodingSpec, features: np.ndarray) -> np.ndarray:
    """Float features (frames, features) -> bipolar input bits (frames, features * bits)."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] != coding.features:
        raise BitwaveError(
            f"features must have shape (frames, {coding.features}), got {tuple(features.shape)}"
        )
    boundaries = np.broadcast_to(coding.boundaries, (coding.features, coding.boundaries.shape[1]))
    level = np.empty(features.shape, np.int64)
    for f in range(coding.features):  # per-feature searchsorted keeps memory at O(frames)
        level[:, f] = np.searchsorted(boundaries[f], features[:, f], side="right")
    shifts = np.arange(coding.bits - 1, -1, -1)
    planes = (level[:, :, None] >> shifts[None, None, :]) & 1
    return planes.reshape(features.shape[0], -1).astype(np.uint8)


def decode(coding: BitplaneCodingSpec, bits: np.ndarray) -> np.ndarray:
    """Bit-planes back to reconstruction levels (needs the fitted levels)."""
    if coding.levels is None:
        raise BitwaveError("this coding carries no reconstruction levels")
    planes = np.asarray(bits, np.int64).reshape(bits.shape[0], coding.features, coding.bits)
    level = (planes << np.arange(coding.bits - 1, -1, -1)).sum(axis=-1)
    table = np.broadcast_to(coding.levels, (coding.features, coding.levels.shape[1]))
    return table[np.arange(coding.features)[None, :], level]
