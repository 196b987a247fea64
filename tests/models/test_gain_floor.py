"""The mask gain floor (issue 16): the formula, "none" is today's output bit for bit, the IR's
optional mask_floor_db field (hash kept without it, validated with its path), the config key
written into the exported IR, and eval applying the floor to every mask."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from conftest import rewrite_ir

from bitwave.app.cli import main
from bitwave.core import config, ir
from bitwave.core.errors import BitwaveError, IRError
from bitwave.core.random_ir import random_network
from bitwave.models import evaluate, features


@pytest.fixture(scope="module")
def spectrum():
    rng = np.random.default_rng(0)
    audio = rng.standard_normal(4_000).astype(np.float32) * 0.1
    spec = features.stft(audio)
    return audio.size, spec, (rng.random(spec.shape) < 0.5).astype(np.float32)


def test_floor_db_to_gain():
    assert ir.floor_gain(None) == 0.0
    assert ir.floor_gain(-20.0) == pytest.approx(0.1, rel=1e-15)
    assert ir.floor_gain(-6.0) == pytest.approx(0.501187, rel=1e-6)


def test_a_mask_bit_selects_gain_one_or_the_floor(spectrum):
    length, spec, mask = spectrum
    gain = ir.floor_gain(-12.0)
    gains = features.mask_gain(mask, gain)
    assert np.array_equal(gains, np.where(mask == 1, np.float32(1), np.float32(gain)))
    soft = np.linspace(0, 1, mask.size, dtype=np.float32).reshape(mask.shape)
    assert np.array_equal(features.mask_gain(soft, gain), np.maximum(soft, np.float32(gain)))
    expected = features.istft(spec * np.where(mask == 1, 1, gain).astype(np.float32), length)
    floored = features.apply_mask(spec, mask, length, gain)
    assert np.array_equal(floored, expected)
    # mutation twin: the floor changes the audio (a bin with bit 0 is no longer zeroed)
    assert not np.allclose(floored, features.apply_mask(spec, mask, length))


def test_no_floor_is_todays_output_bit_for_bit(spectrum):
    length, spec, mask = spectrum
    today = features.istft(spec * mask.astype(np.float32), length)  # the formula before floors
    assert np.array_equal(features.apply_mask(spec, mask, length), today)
    assert np.array_equal(features.apply_mask(spec, mask, length, ir.floor_gain(None)), today)
    with pytest.raises(BitwaveError, match="allowed: 0 <= gain < 1"):
        features.mask_gain(mask, 1.0)


# sha256 of these random-ir networks as the code before mask_floor_db wrote them (computed
# with that code): networks without the field keep their content hash, so every existing file
# still loads, and keep their version.
PINNED = {
    "mlp": (([40, 16, 8], {"seed": 3}), 1, "468b031a6e259255c0e55a695fd3827856b6f10abe068eafdc0175681808de87"),
    "kbit": (([40, 16, 8], {"wbits": [4, 2], "abits": [2, 1], "seed": 4}), 1,
             "90ffad217578f55caa94bced93928304caaf704343aea9ccd544d7fabc6b99d7"),
    "gru": (([24, "gru:8", 6], {"seed": 5}), 2, "5a286efcb26ef3a60f27539fda274c7aa2a380987e28ef80072d7e3cc4079e30"),
    "exits": (([30, 12, "exit", 10, 6], {"seed": 6}), 3,
              "ad0c7c849c3b55c56c52e23b7d141d84c6b45a833b6681c0fae519d88f4ce631"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(PINNED))
def test_networks_without_a_floor_keep_version_and_hash(tmp_path, name):
    (widths, kwargs), version, digest = PINNED[name]
    net = random_network(widths, **kwargs)
    path = tmp_path / "n.bwir"
    assert ir.save(net, path) == digest and net.version == version
    manifest = json.loads(zipfile.ZipFile(path).read("manifest.json"))
    assert "mask_floor_db" not in manifest and manifest["version"] == version
    assert ir.load(path).mask_floor_db is None
    # mutation twin: the floor is content, so it changes the hash (not the version)
    net.mask_floor_db = -12.0
    assert net.sha256 != digest and net.version == version


def test_a_floor_round_trips_through_the_file(tmp_path, capsys):
    net = random_network([30, 12, "exit", 10, 6], seed=1)
    net.mask_floor_db = -15
    path = tmp_path / "f.bwir"
    digest = ir.save(net, path)
    loaded = ir.load(path)
    assert loaded.mask_floor_db == -15.0 and loaded.sha256 == digest
    assert loaded.mask_floor_gain == ir.floor_gain(-15.0)
    assert loaded.exit_network(0).mask_floor_db == -15.0
    assert "mask floor -15 dB" in loaded.summary()
    assert json.loads(zipfile.ZipFile(path).read("manifest.json"))["mask_floor_db"] == -15.0
    assert main(["inspect", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mask_floor_db"] == -15.0


@pytest.mark.parametrize(
    "value, message",
    [
        (0, r"in \[-100, 0\), got 0.0"),
        (3.5, r"in \[-100, 0\), got 3.5"),
        (-101, r"in \[-100, 0\), got -101.0"),
        ("-12", "expected int or float, got str"),
        (True, "expected int or float, got bool"),
        (None, "expected int or float, got NoneType"),
    ],
)
def test_floor_field_errors_name_the_path(tmp_path, value, message):
    valid = tmp_path / "v.bwir"
    ir.save(random_network([20, 8, 6], seed=2), valid)
    bad = rewrite_ir(valid, tmp_path / "b.bwir", lambda m: m.update(mask_floor_db=value))
    with pytest.raises(IRError, match=rf"b\.bwir: mask_floor_db: .*{message}"):
        ir.load(bad)


def test_a_floor_needs_a_mask_bit_output():
    net = random_network([20, 8, 6], wbits=[1, 2], abits=[1, 2], seed=2)  # uint2 output
    net.mask_floor_db = -10.0
    with pytest.raises(IRError, match="mask_floor_db: a mask floor needs a mask-bit"):
        ir.validate(net)


def test_parse_mask_floor():
    assert ir.parse_mask_floor("none") is None and ir.parse_mask_floor("-12") == -12.0
    for text in ("x", "nan", "0", "-inf"):
        with pytest.raises(IRError, match="allowed: 'none' or a number of dB"):
            ir.parse_mask_floor(text)


def test_config_key_is_validated():
    def checked(value: object) -> dict:
        return config.validate(config.merge(config.defaults(), {"model": {"mask_floor_db": value}}))

    assert checked(-20)["model"]["mask_floor_db"] == -20 and checked(None)
    for bad in (0, 5, -120, "x"):
        with pytest.raises(BitwaveError, match="model.mask_floor_db"):
            checked(bad)


class Mixture:
    """A minimal test mixture (evaluate reads these attributes)."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        t = np.arange(8_000) / 16_000
        self.clean = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(7 * t))).astype(np.float32)
        self.noise = (0.1 * rng.standard_normal(t.size)).astype(np.float32)
        self.noisy = self.clean + self.noise
        self.noise_type, self.snr_db = "white", 5.0


