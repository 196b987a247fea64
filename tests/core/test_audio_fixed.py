"""The fixed-point audio path (bitwave.core.audio): the round trip and the float STFT within
stated bounds, the mutation twins the hardware verification reuses (a twiddle or a coding
threshold off by one LSB changes outputs), golden.run_audio composed by hand, the IR's optional
``audio`` section (round trip, errors naming the path, older files unchanged)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from conftest import rewrite_ir

from bitwave.core import audio, config, golden, ir
from bitwave.core.audio import AudioSpec, AudioSpecError
from bitwave.core.errors import BitwaveError, ConfigError, IRError
from bitwave.core.random_ir import random_network
from bitwave.models import features

SPEC = AudioSpec()


def _speechlike(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """int16 test audio: harmonics with a syllable envelope plus noise, peaks near -6 dBFS."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    voiced = sum(np.sin(2 * np.pi * 140 * k * t + rng.uniform(0, 6)) / k for k in range(1, 20))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    signal = voiced * envelope * 6000 + rng.normal(0, 300, t.size)
    return np.clip(np.round(signal), -32768, 32767).astype(np.int16)


def _audio_network(seed: int = 0, widths: tuple = (2052, 16, 513)) -> ir.Network:
    """A random 513-bin mask network with a plausible coding (levels spread in dB)."""
    net = random_network(list(widths), seed=seed)
    bounds = np.geomspace(1e-3, 30.0, 15)[None, :] * np.linspace(1.0, 0.2, 513)[:, None]
    net.coding = ir.BitplaneCodingSpec(513, 4, bounds)
    return net


@pytest.fixture(scope="module")
def pcm() -> np.ndarray:
    return _speechlike()


def test_round_trip_with_all_ones_mask_is_within_one_lsb(pcm):
    """Stated bound: |out - in| <= 1 LSB (measured: 0 at the default widths)."""
    re, im = audio.spectrum(pcm, SPEC)
    ones = np.ones(re.shape, np.uint8)
    out = audio.back_end(re, im, ones, pcm.size, 0.0, SPEC)
    assert out.dtype == np.int16 and np.abs(out.astype(np.int64) - pcm).max() <= 1
    # mutation twins: the twiddle 1.0 (k = 0, in every stage) one LSB low changes the
    # spectrum (the round trip's rounding hides it: the hardware check must see the
    # spectrum or the codes too); narrow widths break the bound
    twin = audio.mutate_twiddle(audio.tables(SPEC), 0, delta=-1)
    assert (audio.spectrum(pcm, SPEC, twin)[0] != re).sum() > 1000
    narrow = AudioSpec(window_bits=10, twiddle_bits=10, fft_bits=18, norm_bits=8)
    re3, im3 = audio.spectrum(pcm, narrow)
    out3 = audio.back_end(re3, im3, ones, pcm.size, 0.0, narrow)
    assert np.abs(out3.astype(np.int64) - pcm).max() > 1


def test_spectrum_matches_the_float_stft(pcm):
    """|X_fixed / K - features.stft(pcm / 32768)| <= 2e-4 of the largest bin, rms 1e-5."""
    re, im = audio.spectrum(pcm, SPEC)
    fixed = (re + 1j * im) / float(SPEC.magnitude_scale)
    reference = features.stft(pcm / 32768.0).astype(np.complex128)
    error = np.abs(fixed - reference)
    peak = np.abs(reference).max()
    assert error.max() <= 2e-4 * peak
    assert np.sqrt(np.mean(error**2)) <= 1e-5 * peak
    narrow = AudioSpec(window_bits=8, twiddle_bits=8, fft_bits=16, gain_bits=4, norm_bits=8)
    re8, im8 = audio.spectrum(pcm, narrow)  # a narrow path is measurably worse: the bound bites
    coarse = np.abs((re8 + 1j * im8) / float(narrow.magnitude_scale) - reference)
    assert coarse.max() > 2e-4 * peak


def test_integer_coding_equals_the_float_coding_of_the_fixed_magnitude(pcm):
    net = _audio_network()
    thresholds = audio.coding_thresholds(net.coding.boundaries, SPEC)
    front = audio.front_end(pcm, SPEC, thresholds, 4)
    magnitude = np.sqrt(front.power.astype(np.float64)) / float(SPEC.magnitude_scale)
    assert np.array_equal(front.codes, features.bitplane_input(magnitude, net.coding))
    float_codes = features.bitplane_input(
        features.magnitude(features.stft(pcm / 32768.0)), net.coding
    )
    assert np.mean(front.codes != float_codes) < 1e-3  # the float path's bit-planes, nearly


