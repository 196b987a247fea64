"""``bitwave synth DIR``: synthesize a generated design folder (DIR/manifest.json, DIR/rtl/<top>.v)
and write DIR/synth/ (mapped netlist, area.json, timing.json, power.json, report.md).

The power simulation doubles as a functional check: a design generated with ``--weights
memory`` first gets its IR's weights through the write port (the documented layout,
``bitwave.sim.weight_loading``), and every output frame of the mapped netlist is compared
with the golden model of the design's IR. A mismatch is an error, not a result.

High-fanout nets get buffer trees first (``--max-fanout``, default 16, 0 for none; see
``bitwave.synth.eda.fanout``): the golden-model check, timing, power and area are all of the
repaired netlist, so the check also proves that the repair kept the function."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bitwave.core.errors import BitwaveError
from bitwave.core.paths import inside, sanitize_identifier, write_text
from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY
from bitwave.synth.eda.fanout import DEFAULT_MAX_FANOUT, check_max_fanout
from bitwave.synth.eda.gatesim import GateSimulator
from bitwave.synth.flows.asic import check_memory_mode
from bitwave.synth.flows.flow import AsicResult, require_ok, run_asic, write_json
from bitwave.synth.flows.stimulus import Stream, StreamRun, load_weights, stream_frames

DEFAULT_LANES = 64
DEFAULT_FRAMES_PER_LANE = 8


@dataclass
class Manifest:
    root: Path
    data: dict
    top: str
    rtl: Path
    clock_port: str
    clock_mhz: float
    reset_port: str
    source: Stream
    sink: Stream
    cycles_per_frame: int
    latency_cycles: int
    ports: dict[str, tuple[str, int]]
    layers: list[dict]


def _stream(data: dict, key: str, ports: dict[str, tuple[str, int]]) -> Stream:
    stream = data.get(key)
    if not isinstance(stream, dict):
        raise BitwaveError(
            f"manifest {key} must be an object with data, valid, ready, bits_per_beat, beats_per_frame"
        )
    for name in ("data", "valid", "bits_per_beat", "beats_per_frame"):
        if name not in stream:
            raise BitwaveError(f"manifest {key} lacks {name!r}")
    for name in ("data", "valid", "ready"):
        port = stream.get(name)
        if port is not None and port not in ports:
            raise BitwaveError(
                f"manifest {key}.{name} names port {port!r}, which is not in manifest ports"
            )
    return Stream(
        stream["data"],
        stream["valid"],
        stream.get("ready"),
        int(stream["bits_per_beat"]),
        int(stream["beats_per_frame"]),
    )


def read_manifest(design_dir: str | Path) -> Manifest:
    root = Path(design_dir)
    path = root / "manifest.json"
    if not path.is_file():
        raise BitwaveError(f"{root} is not a generated design folder: {path} is missing")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise BitwaveError(f"{path} is not valid JSON: {error}") from error
    for key in (
        "top",
        "clock",
        "reset",
        "ports",
        "input_stream",
        "output_stream",
        "cycles_per_frame",
        "latency_cycles",
    ):
        if key not in data:
            raise BitwaveError(f"manifest {path} lacks {key!r}")
    top = data["top"]
    if not isinstance(top, str) or sanitize_identifier(top) != top:
        raise BitwaveError(
            f"manifest top {top!r} must be a plain identifier [A-Za-z_][A-Za-z0-9_]*"
        )
    rtl = inside(root, "rtl", f"{top}.v")
    if not rtl.is_file():
        raise BitwaveError(f"the design's Verilog {rtl} is missing")
    ports = {}
    for port in data["ports"]:
        try:
            ports[port["name"]] = (port["direction"], int(port["width"]))
        except (KeyError, TypeError, ValueError):
            raise BitwaveError(f"manifest port {port!r} needs name, direction and width") from None
    clock = data["clock"]
    if not isinstance(clock, dict) or "port" not in clock:
        raise BitwaveError('manifest clock must be {"port": ..., "mhz": ...}')
    reset = data["reset"]
    if not isinstance(reset, dict) or "port" not in reset:
        raise BitwaveError('manifest reset must be {"port": ...}')
    return Manifest(
        root=root,
        data=data,
        top=top,
        rtl=rtl,
        clock_port=clock["port"],
        clock_mhz=float(clock.get("mhz") or data.get("targets", {}).get("clock_mhz") or 100.0),
        reset_port=reset["port"],
        source=_stream(data, "input_stream", ports),
        sink=_stream(data, "output_stream", ports),
        cycles_per_frame=int(data["cycles_per_frame"]),
        latency_cycles=int(data["latency_cycles"]),
        ports=ports,
        layers=list(data.get("layers", [])),
    )


def binary_macs_per_frame(layers: list[dict]) -> int:
    """MACs of one frame: a layer's macs_per_frame, else in_width x out_width (dense layers)."""
    total = 0
    for layer in layers:
        if not isinstance(layer, dict):
            continue
        if "macs_per_frame" in layer:
            total += int(layer["macs_per_frame"])
        elif "in_width" in layer and "out_width" in layer:
            total += int(layer["in_width"]) * int(layer["out_width"])
    return total


