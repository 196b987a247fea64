"""The flow's scalable part, for a config with early exits (``model.exits``): the
quality/energy curve a designer chooses an operating point from.

    the multi-exit network (trained, evaluated at every exit, generated, verified with exits
    switching between frames, synthesized with power per exit: flow.py)
    + the other training strategy (blockwise <-> joint), evaluated at every exit
    + one separately trained single-exit network per exit, of the same size: quality each,
      and generated and synthesized with the same folding (the naive scalable system's area)
    -> the curve: one point per exit (SI-SDRi and PESQ against energy per frame and
       real-time power), beside the separate networks and the compared flow (e.g. the demo MLP)

Every figure is read from what a stage wrote (eval's metrics.json, synth's area.json and
power.json); this module computes only sums, ratios and the real-time power.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

Stage = Callable[[str, bool, Callable[[], Any]], Any]  # (name, done, work) -> result
STRATEGIES = ("blockwise", "joint")


def has_exits(config: dict) -> bool:
    return bool(config["model"].get("exits"))


def strategy(config: dict) -> str:
    return config["train"].get("exits") or STRATEGIES[0]


def exit_depths(config: dict) -> list[int]:
    """Hidden layers each exit runs (the last entry: the final exit, every hidden layer)."""
    return [index + 1 for index in config["model"]["exits"]] + [len(config["model"]["hidden"])]


def separate_config(config: dict, k: int) -> dict:
    """The single-exit network of exit ``k``'s size: the same hidden layers up to that exit."""
    separate = copy.deepcopy(config)
    separate["model"]["hidden"] = config["model"]["hidden"][: exit_depths(config)[k]]
    separate["model"].pop("exits", None)
    separate["train"].pop("exits", None)
    separate["name"] = f"{config['name']}_exit{k}_alone"
    return separate


def alternative_config(config: dict) -> dict:
    """The same multi-exit network trained the other way (blockwise <-> joint)."""
    other = copy.deepcopy(config)
    other["train"]["exits"] = next(s for s in STRATEGIES if s != strategy(config))
    other["name"] = f"{config['name']}_{other['train']['exits']}"
    return other


def train_others(config: dict, run: Path, stage: Stage) -> None:
    """Train and evaluate the alternative strategy and every exit's separate network."""
    from bitwave.models.evaluate import evaluate_run
    from bitwave.models.train import train

    jobs = [("alternative", alternative_config(config))] + [
        (f"separate/exit{k}", separate_config(config, k)) for k in range(len(exit_depths(config)))
    ]
    for folder_name, job_config in jobs:
        folder = run / folder_name
        stage(f"train {folder_name}", (folder / "train.json").exists(),
              lambda c=job_config, f=folder: train(c, f))  # fmt: skip
        stage(f"eval {folder_name}", (folder / "eval" / "metrics.json").exists(),
              lambda f=folder: evaluate_run(f, with_peers=False))  # fmt: skip


def separate_fold(design: Any, separate_net: Any, multi_net: Any, k: int) -> str:
    """The separate network of exit ``k`` folded as the multi-exit design folds the layers
    exit ``k`` runs (layer by layer in order; its last layer as the exit's head)."""
    folds = {layer.name: layer for layer in (*design.layers, *design.exits.heads)}
    parts = []
    for mine, theirs in zip(separate_net.layers, multi_net.exit_layers(k), strict=True):
        fold = folds[theirs.name]
        parts.append(f"{mine.name}:pe={fold.pe},simd={fold.simd}{',pad' if fold.padded else ''}")
    return ";".join(parts)


