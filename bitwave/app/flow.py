"""``bitwave flow [CONFIG] --out RUN``: the main job, noisy speech to verified, costed hardware.

Stages, each writing into its own folder of RUN and skipped when its result already exists
(so a rerun after an interruption picks up where it stopped; ``--force`` redoes everything, and
deletes only a run folder flow made, which it marks with RUN/.bitwave-run):

    data -> train (bitwise, float baseline) -> eval -> generate (hw/) -> verify (sim/, Verilator)
         -> synth (synth/, area and power at the real-time frame rate) -> report

A config with early exits (``model.exits``) adds the scalable stages (``bitwave.app.scalable``):
the other training strategy and each exit's separate network, and the quality/energy curve.
``flow.chip`` adds the full chip (``bitwave.app.chip``): generate --audio (RUN/chip), verify
on real noisy test clips, synth per part, and the quality of the audio the verified RTL made.

The orchestrator only calls each stage's public API; it computes no figure of its own except
the report's ratios of figures the stages measured.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bitwave.app import chip, scalable
from bitwave.app.compare import compared_summary, load_compared, parameters, report_lines
from bitwave.core.contract import BUFFERING
from bitwave.core.errors import BitwaveError
from bitwave.core.paths import atomic_write, inside, write_text

REPORT_FILES = (
    "report.md",
    "flow.json",
    "quality.png",
    "chip_spectrogram.png",
    "breakdown.png",
    "area.png",
    "scalable.png",
)
# hw.fold's value for the explored design (docs/explore.md "In bitwave flow"), and hw.explore's
# defaults: a small sweep, RAM macros priced by the shipped OpenRAM macros, local workers.
EXPLORE = "explore"
EXPLORE_DEFAULTS = {"max_points": 6, "weights": ["const", "memory"],
                    "buffering": list(BUFFERING), "sram": "openram", "threads": False,
                    "workers": None}  # fmt: skip
# Written into every run folder flow creates: --force deletes only folders that hold it.
RUN_MARKER = ".bitwave-run"
RUN_FORMAT = "bitwave-run/1"


def _stage(name: str, log: dict, done: bool, work: Callable[[], Any]) -> Any:
    """Run one stage (or note that it was already done) and record its wall time; a kept
    stage keeps the time measured when it ran (``log`` starts from the previous flow.json)."""
    start = time.perf_counter()
    if done:
        print(f"[flow] {name}: already done, kept")
        log[name] = {"seconds": log.get(name, {}).get("seconds", 0.0), "reused": True}
        return None
    print(f"[flow] {name} ...", flush=True)
    result = work()
    log[name] = {"seconds": round(time.perf_counter() - start, 2), "reused": False}
    print(f"[flow] {name}: {log[name]['seconds']:.1f} s", flush=True)
    return result


def _baseline_config(config: dict) -> dict:
    """The float MLP of the same hidden widths (there is no float GRU kind: a GRU config's
    baseline is the float MLP too)."""
    baseline = copy.deepcopy(config)
    baseline["model"]["kind"] = "mlp"
    baseline["model"]["wbits"] = baseline["model"]["abits"] = 32
    baseline["model"].pop("exits", None)  # the float MLP of the whole network's size
    baseline["train"].pop("exits", None)
    baseline["name"] = f"{config['name']}_float"
    return baseline


UTTERANCES = 3  # a recurrent design is checked on this many test utterances back to back


def _test_frames(run: Path, count: int, model: Path | None = None) -> list[Path]:
    """Bit-plane input frames of real test utterances, for verification and power stimulus:
    ``count`` frames spread over the test set in one file, or for a recurrent network the
    first frames of the first UTTERANCES test utterances, one file each (one sequence each).
    Written beside ``model``'s hw/ folder (default: the bitwise model's, RUN/hw)."""
    from bitwave.core import ir
    from bitwave.models import features
    from bitwave.models.data import build_dataset

    model = model or run / "bitwise" / "model.bwir"
    out = run / "hw" if model == run / "bitwise" / "model.bwir" else model.parent
    config = json.loads((run / "flow_config.json").read_text())
    net = ir.load(model)
    dataset = build_dataset(config.get("data") or {}, progress=False)
    test = features.frames(dataset.test)
    if net.is_recurrent:
        per = -(-count // UTTERANCES)
        picks = [np.arange(len(test))[test.utterance(u)][:per] for u in range(UTTERANCES)]
    else:
        picks = [np.linspace(0, len(test) - 1, min(count, len(test))).astype(int)]
    paths = []
    for index, rows in enumerate(picks):
        name = "test_frames.npy" if len(picks) == 1 else f"test_frames_{index}.npy"
        paths.append(out / name)
        with atomic_write(paths[-1], "wb") as handle:
            codes = features.bitplane_input(test.noisy_mag[rows], net.coding)
            np.save(handle, codes, allow_pickle=False)
    return paths


def _plots(run: Path, summary: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    quality = summary["quality"]
    names = [name for name in ("bitwise", "float", "oracle_ibm") if name in quality]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for axis, metric, label in zip(
        axes, ("si_sdri", "stoi", "pesq"), ("SI-SDRi (dB)", "STOI", "PESQ (wb)"), strict=True
    ):
        values = [quality[name][metric] for name in names]
        bars = axis.bar(names, values, color=["#1f77b4", "#ff7f0e", "#7f7f7f"][: len(names)])
        axis.bar_label(bars, fmt="%.2f")
        axis.set_title(label)
    fig.suptitle("Speech-enhancement quality on held-out speakers and noises")
    fig.tight_layout()
    with atomic_write(run / "quality.png") as handle:
        fig.savefig(handle, format="png", dpi=90)
    plt.close(fig)

    blocks = summary.get("hardware", {}).get("area_by_block_um2") or {}
    if blocks:
        fig, axis = plt.subplots(figsize=(7, 3.2))
        names, values = zip(*sorted(blocks.items(), key=lambda kv: -kv[1]), strict=True)
        bars = axis.barh(names, values, color="#2ca02c")
        axis.bar_label(bars, fmt="%.0f")
        axis.invert_yaxis()
        axis.set_xlabel("area (um^2)")
        axis.set_title("Area by block (NanGate45-class library)")
        fig.tight_layout()
        with atomic_write(run / "area.png") as handle:
            fig.savefig(handle, format="png", dpi=90)
        plt.close(fig)


def _by_noise_rows(by_noise: dict[str, dict]) -> dict[str, dict]:
    """Per noise type: the SI-SDRi of each evaluated model and of the oracle IBM."""
    rows: dict[str, dict] = {}
    for model, table in by_noise.items():
        for noise, entry in table.items():
            row = rows.setdefault(noise, {"heldout": entry.get("heldout", False),
                                          "utterances": entry["utterances"],
                                          "oracle_ibm": entry["oracle_si_sdri"]})  # fmt: skip
            row[model] = entry["si_sdri"]
    return rows


def _fmt(value: Any, spec: str = ".3g") -> str:
    return "n/a" if value is None else format(value, spec)


def peer_summary(metrics: dict) -> dict:
    """The deployed peers of the bitwise model's evaluation (its metrics.json): their scores
    and MAC/s, the bitwise network's binary MAC/s, and why a peer is missing. An evaluation
    written before the peers existed has none of these keys: the note says so."""
    notes = list(metrics.get("peer_notes") or [])
    if "peers" not in metrics and not notes:
        notes = ["Peer rows omitted: the bitwise model's eval/metrics.json predates them "
                 "(delete it and rerun the flow to score RNNoise)."]  # fmt: skip
    return {"rows": metrics.get("peers") or {}, "macs_per_second": metrics.get("macs_per_second"),
            "notes": notes}  # fmt: skip


def _mac_rate(value: float | None, what: str = "") -> str:
    return "-" if value is None else f"{value / 1e6:.3g} M{what}"


def quality_table(summary: dict) -> list[str]:
    """The report's quality table: bitwise, float, each deployed peer (RNNoise), the oracle and
    the noisy input on the same test utterances, the network MAC/s beside each that has one."""
    q, peers = summary["quality"], summary.get("peers") or peer_summary({})
    lines = ["| model | SI-SDRi (dB) | STOI | PESQ (wb) | IBM accuracy | MAC/s |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    rows = [("bitwise", q["bitwise"], _mac_rate(peers["macs_per_second"], " (binary)"))]
    rows += [("float", q["float"], "-")] if "float" in q else []
    rows += [(f"{name} (deployed peer)", row, _mac_rate(row.get("macs_per_second")))
             for name, row in peers["rows"].items()]  # fmt: skip
    rows += [(name, q[name], "-") for name in ("oracle_ibm", "noisy") if name in q]
    for name, row, macs in rows:
        lines.append(f"| {name} | {_fmt(row.get('si_sdri'), '.2f')} | {_fmt(row.get('stoi'), '.3f')} | "
                     f"{_fmt(row.get('pesq'), '.2f')} | {_fmt(row.get('ibm_accuracy'), '.3f')} | "
                     f"{macs} |")  # fmt: skip
    for note in peers["notes"]:
        lines += ["", note]
    return lines


def _report_md(summary: dict) -> str:
    from bitwave.models.evaluate import group_sections

    q, hw = summary["quality"], summary.get("hardware", {})
    lines = [
        f"# bitwave flow: {summary['name']}",
        "",
        "Regenerated by `bitwave flow`; every figure below was measured by the stage named.",
        "",
        "## Speech-enhancement quality (`bitwave eval`, held-out speakers and noises)",
        "",
        *quality_table(summary),
    ]
    lines += ["", f"Bitwise SI-SDRi is {_fmt(summary['targets'].get('fraction_of_oracle'), '.0%')} of the oracle IBM's"
              + (f", {_fmt(summary['targets'].get('gap_to_float_db'), '.2f')} dB below the float MLP of the same hidden widths." if "float" in q else "."),
              "", "![quality](quality.png)", ""]  # fmt: skip
    if summary.get("quality_by_noise"):
        lines += ["SI-SDRi (dB) per test noise type (held-out types never appear in training):", "",
                  "| noise | utterances | bitwise | float | oracle IBM |", "|---|---|---|---|---|"]  # fmt: skip
        for noise, row in summary["quality_by_noise"].items():
            label = f"{noise} (held out)" if row["heldout"] else noise
            lines.append(f"| {label} | {row['utterances']} | {_fmt(row.get('bitwise'), '.2f')} | "
                         f"{_fmt(row.get('float'), '.2f')} | {_fmt(row['oracle_ibm'], '.2f')} |")  # fmt: skip
        lines += ["", "![breakdown of the bitwise model](breakdown.png)", ""]
    lines += group_sections(summary.get("quality_by_group") or {},
                            list(summary.get("peers", {}).get("rows", {})), ", bitwise model")  # fmt: skip
    if hw:
        lines += [
            "## Hardware (`bitwave generate`, `bitwave verify`, `bitwave synth`)",
            "",
            "| figure | value |",
            "|---|---|",
            f"| network | {' -> '.join(map(str, summary['widths']))} ({summary['model']}) |",
            f"| folding | `{hw.get('folding')}`{_explored(hw.get('explore'))} |",
            f"| clock | {_fmt(hw.get('clock_mhz'))} MHz (max {_fmt(hw.get('fmax_mhz'))} MHz from timing"
            + (
                ", so this clock does NOT close timing; the real-time figures below hold at any clock that does"
                if (hw.get("fmax_mhz") or 0) < (hw.get("clock_mhz") or 0)
                else ""
            )
            + ") |",
            f"| cycles per frame | {hw.get('cycles_per_frame')} ({_fmt(hw.get('achieved_fps'))} frames/s at this clock; real time, "
            f"{_fmt(hw.get('target_fps'))} frames/s, needs a clock of at least {_fmt(hw['cycles_per_frame'] * hw['target_fps'] / 1e6)} MHz) |",
            f"| latency | {hw.get('latency_cycles')} cycles = {_fmt(hw.get('latency_ms'))} ms |",
            f"| verification | {hw.get('verify_status')}: {hw.get('verify_vectors')} real test frames on {hw.get('simulator')}, {hw.get('verify_mismatches')} mismatching bits |",
            f"| area | {_fmt(hw.get('area_um2'), '.0f')} um^2 |",
            f"| power at {_fmt(hw.get('clock_mhz'))} MHz | {_fmt(hw.get('total_w'))} W (dynamic {_fmt(hw.get('dynamic_w'))}, leakage {_fmt(hw.get('leakage_w'))}) |",
            f"| energy per frame | {_fmt(hw.get('energy_per_frame_j'))} J |",
            f"| power at the real-time rate ({_fmt(hw.get('target_fps'))} frames/s) | {_fmt(hw.get('realtime_w'))} W |",
            "",
            "![area](area.png)",
            "",
        ]
    if summary.get("chip"):
        lines += chip.report_lines(summary["chip"]) + [""]
    if summary.get("scalable"):
        lines += scalable.report_lines(summary["scalable"])
    if summary.get("compared"):
        lines += report_lines(summary, summary["compared"])
    lines += ["## Stage times", "", "| stage | seconds |", "|---|---|"]
    lines += [
        f"| {name} | {info['seconds']}{' (reused)' if info['reused'] else ''} |"
        for name, info in summary["stages"].items()
    ]
    return "\n".join(lines) + "\n"


def _explored(chosen: dict | None) -> str:
    """The folding row's note when explore chose the design (hw.fold: explore)."""
    if not chosen:
        return ""
    return (f" ({chosen['weights']} weights, {chosen.get('buffering', 'double')} buffering, "
            f"{_fmt(chosen['clock_mhz'])} MHz) chosen by explore: "
            f"minimum real-time power {_fmt(chosen['realtime_power_w'] * 1e6, '.4g')} uW, "
            f"{_fmt(chosen['area_um2'], '.0f')} um^2, {_fmt(chosen['energy_per_frame_j'])} J per "
            f"frame, of {chosen['points']} points ({chosen['synthesized']} measured; "
            f"`explore/pareto.md`; memory macros: {chosen['sram']})")  # fmt: skip


