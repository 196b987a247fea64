"""``bitwave enhance``: noisy WAV in, enhanced WAV out through the chip's golden model,
identical to ``golden.run_audio`` computed directly; unusable files, engines and designs
refused with exit 2; outputs written atomically. (The rtl and gates engines against the golden
one: tests/sim/test_sim_chip.py, which has a chip built.)"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.io import wavfile

from bitwave.app import enhance
from bitwave.app.cli import main
from bitwave.core import golden, ir
from bitwave.core import wav as audio_module
from bitwave.core.random_ir import random_network

RATE = 16_000


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A random 2052-16-513 network with a 4-bit coding of 513 magnitudes, floor -10 dB."""
    net = random_network([2052, 16, 513], seed=7)
    boundaries = np.geomspace(1e-2, 20.0, 15)[None, :]
    net.coding = ir.BitplaneCodingSpec(513, 4, boundaries)
    net.mask_floor_db = -10.0
    path = tmp_path_factory.mktemp("model") / "m.bwir"
    ir.save(net, path)
    return path


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    """0.6 s of a tone in noise, 16-bit PCM."""
    rng = np.random.default_rng(1)
    t = np.arange(int(0.6 * RATE)) / RATE
    signal = 0.3 * np.sin(2 * np.pi * 300 * t) + 0.05 * rng.standard_normal(t.size)
    pcm = np.round(signal * 32767).astype(np.int16)
    path = tmp_path_factory.mktemp("wav") / "my noisy-file.wav"
    wavfile.write(path, RATE, pcm)
    return path, pcm


def direct(model, pcm, floor_db):
    """The chip's golden model on the file's samples, with the floor ``floor_db``."""
    net = ir.load(model)
    net.mask_floor_db = floor_db
    return golden.run_audio(net, pcm)


def run_cli(*args):
    """The exit code of ``bitwave enhance ARGS`` (parser refusals exit through SystemExit)."""
    try:
        return main(["enhance", *map(str, args), "--quiet"])
    except SystemExit as error:
        return error.code


def test_enhance_equals_the_golden_path(tmp_path, model, noisy):
    path, pcm = noisy
    assert run_cli(model, path, "--out", tmp_path, "--engine", "golden") == 0
    rate, out = wavfile.read(tmp_path / "my_noisy_file_enhanced.wav")
    assert rate == RATE and out.dtype == np.int16
    assert np.array_equal(out, direct(model, pcm, -10.0))  # the model's own floor
    assert run_cli(model, path, "--out", tmp_path, "--mask-floor", "none") == 0
    _, none = wavfile.read(tmp_path / "my_noisy_file_enhanced.wav")
    assert np.array_equal(none, direct(model, pcm, None))
    assert not np.array_equal(none, out)  # mutation twin: the floor is applied


def test_multichannel_and_other_rates(tmp_path, model, noisy):
    path, pcm = noisy
    stereo = tmp_path / "stereo.wav"
    wavfile.write(stereo, RATE, np.stack([pcm, pcm], axis=1))
    assert np.array_equal(enhance.read_audio(stereo), enhance.read_audio(path))
    fast = tmp_path / "fast.wav"
    wavfile.write(fast, 48_000, np.repeat(pcm, 3).astype(np.float32) / 32768.0)
    assert enhance.read_audio(fast).size == pcm.size
    assert run_cli(model, stereo, fast, "--out", tmp_path / "o") == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "fast_enhanced.wav",
        "stereo_enhanced.wav",
    ]


def test_clean_reference_prints_quality_before_and_after(tmp_path, model, noisy, capsys):
    path, _ = noisy
    assert run_cli(model, path, "--out", tmp_path, "--clean", path) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[0] == "noisy" and lines[2].split()[0] == "enhanced"
    assert all("SI-SDR" in line and "STOI" in line and "PESQ" in line for line in lines[1:3])


