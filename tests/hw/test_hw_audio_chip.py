"""The full chip (bitwave.hw.audio_chip): the spectrum buffer in Amaranth's simulator with
stalls, ``bitwave generate --audio`` (manifest, lint, refusal), and, opt-in (BITWAVE_CHIP_SIM=1:
~115 s for two utterances in the Python simulator), the whole chip against
golden.run_audio sample for sample with its cycles per frame."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
from amaranth.hdl import Value
from amaranth.sim import Simulator

from bitwave.app.cli import main
from bitwave.core import audio, contract, golden, ir
from bitwave.core.random_ir import random_network
from bitwave.hw.audio_chip import AudioChip, SpectrumBuffer
from bitwave.hw.fft import pack_complex
from bitwave.hw.folding import parse_fold_spec
from bitwave.hw.lint import lint_verilog
from bitwave.hw.testbench import _simulate

SPEC = audio.AudioSpec()
BINS = audio.N_BINS
FOLD = "fc0:pe=2,simd=36;fc1:pe=27,simd=4"  # a small network stage, far faster than the FFTs


def audio_net(widths: tuple = (2052, 16, 513), seed: int = 0) -> ir.Network:
    """A random 513-bin mask network with a plausible 4-bit coding and a -20 dB floor."""
    net = random_network(list(widths), seed=seed, name="chip")
    bounds = np.geomspace(1e-3, 30.0, 15)[None, :] * np.linspace(1.0, 0.2, BINS)[:, None]
    net.coding = ir.BitplaneCodingSpec(BINS, 4, bounds)
    net.mask_floor_db = -20.0
    return net


def speechlike(samples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 16000
    voiced = sum(np.sin(2 * np.pi * 140 * k * t + rng.uniform(0, 6)) / k for k in range(1, 20))
    signal = voiced * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2) * 6000
    return np.clip(np.round(signal + rng.normal(0, 300, samples)), -32768, 32767).astype(np.int16)


def run_buffer(frames: list[tuple], stall: float, d: int = 12) -> list[int]:
    """Spectra (re, im) and masks through a SpectrumBuffer with random stalls on all three
    streams -> the ``o`` payloads (re, im, keep) in order."""
    dut = SpectrumBuffer(d)
    rng = np.random.default_rng(2)
    words = [w for re, im, _ in frames for w in pack_complex(re, im, d)]
    masks = [int("".join(str(int(b)) for b in mask[::-1]), 2) for _, _, mask in frames]
    out: list[int] = []

    def source(port: object, items: list[int]):  # noqa: ANN202
        async def bench(ctx) -> None:  # noqa: ANN001
            for item in items:
                while rng.random() < stall:
                    await ctx.tick()
                ctx.set(Value.cast(port.payload), item)
                ctx.set(port.valid, 1)
                while not (await ctx.tick().sample(port.ready))[-1]:
                    pass
                ctx.set(port.valid, 0)

        return bench

    async def sink(ctx) -> None:  # noqa: ANN001
        while len(out) < len(words):
            ready = int(rng.random() >= stall)
            ctx.set(dut.o.ready, ready)
            *_, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload.as_value())
            if valid and ready:
                out.append(int(payload))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(source(dut.i, words), background=True)
    sim.add_testbench(source(dut.mask, masks), background=True)
    sim.add_testbench(sink)
    sim.run()
    return out


def test_spectrum_buffer_pairs_each_frame_with_its_mask() -> None:
    """Three frames with random stalls: every bin leaves once, in order, with its own frame's
    mask bit; a swapped mask order (the twin) must show."""
    rng = np.random.default_rng(0)
    frames = [(rng.integers(-2000, 2000, BINS), rng.integers(-2000, 2000, BINS),
               rng.integers(0, 2, BINS)) for _ in range(3)]  # fmt: skip
    d, top = 12, (1 << 12) - 1
    expected = [(int(re[k]) & top) | ((int(im[k]) & top) << d) | (int(mask[k]) << (2 * d))
                for re, im, mask in frames for k in range(BINS)]  # fmt: skip
    assert run_buffer(frames, 0.3) == expected
    swapped = [(re, im, frames[1 - f][2]) if f < 2 else (re, im, mask)
               for f, (re, im, mask) in enumerate(frames)]  # fmt: skip
    assert run_buffer(swapped, 0.0) != expected


def test_generate_audio_refuses_a_network_without_audio(tmp_path, capsys) -> None:  # noqa: ANN001
    model = tmp_path / "plain.bwir"
    ir.save(random_network([37, 11, 7], seed=3), model)
    assert main(["generate", str(model), "--out", str(tmp_path / "d"), "--audio"]) == 2
    assert "cannot take audio" in capsys.readouterr().err
    coded = audio_net((2052, 8, 7))
    ir.save(coded, model)
    assert main(["generate", str(model), "--out", str(tmp_path / "d"), "--audio"]) == 2
    assert "cannot make audio" in capsys.readouterr().err


def test_generate_audio_manifest_and_lint(tmp_path) -> None:  # noqa: ANN001
    model = tmp_path / "chip.bwir"
    ir.save(audio_net(), model)
    out = tmp_path / "design"
    assert main(["generate", str(model), "--out", str(out), "--audio", "--fold", FOLD,
                 "--lint"]) == 0  # fmt: skip
    design = contract.load(out)
    chip = design.audio
    assert chip["parts"] == {p: f"bitwave_chip__{p}" for p in ("front", "network", "back",
                                                                "buffer")}  # fmt: skip
    assert chip["pcm_in"]["fields"]["last"] == {"offset": 16, "width": 1, "signed": False}
    assert chip["pcm_in"]["width"] == chip["pcm_out"]["width"] == 17
    assert chip["min_utterance_samples"] == 768 and chip["bits"] == 4
    assert chip["floor_gain_code"] == audio.gain_code(10 ** (-20 / 20), SPEC)
    assert design.cycles_per_frame == chip["cycles_per_frame"] == 8470  # the back end's
    section = design.audio_section  # the typed section sim reads
    assert section.pcm_in.last == (16, 1) and section.pcm_out.sample == (0, 16)
    assert section.pcm_in.exit is None and section.exits == 1 and not section.recurrent
    assert section.cycles_per_frame == 8470 and section.spec == SPEC
    assert "twin" not in chip
    assert design.input_stream.data == "pcm_in__payload" and design.sequence_start is None
    verilog = design.verilog.read_text()
    for part in chip["parts"].values():
        assert f"module {part}" in verilog
    assert [layer.module for layer in design.layers] == [
        "bitwave_chip__network__fc0", "bitwave_chip__network__fc1"]  # fmt: skip
    # the manifest's audio ports are checked: a renamed one is refused
    data = json.loads((out / "manifest.json").read_text())
    data["audio"]["pcm_out"]["valid"] = "pcm_out__strobe"
    with pytest.raises(Exception, match="pcm_out__strobe"):
        contract.Manifest.from_json(data)
    data["audio"]["pcm_out"]["valid"] = "pcm_out__valid"
    data["audio"]["exits"] = 3  # a multi-exit chip's pcm_in must carry the exit field
    with pytest.raises(Exception, match="no exit field but the chip has 3 exit"):
        contract.Manifest.from_json(data)
    lint = lint_verilog(design.verilog, design.top, out / "rtl" / "bitwave_chip.vlt")
    assert lint.ok, lint.output


def chip_items(utterances: list[np.ndarray]) -> list[int]:
    """pcm_in payloads: the sample (16 bits) and ``last`` above it."""
    items = []
    for u in utterances:
        for j, v in enumerate(u):
            items.append((int(v) & 0xFFFF) | (int(j == u.size - 1) << 16))
    return items


@pytest.mark.skipif(not os.environ.get("BITWAVE_CHIP_SIM"), reason="~115 s; BITWAVE_CHIP_SIM=1")
def test_chip_matches_run_audio_per_utterance() -> None:
    net = audio_net()
    thresholds = audio.coding_thresholds(net.coding.boundaries, SPEC)
    chip = AudioChip(net, parse_fold_spec(FOLD, net), SPEC, thresholds, net.mask_floor_gain)
    utterances = [speechlike(800, 0), speechlike(1030, 1)]
    expected = np.concatenate([golden.run_audio(net, u) for u in utterances])
    out: list[int] = []
    port = {
        name: SimpleNamespace(valid=s.valid, ready=s.ready, payload=s.payload.as_value())
        for name, s in (("in", chip.pcm_in), ("out", chip.pcm_out))
    }
    log = _simulate(chip, chip_items(utterances), out.append, expected.size,
                    np.random.default_rng(0), 0.2, 0.2, port["in"], port["out"])  # fmt: skip
    got = np.array([((v & 0xFFFF) ^ 0x8000) - 0x8000 for v in out])
    np.testing.assert_array_equal(got, expected)
    assert np.flatnonzero([v >> 16 for v in out]).tolist() == [799, 1829]
    assert np.abs(expected).max() > 3000
    del log


def test_cycles_per_frame_is_the_back_end_or_the_one_frame_loop() -> None:
    """The claim against the periods measured on Icarus (docs/hw.md, "The full chip"): the
    back end's 8470 with a fast network, else the loop, 1029 + the network's latency."""
    net = audio_net()
    thresholds = audio.coding_thresholds(net.coding.boundaries, SPEC)
    measured = {FOLD: 8470, "fc0:pe=2,simd=2;fc1:pe=3,simd=2": 10610,
                "fc0:pe=1,simd=1;fc1:pe=1,simd=1": 42074}  # fmt: skip
    for fold, cycles in measured.items():
        chip = AudioChip(net, parse_fold_spec(fold, net), SPEC, thresholds, net.mask_floor_gain)
        assert chip.cycles_per_frame == cycles, fold
        assert chip.loop_cycles == 2 * (BINS + 1) + chip.network.latency_cycles + 1
        chip.discard()


def test_generate_refuses_twin_tables_without_audio(tmp_path) -> None:  # noqa: ANN001
    from bitwave.core.errors import BitwaveError
    from bitwave.hw.generate import generate

    model = tmp_path / "chip.bwir"
    ir.save(audio_net(), model)
    with pytest.raises(BitwaveError, match="for the full chip"):
        generate(model, tmp_path / "d", audio_table=audio.tables(SPEC))
