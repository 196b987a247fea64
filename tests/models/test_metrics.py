"""SI-SDR(i), STOI, wideband PESQ and IBM accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from bitwave.core.errors import BitwaveError
from bitwave.models import metrics
from bitwave.models.data import speech


@pytest.fixture(scope="module")
def utterance() -> np.ndarray:
    return speech.synthesize(
        "The quiet teacher folded the purple scarf near the river.",
        speech.Speaker("en-us", "m3", 50, 50, 175),
    )


def test_si_sdr_matches_the_definition():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal(16_000)
    ref -= ref.mean()
    noise = rng.standard_normal(16_000)
    noise -= noise.mean()
    noise -= ref * np.dot(noise, ref) / np.dot(ref, ref)  # orthogonal to the reference
    noise *= np.linalg.norm(ref) / np.linalg.norm(noise) / 10 ** (6 / 20)  # 6 dB below
    assert metrics.si_sdr(ref + noise, ref) == pytest.approx(6.0, abs=1e-6)
    # scale invariance: the estimate's and the reference's gains do not matter
    assert metrics.si_sdr(3.7 * (ref + noise), 0.2 * ref) == pytest.approx(6.0, abs=1e-6)
    assert metrics.si_sdr(ref, ref) > 100
    assert metrics.si_sdr(-ref + noise, ref) == pytest.approx(6.0, abs=1e-6)  # sign is a scale
    assert metrics.si_sdr_improvement(ref + 0.5 * noise, ref + noise, ref) == pytest.approx(
        20 * np.log10(2), abs=1e-6
    )


def test_metric_input_errors():
    with pytest.raises(BitwaveError, match="3 samples but the reference has 4"):
        metrics.si_sdr(np.zeros(3), np.zeros(4))
    with pytest.raises(BitwaveError, match="empty"):
        metrics.si_sdr(np.zeros(0), np.zeros(0))
    with pytest.raises(BitwaveError, match="mask shapes differ"):
        metrics.ibm_accuracy(np.zeros((2, 3)), np.zeros((3, 2)))


def test_stoi_and_pesq_order_by_degradation(utterance):
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(utterance.size).astype(np.float32) * np.std(utterance)
    light, heavy = utterance + 0.1 * noise, utterance + 1.0 * noise
    assert metrics.stoi(utterance, utterance) == pytest.approx(1.0, abs=1e-6)
    assert 1.0 > metrics.stoi(utterance, light) > metrics.stoi(utterance, heavy) > 0.3
    assert metrics.stoi(utterance, light, extended=True) != metrics.stoi(utterance, light)
    clean_score = metrics.pesq_wb(utterance, utterance)
    assert clean_score > 4.5  # wideband MOS-LQO tops out at 4.64
    assert (
        clean_score > metrics.pesq_wb(utterance, light) > metrics.pesq_wb(utterance, heavy) >= 1.0
    )


def test_pesq_reports_unscorable_signals(utterance):
    with pytest.raises(metrics.MetricUnavailable, match="no utterance"):
        metrics.pesq_wb(np.zeros(32_000), np.zeros(32_000))
    with pytest.raises(metrics.MetricUnavailable, match="all zeros"):
        metrics.pesq_wb(utterance, np.zeros_like(utterance))
    with pytest.raises(metrics.MetricUnavailable, match="longer signal"):
        metrics.pesq_wb(utterance[:1000], utterance[:1000])


def test_pesq_library_errors_are_translated(utterance, monkeypatch):
    import pesq

    def no_utterances(*_args, **_kwargs):
        raise pesq.NoUtterancesError(b"No utterances detected")

    monkeypatch.setattr(pesq, "pesq", no_utterances)
    with pytest.raises(metrics.MetricUnavailable, match="PESQ found no utterance"):
        metrics.pesq_wb(utterance, utterance)


def test_ibm_accuracy():
    target = np.array([[1, 0, 1, 1]], np.uint8)
    assert metrics.ibm_accuracy(target, target) == 1.0
    assert (
        metrics.ibm_accuracy(np.array([[0.9, 0.4, 0.2, 0.5]]), target) == 0.75
    )  # soft masks at 0.5
    assert metrics.ibm_accuracy(1 - target, target) == 0.0