def run_flow(
    config: dict, out: str | Path, force: bool = False, report_dir: str | Path | None = None
) -> dict:
    from bitwave.models.data import build_dataset

    _check_hardware_plan(config)
    compared = load_compared(config["flow"]["compare"]) if config["flow"]["compare"] else None
    run = _prepare_run(config, out, force)
    previous = run / "flow.json"
    stages: dict[str, dict] = (
        json.loads(previous.read_text()).get("stages", {}) if previous.exists() else {}
    )
    _stage("data", stages, False, lambda: build_dataset(config.get("data") or {}))
    _train(config, run, stages)
    quality, by_noise = _evaluate(run, stages, config["flow"]["baseline"])
    stage = lambda name, done, work: _stage(name, stages, done, work)  # noqa: E731
    if scalable.has_exits(config):
        scalable.train_others(config, run, stage)
    hardware = _hardware(config, run, stages)
    chip_config = _chip_config(config, hardware)
    config = _resolved(config, hardware)  # the chip and scalable stages build the chosen design
    summary = _summary(config, run, quality, by_noise, hardware, stages)
    bitwise_metrics = json.loads((run / "bitwise" / "eval" / "metrics.json").read_text())
    summary["peers"] = peer_summary(bitwise_metrics)
    summary["quality_by_group"] = {key: bitwise_metrics[key] for key in ("by_source", "by_snr")
                                   if key in bitwise_metrics}  # fmt: skip
    if compared is not None:
        summary["compared"] = compared_summary(compared)
    if config["flow"].get("chip"):
        summary["chip"] = chip.run_chip_stages(
            chip_config, run, stage, memory_pricing(config["hw"])
        )
    if scalable.has_exits(config):
        summary["scalable"] = _scalable(config, run, hardware, stage)
        scalable.plot(run / "scalable.png", summary["scalable"], summary.get("compared"))
    breakdown = run / "bitwise" / "eval" / "breakdown.png"
    if breakdown.exists():
        shutil.copyfile(breakdown, run / "breakdown.png")
    write_text(run / "flow.json", json.dumps(summary, indent=1))
    _plots(run, summary)
    write_text(run / "report.md", _report_md(summary))
    if report_dir is not None:
        _copy_reports(run, report_dir)
    print(f"[flow] wrote {run / 'report.md'}")
    return summary


