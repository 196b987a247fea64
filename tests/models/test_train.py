"""Training and evaluation on a tiny built-in data set: export, resume, metrics, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from bitwave.app.cli import main
from bitwave.core import config, golden, ir
from bitwave.core.errors import BitwaveError

TINY_DATA = {"train_utterances": 6, "valid_utterances": 2, "test_utterances": 2, "max_seconds": 1.0,
             "train_speakers": 3, "test_speakers": 1}  # fmt: skip


def tiny_config(tmp_path, **model):
    data = {**TINY_DATA, "cache_dir": str(tmp_path / "cache")}
    user = {
        "data": data,
        "model": {"hidden": [24], **model},
        "train": {"epochs": 1, "relaxed_epochs": 0, "batch_size": 64, "lr": 0.01},
    }
    path = tmp_path / f"cfg_{len(list(tmp_path.glob('cfg_*')))}.yaml"
    path.write_text(yaml.safe_dump(user))
    return path


@pytest.fixture(scope="module")
def bitwise_run(tmp_path_factory):
    from bitwave.models.train import train

    tmp = tmp_path_factory.mktemp("bitwise")
    summary = train(config.load(tiny_config(tmp)), tmp / "run", progress=False)
    return tmp, summary


def test_bitwise_training_exports_a_bit_exact_ir(bitwise_run):
    tmp, summary = bitwise_run
    run = tmp / "run"
    net = ir.load(run / "model.bwir")
    assert net.widths == [2052, 24, 513]
    assert net.coding is not None and net.coding.features == 513 and net.coding.bits == 4
    assert summary["bit_exact"]["mismatches"] == 0 and summary["bit_exact"]["frames"] > 0
    assert json.loads((run / "train.json").read_text())["ir_sha256"] == net.sha256
    assert summary["history"][0]["valid_ibm_accuracy"] > 0.5


def test_resume_continues_from_the_checkpoint(bitwise_run):
    from bitwave.models.train import train

    tmp, _ = bitwise_run
    user = yaml.safe_load((tmp / "cfg_0.yaml").read_text())
    user["train"]["epochs"] = 2
    (tmp / "cfg_more.yaml").write_text(yaml.safe_dump(user))
    summary = train(config.load(tmp / "cfg_more.yaml"), tmp / "run", resume=True, progress=False)
    assert [h["epoch"] for h in summary["history"]] == [1, 2]


def test_existing_run_needs_resume(bitwise_run):
    from bitwave.models.train import train

    tmp, _ = bitwise_run
    with pytest.raises(BitwaveError, match="pass --resume"):
        train(config.load(tmp / "cfg_0.yaml"), tmp / "run", progress=False)


def test_eval_reports_standard_metrics_and_oracle(bitwise_run):
    from bitwave.models.evaluate import evaluate_run

    tmp, _ = bitwise_run
    result = evaluate_run(tmp / "run", progress=False)
    assert result["kind"] == "bitwise" and result["utterances"] == 2
    for key in ("si_sdri", "stoi", "pesq", "ibm_accuracy"):
        assert np.isfinite(result["model"][key])
    assert result["oracle_ibm"]["si_sdri"] > 5, "the oracle IBM must enhance"
    assert (tmp / "run" / "eval" / "example0.png").stat().st_size > 10_000
    assert (tmp / "run" / "eval" / "example0_enhanced.wav").is_file()
    by_noise = result["by_noise"]
    assert sum(entry["utterances"] for entry in by_noise.values()) == 2
    assert sum(entry["utterances"] for entry in result["by_snr"].values()) == 2
    assert (tmp / "run" / "eval" / "breakdown.png").stat().st_size > 10_000


def test_eval_breakdown_groups_and_averages():
    from types import SimpleNamespace

    from bitwave.models.evaluate import SNR_BANDS, _snr_band, breakdown

    mixtures = [SimpleNamespace(noise_type=t, snr_db=s) for t, s in
                (("pink", -3.0), ("engine", 7.0), ("pink", 12.0))]  # fmt: skip
    table = breakdown(mixtures, [4.0, 1.0, 2.0], [10.0, 8.0, 6.0], lambda m: m.noise_type)
    assert list(table) == ["engine", "pink"]
    assert table["pink"] == {"utterances": 2, "si_sdri": 3.0, "oracle_si_sdri": 8.0,
                             "fraction_of_oracle": 3.0 / 8.0}  # fmt: skip
    bands = breakdown(mixtures, [4.0, 1.0, 2.0], [10.0, 8.0, 6.0],
                      lambda m: _snr_band(m.snr_db), SNR_BANDS.index)  # fmt: skip
    assert list(bands) == ["-5 .. 0 dB", "5 .. 10 dB", ">= 10 dB"]
    assert _snr_band(-5.0) == "-5 .. 0 dB" and _snr_band(float("nan")) == "unknown"


def test_eval_uses_the_golden_model_on_the_ir(bitwise_run):
    """The bitwise mask in evaluation is exactly the IR's output (what the hardware computes)."""
    from bitwave.models import features
    from bitwave.models.evaluate import mask_function

    tmp, _ = bitwise_run
    _, mask_fn = mask_function(tmp / "run")
    magnitudes = np.abs(np.random.default_rng(0).normal(size=(7, 513))).astype(np.float32)
    net = ir.load(tmp / "run" / "model.bwir")
    assert np.array_equal(
        mask_fn(magnitudes), golden.run(net, features.bitplane_input(magnitudes, net.coding))
    )


