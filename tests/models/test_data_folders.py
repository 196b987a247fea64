"""Real-data folders: VoiceBank+DEMAND-style pairs and clean/ + noise/ folders."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from bitwave.core.errors import BitwaveError
from bitwave.models.data import SkippedFileWarning, build_dataset, read_wav, write_wav


def tone(seconds: float, rate: int, freq: float = 440.0, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(seed).standard_normal(t.size) * 0.01
    return (0.3 * np.sin(2 * np.pi * freq * t) + noise).astype(np.float32)


def write(path: Path, audio: np.ndarray, rate: int, dtype: str = "int16") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (audio * 32767).astype(np.int16) if dtype == "int16" else audio.astype(np.float32)
    wavfile.write(path, rate, data)


def test_read_wav_resamples_and_rejects(tmp_path):
    write(tmp_path / "a.wav", tone(1.0, 48_000), 48_000)
    write(tmp_path / "b.wav", tone(0.5, 22_050), 22_050, dtype="float32")
    a, b = read_wav(tmp_path / "a.wav"), read_wav(tmp_path / "b.wav")
    assert a.dtype == np.float32 and a.size == 16_000 and b.size == 8_000
    assert abs(np.sqrt(np.mean(a**2)) - 0.3 / math.sqrt(2)) < 0.01  # level kept by resampling
    # the 440 Hz tone is still at 440 Hz after resampling
    spectrum = np.abs(np.fft.rfft(a))
    assert abs(np.argmax(spectrum) * 16_000 / a.size - 440) <= 1
    wavfile.write(tmp_path / "stereo.wav", 16_000, np.zeros((100, 2), np.int16))
    (tmp_path / "text.wav").write_text("not audio")
    wavfile.write(tmp_path / "empty.wav", 16_000, np.zeros(0, np.int16))
    for name, message in (
        ("stereo", "2 channels; only mono"),
        ("text", "not a readable WAV"),
        ("empty", "no samples"),
    ):
        with pytest.raises(BitwaveError, match=message):
            read_wav(tmp_path / f"{name}.wav")


@pytest.mark.parametrize(
    ("rate", "samples", "message"),
    [
        (0, np.ones(4000, np.int16), "sample rate 0 Hz; allowed: 4000 .. 384000 Hz"),
        (1, np.ones(4000, np.int16), "sample rate 1 Hz; allowed"),
        (4_000_000, np.ones(4000, np.int16), "sample rate 4000000 Hz; allowed"),
        (16_000, np.zeros((4000, 0), np.int16), "header declares 0 channels"),
    ],
    ids=["rate-0", "rate-1", "rate-4MHz", "zero-channels"],
)
def test_read_wav_refuses_absurd_headers(tmp_path, rate, samples, message):
    wavfile.write(tmp_path / "x.wav", rate, samples)
    with pytest.raises(BitwaveError, match=message) as error:
        read_wav(tmp_path / "x.wav")
    assert str(error.value).startswith(str(tmp_path / "x.wav"))


def test_silent_files_are_skipped_and_named(tmp_path):
    for k in range(3):
        write(tmp_path / "clean" / f"s{k}.wav", tone(0.5, 16_000, 300 + 40 * k, seed=k), 16_000)
    write(tmp_path / "noise" / "good.wav", tone(1.0, 16_000, 900), 16_000)
    wavfile.write(tmp_path / "noise" / "silent.wav", 16_000, np.zeros(16_000, np.int16))
    gap = np.zeros(64_000, np.float32)
    gap[0] = 0.5  # not silent as a file, but any 0.5 s stretch after the first sample is
    write(tmp_path / "noise" / "gap.wav", gap, 16_000)
    config = {"folder": str(tmp_path), "test_fraction": 0.0, "valid_fraction": 0.0}
    with pytest.warns(SkippedFileWarning) as record:
        data = build_dataset(config)
    messages = " | ".join(str(w.message) for w in record)
    assert "silent.wav: silent (every sample is zero)" in messages
    assert "mixed with " in messages and "gap.wav: cannot mix at an SNR" in messages
    assert data.train and all(m.noise_type == "good" for m in data.train)


def test_write_wav_roundtrip(tmp_path):
    audio = tone(0.25, 16_000)
    write_wav(tmp_path / "out" / "x.wav", audio)
    assert np.abs(read_wav(tmp_path / "out" / "x.wav") - audio).max() < 1e-4


def make_voicebank(root: Path) -> None:
    """clean_trainset_wav/noisy_trainset_wav and clean_testset_wav/noisy_testset_wav at 48 kHz."""
    for split, speakers in (("trainset_2spk", ("p226", "p287")), ("testset", ("p232",))):
        for speaker in speakers:
            for k in range(3):
                name = f"{speaker}_{k:03d}.wav"
                clean = tone(0.5, 48_000, 200 + 50 * k, seed=k)
                noise = (
                    np.random.default_rng(k + 10).standard_normal(clean.size).astype(np.float32)
                    * 0.05
                )
                write(root / f"clean_{split}_wav" / name, clean, 48_000)
                write(root / f"noisy_{split}_wav" / name, clean + noise, 48_000)


def test_voicebank_layout(tmp_path):
    make_voicebank(tmp_path)
    # bad files: a stereo clean file, a noisy file that is not audio, a clean file without pair
    wavfile.write(
        tmp_path / "clean_testset_wav" / "p232_bad.wav", 48_000, np.zeros((4800, 2), np.int16)
    )
    wavfile.write(tmp_path / "noisy_testset_wav" / "p232_bad.wav", 48_000, np.zeros(4800, np.int16))
    (tmp_path / "noisy_testset_wav" / "p232_002.wav").write_bytes(b"RIFF....garbage")
    write(tmp_path / "clean_testset_wav" / "p232_009.wav", tone(0.5, 48_000), 48_000)
    with pytest.warns(SkippedFileWarning) as record:
        data = build_dataset({"folder": str(tmp_path), "valid_fraction": 0.2})
    messages = " | ".join(str(w.message) for w in record)
    assert "p232_bad.wav: has 2 channels" in messages
    assert "p232_002.wav: not a readable WAV" in messages
    assert "p232_009.wav: no matching" in messages
    assert len(data.test) == 2 and {m.speaker for m in data.test} == {"p232"}
    assert len(data.train) + len(data.valid) == 6 and len(data.valid) == 1
    for m in data.train + data.test:
        assert m.clean.size == 8_000  # 0.5 s at 16 kHz
        assert 10 < m.snr_db < 20  # 0.3/sqrt(2) tone over 0.05-RMS noise: ~12.5 dB
    # the noise is what the noisy file adds to the clean one
    reference = read_wav(tmp_path / "noisy_testset_wav" / "p232_000.wav") - read_wav(
        tmp_path / "clean_testset_wav" / "p232_000.wav"
    )
    match = next(m for m in data.test if m.id.endswith("p232_000"))
    assert np.allclose(match.noise, reference)


def test_clean_noise_layout_splits_files(tmp_path):
    for k in range(10):
        write(
            tmp_path / "clean" / f"spk{k % 5}_{k}.wav",
            tone(0.6, 44_100, 150 + 20 * k, seed=k),
            44_100,
        )
    for k in range(5):
        write(
            tmp_path / "noise" / f"noise{k}.wav",
            np.random.default_rng(k).standard_normal(8000).astype(np.float32) * 0.1,
            8_000,
        )
    data = build_dataset(
        {"folder": str(tmp_path), "test_fraction": 0.2, "valid_fraction": 0.0, "snr_db": [0, 5]}
    )
    assert len(data.test) == 2 and len(data.train) == 8
    train_noises = {m.noise_type for m in data.train}
    test_noises = {m.noise_type for m in data.test}
    assert test_noises and not train_noises & test_noises  # test noise recordings are unseen
    assert not {m.id.split("_", 1)[1] for m in data.train} & {
        m.id.split("_", 1)[1] for m in data.test
    }
    for m in data.train + data.test:
        snr = 10 * np.log10(
            np.mean(m.clean.astype(np.float64) ** 2) / np.mean(m.noise.astype(np.float64) ** 2)
        )
        assert snr == pytest.approx(m.snr_db, abs=0.01) and 0 <= m.snr_db <= 5
        assert m.clean.size == round(0.6 * 16_000)  # 1-s noise files at 8 kHz are looped
    again = build_dataset(
        {"folder": str(tmp_path), "test_fraction": 0.2, "valid_fraction": 0.0, "snr_db": [0, 5]}
    )
    assert [m.id for m in again.test] == [m.id for m in data.test]
    assert np.array_equal(again.test[0].noise, data.test[0].noise)


def test_explicit_train_test_folders(tmp_path):
    for side, count in (("train", 3), ("test", 2)):
        for k in range(count):
            write(tmp_path / side / "clean" / f"s{k}.wav", tone(0.3, 16_000, 300 + k), 16_000)
        write(
            tmp_path / side / "noise" / "n.wav",
            np.random.default_rng(1).standard_normal(16_000).astype(np.float32) * 0.1,
            16_000,
        )
    data = build_dataset({"folder": str(tmp_path), "valid_fraction": 0.0})
    assert (len(data.train), len(data.test)) == (3, 2)


def test_nothing_usable_is_an_error(tmp_path):
    (tmp_path / "clean").mkdir()
    (tmp_path / "noise").mkdir()
    (tmp_path / "clean" / "a.wav").write_text("nope")
    wavfile.write(tmp_path / "noise" / "n.wav", 16_000, np.zeros(0, np.int16))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with pytest.raises(
            BitwaveError, match=r"clean: no usable WAV files \(1 .wav files found, all skipped\)"
        ):
            build_dataset({"folder": str(tmp_path)})
    assert any("a.wav" in str(w.message) for w in record)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root: None, "unrecognised layout; expected either paired folders"),
        (
            lambda root: (root / "clean").mkdir() or (root / "noise").mkdir(),
            "clean: contains no .wav files",
        ),
    ],
)
def test_layout_errors(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(BitwaveError, match=message):
        build_dataset({"folder": str(tmp_path)})


def test_missing_folder(tmp_path):
    with pytest.raises(BitwaveError, match="does not exist"):
        build_dataset({"folder": str(tmp_path / "nope")})