def _check_hardware_plan(config: dict) -> None:
    """Refuse, before data and training, what the hardware stages would refuse only after
    them: an op the generator does not support, or an hw.fold that does not fit the layers.
    The check runs on a stand-in network of the configured shape (same layer names and widths
    as the one training will export)."""
    from bitwave.core.ops import require_supported
    from bitwave.core.random_ir import random_network
    from bitwave.models.features import N_BINS

    model = config["model"]
    inputs = config["features"]["bits"] * N_BINS
    if model["kind"] == "gru":  # GRU layers, then the binary output layer fc_out
        stand_in = random_network([inputs, *(f"gru:{h}" for h in model["hidden"]), N_BINS])
        stand_in.layers[-1].name = "fc_out"
    else:  # fc0.., the output layer, heads exit0.. after the hidden layers model.exits names
        early = model.get("exits") or []
        hidden = [item for i, h in enumerate(model["hidden"])
                  for item in ([h, "exit"] if i in early else [h])]  # fmt: skip
        hidden_abits = [model["abits"]] * len(model["hidden"])
        stand_in = random_network([inputs, *hidden, N_BINS], wbits=min(model["wbits"], 8),
                                  abits=[*hidden_abits, 1])  # fmt: skip
    try:
        require_supported(stand_in, "generate")
    except BitwaveError as error:
        raise BitwaveError(f"config model.kind {model['kind']}: {error}") from None
    if config["hw"]["fold"] == EXPLORE:
        from bitwave.app.explore import sram_key

        sram_key(explore_settings(config["hw"])["sram"])  # a bad table fails before training
        chip_fold = (config["flow"].get("chip") or {}).get("fold")
        if chip_fold:
            _check_fold(chip_fold, stand_in, "config flow.chip.fold")
        return
    if config["hw"]["fold"] is not None:
        _check_fold(config["hw"]["fold"], stand_in, "config hw.fold")


