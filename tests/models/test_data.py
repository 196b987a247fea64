"""Built-in data: eSpeak speech, procedural noise, SNR mixing, splits, cache, config."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from bitwave.core.errors import BitwaveError
from bitwave.models.data import (
    NOISE_TYPES,
    DataConfig,
    Dataset,
    Mixture,
    build_dataset,
    builtin,
    speech,
)
from bitwave.models.data import dataset as dataset_io
from bitwave.models.data.builtin import mix_at_snr
from bitwave.models.data.noise import make_noise
from bitwave.models.data.sentences import make_sentence

SMALL = {
    "train_utterances": 12,
    "valid_utterances": 3,
    "test_utterances": 10,
    "train_speakers": 4,
    "test_speakers": 2,
    "max_seconds": 1.5,
}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[DataConfig, Dataset]:
    config = DataConfig.from_dict({**SMALL, "cache_dir": str(tmp_path_factory.mktemp("cache"))})
    return config, build_dataset(config, progress=False)


def rms_db(x: np.ndarray) -> float:
    return 10 * math.log10(np.mean(np.asarray(x, np.float64) ** 2))


# -- speech ------------------------------------------------------------------------------------
def test_speech_is_16k_float_deterministic_and_trimmed():
    speaker = speech.Speaker("en-us", "m3", 50, 50, 175)
    a = speech.synthesize("The pilot carried the heavy box.", speaker)
    b = speech.synthesize("The pilot carried the heavy box.", speaker)
    assert a.dtype == np.float32 and np.array_equal(a, b)
    # eSpeak's static state (pitch flutter phase) must not leak from one utterance to the next
    speech.synthesize(
        "Something else entirely, spoken by someone else.",
        speech.Speaker("en", "klatt", 30, 80, 150),
    )
    assert np.array_equal(a, speech.synthesize("The pilot carried the heavy box.", speaker))
    assert 1.0 < a.size / 16_000 < 4.0  # seven words at 175 wpm
    assert np.abs(a).max() <= 1.0
    # trimmed: the first and last 10 ms are close to the pad, not long silences
    assert np.abs(a[: 16_000 // 4]).max() > 0.01 * np.abs(a).max()


def test_ctrl_c_inside_the_espeak_callback_stops_synthesis(monkeypatch):
    """ctypes prints and ignores an exception raised in a callback: a Ctrl-C while eSpeak
    calls back must abort the synthesis and come out of synthesize, not be swallowed."""
    chunks = []

    def interrupted(session, wav, count):
        chunks.append(count)
        raise KeyboardInterrupt

    monkeypatch.setattr(speech._Session, "_keep", interrupted)
    long_text = "The pilot carried the heavy box across the yellow field. " * 20
    with pytest.raises(KeyboardInterrupt):
        speech.synthesize(long_text, speech.Speaker("en", "", 50, 50, 175))
    assert len(chunks) == 1, "eSpeak went on calling back after the interrupt"
    monkeypatch.undo()
    assert speech.synthesize("Yes.", speech.Speaker("en", "", 50, 50, 175)).size > 0


def test_speakers_sound_different():
    text = "The yellow cat watched the zebra."
    base = speech.synthesize(text, speech.Speaker("en", "", 50, 50, 175))
    for other in (
        speech.Speaker("en", "f3", 50, 50, 175),  # variant
        speech.Speaker("en-gb-scotland", "", 50, 50, 175),  # accent
        speech.Speaker("en", "", 70, 50, 175),  # pitch
    ):
        audio = speech.synthesize(text, other)
        assert audio.size != base.size or not np.allclose(audio, base)


def test_unknown_variant_is_not_offered():
    # eSpeak returns 0 for "en+nonexistent" and silently uses plain "en": the pool must not.
    pairs = speech.available_voice_pairs()
    assert ("en", "nonexistent") not in pairs
    with speech._LOCK, speech._Session() as session:
        assert session.has_voice("en", "m3")
        assert not session.has_voice("en", "nonexistent")
        assert not session.has_voice("xx-nolang", "")
    assert len(pairs) >= 100


def test_speaker_groups_share_no_voice_variant_pair():
    groups = speech.speaker_split(np.random.default_rng(1), {"train": 30, "test": 10, "babble": 8})
    keys = {name: {(s.voice, s.variant) for s in group} for name, group in groups.items()}
    assert [len(k) for k in keys.values()] == [30, 10, 8]
    assert not keys["train"] & keys["test"] and not keys["train"] & keys["babble"]
    with pytest.raises(BitwaveError, match="distinct speakers"):
        speech.speaker_split(np.random.default_rng(1), {"train": 10_000})


def test_sentences_vary_and_are_seeded():
    texts = [make_sentence(np.random.default_rng(i)) for i in range(50)]
    assert len(set(texts)) >= 45
    assert make_sentence(np.random.default_rng(3)) == make_sentence(np.random.default_rng(3))
    assert all(t[0].isupper() and t[-1] in ".?" for t in texts)


# -- noise -------------------------------------------------------------------------------------
def _band_profile(x: np.ndarray) -> np.ndarray:
    """Long-term spectrum in 16 bands, dB relative to the total."""
    power = np.abs(np.fft.rfft(x)) ** 2
    bands = np.array([b.sum() for b in np.array_split(power[1:], 16)])
    return 10 * np.log10(bands / bands.sum() + 1e-12)


def _kurtosis(x: np.ndarray) -> float:
    x = x - x.mean()
    return float(np.mean(x**4) / np.mean(x**2) ** 2)


@pytest.fixture(scope="module")
def noises() -> dict[str, np.ndarray]:
    pool = [
        speech.synthesize(
            make_sentence(np.random.default_rng(i)), speech.Speaker("en", "m1", 50, 50, 175)
        )
        for i in range(4)
    ]
    return {k: make_noise(k, np.random.default_rng(7), 48_000, pool) for k in NOISE_TYPES}


def test_noise_types_have_unit_rms_and_distinct_spectra(noises):
    assert len(noises) >= 8
    for kind, x in noises.items():
        assert x.dtype == np.float32 and x.size == 48_000 and np.all(np.isfinite(x)), kind
        assert abs(np.sqrt(np.mean(x.astype(np.float64) ** 2)) - 1) < 1e-3, kind
    profiles = {k: _band_profile(x) for k, x in noises.items()}
    kinds = list(profiles)
    for i, a in enumerate(kinds):
        for b in kinds[i + 1 :]:
            distance = np.sqrt(np.mean((profiles[a] - profiles[b]) ** 2))
            assert distance > 2.0, f"{a} and {b} have nearly the same spectrum ({distance:.2f} dB)"


def test_noise_character(noises):
    # impulsive types are heavy-tailed; white noise is Gaussian (kurtosis 3); hum is tonal
    assert _kurtosis(noises["typing"]) > 10
    assert abs(_kurtosis(noises["white"]) - 3) < 0.3
    spectrum = np.abs(np.fft.rfft(noises["hum"])) ** 2
    assert np.sort(spectrum)[-40:].sum() > 0.5 * spectrum.sum()  # energy in a few lines
    # ocean swells slowly: its 0.25-s energy envelope varies far more than white noise's
    env = lambda x: np.sqrt(np.mean(x[: 48_000 // 4000 * 4000].reshape(-1, 4000) ** 2, axis=1))  # noqa: E731
    assert np.std(env(noises["ocean"])) > 3 * np.std(env(noises["white"]))


def test_noise_is_seeded():
    a = make_noise("pink", np.random.default_rng(1), 1000)
    assert np.array_equal(a, make_noise("pink", np.random.default_rng(1), 1000))
    assert not np.allclose(a, make_noise("pink", np.random.default_rng(2), 1000))
    with pytest.raises(BitwaveError, match="unknown noise type 'rain'.*allowed: white"):
        make_noise("rain", np.random.default_rng(1), 1000)
    with pytest.raises(BitwaveError, match="pool of talker"):
        make_noise("babble", np.random.default_rng(1), 1000)


# -- mixing ------------------------------------------------------------------------------------
@pytest.mark.parametrize("snr", [-5.0, 0.0, 7.5])
def test_mix_at_snr_hits_snr_and_level(snr):
    rng = np.random.default_rng(0)
    clean, noise = rng.standard_normal(16_000), rng.standard_normal(16_000) * 3
    c, n = mix_at_snr(clean, noise, snr, level_db=-26.0)
    assert rms_db(c) - rms_db(n) == pytest.approx(snr, abs=1e-3)
    assert rms_db(c) == pytest.approx(-26.0, abs=1e-3)
    c, n = mix_at_snr(clean, noise, snr, level_db=-3.0)  # would clip: scaled down together
    assert np.abs(c + n).max() <= 0.99 + 1e-6
    assert rms_db(c) - rms_db(n) == pytest.approx(snr, abs=1e-3)
    with pytest.raises(BitwaveError, match="silent"):
        mix_at_snr(np.zeros(10), noise[:10], 0.0)


# -- the built-in data set --------------------------------------------------------------------
def test_builtin_splits(small):
    config, data = small
    assert [len(data.train), len(data.valid), len(data.test)] == [12, 3, 10]
    train_speakers = set(data.metadata["speakers"]["train"])
    test_speakers = set(data.metadata["speakers"]["test"])
    assert {m.speaker for m in data.train + data.valid} <= train_speakers
    assert {m.speaker for m in data.test} <= test_speakers
    voice = lambda name: name.split("/")[0]  # noqa: E731
    assert not {voice(s) for s in train_speakers} & {voice(s) for s in test_speakers}
    assert {m.noise_type for m in data.train} <= set(config.train_noises)
    assert "engine" in {m.noise_type for m in data.test}
    assert "engine" not in {m.noise_type for m in data.train + data.valid}
    for m in data.train + data.valid + data.test:
        assert m.clean.dtype == np.float32 and m.clean.shape == m.noise.shape
        assert m.seconds <= config.max_seconds + 1e-9
        assert -5 <= m.snr_db <= 10
        assert rms_db(m.clean) - rms_db(m.noise) == pytest.approx(m.snr_db, abs=0.01)
        assert np.array_equal(m.noisy, m.clean + m.noise)
    # test noises are new instances: no test noise equals a training noise
    assert not any(
        np.array_equal(t.noise[:100], r.noise[:100]) for t in data.test for r in data.train
    )


def test_builtin_is_deterministic_and_cached(small, monkeypatch):
    config, data = small
    fresh = builtin.generate(config, progress=False)
    for a, b in zip(data.test, fresh.test, strict=True):
        assert (
            a.id == b.id and np.array_equal(a.clean, b.clean) and np.array_equal(a.noise, b.noise)
        )

    def no_generation(*_args, **_kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(builtin, "generate", no_generation)
    again = build_dataset(config, progress=False)
    assert again.metadata["cache"] == data.metadata["cache"]
    assert np.array_equal(again.train[3].noisy, data.train[3].noisy)


def test_cache_key_tracks_content():
    base = DataConfig.from_dict(SMALL)
    assert builtin.cache_key(base) == builtin.cache_key(
        DataConfig.from_dict({**SMALL, "cache_dir": "/elsewhere"})
    )
    for change in (
        {"seed": 1},
        {"snr_db": [0, 5]},
        {"train_utterances": 13},
        {"heldout_noises": ["birds", "engine"], "train_noises": ["white"]},
    ):
        assert builtin.cache_key(DataConfig.from_dict({**SMALL, **change})) != builtin.cache_key(
            base
        ), change


def test_other_seed_other_data(tmp_path):
    config = DataConfig.from_dict(
        {**SMALL, "train_utterances": 2, "valid_utterances": 0, "test_utterances": 1, "seed": 5}
    )
    other = builtin.generate(config, progress=False)
    base = builtin.generate(
        DataConfig.from_dict(
            {**SMALL, "train_utterances": 2, "valid_utterances": 0, "test_utterances": 1}
        ),
        progress=False,
    )
    assert other.train[0].text != base.train[0].text or not np.array_equal(
        other.train[0].noise, base.train[0].noise
    )


def test_corrupt_cache_is_rebuilt(tmp_path):
    config = DataConfig.from_dict(
        {
            **SMALL,
            "train_utterances": 2,
            "valid_utterances": 1,
            "test_utterances": 1,
            "cache_dir": str(tmp_path),
        }
    )
    data = build_dataset(config, progress=False)
    folder = tmp_path / f"builtin-{builtin.cache_key(config)}"
    (folder / "audio.npz").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="rebuilding the cached data set"):
        rebuilt = build_dataset(config, progress=False)
    assert np.array_equal(rebuilt.train[1].clean, data.train[1].clean)
    assert dataset_io.load(folder).train[1].text == data.train[1].text


def test_dataset_roundtrip_and_split_errors(tmp_path):
    mixtures = [Mixture("a", np.ones(5, np.float32), np.zeros(5, np.float32), "s1", "white", 3.0, "hi"),
                Mixture("b", np.arange(3, dtype=np.float32), np.ones(3, np.float32))]  # fmt: skip
    data = Dataset("x", {"train": mixtures, "test": []}, {"k": 1})
    dataset_io.save(data, tmp_path)
    back = dataset_io.load(tmp_path)
    assert [m.id for m in back.train] == ["a", "b"] and np.array_equal(
        back.train[1].clean, [0, 1, 2]
    )
    assert math.isnan(back.train[1].snr_db) and back.train[0].snr_db == 3.0
    with pytest.raises(BitwaveError, match="no test mixtures"):
        _ = back.test
    with pytest.raises(BitwaveError, match="unknown split 'dev'"):
        back.split("dev")
    with pytest.raises(BitwaveError, match="not a complete bitwave data set"):
        dataset_io.load(tmp_path / "missing")
    assert data.describe()["train"]["mixtures"] == 2


# -- config ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"trian_utterances": 3}, "unknown key 'trian_utterances'; allowed keys: preset"),
        ({"preset": "huge"}, "data.preset: 'huge' is not allowed; choose one of"),
        ({"snr_db": [10, -5]}, r"data.snr_db: expected \[low, high\]"),
        ({"snr_db": [0, 100]}, r"data.snr_db: expected \[low, high\]"),
        ({"train_noises": ["white", "rain"]}, "unknown noise type 'rain'; allowed: white"),
        ({"heldout_noises": ["white"]}, "also appear in train_noises"),
        ({"train_noises": []}, "at least one noise type"),
        ({"train_speakers": 0}, "at least 1"),
        ({"test_utterances": -1}, "non-negative integer"),
        ({"max_seconds": 0.1}, "0.5 .. 30"),
        ({"test_fraction": 1.0}, "0 <= fraction < 1"),
    ],
)
def test_config_errors(values, message):
    with pytest.raises(BitwaveError, match=message):
        DataConfig.from_dict(values)


def test_presets():
    assert DataConfig.from_dict(None).train_utterances == 320
    large = DataConfig.from_dict({"preset": "large", "seed": 3})
    assert large.train_utterances > 3000 and large.seed == 3 and large.preset == "large"
    assert DataConfig.from_dict({"preset": "large", "train_utterances": 10}).train_utterances == 10


def test_speech_does_not_depend_on_the_clock():
    # eSpeak seeds its random generator with time() at initialisation; voices with breath
    # noise (f5, klatt) came out differently in different seconds before the seed was fixed.
    speakers = [
        speech.Speaker("en-gb-x-rp", "f5", 43, 73, 155),
        speech.Speaker("en", "klatt", 50, 50, 175),
    ]
    text = "Happily, the pilot carried the broken chair."
    before = [speech.synthesize_raw(text, s)[0] for s in speakers]
    time.sleep(1.05)
    after = [speech.synthesize_raw(text, s)[0] for s in speakers]
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
