"""Multi-exit designs in ``bitwave synth``: the exit selector's stimulus, the power of every
exit, and the area of the heads and of the exit glue.

A multi-exit design (a manifest with ``exits``) is synthesized once. The same mapped netlist
is then simulated several times on the same frames: once with every frame at exit k, for each
exit (its activity-based power: the layers beyond exit k never see a frame, so only their
clock pins and leakage remain), and once with a random selector per frame (seeded; values
past the final exit included, which select the final exit), whose outputs are checked
against ``golden.run(net, x, exits=...)``. Every run's outputs are checked against the
golden model at the exits it drove. The top-level power figures stay the final exit's, so
readers that ignore exits see the final network, as they do in the manifest.

Energy per frame at exit k = its average power over the run x its cycles per frame (the
manifest's ``per_exit``) at the clock, as the top-level figure is computed; its binary MACs
are those of ``net.exit_layers(k)``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitwave.core import ir, ops
from bitwave.core.contract import Design, Exits
from bitwave.synth.eda.power import PowerReport, realtime_power

SWITCHING = "exits switching"  # the run with a random exit per frame
# hw names the order FIFO's block after the top (the manifest lists layers and heads only)
ORDER_FIFO_SUFFIX = "__exit_order"


def exit_run(k: int) -> str:
    """The name of the run with every frame at exit ``k``."""
    return f"exit {k}"


def random_selectors(exits: Exits, lanes: int, per_lane: int, seed: int) -> np.ndarray:
    """(lanes, per_lane) selector values drawn uniformly over the port's range, so values past
    the final exit (which select it) come up too; from their own generator, so a design's
    frames do not depend on its exits."""
    rng = np.random.default_rng([seed, 1])
    return rng.integers(0, 1 << exits.width, (lanes, per_lane))


def selected_exits(exits: Exits, selectors: np.ndarray) -> np.ndarray:
    """The exit of every selector value (``Exits.exit_of``), same shape."""
    flat = [exits.exit_of(int(v)) for v in np.asarray(selectors).reshape(-1)]
    return np.array(flat, dtype=np.int64).reshape(np.shape(selectors))


def steady_period(exits: Exits, selectors: np.ndarray | None) -> int | None:
    """The steady-state cycles per frame of a run whose frames all take one exit (the
    manifest's ``per_exit``), else None (a run with exits switching has no steady state)."""
    if selectors is None or not selectors.size or np.any(selectors != selectors.flat[0]):
        return None
    return exits.per_exit[exits.exit_of(int(selectors.flat[0]))].cycles_per_frame


@dataclass
class ExitRuns:
    """What the per-exit runs measured: ``powers[k]``, ``checks[k]`` and ``streams[k]`` with
    every frame at exit k (the last: the final exit, the top-level run), ``windows[k]`` the
    power in that run's steady-state window (None if it had none), and the run with the exit
    switching per frame (``switching_*``; ``frames_per_exit``: how many frames it sent to each
    exit)."""

    powers: list[PowerReport]
    windows: list[PowerReport | None]
    checks: list[dict]
    streams: list[object]  # bitwave.synth.flows.stimulus.StreamRun
    switching_power: PowerReport
    switching_stream: object
    frames_per_exit: list[int]


def exit_entries(
    design: Design, net: ir.Network | None, runs: ExitRuns, mhz: float,
    idle_dynamic_w: float | None = None,
) -> list[dict]:  # fmt: skip
    """power.json ``exits``: per exit its timing (manifest), power, energy per frame, power at
    the manifest's frame rate (``realtime_power``, with the design's idle dynamic power between
    frames), binary MACs, and the fractions of the final exit's MACs and dynamic energy per
    frame."""
    period_s = 1e-6 / mhz
    fps = design.targets.fps
    modules = {layer.name: layer.module for layer in (*design.layers, *design.exits.heads)}
    entries = []
    for point, power, window, check, stream in zip(
        design.exits.per_exit, runs.powers, runs.windows, runs.checks, runs.streams, strict=True
    ):
        frame_s = point.cycles_per_frame * period_s
        energy, dynamic = power.total_w * frame_s, power.dynamic_w * frame_s
        macs = ops.exit_macs(net)[point.index] if net is not None else None
        by_block = {block: entry["total_w"] - entry["leakage_w"]
                    for block, entry in power.by_block.items()}  # fmt: skip
        idle = [modules[name] for name in modules if name not in point.layers]
        entries.append({
            "exit": point.index, "name": point.name, "after": point.after,
            "layers": list(point.layers),
            "cycles_per_frame": point.cycles_per_frame, "latency_cycles": point.latency_cycles,
            "dynamic_w": power.dynamic_w, "leakage_w": power.leakage_w, "total_w": power.total_w,
            "energy_per_frame_j": energy, "dynamic_energy_per_frame_j": dynamic,
            "realtime_w": realtime_power(power.leakage_w, dynamic, idle_dynamic_w, frame_s, fps)
            if fps else None,
            "binary_macs_per_frame": macs,
            "energy_per_binary_mac_j": energy / macs if macs else None,
            "dynamic_w_by_block": by_block,
            # the layers and heads beyond or beside the exit: no frame, only their clock pins
            "idle_blocks": idle,
            "idle_blocks_dynamic_w": sum(by_block.get(module, 0.0) for module in idle),
            "stimulus": {"cycles": stream.cycles, "frames_in": stream.frames_in,
                         "frames_out": stream.frames_out},
            "steady_state": _steady_json(window, stream, frame_s),
            "golden_check": check,
        })  # fmt: skip
    final = entries[-1]
    for entry in entries:
        entry["dynamic_energy_fraction_of_final"] = (
            entry["dynamic_energy_per_frame_j"] / final["dynamic_energy_per_frame_j"]
        )
        if entry["steady_state"] and final["steady_state"]:
            entry["steady_state"]["dynamic_energy_fraction_of_final"] = (
                entry["steady_state"]["dynamic_energy_per_frame_j"]
                / final["steady_state"]["dynamic_energy_per_frame_j"]
            )
        entry["mac_fraction_of_final"] = (
            entry["binary_macs_per_frame"] / final["binary_macs_per_frame"]
            if final["binary_macs_per_frame"]
            else None
        )
    return entries


def _steady_json(window: PowerReport | None, stream: object, frame_s: float) -> dict | None:
    """The steady-state window's figures (frames back to back, no fill or drain), per frame
    as the run's: its power x the exit's frame time."""
    if window is None:
        return None
    return {
        "window_cycles": stream.window_cycles,
        "frames_per_lane": stream.window_frames,
        "dynamic_w": window.dynamic_w,
        "total_w": window.total_w,
        "energy_per_frame_j": window.total_w * frame_s,
        "dynamic_energy_per_frame_j": window.dynamic_w * frame_s,
    }


def switching_json(runs: ExitRuns, check: dict) -> dict:
    """power.json ``exit_switching``: the run with a random exit per frame."""
    stream = runs.switching_stream
    return {
        "frames_per_exit": runs.frames_per_exit,
        "cycles": stream.cycles,
        "frames_in": stream.frames_in,
        "frames_out": stream.frames_out,
        "dynamic_w": runs.switching_power.dynamic_w,
        "total_w": runs.switching_power.total_w,
        "golden_check": check,
    }


def exit_area(design: Design, by_block: dict[str, float]) -> dict:
    """area.json ``exits``: every head's block, the order FIFO's, and the top's own glue (the
    demuxes after the exits' layers and the merge before the serializer)."""
    heads = {head.name: by_block.get(head.module, 0.0) for head in design.exits.heads}
    return {
        "heads": heads,
        "heads_um2": sum(heads.values()),
        "order_fifo_um2": by_block.get(design.top + ORDER_FIFO_SUFFIX, 0.0),
        "top_glue_um2": by_block.get(design.top, 0.0),
    }


def block_roles(design: Design) -> dict[str, str]:
    """What the report calls each block of a multi-exit design besides its layers."""
    roles = {head.module: f"{head.name} (head of exit {k})"
             for k, head in enumerate(design.exits.heads)}  # fmt: skip
    roles[design.top + ORDER_FIFO_SUFFIX] = "exit order FIFO"
    roles[design.top] = "top glue (exit demuxes, merge)"
    return roles


def exit_table(entries: list[dict], fps: float | None) -> list[str]:
    """report.md's per-exit section: the table and how the dynamic energy per frame falls
    with the exit against the binary MACs the exit runs."""
    rate = f"at {fps:g} frames/s mW" if fps else "at the frame rate"
    lines = [
        "", "## Per exit (every frame at that exit)", "",
        "| exit | layers | cycles/frame | binary MACs/frame | dynamic mW | total mW | "
        "energy/frame nJ | dynamic energy/frame nJ | steady state: dynamic energy/frame nJ | "
        f"{rate} | golden check |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for e in entries:
        realtime = f"{e['realtime_w'] * 1e3:.4f}" if e["realtime_w"] is not None else "n/a"
        check = e["golden_check"]
        checked = (f"{check['frames'] - check['mismatched_frames']} of {check['frames']} equal"
                   if check.get("checked") else "not run")  # fmt: skip
        steady = e["steady_state"]
        lines.append(
            f"| {e['exit']} ({e['name']}) | {' -> '.join(e['layers'])} | {e['cycles_per_frame']} "
            f"| {_share(e['binary_macs_per_frame'], e['mac_fraction_of_final'], ',')} "
            f"| {e['dynamic_w'] * 1e3:.4f} | {e['total_w'] * 1e3:.4f} "
            f"| {e['energy_per_frame_j'] * 1e9:.4f} "
            f"| {_share(e['dynamic_energy_per_frame_j'] * 1e9, e['dynamic_energy_fraction_of_final'])} "
            f"| {_share(steady and steady['dynamic_energy_per_frame_j'] * 1e9, steady and steady.get('dynamic_energy_fraction_of_final'))} "
            f"| {realtime} | {checked} |"
        )  # fmt: skip
    lines += [
        "",
        "Energy per frame: the run's average power x the exit's cycles per frame (as the "
        "figures above); the run includes the pipeline's fill and drain, which last as long "
        "as the exit's latency. Steady state: the same over whole frame periods in which "
        "every stage on the exit's path is busy (frames back to back).",
        "",
        *energy_scaling(entries),
    ]
    return lines


def _share(value: float | None, fraction: float | None, digits: str = ".4f") -> str:
    """A figure with its share of the final exit's, or n/a."""
    if value is None:
        return "n/a"
    share = f" ({fraction:.1%})" if fraction is not None else ""
    return f"{value:{digits}}{share}"


def energy_scaling(entries: list[dict]) -> list[str]:
    """One sentence per early exit: its share of the final exit's binary MACs and dynamic
    energy per frame (whole run; steady state)."""
    lines = []
    for e in entries[:-1]:
        macs = (f"runs {e['mac_fraction_of_final']:.1%} of the final exit's binary MACs; it "
                if e["mac_fraction_of_final"] is not None else "")  # fmt: skip
        steady = (e["steady_state"] or {}).get("dynamic_energy_fraction_of_final")
        steady_text = f", {steady:.1%} in steady state" if steady is not None else ""
        lines.append(
            f"- Exit {e['exit']} {macs}uses {e['dynamic_energy_fraction_of_final']:.1%} of the "
            f"final exit's dynamic energy per frame over the run{steady_text}; "
            f"{e['idle_blocks_dynamic_w'] / e['dynamic_w']:.1%} of its dynamic power is drawn by "
            f"the {len(e['idle_blocks'])} layers it leaves idle (their ungated flip-flops and "
            "clock gates)."
        )
    return lines