def _check_fold(fold: str, stand_in: object, where: str) -> None:
    """Refuse a fold that does not fit ``stand_in``, naming the config key ``where``."""
    from bitwave.hw.folding import parse_fold_spec

    try:
        parse_fold_spec(fold, stand_in)
    except BitwaveError as error:
        raise BitwaveError(str(error).replace("--fold", where, 1)) from None


def _prepare_run(config: dict, out: str | Path, force: bool) -> Path:
    """RUN with its flow_config.json. A folder flow creates (new or empty) gets the run marker;
    ``force`` deletes only a marked (or empty) folder; a run made with another configuration,
    or a non-empty folder that is no run, is refused."""
    run = Path(out)
    if force and run.exists():
        _require_deletable(run)
        shutil.rmtree(run)
    new = not run.exists() or (run.is_dir() and not any(run.iterdir()))
    saved_config = run / "flow_config.json"
    if not new and not is_run_folder(run) and not saved_config.is_file():
        raise BitwaveError(
            f"--out {run} is not a bitwave run folder (no {RUN_MARKER}) and not empty; "
            "allowed: a new or empty folder, or a run folder to resume"
        )
    if saved_config.exists() and _saved_config(saved_config) != config:
        # Finished stages are reused by their outputs' presence: only with the same config.
        raise BitwaveError(
            f"{run} holds a flow run made with another configuration ({saved_config}); "
            "pass --force to redo it with this one, or choose another --out"
        )
    run.mkdir(parents=True, exist_ok=True)
    if new:
        marker = {"format": RUN_FORMAT, "config_sha256": config_sha256(config)}
        write_text(run / RUN_MARKER, json.dumps(marker) + "\n")
    write_text(saved_config, json.dumps(config, indent=1))
    return run


