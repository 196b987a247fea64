"""``bitwave generate``: IR -> Verilog, manifest.json and a FuseSoC core (the contract in
docs/hw.md, read by bitwave.sim and bitwave.synth). The folder is built in a temporary sibling
and swapped in whole (``bitwave.core.paths.replaced_folder``): a regeneration leaves no file of
the earlier design (no old verify/ or synth/ results), and a failure leaves the old folder.

    DIR/model.bwir            the IR the design was built from
    DIR/rtl/<top>.v           Verilog, one module per component (each layer its own module)
    DIR/rtl/<top>.vlt         Verilator lint waivers for Amaranth output (documented)
    DIR/rtl/<top>_wmem.hex    (weights "memory") initial contents of the weight write bus
    DIR/manifest.json         ports, framing, folding, timing, hashes
    DIR/<top>.core            FuseSoC CAPI2 core
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import yaml
from amaranth.hdl import Shape, Value

from bitwave.core import audio as audio_path
from bitwave.core import contract, inputs, ir
from bitwave.core.contract import (
    Clock,
    ExitPoint,
    Exits,
    Folding,
    Layer,
    Manifest,
    Port,
    Reset,
    RtlFiles,
    SequenceStart,
    Stream,
    Targets,
)
from bitwave.core.errors import BitwaveError
from bitwave.core.ops import require_supported
from bitwave.core.paths import (
    atomic_write,
    inside,
    refuse_symlinked_folder,
    replaced_folder,
    sanitize_identifier,
    write_text,
)
from bitwave.hw import audio_chip
from bitwave.hw.audio_chip import AudioChip
from bitwave.hw.exits import EXIT_PORT
from bitwave.hw.folding import (
    DEFAULT_CLOCK_MHZ,
    DEFAULT_FPS,
    LayerFold,
    cycle_budget,
    parse_fold_spec,
    solve,
)
from bitwave.hw.lint import waiver_text
from bitwave.hw.network import START_PORT, NetworkTop, weight_image
from bitwave.hw.weights import STORAGE_STYLES

CORE_VERSION = "0.1.0"


@dataclass
class Generated:
    out_dir: Path
    top: str
    verilog: Path
    waivers: Path
    manifest: dict
    seconds: float


def top_name(net: ir.Network) -> str:
    return sanitize_identifier(f"bitwave_{net.name}")


def flatten_module_names(verilog: str, top: str) -> str:
    """Amaranth names submodules ``\\top.fc0.weights`` (escaped identifiers); make them plain
    ``top__fc0__weights`` so every downstream tool and report can name them."""
    pattern = re.compile(r"\\(" + re.escape(top) + r"(?:\.[A-Za-z0-9_$]+)+) ")

    def plain(match: re.Match) -> str:
        return match.group(1).replace(".", "__").replace("$", "_") + " "

    return pattern.sub(plain, verilog)


def ports_of(top: object) -> list[dict]:
    """Every top-level port of a component as the manifest lists it (clock and reset first)."""
    ports = [
        {"name": "clk", "direction": "input", "width": 1},
        {"name": "rst", "direction": "input", "width": 1},
    ]
    for path, member, value in top.signature.flatten(top):
        direction = "input" if member.flow.name == "In" else "output"
        ports.append(
            {
                "name": "__".join(map(str, path)),
                "direction": direction,
                "width": len(Value.cast(value)),
            }
        )
    return ports


def stream_of(name: str, beat_bits: int, value_type: ir.ValueType, elements: int) -> Stream:
    """An Amaranth stream member ``name`` (ports ``name__payload/valid/ready``) in the contract."""
    ports = (f"{name}__payload", f"{name}__valid", f"{name}__ready")
    return Stream.carrying(ports, beat_bits, value_type.bits, elements)


def contract_ports(component: object) -> tuple[Port, ...]:
    """Every top-level port of a component (clock and reset first), as contract ports."""
    return tuple(Port(p["name"], p["direction"], p["width"]) for p in ports_of(component))


def copy_ir(model: Path, out: Path) -> None:
    with open(model, "rb") as source, atomic_write(inside(out, "model.bwir"), "wb") as target:
        shutil.copyfileobj(source, target)


def write_verilog(component: object, out: Path, name: str) -> str:
    """Convert ``component`` to DIR/rtl/<name>.v with plain module names; returns the text."""
    from amaranth.back import verilog

    text = flatten_module_names(verilog.convert(component, name=name, emit_src=False), name)
    write_text(inside(out, "rtl", f"{name}.v"), text)
    return text


def _core_text(top: str) -> str:
    core = {
        "name": f"bitwave:generated:{top}:{CORE_VERSION}",
        "description": f"bitwave-generated XNOR-popcount network {top} (see manifest.json)",
        "filesets": {
            "rtl": {"files": [f"rtl/{top}.v"], "file_type": "verilogSource"},
            "lint_waivers": {"files": [{f"rtl/{top}.vlt": {"file_type": "vlt"}}]},
        },
        "targets": {
            "default": {"filesets": ["rtl"], "toplevel": top},
            "sim": {"default_tool": "verilator", "filesets": ["rtl"], "toplevel": top},
            "lint": {
                "default_tool": "verilator",
                "filesets": ["rtl", "lint_waivers"],
                "toplevel": top,
                "tools": {"verilator": {"mode": "lint-only", "verilator_options": ["-Wall"]}},
            },
        },
    }
    return "CAPI=2:\n" + yaml.safe_dump(core, sort_keys=False)


def choose_folding(
    net: ir.Network, clock_mhz: float, fps: float | None, fold_spec: str | None, weight_storage: str
) -> tuple[dict[str, LayerFold], dict]:
    if fold_spec is not None:
        folds = parse_fold_spec(fold_spec, net)
        return folds, {"source": "explicit", "spec": fold_spec}
    folds = solve(net, clock_mhz, fps if fps is not None else DEFAULT_FPS, weight_storage)
    spec = ";".join(
        f"{name}:pe={f.pe},simd={f.simd}" + (",pad" if f.pad else "") for name, f in folds.items()
    )
    return folds, {"source": "solver", "spec": spec}


def generate(
    model: str | Path,
    out_dir: str | Path,
    clock_mhz: float | None = None,
    fps: float | None = None,
    fold_spec: str | None = None,
    weight_storage: str = "const",
    beat_bits: int = 32,
    audio: bool = False,
    *,
    buffering: str = "double",
    audio_table: audio_path.AudioTables | None = None,
    audio_thresholds: np.ndarray | None = None,
) -> Generated:
    """Build the network top for ``model`` (with ``audio``: the full chip, PCM in and out,
    ``bitwave.hw.audio_chip``) and write the contract's files under ``out_dir``.
    ``audio_table`` / ``audio_thresholds``: a verification twin's mutated ROMs or integer
    coding thresholds (``bitwave.sim.mutation.ChipTwin``) to build the chip with instead of
    the IR's; the manifest's ``audio.twin`` then says so. ``buffering``: where frames are
    registered (``bitwave.hw.network.check_buffering``; "single" for feed-forward networks)."""
    start = time.perf_counter()
    model = _check_request(model, weight_storage)
    out = design_output(out_dir)
    net = ir.load(model)
    require_supported(net, "generate")
    if audio:
        if buffering != "double":
            raise BitwaveError(
                f"buffering {buffering!r} is not built for the full chip (--audio); use 'double'"
            )
        audio_chip.require_audio_network(net)
    elif audio_table is not None or audio_thresholds is not None:
        raise BitwaveError("audio ROMs or coding thresholds are for the full chip (audio=True)")
    clock = DEFAULT_CLOCK_MHZ if clock_mhz is None else clock_mhz
    target_fps = fps if fps is not None else DEFAULT_FPS
    cycle_budget(clock, target_fps)  # validates both numbers
    folds, folding = choose_folding(net, clock, fps, fold_spec, weight_storage)
    if audio:
        top = build_audio_chip(net, folds, weight_storage, audio_table, audio_thresholds)
    else:
        top = NetworkTop(net, folds, weight_storage, beat_bits, beat_bits, buffering)
    if fold_spec is None or fps is not None:
        _require_frame_rate(top, clock, target_fps)

    name = top_name(net)
    with replaced_folder(out) as building:
        manifest = _write_design(top, building, model, name, clock, target_fps, folding)
    return Generated(out, name, inside(out, "rtl", f"{name}.v"), inside(out, "rtl", f"{name}.vlt"),
                     manifest.to_json(), time.perf_counter() - start)  # fmt: skip


def build_audio_chip(
    net: ir.Network,
    folds: dict[str, LayerFold],
    weight_storage: str,
    table: audio_path.AudioTables | None = None,
    thresholds: np.ndarray | None = None,
) -> AudioChip:
    """The full chip of ``net`` as the IR defines it: its ``audio`` widths (else AudioSpec()),
    the integer thresholds of its coding boundaries, its coding's bit-planes, its mask floor;
    ``table`` / ``thresholds`` replace the ROMs / thresholds (a verification twin's)."""
    spec = net.audio or audio_path.AudioSpec()
    own = audio_path.coding_thresholds(net.coding.boundaries, spec)
    chosen = own if thresholds is None else np.asarray(thresholds)
    chip = AudioChip(net, folds, spec, chosen, net.mask_floor_gain, weight_storage, table)
    chip.twin = table is not None or not np.array_equal(chosen, own)
    return chip


def _write_design(
    top: NetworkTop | AudioChip, out: Path, model: Path, name: str, clock: float,
    target_fps: float, folding: dict,
) -> Manifest:  # fmt: skip
    """Write every file of the design folder into ``out``; returns the manifest."""
    text = write_verilog(top, out, name)
    write_text(inside(out, "rtl", f"{name}.vlt"), waiver_text())
    copy_ir(model, out)
    rtl = RtlFiles(f"rtl/{name}.v", f"rtl/{name}.vlt", len(text))
    if isinstance(top, AudioChip):
        manifest = chip_manifest(top, name, clock, target_fps, folding, rtl)
        network = top.network
    else:
        manifest = network_manifest(top, name, clock, target_fps, folding, rtl)
        network = top
    if network.weight_storage == "memory":
        manifest = replace(manifest, weight_memory=_write_weight_memory(network, out, name))
    contract.write(manifest, out)
    write_text(inside(out, f"{name}.core"), _core_text(name))
    return manifest


def design_output(out_dir: str | Path) -> Path:
    """The folder ``generate`` will (re)place: a new folder, an empty one, or a bitwave design
    folder (its files are all replaced); never a link, a folder holding one, or a folder of
    anything else, so a mistyped --out cannot delete a user's files."""
    out = inputs.output_dir(out_dir, "--out")
    if out.is_symlink() or not out.is_dir() or not any(out.iterdir()):
        return refuse_symlinked_folder(out, "--out")
    if not is_design_folder(out):
        raise BitwaveError(
            f"--out {out} is not a bitwave design folder (no {contract.MANIFEST} of a design) "
            "and not empty; allowed: a new or empty folder, or a design folder to regenerate "
            "(bitwave replaces only folders it made)"
        )
    return refuse_symlinked_folder(out, "--out")


def is_design_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a manifest.json that a bitwave generate wrote (any contract
    version: an older design folder may be regenerated, as the contract's refusal advises)."""
    path = folder / contract.MANIFEST
    try:
        if not path.is_file() or path.stat().st_size > contract.MAX_MANIFEST_BYTES:
            return False
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return False
    if not isinstance(data, dict):
        return False
    version = data.get("contract")
    return str(version).startswith("bitwave-design/") or "ir_sha256" in data


def _check_request(model: str | Path, weight_storage: str) -> Path:
    if weight_storage not in STORAGE_STYLES:
        raise BitwaveError(
            f"--weights {weight_storage!r}: expected one of {', '.join(STORAGE_STYLES)}"
        )
    model = Path(model)
    if not model.is_file():
        raise BitwaveError(
            f"{model}: no such IR file (expected a .bwir from bitwave random-ir or export)"
        )
    return model


def _require_frame_rate(top: NetworkTop | AudioChip, clock: float, target_fps: float) -> None:
    """The solver ignores the stream beats (and a chip's audio path): refuse a design slower
    than the rate asked for (at its slowest exit)."""
    if isinstance(top, AudioChip):
        cycles = top.cycles_per_frame
        beats = "one input / one output beat (the full chip)"
    else:
        cycles = top.slowest_cycles_per_frame
        beats = f"{top.in_beats} input / {top.out_beats} output beats"
    achieved = clock * 1e6 / cycles
    if achieved < target_fps:
        top.discard()
        raise BitwaveError(
            f"the design runs at {achieved:.6g} frames/s at {clock:g} MHz ({cycles} cycles "
            f"per frame), below the {target_fps:g} frames/s asked for: fold less (larger pe/simd), "
            f"raise --clock-mhz to at least {cycles * target_fps / 1e6:.6g}, or widen "
            f"--beat-bits if the stream is the bottleneck ({beats})"
        )


def network_manifest(
    top: NetworkTop, name: str, clock: float, target_fps: float, folding: dict, rtl: RtlFiles
) -> Manifest:
    """The contract of a generated network top (without the weight memory)."""
    net = top.net
    layers = tuple(
        layer_entry(block, f"{name}__{block_name}")
        for block_name, block in zip(top.block_names, top.blocks, strict=True)
    )
    achieved = clock * 1e6 / top.slowest_cycles_per_frame  # at every exit
    return Manifest(
        top=name, ir_sha256=net.sha256, ir_name=net.name,
        clock=Clock("clk", clock), reset=Reset("rst"), ports=contract_ports(top),
        input_stream=stream_of("data_in", top.in_beat_bits, net.input_type, net.input_width),
        output_stream=stream_of("data_out", top.out_beat_bits, net.output_type, net.output_width),
        layers=layers, cycles_per_frame=top.cycles_per_frame, latency_cycles=top.latency_cycles,
        targets=Targets(clock, target_fps, achieved), folding=Folding(**folding), rtl=rtl,
        sequence_start=SequenceStart(START_PORT) if top.recurrent else None,
        exits=exits_entry(top, name) if net.exits else None,
        buffering=None if top.buffering == "double" else top.buffering,
    )  # fmt: skip


def chip_manifest(
    chip: AudioChip, name: str, clock: float, target_fps: float, folding: dict, rtl: RtlFiles
) -> Manifest:
    """The contract of a full chip: the network's layers under ``<top>__network``, the PCM
    streams as the design's input and output streams (one sample per frame: a beat), the
    chip's timing, and the ``audio`` object (docs/hw.md, "The full chip")."""
    base = network_manifest(chip.network, f"{name}__network", clock, target_fps, folding, rtl)
    streams = [pcm_stream("pcm_in", chip.pcm_in), pcm_stream("pcm_out", chip.pcm_out)]
    pcm_in, pcm_out = (
        Stream.carrying(_stream_ports(port), entry["width"], entry["width"], 1)
        for port, entry in zip(("pcm_in", "pcm_out"), streams, strict=True)
    )
    cycles = chip.cycles_per_frame
    return replace(
        base, top=name, ports=contract_ports(chip), input_stream=pcm_in, output_stream=pcm_out,
        cycles_per_frame=cycles, latency_cycles=chip.latency_cycles,
        targets=Targets(clock, target_fps, clock * 1e6 / cycles), sequence_start=None, exits=None,
        audio=audio_entry(chip, name, clock, streams),
    )  # fmt: skip


def _stream_ports(name: str) -> tuple[str, str, str]:
    return (f"{name}__payload", f"{name}__valid", f"{name}__ready")


def pcm_stream(name: str, port: object) -> dict:
    """A PCM stream member's ports and payload fields (offset, width, signedness), LSB first."""
    data_port, valid, ready = _stream_ports(name)
    layout = port.payload.shape()
    fields = {
        key: {
            "offset": field.offset,
            "width": field.width,
            "signed": Shape.cast(field.shape).signed,
        }
        for key, field in layout
    }
    return {"data": data_port, "valid": valid, "ready": ready, "width": layout.size,
            "fields": fields}  # fmt: skip


def audio_entry(chip: AudioChip, name: str, clock: float, streams: list[dict]) -> dict:
    """The manifest's ``audio`` object: what a testbench, synth and enhance need of the chip."""
    fps = DEFAULT_FPS
    entry = {
        "spec": chip.spec.to_json(),
        "bits": chip.front.bits,
        "floor_gain_code": chip.back.gain,
        "min_utterance_samples": audio_chip.MIN_UTTERANCE_SAMPLES,
        "sample_rate_hz": round(fps * audio_path.HOP),
        "hop": audio_path.HOP,
        "frame": audio_path.N_FFT,
        "pcm_in": streams[0],
        "pcm_out": streams[1],
        "cycles_per_frame": chip.cycles_per_frame,
        "clock_mhz": clock,
        "frames_per_second": fps,
        # the share of the clock's cycles the chip is busy at real time (<= 1: it keeps up)
        "realtime_load": chip.cycles_per_frame * fps / (clock * 1e6),
        "parts": {part: f"{name}__{part}" for part in audio_chip.PARTS},
        "utterances": "back to back on pcm_in, last = 1 on an utterance's last sample, at least "
        "min_utterance_samples each; exit (multi-exit networks) is sampled with an utterance's "
        "first sample; pcm_out carries as many samples, last = 1 on the last",
    }
    if chip.twin:  # built with mutated ROMs or thresholds: not the IR's
        entry["twin"] = "built with a verification twin's ROMs or coding thresholds"
    if chip.net.exits:
        entry["exits"] = chip.net.n_exits
        # an utterance at an earlier exit may run faster (a shorter one-frame loop): the claim
        # per exit (index = exit), as the network manifest's exits.per_exit; cycles_per_frame
        # above is the slowest of them
        entry["cycles_per_frame_per_exit"] = chip.exits_cycles_per_frame
    if chip.network.recurrent:
        entry["recurrent"] = "the chip restarts every recurrent layer's state per utterance"
    return entry


def layer_entry(block: object, module: str) -> Layer:
    """A folded layer (chain layer or exit head) as the contract describes it."""
    return Layer(name=block.layer.name, module=module, op=block.layer.op,
                 in_width=block.layer.in_width, out_width=block.layer.out_width, pe=block.pe,
                 simd=block.simd, cycles_per_frame=block.cycles_per_frame,
                 initiation_interval=block.initiation_interval,
                 latency_cycles=block.latency_cycles, weight_storage=block.weight_storage,
                 padded=is_padded(block))  # fmt: skip


def exits_entry(top: NetworkTop, name: str) -> Exits:
    """The exit selector and, per exit, its path and timing (``NetworkTop.exit_*``)."""
    net, plan = top.net, top.exit_plan
    points = tuple(
        ExitPoint(index=k, name=net.exit_layers(k)[-1].name,
                  after=net.exits[k].after if k < plan.final else None,
                  layers=tuple(layer.name for layer in net.exit_layers(k)),
                  cycles_per_frame=top.exit_cycles_per_frame(k),
                  latency_cycles=top.exit_latency_cycles(k))
        for k in range(net.n_exits)
    )  # fmt: skip
    heads = tuple(
        layer_entry(head, f"{name}__{head_name}")
        for head_name, head in zip(top.head_names, top.heads, strict=True)
    )
    return Exits(port=EXIT_PORT, width=plan.tag_bits, count=net.n_exits,
                 order_fifo_depth=top.order_depth, per_exit=points, heads=heads)  # fmt: skip


def is_padded(block: object) -> bool:
    """Whether a folded layer's PE or SIMD does not divide its widths."""
    padded_lanes = any(width % block.simd for width in block.lane_widths)
    return block.layer.out_width % block.pe != 0 or padded_lanes


def _write_weight_memory(top: NetworkTop, out: Path, name: str) -> dict:
    """Describe the weight write bus and write its initial contents (one hex word per address)."""
    digits = -(-top.wmem_data_bits // 4)
    hex_path = inside(out, "rtl", f"{name}_wmem.hex")
    with atomic_write(hex_path, "w") as handle:
        for word in weight_image(top.net, top.folds):
            handle.write(f"{word:0{digits}x}\n")
    regions = []
    for region, block in zip(top.memory_map, top.all_blocks, strict=True):
        regions.append({
            "layer": region.layer, "base": region.base, "depth": region.depth,
            "word_bits": region.word_bits, "pe": block.pe, "simd": block.simd,
            "weight_bits": block.weight_bits, "steps_per_word": block.steps_per_word,
            "step_bits": block.step_bits,
        })  # fmt: skip
    return {
        "ports": {"en": "wmem__en", "addr": "wmem__addr", "data": "wmem__data"},
        "addr_bits": top.wmem_addr_bits,
        "word_bits": top.wmem_data_bits,
        "write": "on a rising clk edge with en=1, word addr := data (data bits above the "
        "region's word_bits are ignored); addresses outside every region are ignored",
        "layout": "fold step t = nf*SF + sf (SF = ceil(in_width/simd)) lives in region word "
        "t // steps_per_word at bits [(t % steps_per_word)*step_bits, +step_bits); within a step, "
        "lane (p, s) = weight of neuron nf*PE + p, input sf*SIMD + s at bits "
        "[(p*SIMD + s)*weight_bits, +weight_bits): 1-bit weights 1 = +1, 0 = -1; wider weights "
        "two's complement; lanes past the layer's width are ignored. A binary_gru region's "
        "'inputs' are its store columns: per unit, gates z, r, n each with its input weights "
        "then its state weights, each part zero-padded to whole SIMD folds",
        "init_file": f"rtl/{name}_wmem.hex",
        "regions": regions,
        "thresholds": "constants in the design (regenerate to change them)",
    }
