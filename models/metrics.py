"""Speech-enhancement metrics, the standard definitions and implementations.

- ``si_sdr`` (Le Roux et al. 2019, "SDR - half-baked or well done?"): the estimate is
  projected on the zero-mean reference, SI-SDR = 10 log10(|target|^2 / |estimate - target|^2).
  ``si_sdr_improvement`` = SI-SDR(enhanced) - SI-SDR(noisy).
- ``stoi``: short-time objective intelligibility from ``pystoi`` (Taal et al. 2011).
- ``pesq_wb``: wideband PESQ (ITU-T P.862.2) from the ``pesq`` package at 16 kHz. When PESQ
  cannot score a signal (it finds no utterance, or the signal is too short) it raises
  ``MetricUnavailable`` with PESQ's reason instead of returning a made-up number.
- ``ibm_accuracy``: fraction of time-frequency bins where a predicted binary mask equals the
  ideal binary mask.
"""

from __future__ import annotations

import numpy as np

from bitwave.core.errors import BitwaveError
from bitwave.models.data.audio import SAMPLE_RATE

_EPS = 1e-12


class MetricUnavailable(BitwaveError):
    """A metric that cannot be computed for this signal (the message says why)."""


def _pair(estimate: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    estimate = np.asarray(estimate, np.float64).reshape(-1)
    reference = np.asarray(reference, np.float64).reshape(-1)
    if estimate.size != reference.size:
        raise BitwaveError(
            f"estimate has {estimate.size} samples but the reference has {reference.size}"
        )
    if estimate.size == 0:
        raise BitwaveError("cannot score empty signals")
    return estimate, reference


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (zero-mean signals)."""
    estimate, reference = _pair(estimate, reference)
    estimate = estimate - estimate.mean()
    reference = reference - reference.mean()
    scale = np.dot(estimate, reference) / (np.dot(reference, reference) + _EPS)
    target = scale * reference
    residual = estimate - target
    return float(
        10 * np.log10((np.dot(target, target) + _EPS) / (np.dot(residual, residual) + _EPS))
    )


def si_sdr_improvement(enhanced: np.ndarray, noisy: np.ndarray, clean: np.ndarray) -> float:
    return si_sdr(enhanced, clean) - si_sdr(noisy, clean)


def stoi(clean: np.ndarray, estimate: np.ndarray, extended: bool = False) -> float:
    from pystoi import stoi as pystoi_stoi

    estimate, clean = _pair(estimate, clean)
    return float(pystoi_stoi(clean, estimate, SAMPLE_RATE, extended=extended))


def pesq_wb(clean: np.ndarray, estimate: np.ndarray) -> float:
    """Wideband PESQ (MOS-LQO, about 1.04 .. 4.64). Raises MetricUnavailable when PESQ
    cannot score the pair."""
    import pesq as pesq_lib

    estimate, clean = _pair(estimate, clean)
    if not np.any(clean) or not np.any(estimate):
        raise MetricUnavailable(
            "PESQ found no utterance: the reference or the estimate is all zeros"
        )
    try:
        return float(pesq_lib.pesq(SAMPLE_RATE, clean, estimate, "wb"))
    except pesq_lib.NoUtterancesError:
        raise MetricUnavailable(
            "PESQ found no utterance in the reference/estimate (silent or too quiet)"
        ) from None
    except pesq_lib.BufferTooShortError:
        raise MetricUnavailable(
            f"PESQ needs a longer signal (got {clean.size / SAMPLE_RATE:.2f} s)"
        ) from None


def ibm_accuracy(predicted: np.ndarray, target: np.ndarray) -> float:
    """Fraction of bins where the (thresholded at 0.5) predicted mask equals the target."""
    predicted, target = np.asarray(predicted), np.asarray(target)
    if predicted.shape != target.shape:
        raise BitwaveError(
            f"mask shapes differ: predicted {predicted.shape}, target {target.shape}"
        )
    return float(np.mean((predicted >= 0.5) == (target >= 0.5)))