def test_a_threshold_off_by_one_changes_the_bit_planes(pcm):
    net = _audio_network()
    front = audio.front_end(pcm, SPEC, audio.coding_thresholds(net.coding.boundaries, SPEC), 4)
    # put one threshold exactly on a power some frame reaches (order kept: it lies between
    # the thresholds that frame's level sits between), so the comparison is at equality
    thresholds = np.array(np.broadcast_to(audio.coding_thresholds(net.coding.boundaries, SPEC),
                                          (513, 15)))  # fmt: skip
    frame, bin_index = np.unravel_index(np.argmax(front.power), front.power.shape)
    power = front.power[frame, bin_index]
    level = int((power >= thresholds[bin_index]).sum()) - 1
    thresholds[bin_index, level] = power
    base = audio.front_end(pcm, SPEC, thresholds, 4).codes
    assert np.array_equal(base[frame], front.codes[frame])  # P >= thr holds at equality
    lower = audio.mutate_threshold(thresholds, bin_index, level, -1)
    assert np.array_equal(audio.front_end(pcm, SPEC, lower, 4).codes[frame], base[frame])
    twin = audio.mutate_threshold(thresholds, bin_index, level, +1)  # the verification's twin
    changed = audio.front_end(pcm, SPEC, twin, 4).codes != base
    assert changed[frame].sum() >= 1 and changed[frame, bin_index * 4 : bin_index * 4 + 4].any()


def test_a_twiddle_off_by_one_lsb_changes_the_output(pcm):
    """Twiddle 100 (used in stages 3..10) one LSB high: the spectrum, and the audio out even
    when only the back end uses it, differ (the hardware verification's twin)."""
    net = _audio_network()
    out = golden.run_audio(net, pcm)
    twin = audio.mutate_twiddle(audio.tables(SPEC), 100, +1, part="cos")
    spec, front = golden.audio_front(net, pcm)
    thresholds = audio.coding_thresholds(net.coding.boundaries, spec)
    assert not np.array_equal(audio.front_end(pcm, spec, thresholds, 4, twin).re, front.re)
    mask = golden.run(net, front.codes)
    assert np.array_equal(audio.back_end(front.re, front.im, mask, pcm.size, 0.0, spec), out)
    out_twin = audio.back_end(front.re, front.im, mask, pcm.size, 0.0, spec, twin)
    assert not np.array_equal(out_twin, out)
    with pytest.raises(BitwaveError, match="twiddle part"):
        audio.mutate_twiddle(audio.tables(SPEC), 1, part="tan")


def test_run_audio_is_deterministic_and_composes_front_golden_back(pcm):
    net = _audio_network(seed=3)
    net.mask_floor_db = -20.0
    out = golden.run_audio(net, pcm)
    assert np.array_equal(out, golden.run_audio(net, pcm.copy())) and out.size == pcm.size
    thresholds = audio.coding_thresholds(net.coding.boundaries, SPEC)
    front = audio.front_end(pcm, SPEC, thresholds, 4)
    mask = golden.run(net, front.codes)
    assert 0.05 < mask.mean() < 0.95  # both gains are exercised
    by_hand = audio.back_end(front.re, front.im, mask, pcm.size, ir.floor_gain(-20.0), SPEC)
    assert np.array_equal(out, by_hand)
    no_floor = audio.back_end(front.re, front.im, mask, pcm.size, 0.0, SPEC)
    assert not np.array_equal(out, no_floor)  # the floor reaches the output
    net.audio = AudioSpec(gain_bits=4)  # the IR's section is what run_audio uses
    assert not np.array_equal(golden.run_audio(net, pcm), out)


def test_run_audio_on_a_gru_runs_one_sequence(pcm):
    net = _audio_network(widths=(2052, "gru:8", 513), seed=4)
    out = golden.run_audio(net, pcm[:4000])
    spec, front = golden.audio_front(net, pcm[:4000])
    mask = golden.run(net, front.codes)
    assert np.array_equal(out, audio.back_end(front.re, front.im, mask, 4000, 0.0, spec))


