"""STFT framing and inverse, IBM targets, bit-plane and float inputs, masking."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitwave.core.coding import encode, fit_lloyd_max
from bitwave.core.errors import BitwaveError
from bitwave.models import features as F
from bitwave.models.data import Mixture


def test_constants():
    assert (F.N_FFT, F.HOP, F.N_BINS, F.FRAME_RATE) == (1024, 256, 513, 62.5)


@settings(max_examples=25, deadline=None)
@given(length=st.integers(1, 5000), seed=st.integers(0, 2**31 - 1))
def test_istft_inverts_stft(length, seed):
    x = np.random.default_rng(seed).standard_normal(length).astype(np.float32)
    spec = F.stft(x)
    assert spec.shape == (length // 256 + 1, 513) and spec.dtype == np.complex64
    assert np.abs(F.istft(spec, length) - x).max() < 1e-5


def test_frame_t_is_centred_on_sample_t_times_hop():
    x = np.zeros(4096, np.float32)
    x[256 * 5] = 1.0  # impulse at the centre of frame 5: the Hann window's peak (1.0)
    mag = F.magnitude(F.stft(x))
    assert np.argmax(mag[:, 0]) == 5 and mag[5, 0] == pytest.approx(1.0)
    assert np.allclose(mag[5], 1.0, atol=1e-6)  # an impulse has a flat spectrum


def test_sinusoid_lands_in_its_bin():
    t = np.arange(16_000) / 16_000
    mag = F.magnitude(F.stft(np.sin(2 * np.pi * 1000 * t)))  # 1000 Hz = bin 64 (15.625 Hz/bin)
    assert np.all(np.argmax(mag[4:-4], axis=1) == 64)
    assert mag[8, 64] == pytest.approx(1024 / 4, rel=1e-3)  # sum(hann) / 2


def test_stft_rejects_bad_shapes():
    with pytest.raises(BitwaveError, match="mono 1-D"):
        F.stft(np.zeros((10, 2)))
    with pytest.raises(BitwaveError, match=r"\(frames, 513\)"):
        F.istft(np.zeros((3, 100)), 10)
    with pytest.raises(BitwaveError, match="cannot produce"):
        F.istft(np.zeros((3, 513)), 10_000)


def test_ideal_binary_mask_and_masking():
    rng = np.random.default_rng(0)
    t = np.arange(16_000) / 16_000
    clean = (0.5 * np.sin(2 * np.pi * 500 * t)).astype(np.float32)
    noise = (0.05 * rng.standard_normal(16_000)).astype(np.float32)
    mixture = Mixture("m", clean, noise)
    noisy_spec, noisy_mag, ibm = F.mixture_frames(mixture)
    assert np.allclose(noisy_spec, F.stft(clean + noise), atol=1e-4)  # STFT is linear
    assert ibm.dtype == np.uint8 and ibm[10, 32] == 1  # 500 Hz = bin 32, speech dominates
    assert ibm[10, 300] == 0  # far from the tone only noise
    assert ibm.mean() < 0.05
    # raising the local criterion can only remove bins
    assert np.all(F.ideal_binary_mask(F.stft(clean), F.stft(noise), lc_db=10) <= ibm)
    # all-ones mask = the noisy signal, all-zeros = silence, the IBM removes most noise
    assert np.allclose(
        F.apply_mask(noisy_spec, np.ones_like(ibm), 16_000), clean + noise, atol=1e-4
    )
    assert np.abs(F.apply_mask(noisy_spec, np.zeros_like(ibm), 16_000)).max() == 0
    enhanced = F.apply_mask(noisy_spec, ibm, 16_000)
    assert np.mean((enhanced - clean) ** 2) < 0.1 * np.mean(noise**2)
    with pytest.raises(BitwaveError, match="does not match"):
        F.apply_mask(noisy_spec, ibm[:-1], 16_000)
    out, mask = F.enhance(clean + noise, lambda mag: (mag > 1.0).astype(np.float32))
    assert out.shape == clean.shape and mask.shape == ibm.shape


def test_frames_stacks_utterances():
    rng = np.random.default_rng(1)
    mixtures = [Mixture(str(i), rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32))
                for i, n in enumerate((1000, 3000, 512))]  # fmt: skip
    frames = F.frames(mixtures)
    assert frames.utterances == 3 and len(frames) == 4 + 12 + 3
    assert frames.noisy_mag.shape == (19, 513) and frames.ibm.shape == (19, 513)
    _, mag, ibm = F.mixture_frames(mixtures[1])
    assert np.array_equal(frames.noisy_mag[frames.utterance(1)], mag)
    assert np.array_equal(frames.ibm[frames.utterance(1)], ibm)
    with pytest.raises(BitwaveError, match="no mixtures"):
        F.frames([])


def test_bitplane_input_is_2052_bits_and_log_fit_maps_back():
    rng = np.random.default_rng(2)
    mags = np.exp(rng.normal(-2, 2, (3000, 513))).astype(np.float32)  # log-normal, like speech
    coding = F.fit_input_coding(mags, bits=4, log_domain=True)
    bits = F.bitplane_input(mags, coding)
    assert bits.shape == (3000, 2052) and bits.dtype == np.uint8 and set(np.unique(bits)) <= {0, 1}
    assert np.all(np.diff(coding.boundaries, axis=1) > 0)
    # the linear-domain coding gives exactly the levels of the log-domain quantizer
    log_coding = fit_lloyd_max(F.log_magnitude(mags), bits=4, per_feature=True)
    assert np.array_equal(bits, encode(log_coding, F.log_magnitude(mags)))
    # every one of the 16 levels is used in every bin
    levels = bits.reshape(3000, 513, 4) @ np.array([8, 4, 2, 1])
    assert all(len(np.unique(levels[:, b])) == 16 for b in (0, 100, 512))
    linear = F.fit_input_coding(mags, bits=4)  # the default: Lloyd-Max on the magnitudes
    assert np.array_equal(
        linear.boundaries, fit_lloyd_max(mags, bits=4, per_feature=True).boundaries
    )
    assert not np.allclose(linear.boundaries, coding.boundaries)
    with pytest.raises(BitwaveError, match=r"\(frames, 513\)"):
        F.fit_input_coding(mags[:, :10])


def test_float_input_norm():
    rng = np.random.default_rng(3)
    mags = np.exp(rng.normal(0, 1, (2000, 513)) * np.linspace(0.5, 2, 513)).astype(np.float32)
    norm = F.FloatInputNorm.fit(mags)
    x = norm(mags)
    assert (
        x.dtype == np.float32
        and np.allclose(x.mean(axis=0), 0, atol=1e-4)
        and np.allclose(x.std(axis=0), 1, atol=1e-3)
    )
    assert np.isfinite(norm(np.zeros((2, 513), np.float32))).all()  # silence is floored, not -inf