def config_sha256(config: dict) -> str:
    """The hash of a run's configuration, as its marker records it."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def is_run_folder(run: Path) -> bool:
    """Whether ``run`` holds the marker that ``bitwave flow`` writes into a folder it creates."""
    marker = run / RUN_MARKER
    if marker.is_symlink() or not marker.is_file() or marker.stat().st_size > 4096:
        return False
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and data.get("format") == RUN_FORMAT


def _require_deletable(run: Path) -> None:
    """``--force`` deletes a run folder bitwave made (marked) or an empty folder, nothing else."""
    if run.is_symlink() or not run.is_dir():
        raise BitwaveError(
            f"--force: {run} is not a bitwave run folder (a {'link' if run.is_symlink() else 'file'}); "
            "bitwave deletes only folders it made"
        )
    if not any(run.iterdir()) or is_run_folder(run):
        return
    if (run / "flow_config.json").is_file():
        raise BitwaveError(
            f"--force: {run} is a flow run made before bitwave marked its run folders (no "
            f"{RUN_MARKER}); delete it by hand if you mean to, or choose another --out"
        )
    raise BitwaveError(
        f"--force: {run} is not a bitwave run folder (no {RUN_MARKER}); bitwave deletes only "
        "folders it made"
    )


def _saved_config(path: Path) -> object:
    """A run's flow_config.json (None when unreadable: then it is not this configuration)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def _train(config: dict, run: Path, stages: dict) -> None:
    from bitwave.models.train import train

    _stage("train bitwise", stages, (run / "bitwise" / "train.json").exists(),
           lambda: train(config, run / "bitwise"))  # fmt: skip
    if config["flow"]["baseline"]:
        _stage("train float baseline", stages, (run / "float" / "train.json").exists(),
               lambda: train(_baseline_config(config), run / "float"))  # fmt: skip