def _bad_files(folder):
    empty, short, nan = folder / "empty.wav", folder / "short.wav", folder / "nan.wav"
    wavfile.write(empty, RATE, np.zeros(0, np.int16))
    wavfile.write(short, RATE, np.zeros(100, np.int16))
    wavfile.write(nan, RATE, np.full(2000, np.nan, np.float32))
    (folder / "text.wav").write_text("not audio")
    return {
        "missing.wav": "no such file",
        "text.wav": "not a readable WAV file",
        "empty.wav": "contains no samples",
        "short.wav": "100 samples at 16000 Hz; allowed: at least 1024",
        "nan.wav": "contains NaN or infinite samples",
    }


def test_unusable_files_exit_2_naming_the_file(tmp_path, model, noisy, capsys):
    path, _ = noisy
    for name, reason in _bad_files(tmp_path).items():
        assert run_cli(model, path, tmp_path / name, "--out", tmp_path / "out") == 2
        error = capsys.readouterr().err
        assert error.startswith("bitwave enhance: error: ") and error.count("\n") == 1
        assert f"{tmp_path / name}: " in error and reason in error
        assert not (tmp_path / "out").exists()  # every input is checked before any output


def test_refusals_exit_2(tmp_path, model, noisy, capsys):
    path, _ = noisy
    assert run_cli(model, path, "--out", tmp_path, "--engine", "fpga") == 2
    assert "engine 'fpga' is not available; allowed: golden, rtl, gates" in capsys.readouterr().err
    assert run_cli(model, path, "--out", tmp_path, "--engine", "gates") == 2
    assert "--engine gates needs a synthesized chip" in capsys.readouterr().err
    assert run_cli(model, path, "--out", tmp_path, "--mask-floor", "3") == 2
    assert "allowed: 'none' or a number of dB" in capsys.readouterr().err
    assert run_cli(tmp_path, path, "--out", tmp_path / "o") == 2  # a folder without model.bwir
    assert "no model.bwir" in capsys.readouterr().err
    copy = tmp_path / "my_noisy_file.wav"
    copy.write_bytes(path.read_bytes())
    assert run_cli(model, path, copy, "--out", tmp_path / "o") == 2
    assert "would both be written to" in capsys.readouterr().err
    assert run_cli(model, path, "--out", tmp_path / "o", "--clean", path, path) == 2
    assert "one clean reference per noisy file" in capsys.readouterr().err


def test_a_failed_write_leaves_no_file(tmp_path, model, noisy, monkeypatch):
    path, _ = noisy

    def broken(handle, rate, data):  # writes part of the file, then fails
        handle.write(b"RIFF\x00\x00")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(audio_module.wavfile, "write", broken)
    with pytest.raises(OSError):
        enhance.run(model, [path], tmp_path / "out", progress=False, report=lambda _: None)
    assert list((tmp_path / "out").iterdir()) == []


def test_a_trained_run_carries_its_floor_into_the_ir_eval_and_enhance(tmp_path, noisy, monkeypatch):
    """config model.mask_floor_db -> the exported IR -> eval and enhance use it (training
    itself skipped: the export of the initial weights is what carries the floor)."""
    import yaml

    from bitwave.core import config
    from bitwave.models import evaluate, kinds
    from bitwave.models.train import train

    data = {"train_utterances": 3, "valid_utterances": 1, "test_utterances": 1,
            "max_seconds": 1.0, "train_speakers": 2, "test_speakers": 1,
            "cache_dir": str(tmp_path / "cache")}  # fmt: skip
    user = {"data": data, "model": {"hidden": [8], "mask_floor_db": -12}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(user))
    monkeypatch.setattr(kinds.QuantMLPKind, "fit", lambda self, run: {"history": []})
    train(config.load(tmp_path / "cfg.yaml"), tmp_path / "run", progress=False)
    assert ir.load(tmp_path / "run" / "model.bwir").mask_floor_db == -12.0
    assert evaluate.run_mask_floor_db(tmp_path / "run") == -12.0  # what eval applies
    path, pcm = noisy
    assert run_cli(tmp_path / "run", path, "--out", tmp_path / "o") == 0
    _, out = wavfile.read(tmp_path / "o" / "my_noisy_file_enhanced.wav")
    assert np.array_equal(out, direct(tmp_path / "run" / "model.bwir", pcm, -12.0))