def separate_hardware(
    hw_config: dict, run: Path, design: Any, frames_of: Callable[[Path], list[Path]], stage: Stage
) -> list[dict]:
    """Generate and synthesize each exit's separate network with the multi-exit design's
    folding, its power driven by real test frames (``frames_of(model)`` writes them): its area
    and energy per frame (the naive scalable system is all of them)."""
    from bitwave.core import contract, ir
    from bitwave.hw.generate import generate
    from bitwave.synth.flows.design import synthesize_design

    multi = ir.load(run / "bitwise" / "model.bwir")
    rows = []
    for k in range(multi.n_exits):
        folder = run / "separate" / f"exit{k}"
        model, hw = folder / "model.bwir", folder / "hw"
        fold = separate_fold(design, ir.load(model), multi, k)
        stage(f"generate separate/exit{k}", (hw / "manifest.json").exists(),
              lambda m=model, h=hw, f=fold: generate(
                  m, h, clock_mhz=hw_config["clock_mhz"], fps=hw_config["fps"], fold_spec=f,
                  weight_storage=hw_config["weight_storage"]))  # fmt: skip
        stage(f"synth separate/exit{k}", (hw / "synth" / "power.json").exists(),
              lambda m=model, h=hw: synthesize_design(h, clock_mhz=hw_config["clock_mhz"],
                                                      inputs=frames_of(m)[0]))  # fmt: skip
        area = json.loads((hw / "synth" / "area.json").read_text())
        power = json.loads((hw / "synth" / "power.json").read_text())
        separate = contract.load(hw)
        figures = {"dynamic_w": power["dynamic_w"], "cycles_per_frame": separate.cycles_per_frame,
                   "clock_mhz": hw_config["clock_mhz"]}  # fmt: skip
        rows.append({"exit": k, "fold": fold, "area_um2": area["total_area_um2"],
                     "energy_per_frame_j": power["energy_per_frame_j"],
                     "dynamic_energy_per_frame_j": dynamic_energy(figures)})  # fmt: skip
    return rows


def _quality(path: Path) -> dict:
    return json.loads(path.read_text())


def curve(config: dict, run: Path, hardware: dict, separate_hw: list[dict]) -> dict:
    """The scalable section of flow.json: per exit its quality (both strategies), hardware
    figures, and the separate network of its size; the area and quality targets."""
    metrics = _quality(run / "bitwise" / "eval" / "metrics.json")
    other = _quality(run / "alternative" / "eval" / "metrics.json")
    per_exit_hw = hardware.get("exits") or []
    points = []
    for k, row in enumerate(metrics["exits"]):
        alone = _quality(run / "separate" / f"exit{k}" / "eval" / "metrics.json")["model"]
        point = {"exit": k, "hidden_layers": exit_depths(config)[k], "quality": row["model"],
                 "quality_other_strategy": other["exits"][k]["model"],
                 "separate": {"quality": alone, **(separate_hw[k] if separate_hw else {})},
                 "si_sdri_gap_to_separate_db": alone["si_sdri"] - row["model"]["si_sdri"]}  # fmt: skip
        if k < len(per_exit_hw):
            point["hardware"] = per_exit_hw[k]
        points.append(point)
    summary = {"strategy": strategy(config), "other_strategy": strategy(alternative_config(config)),
               "points": points, "clock_gating": hardware.get("clock_gating")}  # fmt: skip
    if separate_hw and hardware.get("area_um2"):
        total = sum(row["area_um2"] for row in separate_hw)
        summary["separate_area_um2"] = total
        summary["area_ratio_to_separate"] = hardware["area_um2"] / total
    return summary


def dynamic_energy(hardware: dict) -> float | None:
    """Dynamic energy per frame of a flow's hardware figures (dynamic power over one frame
    time at the design clock); None where they were not measured."""
    if not all(hardware.get(key) for key in ("dynamic_w", "cycles_per_frame", "clock_mhz")):
        return None
    return hardware["dynamic_w"] * hardware["cycles_per_frame"] / (hardware["clock_mhz"] * 1e6)


def exit_energy(hardware: dict, steady: bool = True) -> tuple[float | None, float | None]:
    """(dynamic energy per frame, its share of the final exit's) of one exit's synth figures:
    with ``steady`` the steady-state window's where synth measured one (no pipeline fill and
    drain, which last as long as the exit's latency and hide what a shallow exit saves), else
    the whole run's (comparable with single-exit designs, whose runs fill and drain too)."""
    window = (hardware.get("steady_state") or {}) if steady else {}
    source = window if "dynamic_energy_per_frame_j" in window else hardware
    return (source.get("dynamic_energy_per_frame_j"),
            source.get("dynamic_energy_fraction_of_final"))  # fmt: skip


def idle_share(hardware: dict) -> float | None:
    """The share of an exit's dynamic power drawn by the layers it leaves idle (measured: with
    clock gating, what their ungated flip-flops and the gates themselves still draw)."""
    if "idle_blocks_dynamic_w" not in hardware or not hardware.get("dynamic_w"):
        return None
    return hardware["idle_blocks_dynamic_w"] / hardware["dynamic_w"]


def _gating_line(summary: dict | None) -> list[str]:
    if not summary:
        return []
    return ["", f"Clock gating (synthesis): {summary.get('gates', 0):,} clock gates; "
            f"{summary.get('gated_flops', 0):,} of {summary.get('flops', 0):,} flip-flops take the "
            "clock only when their enable is high, so the layers beyond a frame's exit stay "
            "unclocked."]  # fmt: skip