def test_floor_gain_and_saturation():
    spec = AudioSpec(gain_bits=8)
    assert audio.gain_code(ir.floor_gain(-30.0), spec) == 8  # 0.0316 * 256 = 8.09
    assert audio.gain_code(0.0, spec) == 0
    loud = np.full(3000, 32767, np.int16)
    loud[::2] = -32768  # full-scale Nyquist: the worst case for the windowed FFT
    re, im = audio.spectrum(loud, SPEC)
    assert np.abs(re).max() < 1 << (SPEC.fft_bits - 1)  # never saturates forward
    out = audio.back_end(re, im, np.ones(re.shape, np.uint8), loud.size, 0.0, SPEC)
    assert np.abs(out[600:-600].astype(np.int64) - loud[600:-600]).max() <= 2
    assert audio.round_shift(np.array([-3, -2, -1, 1, 2, 3]), 1).tolist() == [-1, -1, 0, 1, 1, 2]


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"window_bits": 3}, "window_bits"),
        ({"twiddle_bits": True}, "twiddle_bits"),
        ({"fft_bits": 20, "fft_shifts": (0,) * 10}, "fft_bits"),  # no room for the growth
        ({"fft_shifts": (1,) * 9}, "fft_shifts"),
        ({"ifft_shifts": (3,) * 10}, "ifft_shifts"),
        ({"gain_bits": 1.5}, "gain_bits"),
    ],
)
def test_spec_validation_names_the_field(changes, field):
    with pytest.raises(AudioSpecError, match=rf"^audio\.{field}: "):
        AudioSpec(**changes)


def test_spec_json_round_trip_and_non_objects():
    spec = AudioSpec(fft_bits=26, ifft_shifts=(0,) * 9 + (1,))
    assert AudioSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    with pytest.raises(AudioSpecError, match=r"^audio: expected an object"):
        AudioSpec.from_json([16])


def _saved_audio_network(tmp_path) -> tuple:
    net = _audio_network(seed=1)
    net.audio = AudioSpec(window_bits=14, fft_shifts=(0, 1, 1, 1, 1, 1, 1, 1, 1, 2))
    path = tmp_path / "a.bwir"
    return net, path, ir.save(net, path)


