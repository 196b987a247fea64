"""A small streaming XNOR-popcount network in Amaranth, written as a generated-design folder
(manifest.json + rtl/<top>.v) of the same contract as bitwave.hw's generator. It lets the synth
flow be exercised and tested on its own; layers are separate components, so separate blocks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from amaranth import Const, Elaboratable, Module, Signal
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from bitwave.paths import write_text


class BinaryLayer(wiring.Component):
    """Accumulates XNOR-popcount of each beat against constant weights, for ``units`` neurons;
    on ``last`` it emits sign(2*count - n) per neuron."""

    def __init__(self, weights: np.ndarray, beat_bits: int) -> None:
        self.weights = np.asarray(weights, dtype=bool)  # (units, beats * beat_bits)
        self.units, total = self.weights.shape
        self.beat_bits = beat_bits
        self.beats = total // beat_bits
        super().__init__({
            "data": In(beat_bits), "valid": In(1), "first": In(1), "last": In(1),
            "out": Out(self.units), "out_valid": Out(1),
        })  # fmt: skip

    def elaborate(self, platform: object) -> Module:
        m = Module()
        beat = Signal(range(self.beats + 1))
        n = self.beats * self.beat_bits
        width = n.bit_length() + 1
        counts = [Signal(width, name=f"count{u}") for u in range(self.units)]
        with m.If(self.valid):
            m.d.sync += beat.eq(beat + 1)
            with m.If(self.last):
                m.d.sync += beat.eq(0)
        m.d.sync += self.out_valid.eq(self.valid & self.last)
        for u, count in enumerate(counts):
            # Weight bits of the current beat: a constant table selected by the beat index.
            w = Signal(self.beat_bits, name=f"w{u}")
            with m.Switch(beat):
                for b in range(self.beats):
                    with m.Case(b):
                        bits = self.weights[u, b * self.beat_bits : (b + 1) * self.beat_bits]
                        m.d.comb += w.eq(
                            Const(int(sum(int(v) << i for i, v in enumerate(bits))), self.beat_bits)
                        )
            agree = Signal(self.beat_bits, name=f"agree{u}")
            m.d.comb += agree.eq(~(self.data ^ w))
            partial = sum(agree[i] for i in range(self.beat_bits))
            with m.If(self.valid):
                with m.If(self.last):
                    m.d.sync += count.eq(0)
                    m.d.sync += self.out[u].eq((count + partial) * 2 > n)
                with m.Else():
                    m.d.sync += count.eq(count + partial)
        return m


class StreamNetwork(wiring.Component):
    def __init__(self, layer_weights: list[np.ndarray], beat_bits: int) -> None:
        self.layer_weights = layer_weights
        self.beat_bits = beat_bits
        self.beats = layer_weights[0].shape[1] // beat_bits
        out_units = layer_weights[-1].shape[0]
        super().__init__({
            "in_data": In(beat_bits), "in_valid": In(1), "in_ready": Out(1),
            "out_data": Out(out_units), "out_valid": Out(1), "out_ready": In(1),
        })  # fmt: skip

    def elaborate(self, platform: object) -> Module:
        m = Module()
        first = BinaryLayer(self.layer_weights[0], self.beat_bits)
        m.submodules.layer0 = first
        beat = Signal(range(self.beats))
        m.d.comb += self.in_ready.eq(1)
        with m.If(self.in_valid):
            m.d.sync += beat.eq(beat + 1)
            with m.If(beat == self.beats - 1):
                m.d.sync += beat.eq(0)
        m.d.comb += [
            first.data.eq(self.in_data), first.valid.eq(self.in_valid),
            first.first.eq(beat == 0), first.last.eq(beat == self.beats - 1),
        ]  # fmt: skip
        previous: Elaboratable = first
        for index, weights in enumerate(self.layer_weights[1:], start=1):
            layer = BinaryLayer(weights, weights.shape[1])  # one beat: the whole previous output
            m.submodules[f"layer{index}"] = layer
            m.d.comb += [
                layer.data.eq(previous.out), layer.valid.eq(previous.out_valid),
                layer.first.eq(1), layer.last.eq(1),
            ]  # fmt: skip
            previous = layer
        m.d.comb += [self.out_data.eq(previous.out), self.out_valid.eq(previous.out_valid)]
        return m


def demo_weights(sizes: tuple[int, ...], seed: int = 0) -> list[np.ndarray]:
    """The constant weights of the demo network: one (out, in) boolean matrix per layer."""
    rng = np.random.default_rng(seed)
    return [
        rng.integers(0, 2, (sizes[i + 1], sizes[i])).astype(bool) for i in range(len(sizes) - 1)
    ]


def write_demo_design(
    out_dir: str | Path, sizes: tuple[int, ...] = (32, 8, 4), beat_bits: int = 8, seed: int = 0
) -> Path:
    """Write a demo design folder with layers sizes[0] -> sizes[1] -> ...; returns the folder."""
    out = Path(out_dir)
    weights = demo_weights(sizes, seed)
    top = "demo_net"
    network = StreamNetwork(weights, beat_bits)
    text = verilog.convert(network, name=top, emit_src=False)
    write_text(out / "rtl" / f"{top}.v", text)
    beats = sizes[0] // beat_bits
    ports = [
        {"name": "clk", "direction": "input", "width": 1}, {"name": "rst", "direction": "input", "width": 1},
        {"name": "in_data", "direction": "input", "width": beat_bits}, {"name": "in_valid", "direction": "input", "width": 1},
        {"name": "in_ready", "direction": "output", "width": 1}, {"name": "out_data", "direction": "output", "width": sizes[-1]},
        {"name": "out_valid", "direction": "output", "width": 1}, {"name": "out_ready", "direction": "input", "width": 1},
    ]  # fmt: skip
    manifest = {
        "top": top,
        "ir_sha256": "",
        "clock": {"port": "clk", "mhz": 200.0},
        "reset": {"port": "rst"},
        "ports": ports,
        "input_stream": {
            "data": "in_data",
            "valid": "in_valid",
            "ready": "in_ready",
            "bits_per_beat": beat_bits,
            "beats_per_frame": beats,
        },
        "output_stream": {
            "data": "out_data",
            "valid": "out_valid",
            "ready": "out_ready",
            "bits_per_beat": sizes[-1],
            "beats_per_frame": 1,
        },
        "layers": [
            {
                "name": f"dense{i}",
                "module": f"{top}.layer{i}",
                "pe": 1,
                "simd": beat_bits if i == 0 else sizes[i],
                "cycles_per_frame": beats if i == 0 else 1,
                "latency_cycles": 1,
                "weight_storage": "constant",
                "macs_per_frame": sizes[i] * sizes[i + 1],
            }
            for i in range(len(sizes) - 1)
        ],  # fmt: skip
        "cycles_per_frame": beats,
        "latency_cycles": len(sizes),
        "targets": {"clock_mhz": 200.0, "fps": 0},
    }
    write_text(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return out


def reference_outputs(weights: list[np.ndarray], frames: np.ndarray) -> np.ndarray:
    """The network's output bits for boolean frames (n, sizes[0])."""
    x = np.asarray(frames, dtype=bool)
    for w in weights:
        agree = (~(x[:, None, :] ^ w[None, :, :])).sum(axis=2)
        x = agree * 2 > w.shape[1]
    return x


__all__ = ["BinaryLayer", "StreamNetwork", "write_demo_design", "reference_outputs"]