def _f(value: Any, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def report_lines(section: dict) -> list[str]:
    """The markdown of the quality/energy curve: a table per exit and the targets."""
    lines = [
        "## Scalable operation: the quality/energy curve (one design, an exit per frame)",
        "",
        f"Trained {section['strategy']} (the {section['other_strategy']} column: the same "
        "network trained the other way). Each exit's separate network is a single-exit network "
        "of the same size, trained alone and synthesized with the same folding. Energy per frame "
        "and power at the real-time rate per exit are from activity-based power with every "
        "frame at that exit.",
        "",
        "| exit | hidden layers | SI-SDRi (dB) | PESQ | STOI | SI-SDRi "
        f"{section['other_strategy']} | SI-SDRi separate | gap to separate (dB) | binary MACs "
        "(share of final) | dynamic energy/frame nJ (share of final, steady state) | "
        "idle layers' share of dynamic power | real-time power (mW) | separate area (um^2) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in section["points"]:
        q, hw, alone = p["quality"], p.get("hardware", {}), p["separate"]
        energy, share = exit_energy(hw)
        macs = hw.get("binary_macs_per_frame")
        lines.append(
            f"| {p['exit']} | {p['hidden_layers']} | {_f(q['si_sdri'], '.2f')} | "
            f"{_f(q.get('pesq'), '.2f')} | {_f(q.get('stoi'), '.3f')} | "
            f"{_f(p['quality_other_strategy']['si_sdri'], '.2f')} | "
            f"{_f(alone['quality']['si_sdri'], '.2f')} | {_f(p['si_sdri_gap_to_separate_db'], '+.2f')} | "
            f"{_f(macs, ',')} ({_f(hw.get('mac_fraction_of_final'), '.1%')}) | "
            f"{_f(energy * 1e9 if energy else None, '.3g')} ({_f(share, '.1%')}) | "
            f"{_f(idle_share(hw), '.1%')} | "
            f"{_f(hw['realtime_w'] * 1e3 if hw.get('realtime_w') else None, '.4g')} | "
            f"{_f(alone.get('area_um2'), '.0f')} |"
        )
    lines += _gating_line(section.get("clock_gating"))
    if "area_ratio_to_separate" in section:
        lines += ["", f"Area of the one multi-exit design: {section['area_ratio_to_separate']:.0%} "
                  f"of the {section['separate_area_um2']:.0f} um^2 that the separate networks "
                  "take together (the naive scalable system)."]  # fmt: skip
    return [*lines, "", "![quality against energy per exit](scalable.png)", ""]


def plot(path: Path, section: dict, compared: dict | None = None) -> None:
    """SI-SDRi and PESQ against energy per frame: the exits as a curve, each exit's separate
    network as a point of the same colour, the compared flow (e.g. the demo MLP) as a star."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bitwave.core.paths import atomic_write

    points = [p for p in section["points"] if p.get("hardware")]
    if not points:
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for axis, metric, label in zip(axes, ("si_sdri", "pesq"), ("SI-SDRi (dB)", "PESQ (wb)"),
                                   strict=True):  # fmt: skip
        energy = [exit_energy(p["hardware"], steady=False)[0] * 1e9 for p in points]
        axis.plot(energy, [p["quality"][metric] for p in points], "o-", color="#1f77b4",
                  label=f"multi-exit ({section['strategy']})")  # fmt: skip
        for p, x in zip(points, energy, strict=True):
            axis.annotate(f"exit {p['exit']}", (x, p["quality"][metric]),
                          textcoords="offset points", xytext=(4, -10), fontsize=8)  # fmt: skip
            separate = p["separate"]
            if "dynamic_energy_per_frame_j" in separate:
                axis.plot(separate["dynamic_energy_per_frame_j"] * 1e9,
                          separate["quality"][metric], "s", color="#ff7f0e",
                          label="separate network" if p is points[0] else None)  # fmt: skip
        if compared and dynamic_energy(compared.get("hardware") or {}):
            axis.plot(dynamic_energy(compared["hardware"]) * 1e9,
                      compared["quality"]["bitwise"][metric], "*", markersize=12,
                      color="#2ca02c", label=str(compared.get("name")))  # fmt: skip
        axis.set_xlabel("dynamic energy per frame (nJ, whole power run)")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Quality against energy, one point per exit (held-out test set)")
    fig.tight_layout()
    with atomic_write(path) as handle:
        fig.savefig(handle, format="png", dpi=90)
    plt.close(fig)