def _evaluate(run: Path, stages: dict, baseline: bool) -> tuple[dict, dict]:
    """(quality by model, SI-SDRi by noise type by model) from each model's eval stage."""
    from bitwave.models.evaluate import evaluate_run

    quality: dict[str, dict] = {}
    by_noise: dict[str, dict] = {}
    for name in ("bitwise", "float") if baseline else ("bitwise",):
        metrics_path = run / name / "eval" / "metrics.json"
        _stage(f"eval {name}", stages, metrics_path.exists(),
               lambda name=name: evaluate_run(run / name, with_peers=name == "bitwise"))  # fmt: skip
        result = json.loads(metrics_path.read_text())
        quality[name] = result["model"]
        by_noise[name] = result.get("by_noise", {})
        quality["oracle_ibm"], quality["noisy"] = result["oracle_ibm"], result["noisy"]
    return quality, by_noise


def _hardware(config: dict, run: Path, stages: dict) -> dict:
    """Generate, verify and (if configured) synthesize the bitwise model; the report's
    hardware figures."""
    from bitwave.core import contract

    flow, hw_dir = config["flow"], run / "hw"
    chosen = _generate(config["hw"], run, stages)
    design = contract.load(hw_dir)
    frames = sorted(hw_dir.glob("test_frames*.npy")) or _test_frames(run, flow["verify_vectors"])
    hardware = {
        "folding": design.folding.spec,
        "clock_mhz": design.clock.mhz,
        "cycles_per_frame": design.cycles_per_frame,
        "latency_cycles": design.latency_cycles,
        "latency_ms": design.latency_cycles / (design.clock.mhz * 1e3),
        "target_fps": design.targets.fps,
        "achieved_fps": design.targets.achieved_fps,
        **_verify(hw_dir, frames, flow["simulator"], stages),
        **({"explore": chosen} if chosen else {}),
    }
    if flow["synth"]:
        clock = chosen["clock_mhz"] if chosen else config["hw"]["clock_mhz"]
        hardware.update(_synthesize(design, frames, clock, stages, memory_pricing(config["hw"])))
    return hardware


def _generate(hw_config: dict, run: Path, stages: dict) -> dict | None:
    """The generate stage (after the explore stage when hw.fold is "explore"); an op the
    generator does not support is refused first (the IR exists only after training, so this
    is where the flow can tell). Returns the explored point chosen, or None."""
    from bitwave.core import ir
    from bitwave.core.ops import require_supported
    from bitwave.hw.generate import generate

    model, hw_dir = run / "bitwise" / "model.bwir", run / "hw"
    require_supported(ir.load(model), "generate")
    chosen = _explore(model, hw_config, run, stages) if hw_config["fold"] == EXPLORE else None
    design = chosen or {"fold": hw_config["fold"], "clock_mhz": hw_config["clock_mhz"],
                        "weights": hw_config["weight_storage"], "buffering": "double"}  # fmt: skip
    _stage("generate", stages, (hw_dir / "manifest.json").exists(),
           lambda: generate(model, hw_dir, clock_mhz=design["clock_mhz"], fps=hw_config["fps"],
                            fold_spec=design["fold"], weight_storage=design["weights"],
                            buffering=design["buffering"]))  # fmt: skip
    return chosen


