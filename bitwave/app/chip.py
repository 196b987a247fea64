"""The flow's full-chip part (``flow.chip``): the trained network as a whole SE chip, samples in
and enhanced samples out, and what the designer asks of it.

    the bitwise model -> ``bitwave generate --audio`` (RUN/chip: front end + network + back
    end) -> ``bitwave verify`` on real noisy test utterances (every output sample against the
    golden model) -> ``bitwave synth`` (area and power of front end, network and back end)
    -> the quality of the audio the verified RTL produced (SI-SDRi, STOI, PESQ against the
       clean speech, beside the numpy float pipeline of eval on the same clips), and a
       spectrogram of noisy / chip output / clean.

The figures are read from what the stages wrote; this module picks the clips, scores the
chip's output and draws the plot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bitwave.core.paths import atomic_write
from bitwave.core.wav import SAMPLE_RATE, pcm16

MIN_SAMPLES = 768  # the chip's shortest utterance (manifest audio.min_utterance_samples)
# Synthesis drives the first 1,280 samples of each clip (6 frames, one gate-level lane each):
# the gate-level simulation runs a few hundred cycles a second and the chip ~10^4 cycles a
# frame, so whole clips would take most of an hour; 6 frames of real speech give the activity.
SYNTH_SAMPLES = 1280


@dataclass
class Clip:
    """A test utterance cut for the chip: its int16 noisy samples and the clean reference."""

    id: str
    noisy: np.ndarray  # int16
    clean: np.ndarray  # float32, same length

    @property
    def noisy_float(self) -> np.ndarray:
        return self.noisy.astype(np.float32) / 32768.0


def test_clips(mixtures: Sequence[Any], count: int, max_seconds: float) -> list[Clip]:
    """The first ``count`` test mixtures that last at least the chip's shortest utterance,
    each cut to ``max_seconds`` (the RTL simulation runs thousands of cycles a frame)."""
    limit = max(MIN_SAMPLES, int(max_seconds * SAMPLE_RATE))
    clips = []
    for mixture in mixtures:
        if len(clips) == count:
            break
        if mixture.clean.size < MIN_SAMPLES:
            continue
        noisy = mixture.noisy[:limit]
        clips.append(Clip(mixture.id, pcm16(noisy), mixture.clean[:limit].astype(np.float32)))
    return clips


def chip_quality(clips: Sequence[Clip], outputs: Sequence[np.ndarray], scores: Any) -> dict:
    """Mean SI-SDR(i), STOI and PESQ of the noisy clips and of the chip's int16 outputs
    against the clean references (``scores``: eval's per-utterance figures)."""
    if len(outputs) != len(clips):
        raise ValueError(f"{len(outputs)} chip outputs for {len(clips)} clips")
    rows: dict[str, list[dict]] = {"noisy": [], "chip": []}
    for clip, out in zip(clips, outputs, strict=True):
        enhanced = np.asarray(out, np.float32) / 32768.0
        rows["noisy"].append(scores(clip.noisy_float, clip.noisy_float, clip.clean))
        rows["chip"].append(scores(enhanced, clip.noisy_float, clip.clean))
    return {name: _mean(values) for name, values in rows.items()}


def _mean(rows: list[dict]) -> dict[str, float]:
    return {key: float(np.nanmean([row[key] for row in rows])) for key in rows[0]}


def spectrogram_plot(path: Path, clip: Clip, output: np.ndarray) -> None:
    """Noisy / chip output / clean log spectrograms of one clip, one above the other."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("noisy", clip.noisy_float), ("chip output (verified RTL)",
              np.asarray(output, np.float32) / 32768.0), ("clean", clip.clean)]  # fmt: skip
    fig, axes = plt.subplots(3, 1, figsize=(8, 6.5), sharex=True)
    # a dither far below the colour scale: digital silence (all-zero frames) has no log
    rng = np.random.default_rng(0)
    for axis, (title, audio) in zip(axes, panels, strict=True):
        dither = rng.standard_normal(audio.size) * 1e-8
        axis.specgram(audio + dither, NFFT=512, Fs=SAMPLE_RATE, noverlap=384, cmap="magma",
                      vmin=-140, vmax=-20)  # fmt: skip
        axis.set_title(title, fontsize=10)
        axis.set_ylabel("Hz")
    axes[-1].set_xlabel("s")
    fig.suptitle(f"Test utterance {clip.id}")
    fig.tight_layout()
    with atomic_write(path) as handle:
        fig.savefig(handle, format="png", dpi=90)
    plt.close(fig)


def report_lines(section: dict) -> list[str]:
    """The report's full-chip section from the flow summary's ``chip`` entry."""
    q, parts = section["quality"], section.get("parts", {})
    lines = [
        "", "## The full chip (audio in, audio out)", "",
        f"Front end (framing, Hann window, {section['fft_points']}-point fixed-point FFT, "
        "Lloyd-Max coding) + the network + back end (mask gains with the floor, inverse FFT, "
        f"overlap-add): `bitwave generate --audio`. Verified on {section['clips']} noisy test "
        f"utterances ({section['seconds']:.1f} s of audio): {section['verify_mismatches']} "
        "output samples differ from the golden model."
        + (f" Its network: `{section['fold']}`, {section['weight_storage']} weights, "
           f"{section['clock_mhz']:g} MHz."
           if section.get("fold") else ""), "",
        "| audio | SI-SDR (dB) | SI-SDRi (dB) | STOI | PESQ |", "|---|---|---|---|---|",
    ]  # fmt: skip
    rows = (("noisy", "noisy input"), ("numpy float pipeline", "eval's float STFT pipeline, same mask"),
            ("chip", "chip output (verified RTL)"))  # fmt: skip
    for name, label in rows:
        s = q[name]
        lines.append(f"| {label} | {s['si_sdr']:.2f} | {s['si_sdri']:.2f} | {s['stoi']:.3f} "
                     f"| {s['pesq']:.2f} |")  # fmt: skip
    chip, ref = q["chip"], q["numpy float pipeline"]
    lines += ["", f"The fixed-point chain against the float pipeline on these clips: SI-SDR "
              f"{chip['si_sdr'] - ref['si_sdr']:+.3f} dB, PESQ {chip['pesq'] - ref['pesq']:+.3f}, "
              f"STOI {chip['stoi'] - ref['stoi']:+.4f}."]  # fmt: skip
    if parts:
        lines += ["", "| part | area (um^2) | energy per frame (nJ) | real-time power (mW) |",
                  "|---|---|---|---|"]  # fmt: skip
        for name, part in parts.items():
            lines.append(f"| {name} | {part['area_um2']:,.0f} | "
                         f"{part['energy_per_frame_j'] * 1e9:.2f} | {part['realtime_w'] * 1e3:.3f} |")  # fmt: skip
    lines += ["", "![noisy, chip output, clean](chip_spectrogram.png)"]
    return lines


# ---------------------------------------------------------------------------------------------
# The flow's stages
# ---------------------------------------------------------------------------------------------
def run_chip_stages(config: dict, run: Path, stage: Any, sram: str | None = None) -> dict:
    """Generate, verify and (with ``flow.synth``) synthesize the chip, its RAM macros priced
    by ``sram`` (bitwave synth --sram; None its default); score its output. The summary's
    ``chip`` entry."""
    from bitwave.core import ir
    from bitwave.models import evaluate

    settings, chip_dir = config["flow"]["chip"], run / "chip"
    _generate_chip(config["hw"], run, chip_dir, stage)
    clips = _clips(config, settings)
    inputs = _write_clips(run / "chip_audio", clips)
    verified = _verify_chip(chip_dir, inputs, config["flow"]["simulator"], stage)
    saved = np.load(verified["outputs"])
    outputs = [saved[f"out_{k}"] for k in range(len(clips))]
    net = ir.load(run / "bitwise" / "model.bwir")
    quality = chip_quality(clips, outputs, evaluate.scores)
    quality["numpy float pipeline"] = _float_pipeline(net, clips, evaluate)
    section = {
        "clips": len(clips),
        "seconds": sum(c.noisy.size for c in clips) / SAMPLE_RATE,
        "fft_points": 1024,
        "verify_mismatches": verified["mismatching_samples"],
        "cycles_per_frame": verified.get("cycles_per_frame"),
        "quality": quality,
        **_network_of(chip_dir),
    }
    if config["flow"]["synth"]:
        cut = [Clip(c.id, c.noisy[:SYNTH_SAMPLES], c.clean[:SYNTH_SAMPLES]) for c in clips]
        synth_inputs = _write_clips(run / "chip_audio" / "synth", cut)
        clock_mhz = config["hw"]["clock_mhz"]
        section.update(_synthesize_chip(chip_dir, synth_inputs, clock_mhz, stage, sram))
    spectrogram_plot(run / "chip_spectrogram.png", clips[0], outputs[0])
    return section


def _network_of(chip_dir: Path) -> dict:
    """The chip's network as built (its manifest): folding, weight storage, clock."""
    from bitwave.core import contract

    design = contract.load(chip_dir)
    storage = sorted({layer.weight_storage for layer in design.layers})
    return {"fold": design.folding.spec, "weight_storage": "/".join(storage),
            "clock_mhz": design.clock.mhz}  # fmt: skip


def _generate_chip(hw_config: dict, run: Path, chip_dir: Path, stage: Any) -> None:
    from bitwave.hw.generate import generate

    model = run / "bitwise" / "model.bwir"
    stage("chip generate", (chip_dir / "manifest.json").exists(),
          lambda: generate(model, chip_dir, clock_mhz=hw_config["clock_mhz"], fps=hw_config["fps"],
                           fold_spec=hw_config["fold"], weight_storage=hw_config["weight_storage"],
                           audio=True))  # fmt: skip


def _clips(config: dict, settings: dict) -> list[Clip]:
    from bitwave.models.data import build_dataset

    dataset = build_dataset(config.get("data") or {}, progress=False)
    return test_clips(dataset.test, settings["utterances"], settings["seconds"])


def _write_clips(folder: Path, clips: Sequence[Clip]) -> list[Path]:
    """The clips as 16-bit WAV files (the chip's inputs for verify and synth)."""
    from bitwave.core.paths import inside
    from bitwave.core.wav import write_pcm16

    folder.mkdir(parents=True, exist_ok=True)
    paths = [inside(folder, f"clip_{k}.wav") for k in range(len(clips))]
    for path, clip in zip(paths, clips, strict=True):
        write_pcm16(path, clip.noisy)
    return paths


def _verify_chip(chip_dir: Path, inputs: list[Path], simulator: str, stage: Any) -> dict:
    """Verify on the clips (every output sample against the golden model); raises if it fails."""
    import json

    from bitwave.core.errors import BitwaveError
    from bitwave.sim.verify import VerifyOptions, verify

    path = chip_dir / "verify" / "result.json"
    done = path.exists() and json.loads(path.read_text()).get("passed", False)
    # an optimized build: the chip runs ~10^4 cycles a frame, so the -O0 build's quicker
    # compile is lost many times over in the simulation (measured 8 s against 66 s)
    stage("chip verify", done,
          lambda: verify(chip_dir, VerifyOptions(sim=simulator, inputs=inputs)))  # fmt: skip
    result = json.loads(path.read_text())
    if not result.get("passed"):
        raise BitwaveError(f"the chip's verification failed: see {path}")
    return result


def _float_pipeline(net: Any, clips: Sequence[Clip], evaluate: Any) -> dict:
    """eval's numpy pipeline (float STFT, golden mask, float inverse STFT) on the same clips:
    what the fixed-point chip is measured against."""
    from bitwave.models import features

    mask_fn = evaluate.network_mask_function(net)
    rows = []
    for clip in clips:
        enhanced, _ = features.enhance(clip.noisy_float, mask_fn, net.mask_floor_gain)
        rows.append(evaluate.scores(enhanced, clip.noisy_float, clip.clean))
    return _mean(rows)


def _synthesize_chip(
    chip_dir: Path, inputs: list[Path], clock_mhz: float, stage: Any, sram: str | None
) -> dict:
    """Synthesize the chip, its activity from the clips; area and power per part."""
    import json

    from bitwave.synth.flows.design import synthesize_design

    synth_dir = chip_dir / "synth"
    stage("chip synth", (synth_dir / "power.json").exists(),
          lambda: synthesize_design(chip_dir, clock_mhz=clock_mhz, inputs=inputs, sram=sram))  # fmt: skip
    power = json.loads((synth_dir / "power.json").read_text())
    timing = json.loads((synth_dir / "timing.json").read_text())
    keys = ("area_um2", "energy_per_frame_j", "realtime_w")
    parts = {name: {k: part[k] for k in keys} for name, part in power["parts"].items()}
    return {"parts": parts, "fmax_mhz": timing.get("max_clock_mhz")}