def test_float_baseline_trains_and_evaluates(tmp_path):
    from bitwave.models.evaluate import evaluate_run
    from bitwave.models.train import train

    summary = train(
        config.load(tiny_config(tmp_path, wbits=32, abits=32)), tmp_path / "f", progress=False
    )
    assert "bit_exact" not in summary and not (tmp_path / "f" / "model.bwir").exists()
    assert evaluate_run(tmp_path / "f", progress=False)["kind"] == "float"


def test_cli_rejects_mixed_float_config(tmp_path, capsys):
    assert (
        main(
            [
                "train",
                str(tiny_config(tmp_path, wbits=32, abits=1)),
                "--out",
                str(tmp_path / "r"),
                "--quiet",
            ]
        )
        == 2
    )
    assert "a float model (wbits: 32) needs abits: 32" in capsys.readouterr().err


def test_bitwise_gru_trains_incrementally_and_exports_bit_exactly(tmp_path):
    from bitwave.models.evaluate import evaluate_run
    from bitwave.models.train import train

    path = tiny_config(tmp_path, kind="gru", hidden=[12])
    user = yaml.safe_load(path.read_text())
    user["train"].update({"steps_per_stage": 2, "sequence_frames": 20, "sequences_per_batch": 4,
                          "real_steps": 3, "binary_steps": 4, "weight_increment": 0.5})  # fmt: skip
    path.write_text(yaml.safe_dump(user))
    summary = train(config.load(path), tmp_path / "gru", progress=False)
    net = ir.load(tmp_path / "gru" / "model.bwir")
    assert [layer.op for layer in net.layers] == ["binary_gru", "binary_dense"]
    assert summary["bit_exact"]["mismatches"] == 0 and summary["bit_exact"]["frames"] > 0
    # the schedule the config asked for: real 3 steps, weights in halves, hard gates, binary 4
    assert [(stage["name"], stage["steps"]) for stage in summary["stages"]] == [
        ("real", 3), ("weights 50%", 2), ("weights 100%", 2), ("gates 25%", 2),
        ("gates 50%", 2), ("gates 75%", 2), ("binary", 4),
    ]  # fmt: skip
    assert evaluate_run(tmp_path / "gru", progress=False)["kind"] == "bitwise"


def test_relaxed_epochs_must_leave_binary_epochs(tmp_path):
    from bitwave.models.train import train

    path = tiny_config(tmp_path)
    user = yaml.safe_load(path.read_text())
    user["train"]["relaxed_epochs"] = 1  # with epochs: 1
    path.write_text(yaml.safe_dump(user))
    with pytest.raises(
        BitwaveError, match=r"relaxed_epochs \(1\) must be less than train.epochs \(1\)"
    ):
        train(config.load(path), tmp_path / "r", progress=False)


