"""Acoustic realism of the built-in data: reverberation, channel colouring, level drift."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import fftconvolve

from bitwave.core.errors import BitwaveError
from bitwave.models.data import DataConfig, acoustics, build_dataset, builtin
from bitwave.models.data import dataset as dataset_io
from bitwave.models.data.builtin import mix_at_snr, realistic_mix

TINY = {
    "train_utterances": 1,
    "valid_utterances": 0,
    "test_utterances": 2,
    "train_speakers": 1,
    "test_speakers": 1,
    "max_seconds": 0.8,
    "train_noises": ["white", "pink"],
    "heldout_noises": [],
}
ALL_ON = {
    "reverb": {"probability": 1.0, "rt60_s": [0.2, 0.3]},
    "channel": {"probability": 1.0},
    "level_drift_db": 6,
}
# The content keys before acoustic realism existed: a config with realism off must hash these
# alone, so that its cache (and its audio) stay what they were.
PRE_REALISM_KEYS = {
    "seed", "train_utterances", "valid_utterances", "test_utterances", "train_speakers",
    "test_speakers", "max_words", "max_seconds", "snr_db", "level_db", "train_noises",
    "heldout_noises",
}  # fmt: skip


def _speech_and_noise(n: int = 8000) -> tuple[np.ndarray, np.ndarray]:
    """A voiced-speech-like signal (harmonics under a syllable envelope) and white noise."""
    rng = np.random.default_rng(1)
    t = np.arange(n) / 16000
    envelope = np.clip(np.sin(2 * np.pi * 3 * t), 0, None)
    speech = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 20)) * envelope
    return speech.astype(np.float32), rng.standard_normal(n).astype(np.float32)


@pytest.mark.parametrize(
    ("values", "part"),
    [({"reverb": {"probability": 1.0}}, "reverb"), ({"channel": {"probability": 0.5}}, "channel"),
     ({"level_drift_db": 3}, "level")],
)  # fmt: skip
def test_each_part_is_seeded_and_changes_the_audio(values, part):
    speech, noise = _speech_and_noise()
    config = DataConfig.from_dict(values)
    runs = [realistic_mix(config, (3, i), speech, noise, 5.0, -25.0) for i in (0, 0, 1)]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][:2], runs[1][:2], strict=True))
    assert not np.array_equal(runs[0][0], runs[2][0])  # another utterance, another draw
    dry_clean, dry_noise = mix_at_snr(speech, noise, 5.0, -25.0)
    # Draw until the part applies (channel has probability 1/2).
    target, interference, applied = next(
        r for i in range(20) if (r := realistic_mix(config, (3, i), speech, noise, 5.0, -25.0))
        and (part != "channel" or r[2].channel)
    )  # fmt: skip
    assert not np.allclose(target, dry_clean, atol=1e-4)
    assert target.dtype == np.float32 and target.shape == interference.shape == speech.shape
    assert applied.channel == (part == "channel")
    assert math.isnan(applied.rt60_s) == (part != "reverb")


def test_realism_off_is_the_plain_mix():
    speech, noise = _speech_and_noise()
    config = DataConfig.from_dict({"reverb": {"probability": 0.0}, "level_drift_db": 0})
    assert not config.realism
    target, interference, applied = realistic_mix(config, (1, 0), speech, noise, 3.0, -30.0)
    clean, plain_noise = mix_at_snr(speech, noise, 3.0, -30.0)
    np.testing.assert_allclose(target, clean, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(interference, plain_noise, rtol=1e-6, atol=1e-9)
    assert math.isnan(applied.rt60_s) and not applied.channel


def test_reverb_target_is_direct_path_plus_early_reflections():
    speech, _ = _speech_and_noise()
    rir, direct = acoustics.room_impulse_response(np.random.default_rng(4), 0.3)
    again, direct_again = acoustics.room_impulse_response(np.random.default_rng(4), 0.3)
    assert np.array_equal(rir, again) and direct == direct_again
    early, late = acoustics.reverberate(speech.astype(np.float64), rir, direct)
    full = fftconvolve(speech, rir)[direct : direct + speech.size]
    np.testing.assert_allclose(early + late, full, atol=1e-5)  # FFT round-off
    # the early part holds the direct sound: it correlates with the dry speech far better
    corr = lambda a: np.dot(a, speech) / np.linalg.norm(a) / np.linalg.norm(speech)  # noqa: E731
    assert corr(early) > 0.5 > abs(corr(late))
    assert np.sum(late**2) > 0.01 * np.sum(early**2)  # a real tail is left to remove


def test_cache_key_and_content():
    base = DataConfig.from_dict(TINY)
    assert set(base.content()) == PRE_REALISM_KEYS
    off = DataConfig.from_dict({**TINY, "reverb": {"probability": 0, "rt60_s": [0.3, 0.5]}})
    assert builtin.cache_key(off) == builtin.cache_key(base)
    keys = {builtin.cache_key(base)}
    for change in (
        {"reverb": {"probability": 0.5}},
        {"reverb": {"probability": 0.5, "rt60_s": [0.3, 0.4]}},
        {"channel": {"probability": 0.5}},
        {"channel": {"probability": 0.5, "eq_db": 3}},
        {"level_drift_db": 2},
    ):
        keys.add(builtin.cache_key(DataConfig.from_dict({**TINY, **change})))
    assert len(keys) == 6


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"reverb": {"probability": 2}}, r"data.reverb.probability: allowed 0 .. 1"),
        ({"reverb": {"rt60_s": [0.5, 3.0]}}, r"data.reverb.rt60_s: expected \[low, high\]"),
        ({"reverb": {"rt": 1}}, "data.reverb: unknown key 'rt'; allowed keys: probability"),
        ({"reverb": 0.5}, "data.reverb: expected a mapping"),
        ({"channel": {"eq_db": -1}}, r"data.channel.eq_db: allowed 0 .. 12"),
        ({"level_drift_db": 30}, r"data.level_drift_db: allowed: 0 .. 20"),
    ],
)
def test_realism_config_errors(values, message):
    with pytest.raises(BitwaveError, match=message):
        DataConfig.from_dict(values)


def test_realistic_builtin_data_is_tagged_and_cached(tmp_path):
    config = DataConfig.from_dict({**TINY, **ALL_ON, "cache_dir": str(tmp_path)})
    data = build_dataset(config, progress=False)
    for m in data.train + data.test:
        assert 0.2 <= m.rt60_s <= 0.3 and m.channel and m.source == "espeak"
        assert m.source_label == "espeak, reverberant"
        assert np.array_equal(m.noisy, m.clean + m.noise)
    back = dataset_io.load(tmp_path / f"builtin-{builtin.cache_key(config)}")
    assert [(m.rt60_s, m.channel, m.source) for m in back.test] == [
        (pytest.approx(m.rt60_s, abs=1e-4), m.channel, m.source) for m in data.test
    ]
    dry = builtin.generate(DataConfig.from_dict(TINY), progress=False)
    for wet, plain in zip(data.test, dry.test, strict=True):
        # the same utterance (speech, noise type, SNR), other acoustics
        assert (wet.text, wet.noise_type, wet.snr_db) == (
            plain.text,
            plain.noise_type,
            plain.snr_db,
        )
        assert plain.source_label == "espeak, dry" and not plain.channel
        assert not np.allclose(wet.clean, plain.clean, atol=1e-3)
