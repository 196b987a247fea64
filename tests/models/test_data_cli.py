"""``bitwave data``: summary, examples, noise gallery; bad input exits with 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.io import wavfile

from bitwave.app.cli import main
from bitwave.models.data import read_wav


def test_builtin_data_command(tmp_path, capsys):
    config = tmp_path / "small.yaml"
    config.write_text(
        "data:\n  train_utterances: 4\n  valid_utterances: 1\n  test_utterances: 10\n"
        f"  train_speakers: 2\n  test_speakers: 2\n  max_seconds: 1.0\n  cache_dir: {tmp_path / 'cache'}\n"
    )
    assert main(["data", str(config), "--out", str(tmp_path / "out"), "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["train"]["mixtures"] == 4 and summary["test"]["mixtures"] == 10
    assert set(summary["test"]["noise_types"]) == {
        "white",
        "pink",
        "brown",
        "babble",
        "hum",
        "typing",
        "ocean",
        "birds",
        "cicadas",
        "engine",
    }
    assert summary["cache"].startswith(str(tmp_path / "cache"))
    assert len(summary["examples"]) == 10 * 3 + 1
    png = (tmp_path / "out" / "noise_gallery.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    noisy = read_wav(tmp_path / "out" / summary["examples"][0])
    assert 0 < noisy.size <= 16_000
    # a second run is served from the cache
    assert main(["data", str(config), "--quiet"]) == 0
    assert "ready in" in capsys.readouterr().out


def test_folder_data_command_and_errors(tmp_path, capsys):
    for side in ("clean", "noise"):
        (tmp_path / side).mkdir()
        for k in range(3):
            wavfile.write(
                tmp_path / side / f"s{k}_{side}.wav",
                16_000,
                (np.random.default_rng(k).standard_normal(8000) * 3000).astype(np.int16),
            )
    assert main(["data", "--folder", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "train: 1 mixtures" in out and "valid: 1 mixtures" in out and "test : 1 mixtures" in out
    assert main(["data", "--folder", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:  # refused by the parser, before the data is built
        main(["data", "--folder", str(tmp_path), "--out", str(tmp_path / "o"), "--examples", "0"])
    assert stop.value.code == 2
    assert "--examples: 0 is out of range; allowed: an integer 1 .. 100" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  snr_db: [10, 0]\n")
    assert main(["data", str(bad)]) == 2
    assert "data.snr_db" in capsys.readouterr().err


def test_plots_write_png(tmp_path):
    from bitwave.models.plots import Panel, spectrogram_grid

    audio = np.random.default_rng(0).standard_normal(8000).astype(np.float32)
    panels = [Panel.of_audio("noise", audio), Panel("mask", np.ones((32, 513)), mask=True)]
    spectrogram_grid(tmp_path / "a" / "grid.png", panels, title="t", columns=4)
    assert (tmp_path / "a" / "grid.png").read_bytes().startswith(b"\x89PNG")
    assert not [p for p in (tmp_path / "a").iterdir() if p.name != "grid.png"]  # no temp files left


@pytest.mark.parametrize("argv", [["data", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 0 and "real-data folder" in capsys.readouterr().out