def load_frames(
    manifest: Manifest, inputs: str | Path | None, lanes: int, per_lane: int, seed: int = 0
) -> np.ndarray:
    """(lanes, per_lane, bits_per_frame) booleans as the input stream carries them.

    A design that carries its IR (every ``bitwave generate`` output) takes ``inputs`` as the
    other stages do (IR input codes, or float features its coding encodes) and otherwise
    random codes of its input type; a hand-made design without an IR takes random frames."""
    from bitwave.core import golden, ir
    from bitwave.core.random_ir import random_codes
    from bitwave.hw.framing import codes_to_frame_bits

    bits = manifest.source.bits_per_frame
    rng = np.random.default_rng(seed)
    ir_path = manifest.root / "model.bwir"
    if not ir_path.is_file():
        if inputs is not None:
            raise BitwaveError(
                f"--inputs needs the design's IR ({ir_path}) to interpret the frames"
            )
        return rng.integers(0, 2, (lanes, per_lane, bits)).astype(bool)
    net = ir.load(ir_path)
    if inputs is None:
        codes = random_codes(net.input_type, lanes * per_lane, net.input_width, rng)
    else:
        codes = golden.load_input_frames(inputs, net)
        if len(codes) < 1:
            raise BitwaveError(f"--inputs {inputs} holds no frames")
        # Spread the frames over the lanes, reusing them cyclically when there are fewer.
        codes = codes[np.arange(lanes * per_lane) % len(codes)]
    frames = codes_to_frame_bits(codes, net.input_type.bits, bits)
    return frames.reshape(lanes, per_lane, bits)


def frame_codes(frames: np.ndarray, elements: int, element_bits: int) -> np.ndarray:
    """(..., bits_per_frame) booleans -> (..., elements) integer codes (LSB first)."""
    bits = frames[..., : elements * element_bits].reshape(
        *frames.shape[:-1], elements, element_bits
    )
    return (bits.astype(np.int64) << np.arange(element_bits)).sum(axis=-1)


def expected_beats(manifest: Manifest, frames: np.ndarray) -> list[list[int]] | None:
    """Per lane, the output beats the golden model of DIR/model.bwir gives for ``frames``
    (each lane its own sequence of frames); None for a design without its IR."""
    from bitwave.core import golden, ir
    from bitwave.hw.framing import frame_to_beats

    ir_path = manifest.root / "model.bwir"
    if not ir_path.is_file():
        return None
    net = ir.load(ir_path)
    codes = frame_codes(frames, net.input_width, net.input_type.bits)
    outputs = golden.run_sequences(net, list(codes))
    bits, beat = net.output_type.bits, manifest.sink.bits_per_beat
    return [[b for frame in lane for b in frame_to_beats(frame, bits, beat)] for lane in outputs]