def explore_settings(hw_config: dict) -> dict:
    """hw.explore over its defaults (absent from the config defaults, so runs made before it
    keep their configuration)."""
    return {**EXPLORE_DEFAULTS, **(hw_config.get("explore") or {})}


def memory_pricing(hw_config: dict) -> str:
    """What prices the RAM macros in every synth stage of the flow (the explored design, an
    explicit fold with memory weights, the chip): hw.explore.sram, by default the shipped
    OpenRAM macros, so that a design's figures do not depend on how its fold was chosen."""
    return explore_settings(hw_config)["sram"]


def _explore(model: Path, hw_config: dict, run: Path, stages: dict) -> dict:
    """The explore stage: a small sweep of the trained model at the config's frame rate
    (RUN/explore; its cache RUN/explore/cache, so a rerun or a bigger hw.explore.max_points
    reuses every point), and the minimum-real-time-power point it names."""
    from bitwave.app import explore as ex

    settings, folder = explore_settings(hw_config), run / "explore"
    options = ex.Options(fps=hw_config["fps"], weights=tuple(settings["weights"]),
                         buffering=tuple(settings["buffering"]),
                         max_points=settings["max_points"], sram=settings["sram"])  # fmt: skip
    cluster = ex.Cluster(workers=settings["workers"], processes=not settings["threads"])
    summary_path = folder / "summary.json"
    _stage("explore", stages, summary_path.exists(),
           lambda: ex.explore(model, folder, options, cluster, cache=folder / "cache"))  # fmt: skip
    summary = json.loads(summary_path.read_text())
    best = summary["min_realtime_power"]
    if best is None:
        raise BitwaveError(
            f"hw.fold explore: no explored point was measured, verified and met timing (see "
            f"{folder / 'pareto.md'}); allowed: a larger hw.explore.max_points or an explicit hw.fold"
        )
    keys = ("fold", "clock_mhz", "weights", "max_fanout", "realtime_power_w", "area_um2",
            "energy_per_frame_j", "latency_ms", "key")  # fmt: skip
    return {**{key: best[key] for key in keys}, "buffering": best.get("buffering", "double"),
            "points": summary["points"],
            "synthesized": summary["status"].get("ok", 0),
            "sram": summary["sram"].get("pricing", settings["sram"])}  # fmt: skip


def _chip_config(config: dict, hardware: dict) -> dict:
    """The configuration the chip stage builds: with hw.fold explore and a flow.chip.fold, the
    chip's network at that fold (constant weights, hw.clock_mhz: the explored design is folded
    too deep to simulate clips of audio through); else the chosen design (``_resolved``)."""
    fold = (config["flow"].get("chip") or {}).get("fold")
    if config["hw"]["fold"] != EXPLORE or not fold:
        return _resolved(config, hardware)
    return {**config, "hw": {**config["hw"], "fold": fold, "weight_storage": "const"}}


def _resolved(config: dict, hardware: dict) -> dict:
    """The config with the explored design's fold, clock and weights in hw (unchanged when
    the fold was explicit), for the stages that build it again (chip, scalable)."""
    chosen = hardware.get("explore")
    if not chosen:
        return config
    hw = {**config["hw"], "fold": chosen["fold"], "clock_mhz": chosen["clock_mhz"],
          "weight_storage": chosen["weights"]}  # fmt: skip
    return {**config, "hw": hw}


def _verify(hw_dir: Path, frames: list[Path], simulator: str, stages: dict) -> dict:
    """The verify stage on real test frames; raises if it fails."""
    from bitwave.sim.verify import VerifyOptions, verify

    verify_path = hw_dir / "verify" / "result.json"
    # A few real frames through the RTL: Verilator's -O0 build is minutes faster to compile and
    # the simulation is short, so the whole check is faster than with an optimized model.
    _stage("verify", stages, verify_path.exists() and json.loads(verify_path.read_text()).get("passed", False),
           lambda: verify(hw_dir, VerifyOptions(sim=simulator, inputs=frames, fast_build=True)))  # fmt: skip
    verified = json.loads(verify_path.read_text())
    if not verified.get("passed"):
        raise BitwaveError(f"verification failed: see {verify_path}")
    return {
        "simulator": verified.get("simulator"),
        "verify_vectors": verified.get("vectors"),
        "verify_mismatches": verified.get("mismatches"),
        "verify_status": "passed",
    }


