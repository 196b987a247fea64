"""Folding: how many output neurons (PE) and input elements per cycle (SIMD) each layer gets.

Either explicit (``--fold "fc0:pe=16,simd=64;fc1:pe=8,simd=32,pad"``) or chosen by ``solve``:
the cheapest folding (by ``estimate_area_um2``) whose slowest layer still meets the frame rate
at the clock. The cycles of a folded layer are its op's schedule
(``bitwave.core.ops.<op>.schedule``: NF * SF compute cycles plus the hand-over).

The area model is a ranking device, not a synthesis result (``bitwave synth`` measures the real
thing); its per-cell figures are NanGate45 X1 cell areas in um^2.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from bitwave.core import ops
from bitwave.core.errors import BitwaveError
from bitwave.core.ir import BinaryGRU, Dense, Network
from bitwave.core.ops.base import REAL_TIME_FPS as DEFAULT_FPS  # noqa: F401 (generate uses it)
from bitwave.core.ops.base import Schedule
from bitwave.hw.exits import hardware_layers

DEFAULT_CLOCK_MHZ = 100.0

FA, XNOR, DFF, MUX2 = 4.256, 1.596, 4.522, 1.862
ROM_BIT = 0.35  # constant ROM bit after logic minimization (estimate)


@dataclass(frozen=True)
class LayerFold:
    pe: int
    simd: int
    pad: bool = False  # explicit foldings must divide unless padding is asked for

    def to_json(self) -> dict:
        return {"pe": self.pe, "simd": self.simd, "pad": self.pad}


def schedule_of(layer: Dense, fold: LayerFold) -> Schedule:
    """The layer's schedule at this folding (its op's ``schedule``)."""
    return ops.op_of(layer).schedule(layer, fold.pe, fold.simd)


def estimate_area_um2(
    layer: Dense, fold: LayerFold, weight_storage: str, store: bool = True
) -> float:
    """Rough standard-cell area of one folded layer (for ranking foldings only); ``store``
    False: without its weight store (priced elsewhere, e.g. as SRAM macros)."""
    return _area_um2(layer, fold, schedule_of(layer, fold), weight_storage, store)


def _area_um2(
    layer: Dense, fold: LayerFold, plan: Schedule, weight_storage: str, store: bool = True
) -> float:
    if layer.op == "binary_gru":
        return _gru_area_um2(layer, fold, plan, weight_storage, store)
    nf, sf = plan.nf, plan.sf
    n, m, k_in, k_out = layer.in_width, layer.out_width, layer.in_type.bits, layer.out_type.bits
    lanes = fold.pe * fold.simd
    # a coarse bound from the widths alone (not the schedule's exact accumulator): the area
    # model only ranks foldings, and this bound is what the chosen foldings were tuned with
    acc_bits = max(1, int(n * max(1, layer.wbits) * (2**k_in)).bit_length())
    fully_parallel_const = weight_storage == "const" and nf == 1 and sf == 1
    if layer.op == "binary_dense":
        lane_area = FA + (0 if fully_parallel_const else XNOR)
    else:  # a wbits x k_in multiplier and its share of the adder tree
        lane_area = FA * (layer.wbits * k_in + acc_bits)
    area = lanes * lane_area
    area += n * k_in * DFF + m * k_out * DFF  # input and output frame buffers
    if sf > 1:
        area += fold.pe * acc_bits * (DFF + FA)  # accumulators
        area += n * k_in * MUX2 + fold.simd * k_in * DFF  # input slice select and register
    if nf > 1:
        area += m * k_out * MUX2 / max(1, nf)  # output write steering
    if store and not fully_parallel_const:
        weight_bits = m * n * layer.wbits
        area += weight_bits * (ROM_BIT if weight_storage == "const" else DFF)
    levels = layer.out_type.levels - 1
    area += fold.pe * levels * acc_bits * 2 * (1 if nf == 1 else 2)  # comparators
    return area


def _gru_area_um2(
    layer: BinaryGRU, fold: LayerFold, plan: Schedule, storage: str, store: bool = True
) -> float:
    """The GRU engine (bitwave.hw.gru): XNOR-popcount lanes, input, state and output
    registers, PE accumulators with their coefficient multipliers and four threshold
    comparators, the operand select and the weight store of 3H(N + H) bits."""
    n, h, acc = layer.in_width, layer.out_width, plan.acc_bits
    area = fold.pe * fold.simd * (FA + XNOR)
    area += (n + 3 * h) * DFF  # input frame, state, output frame
    area += fold.pe * acc * (DFF + 3 * FA)  # accumulator and coefficient product
    area += (n + h) * MUX2 + fold.simd * DFF  # operand select and register
    area += fold.pe * 4 * acc * 2 * (1 if plan.nf == 1 else 2)
    if not store:
        return area
    return area + 3 * h * (n + h) * (ROM_BIT if storage == "const" else DFF)


def _candidates(width: int) -> list[int]:
    """Divisors of width and powers of two below it (padded), ascending."""
    values = {d for d in range(1, math.isqrt(width) + 1) if width % d == 0}
    values |= {width // d for d in values}
    values |= {1 << b for b in range(width.bit_length()) if (1 << b) < width}
    return sorted(values)


def cycle_budget(clock_mhz: float, fps: float) -> int:
    if not clock_mhz > 0:
        raise BitwaveError(f"--clock-mhz must be positive, got {clock_mhz}")
    if not fps > 0:
        raise BitwaveError(f"--fps must be positive, got {fps}")
    return math.floor(clock_mhz * 1e6 / fps)


def solve(net: Network, clock_mhz: float, fps: float, weight_storage: str) -> dict[str, LayerFold]:
    """Per layer (early exits' heads included), the folding of least estimated area whose
    initiation interval fits the cycle budget clock / fps. Raises BitwaveError, naming the
    clock or rate that would work, when even a fully parallel layer is too slow."""
    budget = cycle_budget(clock_mhz, fps)
    folds = {}
    for layer in hardware_layers(net):
        best: tuple[float, int, LayerFold] | None = None
        for pe in _candidates(layer.out_width):
            for simd in _candidates(layer.in_width):
                fold = LayerFold(
                    pe, simd, pad=layer.out_width % pe != 0 or layer.in_width % simd != 0
                )
                plan = schedule_of(layer, fold)
                cycles = plan.initiation_interval
                if cycles > budget:
                    continue
                key = (_area_um2(layer, fold, plan, weight_storage), cycles, fold)
                if best is None or key[:2] < best[:2]:
                    best = key
        if best is None:
            full = LayerFold(layer.out_width, layer.in_width)
            fastest = schedule_of(layer, full).initiation_interval
            raise BitwaveError(
                f"layer {layer.name} cannot reach {fps:g} frames/s at {clock_mhz:g} MHz: even fully "
                f"parallel it needs {fastest} cycles per frame and the budget is {budget}; raise "
                f"--clock-mhz to at least {fastest * fps / 1e6:.6g} or lower --fps to at most "
                f"{clock_mhz * 1e6 / fastest:.6g}"
            )
        folds[layer.name] = best[2]
    return folds


_ENTRY = re.compile(r"^\s*([^:;]+?)\s*:\s*(.*?)\s*$")


def parse_fold_spec(spec: str, net: Network) -> dict[str, LayerFold]:
    """Parse ``"fc0:pe=16,simd=64;fc1:pe=8,simd=32,pad"``: every layer (early exits' heads
    included) once, PE dividing out_width and SIMD dividing in_width unless the entry says
    ``pad``."""
    layers = {layer.name: layer for layer in hardware_layers(net)}
    folds: dict[str, LayerFold] = {}
    example = "fc0:pe=16,simd=64;fc1:pe=8,simd=32,pad"
    for entry in filter(str.strip, spec.split(";")):
        match = _ENTRY.match(entry)
        if not match:
            raise BitwaveError(
                f"--fold entry {entry!r}: expected LAYER:pe=P,simd=S[,pad] (e.g. {example!r})"
            )
        name, body = match.groups()
        if name not in layers:
            raise BitwaveError(
                f"--fold names layer {name!r}; the network's layers are {list(layers)}"
            )
        if name in folds:
            raise BitwaveError(f"--fold gives layer {name!r} twice")
        values: dict[str, int] = {}
        pad = False
        for item in filter(str.strip, body.split(",")):
            key, _, text = (part.strip() for part in item.partition("="))
            if key == "pad" and not text:
                pad = True
                continue
            if key not in ("pe", "simd") or key in values:
                raise BitwaveError(
                    f"--fold {name}: unknown or repeated item {item.strip()!r}; allowed: pe=P, simd=S, pad"
                )
            try:
                values[key] = int(text)
            except ValueError:
                raise BitwaveError(
                    f"--fold {name}: {key} must be an integer, got {text!r}"
                ) from None
        if set(values) != {"pe", "simd"}:
            raise BitwaveError(f"--fold {name}: give both pe= and simd= (e.g. {example!r})")
        layer = layers[name]
        check = (
            ("pe", values["pe"], layer.out_width, "out_width"),
            ("simd", values["simd"], layer.in_width, "in_width"),
        )
        for key, value, width, what in check:
            if not 1 <= value <= width:
                raise BitwaveError(
                    f"--fold {name}: {key}={value} must be in 1..{width} ({what} of {name})"
                )
            if width % value and not pad:
                divisors = [d for d in _candidates(width) if width % d == 0]
                raise BitwaveError(
                    f"--fold {name}: {key}={value} does not divide {what}={width}; use a divisor "
                    f"({', '.join(map(str, divisors))}) or add ',pad' to pad the layer to a multiple"
                )
        folds[name] = LayerFold(values["pe"], values["simd"], pad)
    missing = [name for name in layers if name not in folds]
    if missing:
        raise BitwaveError(f"--fold must give every layer; missing {missing}")
    return folds