def test_eval_applies_the_floor_to_model_and_oracle(monkeypatch):
    """evaluate() applies its floor to the model's mask; the oracle IBM stays unfloored."""
    seen = []
    original = features.apply_mask

    def spy(spec, mask, length, floor=0.0):
        seen.append(floor)
        return original(spec, mask, length, floor)

    monkeypatch.setattr(features, "apply_mask", spy)
    monkeypatch.setattr(evaluate, "_pesq", lambda clean, estimate: 1.0)  # PESQ is not the point
    mixtures = [Mixture(0)]
    ones = lambda mag: np.zeros_like(mag)  # noqa: E731 (a mask of zeros: all floor)
    floored = evaluate.evaluate(ones, mixtures, progress=False, floor=0.1)
    assert seen == [0.1, 0.0]  # the model's mask, then the oracle's
    plain = evaluate.evaluate(ones, mixtures, progress=False)
    # a zero mask with a -20 dB floor is the noisy input at -20 dB: SI-SDR is scale-invariant
    assert floored["model"]["si_sdri"] == pytest.approx(0.0, abs=1e-3)
    assert plain["model"]["si_sdri"] != pytest.approx(floored["model"]["si_sdri"], abs=1e-3)


def test_a_float_run_takes_its_floor_from_its_config(tmp_path):
    (tmp_path / "config.yaml").write_text("model: {wbits: 32, mask_floor_db: -20}\n")
    assert evaluate.run_mask_floor_db(tmp_path) == -20.0
    (tmp_path / "config.yaml").write_text("model: {wbits: 32}\n")  # a run from before floors
    assert evaluate.run_mask_floor_db(tmp_path) is None
    (tmp_path / "config.yaml").write_text("model: {mask_floor_db: 6}\n")
    with pytest.raises(BitwaveError, match=r"config.yaml: model.mask_floor_db: .* got 6"):
        evaluate.run_mask_floor_db(tmp_path)