def _synthesize(design: Any, frames: list[Path], clock_mhz: float, stages: dict, sram: str) -> dict:
    """The synth stage: area, power, Fmax, and the power at the real-time frame rate
    (``sram``: what prices RAM macros, bitwave synth --sram)."""
    from bitwave.synth.flows.design import synthesize_design

    synth_dir = design.root / "synth"
    _stage("synth", stages, (synth_dir / "power.json").exists(),
           lambda: synthesize_design(design.root, clock_mhz=clock_mhz, sram=sram,
                                     inputs=frames[0] if len(frames) == 1 else frames))  # fmt: skip
    area = json.loads((synth_dir / "area.json").read_text())
    power = json.loads((synth_dir / "power.json").read_text())
    timing = json.loads((synth_dir / "timing.json").read_text())
    # The power simulation streams frames back to back at the clock; at the real-time frame
    # rate the design idles between frames: leakage, the dynamic energy of each frame times the
    # frame rate, and (synth measures it) the idle clock's dynamic power in between.
    frame_s = design.cycles_per_frame / (design.clock.mhz * 1e6)
    return {
        "area_um2": area["total_area_um2"], "area_by_block_um2": area.get("layers") or area.get("by_block", {}),
        "dynamic_w": power["dynamic_w"], "leakage_w": power["leakage_w"], "total_w": power["total_w"],
        "energy_per_frame_j": power["energy_per_frame_j"], "fmax_mhz": timing.get("max_clock_mhz"),
        "realtime_w": power.get("realtime_w",  # synth's figure (idle clock included) if it has one
                                power["leakage_w"] + power["dynamic_w"] * frame_s * design.targets.fps),
        "idle_dynamic_w": power.get("idle_dynamic_w"),
        **({"exits": power["exits"]} if power.get("exits") else {}),
        **({"clock_gating": area["clock_gating"]} if area.get("clock_gating") else {}),
    }  # fmt: skip


def _summary(
    config: dict, run: Path, quality: dict, by_noise: dict, hardware: dict, stages: dict
) -> dict:
    from bitwave.core import ir

    net = ir.load(run / "bitwise" / "model.bwir")
    targets: dict[str, float] = {
        "fraction_of_oracle": quality["bitwise"]["si_sdri"] / quality["oracle_ibm"]["si_sdri"]
    }
    if "float" in quality:
        targets["gap_to_float_db"] = quality["float"]["si_sdri"] - quality["bitwise"]["si_sdri"]
    return {
        "name": config["name"], "widths": net.widths, "ir_sha256": net.sha256,
        "parameters": parameters(net),
        "model": f"w{config['model']['wbits']}a{config['model']['abits']} {config['model']['kind']}",
        "quality": quality, "quality_by_noise": _by_noise_rows(by_noise), "targets": targets,
        "hardware": hardware, "stages": stages,
    }  # fmt: skip


def _scalable(config: dict, run: Path, hardware: dict, stage: scalable.Stage) -> dict:
    """The scalable section: the separate networks' hardware (generated and synthesized with
    the multi-exit design's folding) and the curve of every exit."""
    from bitwave.core import contract

    separate_hw: list[dict] = []
    if config["flow"]["synth"]:
        design = contract.load(run / "hw")
        count = config["flow"]["verify_vectors"]
        frames_of = lambda model: _test_frames(run, count, model)  # noqa: E731
        separate_hw = scalable.separate_hardware(config["hw"], run, design, frames_of, stage)
    return scalable.curve(config, run, hardware, separate_hw)


def _copy_reports(run: Path, report_dir: str | Path) -> None:
    for name in REPORT_FILES:
        if (run / name).exists():
            target = inside(report_dir, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(run / name, target)
