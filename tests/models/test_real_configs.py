"""The shipped real-speech-like configs: the eval test sets share their training config's
speaker split (so their test speakers stay unseen) and differ only in what makes them a test
set (fixed SNR, every utterance reverberant, no training utterances)."""

from pathlib import Path

import pytest

from bitwave.core import config
from bitwave.models.data import DataConfig

CONFIGS = Path(__file__).resolve().parents[2] / "models" / "configs"
SPLIT_KEYS = ("preset", "seed", "train_speakers", "test_speakers", "speech_sources")


def _data(path: Path) -> DataConfig:
    return DataConfig.from_dict(config.load(path)["data"])


@pytest.mark.parametrize(
    ("training", "tests"), [("demo_real", "demo_real"), ("se_mlp_1024_real", "large_real")]
)
@pytest.mark.parametrize("snr", [0, 5])
def test_real_test_sets_keep_the_training_speaker_split(training, tests, snr):
    train = _data(CONFIGS / f"{training}.yaml")
    test = _data(CONFIGS / "eval" / f"{tests}_{snr}db.yaml")
    assert all(getattr(test, key) == getattr(train, key) for key in SPLIT_KEYS)
    assert test.snr_db == (snr, snr) and test.reverb.probability == 1.0
    assert test.train_utterances == test.valid_utterances == 0 and test.test_utterances > 0
    assert "piper" in test.speech_sources


@pytest.mark.parametrize("name", ["large_real", "large_dry"])
@pytest.mark.parametrize("snr", [0, 5])
def test_large_test_sets_use_the_large_speaker_split(name, snr):
    test = _data(CONFIGS / "eval" / f"{name}_{snr}db.yaml")
    large = DataConfig.from_dict({"preset": "large"})
    assert (test.train_speakers, test.test_speakers) == (large.train_speakers, large.test_speakers)
    assert test.snr_db == (snr, snr) and test.train_utterances == 0
    assert test.reverb.probability == (1.0 if name == "large_real" else 0.0)


def test_seen_talkers_are_found():
    """The check eval runs on --data: none of demo_real's (or se_mlp_1024_real's) test talkers
    speak in its training set; a model trained on the eSpeak-only demo set has heard some of
    their eSpeak voices (the split differs) but none of the Piper ones."""
    from bitwave.models.data.builtin import seen_test_talkers

    test = _data(CONFIGS / "eval" / "demo_real_0db.yaml")
    assert seen_test_talkers(_data(CONFIGS / "demo_real.yaml"), test) == []
    large_test = _data(CONFIGS / "eval" / "large_real_0db.yaml")
    assert seen_test_talkers(_data(CONFIGS / "se_mlp_1024_real.yaml"), large_test) == []
    seen = seen_test_talkers(DataConfig.from_dict({"preset": "demo"}), test)
    assert seen and all(talker.startswith("espeak:") for talker in seen)