def test_audio_section_round_trips_and_is_content(tmp_path, capsys):
    net, path, digest = _saved_audio_network(tmp_path)
    loaded = ir.load(path)
    assert loaded.audio == net.audio and loaded.sha256 == digest and loaded.version == 1
    assert json.loads(zipfile.ZipFile(path).read("manifest.json"))["audio"]["window_bits"] == 14
    assert "audio path: window 14 b" in loaded.summary()
    from bitwave.app.cli import main

    assert main(["inspect", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["audio"] == net.audio.to_json()
    net.audio = AudioSpec()
    assert net.sha256 != digest  # the widths are content: another spec, another hash


@pytest.mark.parametrize(
    "patch, where",
    [
        ({"fft_bits": 40}, r"audio\.fft_bits: expected an integer in \[12, 31\]"),
        ({"fft_shifts": [1, 1]}, r"audio\.fft_shifts: expected 10 per-stage shifts"),
        ({"dither": 1}, r"audio\.dither: unknown field"),
        ({"gain_bits": "8"}, r"audio\.gain_bits: expected an integer"),
    ],
)
def test_audio_field_errors_name_the_path(tmp_path, patch, where):
    _, path, _ = _saved_audio_network(tmp_path)
    bad = rewrite_ir(path, tmp_path / "b.bwir", lambda m: m["audio"].update(patch))
    with pytest.raises(IRError, match=rf"b\.bwir: {where}"):
        ir.load(bad)
    not_object = rewrite_ir(path, tmp_path / "c.bwir", lambda m: m.update(audio=[16]))
    with pytest.raises(IRError, match=r"c\.bwir: audio: expected dict"):
        ir.load(not_object)


def test_audio_needs_513_coded_bins_and_a_mask_output():
    net = random_network([40, 8, 6], seed=2)
    net.audio = AudioSpec()
    with pytest.raises(IRError, match="audio: an audio path needs a bit-plane input coding"):
        ir.validate(net)
    net = _audio_network(widths=(2052, 8, 513))
    net.layers[-1], net.audio = random_network([8, 513], wbits=2, abits=2).layers[0], AudioSpec()
    with pytest.raises(IRError, match=r"audio: an audio path needs one mask bit per bin"):
        ir.validate(net)
    with pytest.raises(BitwaveError, match="1-D int16"):
        golden.run_audio(_audio_network(), np.zeros(100, np.float32))
    pcm = np.zeros(600, np.int16)
    with pytest.raises(BitwaveError, match="cannot take audio"):
        golden.run_audio(random_network([2052, 8, 513], seed=1), pcm)
    with pytest.raises(BitwaveError, match="cannot make audio"):
        golden.run_audio(net, pcm)  # the uint2 output above, checked before running


# Content hashes as the code before the audio section wrote them (computed with that code):
# files without the section keep their version and hash, mask_floor_db files included.
PINNED = {
    "mlp": (([40, 16, 8], {"seed": 3}), None, 1,
            "468b031a6e259255c0e55a695fd3827856b6f10abe068eafdc0175681808de87"),
    "gru floor": (([24, "gru:8", 6], {"seed": 5}), -20.0, 2,
                  "babbbbb8fc6df6f8d47e5e6266c5d9cfb4cfe07df742a0c212dd1390492fd2a2"),
    "exits": (([30, 12, "exit", 10, 6], {"seed": 6}), None, 3,
              "ad0c7c849c3b55c56c52e23b7d141d84c6b45a833b6681c0fae519d88f4ce631"),
    "exits floor": (([30, 12, "exit", 10, 6], {"seed": 6}), -12.0, 3,
                    "f5e8be1352e39113a016393df621082d175c69fd85b18bcb864bc2e532c96d6b"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(PINNED))
def test_files_without_audio_keep_version_and_hash(tmp_path, name):
    (widths, kwargs), floor, version, digest = PINNED[name]
    net = random_network(widths, **kwargs)
    net.mask_floor_db = floor
    path = tmp_path / "n.bwir"
    assert ir.save(net, path) == digest and net.version == version
    assert "audio" not in json.loads(zipfile.ZipFile(path).read("manifest.json"))
    assert ir.load(path).audio is None


def test_config_key_hw_audio():
    base = config.defaults()
    assert "audio" not in base["hw"]  # absent by default: existing runs keep their config
    ok = config.validate(config.merge(base, {"hw": {"audio": {"fft_bits": 28}}}))
    assert AudioSpec.from_json(ok["hw"]["audio"]) == AudioSpec(fft_bits=28)
    with pytest.raises(ConfigError, match="hw.audio"):
        config.validate(config.merge(base, {"hw": {"audio": {"fft_bits": 40}}}))
    with pytest.raises(ConfigError, match="hw.audio"):
        config.validate(config.merge(base, {"hw": {"audio": {"fft_shifts": [1, 1]}}}))


def test_train_exports_the_config_audio_section(tmp_path):
    from bitwave.models.train import train

    data = {"train_utterances": 2, "valid_utterances": 1, "test_utterances": 1,
            "max_seconds": 1.0, "train_speakers": 2, "test_speakers": 1,
            "cache_dir": str(tmp_path / "cache")}  # fmt: skip
    user = {"data": data, "model": {"hidden": [8]}, "hw": {"audio": {"fft_bits": 28}},
            "train": {"epochs": 1, "relaxed_epochs": 0, "batch_size": 64}}  # fmt: skip
    train(config.validate(config.merge(config.defaults(), user)), tmp_path / "run", False)
    net = ir.load(tmp_path / "run" / "model.bwir")
    assert net.audio == AudioSpec(fft_bits=28) and net.mask_floor_db == -30.0
    pcm = _speechlike(0.3)
    assert np.array_equal(golden.run_audio(net, pcm), golden.run_audio(net, pcm, net.audio))
    assert not np.array_equal(golden.run_audio(net, pcm), golden.run_audio(net, pcm, SPEC))


def test_config_refuses_audio_widths_that_cannot_work_before_training():
    from bitwave.core import config
    from bitwave.core.errors import BitwaveError

    cfg = config.defaults()
    cfg["hw"]["audio"] = {"fft_bits": 12, "fft_shifts": [0] * 10}  # the FFT would overflow
    with pytest.raises(BitwaveError, match=r"hw\.audio\.fft_bits"):
        config.validate(cfg)
    cfg["hw"]["audio"] = {}
    assert config.validate(cfg) is cfg
