"""``bitwave generate``: IR -> Verilog, manifest.json and a FuseSoC core (the contract in
docs/hw.md, read by bitwave.sim and bitwave.synth).

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
from dataclasses import dataclass
from pathlib import Path

import yaml

from bitwave.core import ir
from bitwave.core.errors import BitwaveError
from bitwave.core.paths import atomic_write, inside, sanitize_identifier, write_text
from bitwave.hw.folding import (
    DEFAULT_CLOCK_MHZ,
    DEFAULT_FPS,
    LayerFold,
    cycle_budget,
    parse_fold_spec,
    solve,
)
from bitwave.hw.lint import waiver_text
from bitwave.hw.network import NetworkTop, weight_image
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
            {"name": "__".join(map(str, path)), "direction": direction, "width": len(value)}
        )
    return ports


def _stream(name: str, beat_bits: int, beats: int, value_type: ir.ValueType, elements: int) -> dict:
    return {
        "data": f"{name}__payload",
        "valid": f"{name}__valid",
        "ready": f"{name}__ready",
        "bits_per_beat": beat_bits,
        "beats_per_frame": beats,
        "element_bits": value_type.bits,
        "elements": elements,
    }


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
) -> Generated:
    """Build the network top for ``model`` and write the contract's files under ``out_dir``."""
    from amaranth.back import verilog

    start = time.perf_counter()
    if weight_storage not in STORAGE_STYLES:
        raise BitwaveError(
            f"--weights {weight_storage!r}: expected one of {', '.join(STORAGE_STYLES)}"
        )
    model = Path(model)
    if not model.is_file():
        raise BitwaveError(
            f"{model}: no such IR file (expected a .bwir from bitwave random-ir or export)"
        )
    net = ir.load(model)
    clock = DEFAULT_CLOCK_MHZ if clock_mhz is None else clock_mhz
    cycle_budget(clock, fps if fps is not None else DEFAULT_FPS)  # validates both numbers
    folds, folding = choose_folding(net, clock, fps, fold_spec, weight_storage)
    top = NetworkTop(net, folds, weight_storage, beat_bits, beat_bits)
    achieved = clock * 1e6 / top.cycles_per_frame
    target_fps = fps if fps is not None else DEFAULT_FPS
    if (fold_spec is None or fps is not None) and achieved < target_fps:
        top.discard()
        raise BitwaveError(
            f"the design runs at {achieved:.6g} frames/s at {clock:g} MHz ({top.cycles_per_frame} cycles "
            f"per frame), below the {target_fps:g} frames/s asked for: fold less (larger pe/simd), "
            f"raise --clock-mhz to at least {top.cycles_per_frame * target_fps / 1e6:.6g}, or widen "
            f"--beat-bits if the stream is the bottleneck ({top.in_beats} input / {top.out_beats} output beats)"
        )

    name = top_name(net)
    text = verilog.convert(top, name=name, emit_src=False)
    text = flatten_module_names(text, name)

    out = Path(out_dir)
    rtl = inside(out, "rtl")
    verilog_path = inside(rtl, f"{name}.v")
    waiver_path = inside(rtl, f"{name}.vlt")
    write_text(verilog_path, text)
    write_text(waiver_path, waiver_text())
    with open(model, "rb") as source, atomic_write(inside(out, "model.bwir"), "wb") as target:
        shutil.copyfileobj(source, target)

    layers = []
    for block_name, block in zip(top.block_names, top.blocks, strict=True):
        layers.append({
            "name": block.layer.name,
            "module": f"{name}__{block_name}",
            "op": block.layer.op,
            "in_width": block.layer.in_width,
            "out_width": block.layer.out_width,
            "pe": block.pe,
            "simd": block.simd,
            "cycles_per_frame": block.cycles_per_frame,
            "initiation_interval": block.initiation_interval,
            "latency_cycles": block.latency_cycles,
            "weight_storage": block.weight_storage,
            "padded": block.layer.out_width % block.pe != 0 or block.layer.in_width % block.simd != 0,
        })  # fmt: skip
    manifest = {
        "top": name,
        "ir_sha256": net.sha256,
        "ir_name": net.name,
        "clock": {"port": "clk", "mhz": clock},
        "reset": {"port": "rst", "synchronous": True, "active": "high"},
        "ports": ports_of(top),
        "input_stream": _stream(
            "data_in", top.in_beat_bits, top.in_beats, net.input_type, net.input_width
        ),
        "output_stream": _stream(
            "data_out", top.out_beat_bits, top.out_beats, net.output_type, net.output_width
        ),
        "layers": layers,
        "cycles_per_frame": top.cycles_per_frame,
        "latency_cycles": top.latency_cycles,
        "targets": {"clock_mhz": clock, "fps": target_fps, "achieved_fps": achieved},
        "folding": folding,
        "rtl": {
            "verilog": f"rtl/{name}.v",
            "lint_waivers": f"rtl/{name}.vlt",
            "verilog_bytes": len(text),
        },
    }
    if weight_storage == "memory":
        manifest["weight_memory"] = _write_weight_memory(top, out, name)
    write_text(inside(out, "manifest.json"), json.dumps(manifest, indent=2) + "\n")
    write_text(inside(out, f"{name}.core"), _core_text(name))
    return Generated(out, name, verilog_path, waiver_path, manifest, time.perf_counter() - start)


def _write_weight_memory(top: NetworkTop, out: Path, name: str) -> dict:
    """Describe the weight write bus and write its initial contents (one hex word per address)."""
    digits = -(-top.wmem_data_bits // 4)
    hex_path = inside(out, "rtl", f"{name}_wmem.hex")
    with atomic_write(hex_path, "w") as handle:
        for word in weight_image(top.net, top.folds):
            handle.write(f"{word:0{digits}x}\n")
    regions = []
    for region, block in zip(top.memory_map, top.blocks, strict=True):
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
        "two's complement; lanes past the layer's width are ignored",
        "init_file": f"rtl/{name}_wmem.hex",
        "regions": regions,
        "thresholds": "constants in the design (regenerate to change them)",
    }