def check_outputs(expected: list[list[int]] | None, stream: StreamRun, beats: int) -> dict:
    """Compare the netlist's output beats with the golden model's, frame by frame."""
    if expected is None:
        return {"checked": False, "reason": "the design folder has no model.bwir"}
    frames = mismatched = 0
    first = None
    for lane, (want, got) in enumerate(zip(expected, stream.outputs, strict=True)):
        for index in range(len(want) // beats):
            frames += 1
            if (
                got[index * beats : (index + 1) * beats]
                != want[index * beats : (index + 1) * beats]
            ):
                mismatched += 1
                first = first or {"lane": lane, "frame": index}
    return {
        "checked": True,
        "frames": frames,
        "mismatched_frames": mismatched,
        "first_mismatch": first,
    }


def synthesize_design(
    design_dir: str | Path,
    liberty: str | Path | None = None,
    clock_mhz: float | None = None,
    inputs: str | Path | None = None,
    lanes: int = DEFAULT_LANES,
    frames_per_lane: int = DEFAULT_FRAMES_PER_LANE,
    memories: str = "auto",
    max_fanout: int = DEFAULT_MAX_FANOUT,
) -> dict:
    """Run the ASIC flow on a generated design and write DIR/synth/. Returns the summary.
    ``memories``: "auto" keeps RAMs as modelled macros and maps ROMs to logic, "macro" keeps
    every memory as a macro, "cells" maps them all to cells (see ``bitwave.synth.flows.asic``).
    ``max_fanout``: nets with more loads get buffer trees (0: no repair)."""
    check_memory_mode(memories)
    check_max_fanout(max_fanout)
    manifest = read_manifest(design_dir)
    liberty_path = Path(liberty) if liberty else COMPACT_LIBRARY
    mhz = float(clock_mhz) if clock_mhz else manifest.clock_mhz
    if mhz <= 0:
        raise BitwaveError(f"--clock-mhz must be positive, got {mhz}")
    out = inside(manifest.root, "synth")
    frames = load_frames(manifest, inputs, lanes, frames_per_lane)
    run: dict[str, StreamRun] = {}
    driven = {
        manifest.clock_port,
        manifest.reset_port,
        manifest.source.data,
        manifest.source.valid,
        manifest.sink.ready,
    }
    idle = [
        name
        for name, (direction, _) in manifest.ports.items()
        if direction == "input" and name not in driven
    ]

    weight_memory = manifest.data.get("weight_memory")
    writes = None
    if weight_memory is not None:
        from bitwave.core import ir
        from bitwave.sim.weight_loading import weight_writes

        ir_path = manifest.root / "model.bwir"
        if not ir_path.is_file():
            raise BitwaveError(f"{ir_path} is missing: the weights to load come from the IR")
        writes = weight_writes(weight_memory, ir.load(ir_path))
        idle = [name for name in idle if name not in (writes.en, writes.addr, writes.data)]

    def drive(sim: GateSimulator) -> None:
        if writes is not None:
            run["weights"] = load_weights(sim, writes, manifest.reset_port)
            sim.reset_activity()  # power describes inference, not the weight load
        run["stream"] = stream_frames(
            sim, frames, manifest.source, manifest.sink, manifest.reset_port,
            manifest.cycles_per_frame, manifest.latency_cycles, idle,
        )  # fmt: skip

    start = time.perf_counter()
    result = run_asic(
        [manifest.rtl],
        manifest.top,
        liberty_path,
        mhz * 1e6,
        drive,
        lanes=lanes,
        keep_dir=out,
        clock_port=manifest.clock_port,
        memories=memories,
        max_fanout=max_fanout,
    )
    require_ok(result)
    stream = run["stream"]
    if stream.frames_out == 0:
        raise BitwaveError(
            f"the design produced no output frame in {stream.cycles} simulated cycles: check the stream ports"
        )
    check = check_outputs(expected_beats(manifest, frames), stream, manifest.sink.beats_per_frame)
    check["weights_loaded"] = run.get("weights", 0)
    seconds = time.perf_counter() - start
    summary = write_reports(out, manifest, result, stream, mhz, seconds, inputs, check)
    if check.get("mismatched_frames"):
        raise BitwaveError(
            f"the mapped netlist's outputs differ from the golden model of {manifest.root / 'model.bwir'} "
            f"in {check['mismatched_frames']} of {check['frames']} frames (first: lane "
            f"{check['first_mismatch']['lane']}, frame {check['first_mismatch']['frame']}); reports in {out}"
        )
    return summary


def write_reports(
    out: Path,
    manifest: Manifest,
    result: AsicResult,
    stream: StreamRun,
    mhz: float,
    seconds: float,
    inputs: object,
    check: dict | None = None,
) -> dict:
    period_s = 1e-6 / mhz
    power = result.power
    # Energy of one frame: the average power over the run times the frame's cycles.
    frame_time = manifest.cycles_per_frame * period_s
    energy_per_frame = power.total_w * frame_time
    block_module = {
        layer.get("module"): layer.get("name")
        for layer in manifest.layers
        if isinstance(layer, dict)
    }
    area = result.area_json()
    area["layers"] = {block_module[b]: a for b, a in result.by_block.items() if b in block_module}
    timing = result.timing.to_json()
    timing["clock_mhz"] = mhz
    timing["slack_ns"] = period_s * 1e9 - result.timing.min_period_s * 1e9
    repair = result.fanout.to_json() if result.fanout else None
    timing["fanout_repair"] = repair
    macs = binary_macs_per_frame(manifest.layers)
    power_json = power.to_json()
    power_json.update({
        "energy_per_frame_j": energy_per_frame,
        "frames_per_second_at_clock": 1.0 / frame_time,
        "energy_per_binary_mac_j": energy_per_frame / macs if macs else None,
        "stimulus": {
            "source": str(inputs) if inputs else "random frames",
            "lanes": stream.lanes, "cycles": stream.cycles,
            "frames_in": stream.frames_in, "frames_out": stream.frames_out,
        },
        "opensta": result.opensta,
        "opensta_skipped": result.extra.get("opensta_skipped"),
        "golden_check": check,
    })  # fmt: skip
    if not macs:
        power_json["energy_per_binary_mac_note"] = (
            "manifest layers give neither macs_per_frame nor in_width/out_width"
        )
    write_json(out / "area.json", area)
    write_json(out / "timing.json", timing)
    write_json(out / "power.json", power_json)
    lines = [
        f"# Synthesis report: {manifest.top}",
        "",
        f"Liberty: `{Path(result.liberty).name}`; clock {mhz:g} MHz; Yosys {result.yosys_seconds:.1f} s, whole flow {seconds:.1f} s.",
        f"Memories: `{result.memories}` ("
        + (
            {
                "auto": "RAMs kept as macros priced by the memory macro model, an estimate (see "
                "synth/README.md); ROMs mapped to logic",
                "macro": "kept as macros priced by the memory macro model, an estimate: see synth/README.md",
            }.get(result.memories, "mapped to flip-flops and logic")
        )
        + ").",
        "",
        "| figure | value |",
        "|---|---|",
        f"| area | {result.area_um2:,.1f} um^2 ({area['cells']} cells"
        + (f" + {len(result.macros)} memory macros" if result.macros else "")
        + ") |",
        f"| area: standard cells / macros | {result.standard_cell_area_um2:,.1f} / {result.macro_area_um2:,.1f} um^2 |",
        "| fanout repair | " + _fanout_row(result) + " |",
        f"| critical path | {result.timing.critical_path_s * 1e9:.3f} ns + setup {result.timing.setup_s * 1e9:.3f} ns |",
        f"| max clock | {result.timing.max_clock_mhz:,.1f} MHz |",
        f"| dynamic power | {power.dynamic_w * 1e3:.4f} mW |",
        f"| leakage power | {power.leakage_w * 1e3:.4f} mW |",
        f"| total power | {power.total_w * 1e3:.4f} mW |",
        f"| energy per frame | {energy_per_frame * 1e9:.4f} nJ ({manifest.cycles_per_frame} cycles) |",
        f"| energy per binary MAC | {energy_per_frame / macs * 1e15:.3f} fJ ({macs} MACs/frame) |"
        if macs
        else "| energy per binary MAC | n/a |",
        f"| mean net activity | {power.mean_activity:.4f} transitions/cycle over {stream.cycles} cycles x {stream.lanes} lanes |",
        f"| timing endpoint | {result.timing.endpoint} |",
        "| golden-model check | "
        + (
            f"{check['frames'] - check['mismatched_frames']} of {check['frames']} output frames equal"
            if check and check.get("checked")
            else "not run" + (f" ({check['reason']})" if check else "")
        )
        + " |",
        "",
        "## By block",
        "",
        "| block | layer | area um^2 | power mW |",
        "|---|---|---|---|",
    ]
    for block, block_area in result.by_block.items():
        watts = power.by_block.get(block, {}).get("total_w", 0.0)
        lines.append(
            f"| {block} | {block_module.get(block, '')} | {block_area:,.1f} | {watts * 1e3:.4f} |"
        )
    if result.macros:
        accesses = {m["name"]: m for m in power.macros}
        lines += [
            "", "## Memory macros", "",
            "| macro | block | kind | words x bits | area um^2 | access ns | reads | bits written | "
            "read energy pJ | power mW |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]  # fmt: skip
        for macro in result.macros:
            used = accesses.get(macro["name"], {})
            lines.append(
                f"| {macro['name']} | {macro['block']} | {macro['kind']} | {macro['depth']} x {macro['width']} "
                f"| {macro['area_um2']:,.1f} | {macro['access_ns']:.3f} | {used.get('reads', 0)} "
                f"| {used.get('bits_written', 0)} | {macro['read_energy_j'] * 1e12:.4f} "
                f"| {used.get('total_w', 0.0) * 1e3:.4f} |"
            )
    lines += ["", "## By cell", "", "| cell | count | area um^2 |", "|---|---|---|"]
    for cell, entry in result.by_cell.items():
        lines.append(f"| {cell} | {entry['count']} | {entry['area_um2']:,.1f} |")
    if result.opensta:
        o = result.opensta
        lines += [
            "", "## OpenSTA cross-check", "",
            f"At activity {o['activity_per_cycle']:.4f} on every net: OpenSTA {o['opensta_total_w'] * 1e3:.4f} mW, "
            f"bitwave {o['bitwave_uniform_total_w'] * 1e3:.4f} mW (ratio {o['power_ratio_bitwave_over_opensta']:.3f}). "
            f"Critical path: OpenSTA {o['opensta_arrival_ns']:.3f} ns, bitwave {o['bitwave_arrival_ns']:.3f} ns.",
        ]  # fmt: skip
    lines += [
        "",
        "Model: zero-delay cycle simulation of the mapped netlist (no glitches), pin-capacitance loads "
        "without wire load, ideal clock (excluded from fanout repair: no clock-tree synthesis), "
        "buffer trees on nets above the max fanout (one buffer cell, no sizing); internal energy "
        "from the liberty at each net's load and slew.",
        "",
    ]
    write_text(out / "report.md", "\n".join(lines))
    return {
        "memories": result.memories,
        "total_area_um2": result.area_um2,
        "standard_cell_area_um2": result.standard_cell_area_um2,
        "macro_area_um2": result.macro_area_um2,
        "macros": len(result.macros),
        "max_fanout": repair["max_fanout"] if repair else 0,
        "fanout_buffers": repair["buffers"] if repair else 0,
        "fanout_buffer_area_um2": repair["buffer_area_um2"] if repair else 0.0,
        "max_clock_mhz": result.timing.max_clock_mhz,
        "total_w": power.total_w,
        "energy_per_frame_j": energy_per_frame,
        "golden_mismatched_frames": (check or {}).get("mismatched_frames"),
        "yosys_seconds": result.yosys_seconds,
        "seconds": seconds,
        "out": str(out),
    }


def _fanout_row(result: AsicResult) -> str:
    repair = result.fanout
    if repair is None or repair.max_fanout == 0:
        return "off (--max-fanout 0): every net timed with its whole load on its driver"
    if not repair.buffers:
        return (
            f"max fanout {repair.max_fanout}: no net above it "
            f"(largest {repair.largest_fanout_before}), no buffers"
        )
    return (
        f"max fanout {repair.max_fanout}: {repair.buffers:,} {repair.buffer_cell} on "
        f"{repair.nets_repaired:,} nets, {repair.buffer_area_um2:,.1f} um^2; largest fanout "
        f"{repair.largest_fanout_before:,} -> {repair.largest_fanout_after:,} (clock excluded)"
    )