def _voicebank_folder(root, rate=48000, files=4, seconds=1.2):
    """A tiny VoiceBank+DEMAND-style paired folder: harmonic 'speech' plus white noise."""
    from bitwave.models.data import write_wav

    rng = np.random.default_rng(0)
    t = np.arange(int(rate * seconds)) / rate
    for split, count in (("trainset", files), ("testset", 2)):
        for index in range(count):
            pitch = rng.uniform(100, 220)
            envelope = 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(2, 5) * t))
            clean = 0.1 * envelope * sum(np.sin(2 * np.pi * k * pitch * t) / k for k in range(1, 6))
            noisy = clean + 0.03 * rng.standard_normal(t.size)
            name = f"p{index:03d}_{split}.wav"
            write_wav(root / f"clean_{split}_wav" / name, clean.astype(np.float32), rate)
            write_wav(root / f"noisy_{split}_wav" / name, noisy.astype(np.float32), rate)
    return root


def test_train_and_eval_on_a_real_data_folder(tmp_path, capsys):
    folder = _voicebank_folder(tmp_path / "vb")
    user = {"data": {"folder": str(folder)}, "model": {"hidden": [16]},
            "train": {"epochs": 1, "relaxed_epochs": 0, "batch_size": 32}}  # fmt: skip
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(user))
    assert main(["train", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert ir.load(tmp_path / "run" / "model.bwir").widths == [2052, 16, 513]
    out = tmp_path / "on_vb"  # --out: each test set keeps its own folder
    assert (
        main(["eval", str(tmp_path / "run"), "--data", str(folder), "--out", str(out), "--quiet"])
        == 0
    )
    assert not (tmp_path / "run" / "eval").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["utterances"] == 2 and np.isfinite(metrics["model"]["si_sdri"])
    assert "seen_test_talkers" not in metrics  # a folder: nothing to compare
    assert "| folder, dry | 2 |" in (out / "breakdown.md").read_text()


def test_loss_weighting_follows_the_noisy_energy():
    from bitwave.models.kinds import _loss_weight

    mags = np.array([[1.0, 2.0, 3.0, 2.0]], dtype=np.float32)
    ibm = np.array([[0, 1, 1, 0]], dtype=np.uint8)
    assert _loss_weight(mags, ibm, "none") is None
    magnitude, power = _loss_weight(mags, ibm, "magnitude"), _loss_weight(mags, ibm, "power")
    assert np.allclose(magnitude.numpy(), mags / 2.0)
    assert np.allclose(power.numpy(), mags**2 / np.mean(mags**2))
    # the loudest bin counts most, and mean 1 keeps the loss scale
    assert power.argmax() == 2 and float(power.mean()) == pytest.approx(1.0)


def test_frame_power_weights_every_frame_alike():
    from bitwave.models.kinds import _loss_weight

    mags = np.array([[1.0, 2.0, 3.0, 2.0], [10.0, 20.0, 30.0, 20.0]], dtype=np.float32)
    weight = _loss_weight(mags, np.zeros_like(mags, np.uint8), "frame_power").numpy()
    assert np.allclose(weight[0], weight[1])  # a 20 dB louder frame: the same weights
    assert weight[0].argmax() == 2 and weight.mean() == pytest.approx(1.0)


def test_speech_weight_raises_the_speech_bins():
    from bitwave.models.kinds import _loss_weight

    mags = np.ones((2, 4), np.float32)
    ibm = np.array([[0, 1, 1, 0], [1, 0, 0, 0]], dtype=np.uint8)
    weight = _loss_weight(mags, ibm, "none", speech_weight=3.0).numpy()
    assert np.allclose(weight[ibm == 1] / weight[ibm == 0][0], 3.0)
    assert weight.mean() == pytest.approx(1.0)
    power = _loss_weight(mags * [[1, 2, 1, 2]], ibm, "power", speech_weight=2.0).numpy()
    assert power[0, 1] / power[0, 3] == pytest.approx(2.0)  # same power, speech bin twice


@pytest.mark.parametrize("key, value", [("weight_increment", 0.3), ("binary_steps", 0),
                                        ("real_steps", -1)])  # fmt: skip
def test_bad_gru_schedule_is_refused(tmp_path, key, value):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"train": {key: value}}))
    with pytest.raises(BitwaveError, match=key):
        config.load(path)


def test_unknown_loss_weighting_is_refused(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"train": {"loss_weighting": "snr"}}))
    with pytest.raises(BitwaveError, match="loss_weighting"):
        config.load(path)
