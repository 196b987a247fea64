"""``bitwave explore``: the design space of one network, swept on Dask (docs/explore.md).

A point is a folding (PE, SIMD per layer, the divisor choices ``bitwave generate --fold``
accepts), a clock, a weight storage (const / memory) and a max fanout. The constraint is the
real-time one: the design meets ``fps`` frames per second at its clock with a latency of at
most ``max_latency_ms``. Cycles per frame and latency follow from the fold (the hardware's own
timing, ``NetworkTop``), so points that cannot meet the constraint are pruned before any
synthesis, each with its reason.

Every other point is generated (``bitwave.hw.generate``) and synthesized
(``bitwave.synth.flows.design``): the synthesis' power simulation streams random frames
through the mapped netlist and compares every output frame with the golden model (the point's
verification; a mismatch fails the point). The point is priced at the real-time rate: the
design idles between frames, so it draws its leakage all the time plus the dynamic energy of
each frame times the frame rate.

Points are cached by content hash (IR hash, point parameters, simulation budget and a hash of
the generator's and synthesis' code), so a rerun or a bigger sweep reuses every point already
done, and an interrupted sweep resumes; failures are recorded with their reason and never stop
the sweep. A space of at most ``max_points`` feasible points is swept whole; a larger one is
ranked by the generator's area model (``bitwave.hw.folding.estimate_area_um2``) and latency,
and only the ``max_points`` candidates spread along that model's Pareto front are synthesized.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import itertools
import json
import math
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from bitwave.core.contract import BUFFERING
from bitwave.core.errors import BitwaveError
from bitwave.core.ops import exit_macs
from bitwave.core.ops.base import REAL_TIME_FPS
from bitwave.core.paths import atomic_write, inside, write_text

# A record's meaning; bump it when the cached measurements change meaning.
RECORD_VERSION = 2  # 2: the idle run's dynamic power (synth's idle_dynamic_w)
CLOCK_LADDER_MHZ = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0)
WEIGHT_CHOICES = ("const", "memory")
DEFAULT_SRAM = "cells"  # what prices RAM macros: cells, openram or a datasheet table's path
DEFAULT_MAX_POINTS = 64
DEFAULT_MAX_LATENCY_MS = 16.0  # one frame at 62.5 frames/s
DEFAULT_MAX_FANOUT = 16  # bitwave synth's default (synth.eda.fanout)
DEFAULT_LANES = 64  # the gate-level simulator runs 64 lanes in one pass
DEFAULT_SIM_CYCLES = 3_000  # cycles one point's gate-level run aims at (more frames when cheap)
# ~3 min of the compiled gate-level simulator (~830 cycles/s x 64 lanes inside synthesis on a
# 32,000-cell deep fold, docs/explore.md "Limits"): deeper points are pruned
DEFAULT_MAX_SIM_CYCLES = 150_000
MAX_FRAMES_PER_LANE = 8
BEAT_BITS = 32  # bitwave generate's default stream width
MAX_COMBINATIONS = 50_000  # foldings enumerated per weight storage (per-layer lists thinned)
PRUNED_RECORD_CAP = 2_000  # pruned points written to points.jsonl (all are counted)
OBJECTIVES = ("area_um2", "energy_per_frame_j", "realtime_power_w", "latency_ms")


@dataclass(frozen=True)
class Options:
    """What one sweep explores. ``clocks`` None: per fold the lowest clock of
    CLOCK_LADDER_MHZ that meets the constraint and ``clock_steps - 1`` above it. ``folds``:
    explicit fold specs ("SPEC" or "SPEC@MHZ"), the whole fold space when given.
    ``references``: folds always evaluated beside the space (e.g. today's default design),
    never left out by the search."""

    fps: float = REAL_TIME_FPS
    max_latency_ms: float = DEFAULT_MAX_LATENCY_MS
    clocks: tuple[float, ...] | None = None
    clock_steps: int = 2
    weights: tuple[str, ...] = WEIGHT_CHOICES
    max_fanouts: tuple[int, ...] = (DEFAULT_MAX_FANOUT,)
    # bitwave generate --buffering; "single" and "memory" only where built (feed-forward MLPs)
    buffering: tuple[str, ...] = BUFFERING
    folds: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    max_points: int = DEFAULT_MAX_POINTS
    lanes: int = DEFAULT_LANES
    sim_cycles: int = DEFAULT_SIM_CYCLES
    max_sim_cycles: int = DEFAULT_MAX_SIM_CYCLES
    keep_designs: bool = False
    sram: str = DEFAULT_SRAM  # bitwave synth --sram: cells, openram or a table's path


@dataclass(frozen=True)
class Point:
    fold: str  # a ``bitwave generate --fold`` spec
    clock_mhz: float
    weights: str
    max_fanout: int
    buffering: str = "double"

    def params(self) -> dict:
        return asdict(self)


@dataclass
class Planned:
    """A point with what is known before synthesis: its timing (None when the fold is not
    valid), the area model's estimate, and why it is pruned or failed (None: to evaluate)."""

    point: Point
    source: str  # "search", "explicit" or "reference"
    cycles_per_frame: int | None = None
    latency_cycles: int | None = None
    model_area_um2: float | None = None
    status: str | None = None  # "pruned" or "failed" before synthesis
    reason: str | None = None
    frames_per_lane: int = 1

    @property
    def latency_ms(self) -> float | None:
        if self.latency_cycles is None:
            return None
        return self.latency_cycles / (self.point.clock_mhz * 1e3)


# ------------------------------------------------------------------------------ the network
def load_network(source: str | Path, out: Path) -> tuple[Path, dict]:
    """(the IR to explore, defaults from a config): a .bwir as it is, or a bitwave config's
    network shape as a random stand-in IR written to DIR/model.bwir (its hw section gives
    the frame rate and its explicit fold, explored as the config's design)."""
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix not in (".bwir", ".yaml", ".yml"):
        raise BitwaveError(
            f"{path}: unknown input type {suffix or '(none)'}; allowed: MODEL.bwir or CONFIG.yaml"
        )
    if not path.is_file():
        raise BitwaveError(f"{path} does not exist; allowed: an IR file or a bitwave config")
    if suffix == ".bwir":
        return path, {}
    from bitwave.core import config, ir

    settings = config.load(path)
    net = stand_in_network(settings)
    target = inside(out, "model.bwir")
    target.parent.mkdir(parents=True, exist_ok=True)
    ir.save(net, target)
    hw = settings["hw"]
    fold = f"{hw['fold']}@{hw['clock_mhz']:g}" if hw.get("fold") else None
    return target, {"fps": hw["fps"], "config_fold": fold, "config_weights": hw["weight_storage"]}


def stand_in_network(settings: dict) -> object:
    """A random network of the config's shape (names and widths as training exports them);
    constant weights are logic, so a trained model's IR gives its exact figures."""
    from bitwave.core.random_ir import random_network

    model, bins = settings["model"], 513  # models.features.N_BINS: one mask bit per bin
    inputs = settings["features"]["bits"] * bins
    if model["kind"] != "mlp" or model.get("exits") or model["wbits"] > 8:
        raise BitwaveError(
            f"config model {model['kind']} (wbits {model['wbits']}, exits "
            f"{model.get('exits') or 'none'}): a config stands in for a bitwise or k-bit MLP "
            "without exits; allowed: such a config, or the trained model's .bwir"
        )
    abits = [model["abits"]] * len(model["hidden"]) + [1]
    return random_network([inputs, *model["hidden"], bins], wbits=model["wbits"], abits=abits,
                          seed=settings["seed"], name=settings["name"])  # fmt: skip


# ------------------------------------------------------------------------------ the space
@dataclass(frozen=True)
class LayerChoice:
    pe: int
    simd: int
    interval: int  # initiation interval (cycles)
    latency: int
    area_um2: float  # the generator's area model
    schedule: object  # the op's Schedule (hw.network.path_timing reads it)


def layer_choices(
    net: object, weights: str, sram: str = DEFAULT_SRAM
) -> list[tuple[str, list[LayerChoice]]]:
    """Per hardware layer, the divisor foldings on the area model's front over (initiation
    interval, estimated area): a slower and larger folding is never a better choice. RAM
    weights priced by a datasheet table (``sram``) count as their banked macros' leakage
    (``macro_leakage_area``): whether a word fits the macros decides there, not the bits."""
    from bitwave.hw.exits import hardware_layers
    from bitwave.hw.folding import LayerFold, schedule_of

    result = []
    for layer in hardware_layers(net):
        options = []
        for pe in divisors(layer.out_width):
            for simd in divisors(layer.in_width):
                fold = LayerFold(pe, simd)
                plan = schedule_of(layer, fold)
                area = model_area_um2(layer, fold, weights, sram)
                options.append(LayerChoice(pe, simd, plan.initiation_interval,
                                           plan.latency_cycles, area, plan))  # fmt: skip
        options.sort(key=lambda c: (c.interval, c.area_um2))
        front, best = [], math.inf
        for choice in options:
            if choice.area_um2 < best:
                front.append(choice)
                best = choice.area_um2
        result.append((layer.name, front))
    return result


def model_area_um2(layer: object, fold: object, weights: str, sram: str = DEFAULT_SRAM) -> float:
    """The area model of one folded layer (``hw.folding.estimate_area_um2``); RAM weights
    priced by a datasheet table (``sram``) count as their banked macros' leakage instead."""
    from bitwave.hw.folding import estimate_area_um2, schedule_of

    if weights != "memory" or sram == DEFAULT_SRAM:
        return estimate_area_um2(layer, fold, weights)
    store = schedule_of(layer, fold).weights
    return estimate_area_um2(layer, fold, weights, store=False) + macro_leakage_area(
        sram, store.depth, store.word_bits
    )


@functools.lru_cache(maxsize=4096)
def macro_leakage_area(sram: str, depth: int, width: int) -> float:
    """The cell area that leaks as much as the RAM macros (``sram``'s datasheet table, banked)
    of a ``depth`` x ``width`` store: what a macro costs at the real-time rate, where leakage
    dominates, in the area model's unit (the compact library's DFF_X1 leakage per um^2)."""
    from bitwave.synth.eda.memory_macro import macro_model, with_sram

    library = _compact_library()
    flop = library.cells["DFF_X1"]
    model = macro_model(with_sram(library, _sram_table(sram)), "ram", max(depth, 2), width)
    return model.leakage_w * flop.area_um2 / flop.leakage_w


@functools.cache
def _sram_table(sram: str) -> object:
    """``sram``'s datasheet table (``synth.eda.sram_table.resolve_sram``), read once."""
    from bitwave.synth.eda.sram_table import resolve_sram

    return resolve_sram(sram)


def divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small) | {n // d for d in small})


def thinned(lists: list[list], limit: int) -> list[list]:
    """Drop every other inner entry of the longest list (its ends kept) until the product of
    the lengths is at most ``limit``."""
    lists = [list(each) for each in lists]
    while math.prod(map(len, lists)) > limit:
        longest = max(range(len(lists)), key=lambda i: len(lists[i]))
        items = lists[longest]
        if len(items) <= 2:
            break
        lists[longest] = items[:-1:2] + [items[-1]]
    return lists


def timing(net: object, fold: str, weights: str, buffering: str = "double") -> tuple[int, int]:
    """(cycles per frame at the slowest exit, latency in cycles) of the hardware for ``fold``
    (raises BitwaveError for a fold or a buffering the generator refuses)."""
    from bitwave.hw.folding import parse_fold_spec
    from bitwave.hw.network import NetworkTop

    folds = parse_fold_spec(fold, net)
    top = NetworkTop(net, folds, weights, BEAT_BITS, BEAT_BITS, buffering)
    try:
        return top.slowest_cycles_per_frame, top.latency_cycles
    finally:
        top.discard()  # never elaborated: only its timing is read


def fold_spec(names: Sequence[str], choices: Sequence[LayerChoice]) -> str:
    return ";".join(f"{n}:pe={c.pe},simd={c.simd}" for n, c in zip(names, choices, strict=True))


def clocks_for(cycles: int, latency: int, options: Options) -> tuple[list[float], str | None]:
    """The clocks a fold is explored at, or ([], why none meets the constraint)."""
    need = max(cycles * options.fps / 1e6, latency / (options.max_latency_ms * 1e3))
    if options.clocks is not None:
        return list(options.clocks), None
    ladder = [mhz for mhz in CLOCK_LADDER_MHZ if mhz >= need]
    if not ladder:
        return [], (f"frame rate: needs {need:.6g} MHz for {options.fps:g} frames/s within "
                    f"{options.max_latency_ms:g} ms, above the clock ladder's "
                    f"{CLOCK_LADDER_MHZ[-1]:g} MHz")  # fmt: skip
    return ladder[: options.clock_steps], None


def constraint_reason(cycles: int, latency: int, mhz: float, options: Options) -> str | None:
    """Why a point cannot be real time (None: it can), before any synthesis."""
    fps = mhz * 1e6 / cycles
    if fps < options.fps:
        return (f"frame rate: {cycles} cycles per frame give {fps:.6g} frames/s at {mhz:g} MHz, "
                f"below {options.fps:g} (needs >= {cycles * options.fps / 1e6:.6g} MHz)")  # fmt: skip
    latency_ms = latency / (mhz * 1e3)
    if latency_ms > options.max_latency_ms:
        return (f"latency: {latency} cycles = {latency_ms:.6g} ms at {mhz:g} MHz, above "
                f"--max-latency-ms {options.max_latency_ms:g}")  # fmt: skip
    if cycles + latency > options.max_sim_cycles:
        return (f"simulation budget: one frame takes ~{cycles + latency} gate-level cycles, "
                f"above --max-sim-cycles {options.max_sim_cycles}")  # fmt: skip
    return None


def sim_frames(cycles: int, latency: int, options: Options) -> int:
    """Frames per lane of a point's gate-level run: as many as fit ``sim_cycles`` (1..8)."""
    return max(1, min(MAX_FRAMES_PER_LANE, (options.sim_cycles - latency) // max(1, cycles)))


def plan_point(
    point: Point, source: str, cycles: int, latency: int, area: float | None, options: Options
) -> Planned:
    planned = Planned(point, source, cycles, latency, area)
    planned.reason = constraint_reason(cycles, latency, point.clock_mhz, options)
    planned.status = "pruned" if planned.reason else None
    planned.frames_per_lane = sim_frames(cycles, latency, options)
    return planned


def bufferings(net: object, options: Options, info: dict) -> list[str]:
    """The buffering choices built for ``net`` (``hw.network.check_buffering``); the others
    are left out with their reason in ``info["buffering_skipped"]``."""
    from bitwave.hw.network import check_buffering

    built = []
    for buffering in options.buffering:
        try:
            check_buffering(net, buffering)
            built.append(buffering)
        except BitwaveError as error:
            info.setdefault("buffering_skipped", {})[buffering] = str(error)
    return built


def search_space(net: object, options: Options) -> tuple[list[Planned], dict]:
    """Every (fold, clock, weights, buffering, fanout) of the area model's per-layer fronts
    (thinned to MAX_COMBINATIONS foldings), planned with the analytic timing of the layers'
    schedules and the stream beats (NetworkTop's rules for a chain; candidates are re-timed
    exactly)."""
    from bitwave.core.codec import beats_per_frame

    in_bits = net.input_width * net.input_type.bits
    out_bits = net.output_width * net.output_type.bits
    beats = (beats_per_frame(in_bits, min(BEAT_BITS, in_bits)),
             beats_per_frame(out_bits, min(BEAT_BITS, out_bits)))  # fmt: skip
    planned: list[Planned] = []
    info: dict = {"per_layer_choices": {}, "foldings": 0}
    kinds = bufferings(net, options, info)
    for weights in options.weights:
        layers = layer_choices(net, weights, options.sram)
        names = [name for name, _ in layers]
        lists = thinned([choices for _, choices in layers], MAX_COMBINATIONS)
        info["per_layer_choices"][weights] = dict(zip(names, map(len, lists), strict=True))
        for combo in itertools.product(*lists):
            area = sum(c.area_um2 for c in combo)
            spec = fold_spec(names, combo)
            info["foldings"] += 1
            for buffering in kinds:
                cycles, latency = chain_timing(combo, len(net.layers), beats, buffering)
                planned += _at_clocks(Point(spec, 0.0, weights, 0, buffering), "search",
                                      cycles, latency, area, options)  # fmt: skip
    return planned, info


def chain_timing(
    combo: Sequence[LayerChoice], length: int, beats: tuple[int, int], buffering: str
) -> tuple[int, int]:
    """(cycles per frame at the slowest exit, latency) of the layer choices ``combo`` (the
    chain's ``length`` layers, then any exit heads) between the stream's (input, output)
    beats, by the hardware's rules (``hw.network.path_timing``) without building it."""
    from bitwave.hw.network import path_timing

    chain = [choice.schedule for choice in combo[:length]]
    cycles, latency = path_timing(chain, *beats, buffering)
    return max([cycles, *(choice.interval for choice in combo[length:])]), latency


def _at_clocks(
    base: Point, source: str, cycles: int, latency: int, area: float | None,
    options: Options, pinned_mhz: float | None = None,
) -> list[Planned]:  # fmt: skip
    """``base`` (its fold, weights and buffering) at each clock and max fanout."""
    if pinned_mhz is not None:
        clocks, why = [pinned_mhz], None
    else:
        clocks, why = clocks_for(cycles, latency, options)
    if why:  # no clock of the ladder works: one pruned record at the ladder's top
        point = replace(base, clock_mhz=CLOCK_LADDER_MHZ[-1], max_fanout=options.max_fanouts[0])
        return [Planned(point, source, cycles, latency, area, "pruned", why)]
    return [
        plan_point(
            replace(base, clock_mhz=mhz, max_fanout=fanout), source, cycles, latency, area, options
        )  # fmt: skip
        for mhz in clocks
        for fanout in options.max_fanouts
    ]


def explicit_space(
    net: object, options: Options, folds: Iterable[str], source: str = "explicit"
) -> list[Planned]:
    """The given folds ("SPEC" or "SPEC@MHZ") at every clock, weights, buffering built for
    the network and fanout; a fold the generator refuses is one failed point (its message
    the reason)."""
    from bitwave.hw.exits import hardware_layers
    from bitwave.hw.folding import parse_fold_spec

    layers = {layer.name: layer for layer in hardware_layers(net)}
    planned: list[Planned] = []
    kinds = bufferings(net, options, {})
    for text, weights, buffering in itertools.product(folds, options.weights, kinds):
        spec, pinned = split_pinned_clock(text)
        try:
            cycles, latency = timing(net, spec, weights, buffering)
            parsed = parse_fold_spec(spec, net)
        except BitwaveError as error:
            mhz = pinned or (options.clocks or (CLOCK_LADDER_MHZ[-1],))[0]
            point = Point(spec, mhz, weights, options.max_fanouts[0], buffering)
            planned.append(Planned(point, source, status="failed", reason=str(error)))
            continue
        area = sum(model_area_um2(layers[n], f, weights, options.sram) for n, f in parsed.items())
        planned += _at_clocks(Point(spec, 0.0, weights, 0, buffering), source, cycles, latency,
                              area, options, pinned)  # fmt: skip
    return planned


def split_pinned_clock(text: str) -> tuple[str, float | None]:
    """ "SPEC@MHZ" -> (SPEC, MHZ); "SPEC" -> (SPEC, None)."""
    spec, at, mhz = text.rpartition("@")
    if not at:
        return text, None
    from bitwave.core.inputs import positive_finite

    return spec, positive_finite(mhz, f"--fold {text!r}: the clock after @")


# ------------------------------------------------------------------------------ selection
def front_2d(items: Sequence, key: Callable) -> list:
    """The items no other item beats on both of ``key``'s two values (minimized), ordered by
    the first."""
    ranked = sorted(items, key=key)
    front, best = [], math.inf
    for item in ranked:
        second = key(item)[1]
        if second < best:
            front.append(item)
            best = second
    return front


def spread(items: Sequence, count: int) -> list:
    """``count`` items evenly spaced along ``items`` (both ends included from two on)."""
    if count >= len(items):
        return list(items)
    if count == 1:  # the middle of the trade-off
        return [items[len(items) // 2]]
    picks = sorted({round(i * (len(items) - 1) / (count - 1)) for i in range(count)})
    return [items[i] for i in picks]


def select(candidates: list[Planned], budget: int) -> list[Planned]:
    """Up to ``budget`` candidates by the area model, per (weights, buffering, fanout) group an equal
    share of distinct folds, each at its lowest clock (a higher one only shortens the
    latency): half the share the smallest estimated areas (leakage, which dominates power
    at the real-time rate, follows area), the rest spread along the model's fronts over
    (estimated area, latency) for the trade-off."""
    groups: dict[tuple, dict[str, Planned]] = {}
    for planned in sorted(candidates, key=lambda p: p.point.clock_mhz):
        point = planned.point
        group = groups.setdefault((point.weights, point.buffering, point.max_fanout), {})
        group.setdefault(planned.point.fold, planned)  # the lowest clock of each fold
    chosen: list[Planned] = []
    shares = [budget // len(groups) + (i < budget % len(groups)) for i in range(len(groups))]
    for share, members in zip(shares, groups.values(), strict=True):
        by_area = sorted(members.values(), key=lambda p: (p.model_area_um2, p.latency_ms))
        picked = by_area[: (share + 1) // 2]
        left = by_area[len(picked) :]
        while left and len(picked) < share:
            front = front_2d(left, lambda p: (p.model_area_um2, p.latency_ms))
            picked += spread(front, share - len(picked))
            taken = {id(p) for p in picked}
            left = [p for p in left if id(p) not in taken]
        chosen += picked
    return chosen


def plan(net: object, options: Options) -> tuple[list[Planned], dict]:
    """Every point of the space with its status before synthesis, and what the search did."""
    info: dict = {}
    if options.folds:
        points = explicit_space(net, options, options.folds)
        strategy = "explicit"
    else:
        points, info = search_space(net, options)
        strategy = "search"
    references = explicit_space(net, options, options.references, "reference")
    feasible = [p for p in points if p.status is None]
    if len(feasible) <= options.max_points:
        info["strategy"] = f"exhaustive ({strategy}): all {len(feasible)} feasible points"
        return references + points, info
    chosen = select(feasible, options.max_points)
    retimed = {id(p): _retimed(net, p, options) for p in chosen}
    info["strategy"] = (
        f"guided ({strategy}): {len(feasible)} feasible points ranked by the area model "
        f"(hw.folding.estimate_area_um2) and latency; {len(chosen)} spread along its fronts "
        "synthesized, the Pareto front taken over those"
    )
    info["model_skipped"] = len(feasible) - len(chosen)
    pruned = [p for p in points if p.status]
    return references + [retimed[id(p)] for p in chosen] + pruned, info


def _retimed(net: object, planned: Planned, options: Options) -> Planned:
    """A candidate timed by the hardware itself (the search's analytic timing ranks only)."""
    point = planned.point
    cycles, latency = timing(net, point.fold, point.weights, point.buffering)
    return plan_point(point, planned.source, cycles, latency, planned.model_area_um2, options)


# ------------------------------------------------------------------------------ one point
# Where a point's figures come from: the generator and the synthesis flow (and, through the
# imports of their modules, the parts of the core they use), plus the data they read.
POINT_CODE_ROOTS = ("bitwave.hw.generate", "bitwave.synth.flows.design")
POINT_CODE_PACKAGES = ("bitwave.core", "bitwave.hw", "bitwave.synth")
POINT_DATA = {"bitwave.core": ("*.json",), "bitwave.synth": ("data/*.lib", "data/*.lib.gz")}


def code_version() -> str:
    """The package version and a hash of the sources a point's figures come from: the
    modules of ``bitwave.core``, ``.hw`` and ``.synth`` that the generator and the synthesis
    flow import (followed statically, so the key does not depend on what else a process
    imported; an edit elsewhere, e.g. an audio front end, keeps the cache), the contract's
    schema and the liberty. A change there measures the points again."""
    from bitwave import __version__

    roots = {package: _package_dir(package) for package in POINT_CODE_PACKAGES}
    files = set(_imported_sources(POINT_CODE_ROOTS, roots))
    for package, patterns in POINT_DATA.items():
        files.update(path for pattern in patterns for path in roots[package].glob(pattern))
    digest = hashlib.sha256(f"{__version__}/{RECORD_VERSION}".encode())
    for path in sorted(files):
        digest.update(path.relative_to(roots[_owner(path, roots)].parent).as_posix().encode())
        digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:16]}"


def _package_dir(package: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(package)  # imports the parent package only
    return Path(next(iter(spec.submodule_search_locations)))


def _owner(path: Path, roots: dict[str, Path]) -> str:
    return next(package for package, root in roots.items() if root in path.parents)


def _imported_sources(modules: Iterable[str], roots: dict[str, Path]) -> Iterable[Path]:
    """The source files of ``modules`` and of every module of ``roots`` they import (also
    inside functions), followed through the import statements."""
    import ast

    queue, seen = list(modules), set()
    while queue:
        name = queue.pop()
        path = _module_path(name, roots)
        if path is None or path in seen:
            continue
        seen.add(path)
        yield path
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.Import):
                queue += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                queue += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]


def _module_path(name: str, roots: dict[str, Path]) -> Path | None:
    """The file of module ``name`` under one of ``roots`` (a package's __init__.py), else None."""
    for package, root in roots.items():
        if name == package or name.startswith(package + "."):
            base = root.joinpath(*name[len(package) + 1 :].split(".")) if name != package else root
            for path in (base.with_suffix(".py"), base / "__init__.py"):
                if path.is_file():
                    return path
    return None


def point_key(
    ir_sha256: str, planned: Planned, lanes: int, version: str, sram: str = DEFAULT_SRAM
) -> str:
    """The content hash a point is cached under. ``sram``: ``sram_key`` of the macro pricing."""
    body = {"ir": ir_sha256, **planned.point.params(), "beat_bits": BEAT_BITS, "lanes": lanes,
            "frames_per_lane": planned.frames_per_lane, "code": version, "sram": sram}  # fmt: skip
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def sram_key(spec: str) -> tuple[str, str]:
    """(the cache key's part, the report's label) of a memory macro pricing; a datasheet table
    (the shipped OpenRAM one or a user's) by the hash of its parsed content, not its path, so
    a moved table keeps the cache and an edited one measures again. Raises BitwaveError for a
    missing or invalid table (before any cluster starts)."""
    from bitwave.synth.eda.memory_macro import macro_source, with_sram
    from bitwave.synth.eda.sram_table import resolve_sram

    table = resolve_sram(spec)
    label = macro_source(with_sram(_compact_library(), table))
    if table is None:
        return DEFAULT_SRAM, label
    content = {**asdict(table), "path": ""}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return f"table:{digest}", label


def evaluate_point(task: dict) -> dict:
    """Generate, synthesize and measure one point (runs on a Dask worker). Returns the raw
    measurements; a BitwaveError (the point's own fault) is cached like a result, any other
    exception is returned as a failure but not cached (it may not recur)."""
    start = time.perf_counter()
    point = Point(**task["point"])
    design = Path(task["design"])
    raw: dict = {"key": task["key"], "design": str(design)}
    cacheable = True
    try:
        _generate_point(task["model"], design, point)
        summary = _synthesize_point(design, point, task["lanes"], task["frames_per_lane"],
                                    task.get("sram", DEFAULT_SRAM))  # fmt: skip
        raw.update(measurements(design, summary))
        raw["status"] = "ok"
    except BitwaveError as error:
        raw.update(status="failed", reason=str(error), verification=_verification(design))
    except Exception as error:  # noqa: BLE001 - any failure is one point's, never the sweep's
        raw.update(status="failed", reason=f"{type(error).__name__}: {error}")
        cacheable = False
    raw["seconds"] = time.perf_counter() - start
    raw["record_version"] = RECORD_VERSION
    if cacheable:
        with atomic_write(task["cache"], "w") as handle:
            json.dump(raw, handle)
    return raw


@functools.cache
def _compact_library() -> object:
    """synth's default liberty, read once (only what prices the macros is asked of it here)."""
    from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY
    from bitwave.synth.eda.liberty import load_library

    return load_library(COMPACT_LIBRARY)


def _generate_point(model: str, design: Path, point: Point) -> None:
    from bitwave.hw.generate import generate

    generate(model, design, clock_mhz=point.clock_mhz, fold_spec=point.fold,
             weight_storage=point.weights, beat_bits=BEAT_BITS,
             buffering=point.buffering)  # fmt: skip


def _synthesize_point(
    design: Path, point: Point, lanes: int, frames_per_lane: int, sram: str = DEFAULT_SRAM
) -> dict:
    from bitwave.synth.flows.design import synthesize_design

    return synthesize_design(design, lanes=lanes, frames_per_lane=frames_per_lane,
                             max_fanout=point.max_fanout, sram=sram)  # fmt: skip


def measurements(design: Path, summary: dict) -> dict:
    """What synthesis measured (DIR/synth/power.json, the summary): area, leakage, dynamic
    power and the run it was averaged over, the idle run's dynamic power (clock running, no
    frame), maximum clock, the golden-model check."""
    power = json.loads((design / "synth" / "power.json").read_text())
    stimulus = power["stimulus"]
    return {
        "area_um2": float(summary["total_area_um2"]),
        "macro_area_um2": float(summary["macro_area_um2"]),
        "leakage_w": float(power["leakage_w"]),
        "dynamic_w": float(power["dynamic_w"]),
        "synth_energy_per_frame_j": float(power["energy_per_frame_j"]),
        "idle_dynamic_w": power.get("idle_dynamic_w"),
        "synth_realtime_w": power.get("realtime_w"),
        "sim_cycles": int(stimulus["cycles"]),
        "sim_lanes": int(stimulus["lanes"]),
        "sim_frames_out": int(stimulus["frames_out"]),
        "max_clock_mhz": float(summary["max_clock_mhz"]),
        "macro_pricing": summary.get("macro_pricing") or "",  # "" when the design has no macro
        "verification": _verification(design),
    }


def _verification(design: Path) -> dict | None:
    path = design / "synth" / "power.json"
    if not path.is_file():
        return None
    check = json.loads(path.read_text()).get("golden_check") or {}
    keys = ("checked", "frames", "mismatched_frames", "reason")
    return {key: check[key] for key in keys if key in check}


def priced(planned: Planned, raw: dict, fps: float) -> dict:
    """The point's record: its parameters, status and, when measured, the real-time figures.
    Energy per frame: the dynamic energy of the whole gate-level run per frame of a lane
    (fill and drain included) plus the leakage over one frame's cycles at the clock.
    Real-time power (``synth.eda.power.realtime_power``, at ``fps``): leakage + that dynamic
    energy x fps + the idle run's dynamic power (the clock keeps running between frames) over
    the idle fraction of each second."""
    from bitwave.synth.eda.power import realtime_power

    point = planned.point
    record = {
        "key": raw.get("key"), **point.params(), "source": planned.source,
        "status": raw.get("status", planned.status), "reason": raw.get("reason", planned.reason),
        "cycles_per_frame": planned.cycles_per_frame, "latency_cycles": planned.latency_cycles,
        "latency_ms": planned.latency_ms, "model_area_um2": planned.model_area_um2,
        "sim_frames_per_lane": planned.frames_per_lane,
    }  # fmt: skip
    if raw.get("status") != "ok":
        record.update({k: raw[k] for k in ("verification", "design", "seconds") if k in raw})
        record["cached"] = raw.get("cached", False)
        return record
    hz = point.clock_mhz * 1e6
    frames = raw["sim_frames_out"] / max(1, raw["sim_lanes"])
    dynamic_j = raw["dynamic_w"] * raw["sim_cycles"] / hz / max(frames, 1e-12)
    busy = planned.cycles_per_frame / hz
    record.update({
        "area_um2": raw["area_um2"], "macro_area_um2": raw["macro_area_um2"],
        "leakage_w": raw["leakage_w"], "dynamic_energy_per_frame_j": dynamic_j,
        "energy_per_frame_j": dynamic_j + raw["leakage_w"] * busy,
        "synth_energy_per_frame_j": raw["synth_energy_per_frame_j"],
        "realtime_power_w": realtime_power(raw["leakage_w"], dynamic_j,
                                           raw["idle_dynamic_w"], busy, fps),
        "idle_dynamic_w": raw["idle_dynamic_w"], "idle_fraction": 1.0 - min(1.0, busy * fps),
        "synth_realtime_w": raw["synth_realtime_w"],
        "max_clock_mhz": raw["max_clock_mhz"],
        "meets_timing": raw["max_clock_mhz"] >= point.clock_mhz,
        "macro_pricing": raw.get("macro_pricing", ""),
        "verification": raw["verification"],
        "sim": {"lanes": raw["sim_lanes"], "frames": raw["sim_frames_out"],
                "cycles": raw["sim_cycles"]},
        "design": raw["design"], "seconds": raw["seconds"], "cached": raw.get("cached", False),
    })  # fmt: skip
    return record


def verified(record: dict) -> bool:
    check = record.get("verification") or {}
    return bool(check.get("checked")) and check.get("mismatched_frames") == 0


def eligible(record: dict) -> bool:
    """A point the front is taken over: measured, verified, closing timing at its clock."""
    return record["status"] == "ok" and verified(record) and record.get("meets_timing", False)


def pareto_front(records: Sequence[dict], objectives: Sequence[str] = OBJECTIVES) -> list[int]:
    """Indices of the records no other record dominates (<= on every objective, < on one)."""
    values = [tuple(r[k] for k in objectives) for r in records]
    front = []
    for i, mine in enumerate(values):
        dominated = any(
            all(o <= m for o, m in zip(other, mine, strict=True)) and other != mine
            for j, other in enumerate(values)
            if j != i
        )
        if not dominated:
            front.append(i)
    return front


# ------------------------------------------------------------------------------ the sweep
@dataclass(frozen=True)
class Cluster:
    scheduler: str | None = None  # an existing Dask scheduler's address
    workers: int | None = None  # local workers (default: the machine's cores)
    processes: bool = True  # local workers as processes (False: threads of this process)
    progress: bool = True


def explore(
    source: str | Path, out: str | Path, options: Options | None = None,
    cluster: Cluster | None = None, cache: str | Path | None = None, version: str | None = None,
) -> dict:  # fmt: skip
    """Sweep the space of ``source`` (a .bwir or a config) into ``out``; returns the summary.
    ``version``: the code version the cache keys use (default ``code_version()``; a caller
    that runs sweeps back to back may compute it once)."""
    from bitwave.core import ir

    options, cluster = options or Options(), cluster or Cluster()
    sram, sram_label = sram_key(options.sram)  # a bad table fails here, before any work
    if sram != DEFAULT_SRAM:  # workers may run elsewhere: the table by its absolute path
        options = replace(options, sram=_absolute_table(options.sram))
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model, defaults = load_network(source, out)
    options = _with_config_defaults(options, defaults)
    net = ir.load(model)
    planned, info = plan(net, options)
    info["macs_per_frame"] = exit_macs(net)[-1]  # energy per MAC: a frame's energy over these
    cache_dir = Path(cache).resolve() if cache else out / "cache"
    version = version or code_version()
    records, tasks = _known_records(planned, net.sha256, options, cache_dir, version, out, model,
                                    sram)  # fmt: skip
    _write_points(out, [r for r in records if r is not None])
    synthesized = _run(tasks, records, planned, options, cluster, out)
    pricing = {"spec": options.sram, "key": sram, "pricing": sram_label}
    summary = report(out, records, planned, info, options, model, net.sha256, pricing)
    summary.update(synthesized=synthesized, cache=str(cache_dir), code_version=version,
                   seconds=time.perf_counter() - start)  # fmt: skip
    with atomic_write(out / "summary.json", "w") as handle:
        json.dump(summary, handle, indent=2)
    return summary


def _absolute_table(spec: str) -> str:
    return spec if spec in ("cells", "openram") else str(Path(spec).resolve())


def _with_config_defaults(options: Options, defaults: dict) -> Options:
    """A config's frame rate (unless --fps was given) and its own fold as a reference."""
    if not defaults:
        return options
    if options.fps == REAL_TIME_FPS:
        options = replace(options, fps=float(defaults["fps"]))
    if defaults.get("config_fold"):
        options = replace(options, references=(*options.references, defaults["config_fold"]))
    return options


def _known_records(
    planned: list[Planned], ir_sha: str, options: Options, cache_dir: Path, version: str,
    out: Path, model: Path, sram: str = DEFAULT_SRAM,
) -> tuple[list[dict | None], list[tuple[int, dict]]]:  # fmt: skip
    """Per point its record when known without work (pruned, failed before synthesis, cached)
    else None, and the (index, task) of every point still to evaluate."""
    records: list[dict | None] = []
    tasks = []
    for index, each in enumerate(planned):
        if each.status:
            records.append(priced(each, {}, options.fps))
            continue
        key = point_key(ir_sha, each, options.lanes, version, sram)
        cache_file = inside(cache_dir, key[:2], f"{key}.json")
        raw = _cached(cache_file)
        if raw is not None:
            records.append(priced(each, {**raw, "cached": True}, options.fps))
            continue
        records.append(None)
        tasks.append((index, {
            "key": key, "model": str(model.resolve()), "point": each.point.params(),
            "design": str(inside(out, "designs", key[:16])), "cache": str(cache_file),
            "lanes": options.lanes, "frames_per_lane": each.frames_per_lane,
            "sram": options.sram,
        }))  # fmt: skip
    return records, tasks


def _cached(path: Path) -> dict | None:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) and raw.get("record_version") == RECORD_VERSION else None


def _run(
    tasks: list[tuple[int, dict]], records: list[dict | None], planned: list[Planned],
    options: Options, cluster: Cluster, out: Path,
) -> int:  # fmt: skip
    """Evaluate ``tasks`` on Dask, each record appended to points.jsonl as it finishes."""
    if not tasks:
        return 0
    from distributed import as_completed
    from tqdm import tqdm

    client, local = _client(cluster, len(tasks))
    by_index = dict(tasks)
    try:
        futures = {
            client.submit(evaluate_point, task, key=f"bitwave-explore-{task['key']}",
                          pure=False): index
            for index, task in tasks
        }  # fmt: skip
        bar = tqdm(total=len(futures), desc="explore", unit="point", disable=not cluster.progress)
        with bar, open(out / "points.jsonl", "a") as log:
            for future in as_completed(futures):
                index = futures[future]
                raw = _result(future, by_index[index])
                records[index] = priced(planned[index], raw, options.fps)
                log.write(json.dumps(records[index]) + "\n")
                log.flush()
                bar.update()
    finally:
        client.close()
        if local is not None:
            local.close()
    return len(tasks)


def _result(future: object, task: dict) -> dict:
    """A finished future's raw record; a lost worker or a cancelled task is a failed point."""
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001 - e.g. KilledWorker: the point fails, not the sweep
        return {"key": task["key"], "status": "failed",
                "reason": f"{type(error).__name__}: {error}", "design": task["design"]}  # fmt: skip


def _client(cluster: Cluster, tasks: int) -> tuple[object, object | None]:
    """A Dask client: on the scheduler given, else on a new LocalCluster (one thread per
    worker; as processes, the gate-level simulation's progress bars silenced)."""
    from distributed import Client, LocalCluster

    if cluster.scheduler:
        try:
            return Client(cluster.scheduler, timeout="20s"), None
        except OSError as error:
            raise BitwaveError(
                f"--scheduler {cluster.scheduler}: cannot connect ({error}); allowed: the "
                "address of a running Dask scheduler, e.g. tcp://127.0.0.1:8786"
            ) from None
    workers = max(1, min(cluster.workers or os.cpu_count() or 1, tasks))
    # processes talk over the loopback (threads in-process), their progress bars silenced
    extra = {"env": {"TQDM_DISABLE": "1"}, "host": "127.0.0.1"} if cluster.processes else {}
    # no dashboard; the scheduler's HTTP server on a free port (not 8787, maybe taken)
    local = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=cluster.processes,
        dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"}, **extra,
    )  # fmt: skip
    return Client(local), local


def _write_points(out: Path, records: Iterable[dict]) -> None:
    """DIR/points.jsonl (atomic); pruned points beyond PRUNED_RECORD_CAP are only counted."""
    pruned = 0
    with atomic_write(out / "points.jsonl", "w") as handle:
        for record in records:
            if record["status"] == "pruned":
                pruned += 1
                if pruned > PRUNED_RECORD_CAP:
                    continue
            handle.write(json.dumps(record) + "\n")


# ------------------------------------------------------------------------------ the report
def report(
    out: Path, records: list[dict], planned: list[Planned], info: dict, options: Options,
    model: Path, ir_sha: str, sram: dict | None = None,
) -> dict:  # fmt: skip
    """points.jsonl (in plan order), pareto.md, pareto.png and the summary's content.
    ``sram``: what priced the RAM macros (spec, cache key part, label)."""
    good = [r for r in records if eligible(r)]
    macs = info.get("macs_per_frame")
    for record in good if macs else ():
        record["energy_per_mac_j"] = record["energy_per_frame_j"] / macs
    front = [good[i] for i in pareto_front(good)]
    front.sort(key=lambda r: r["realtime_power_w"])
    best = front[0] if front else None
    frugal = min(front, key=lambda r: r["energy_per_frame_j"]) if front else None
    if not options.keep_designs:
        _keep_front_designs(out, front, records)
    for record in front:
        _ensure_design(model, record, out)
    for record in records:  # a folder deleted by this sweep or an earlier one is not named
        if record.get("design") and not Path(record["design"]).is_dir():
            record["design"] = None
    _write_points(out, records)
    status = Counter(r["status"] for r in records)
    summary = {
        "model": str(model), "ir_sha256": ir_sha, "strategy": info.get("strategy"),
        "model_skipped": info.get("model_skipped", 0), "space": info,
        "constraint": {"fps": options.fps, "max_latency_ms": options.max_latency_ms},
        "points": len(records), "status": dict(status),
        "pruned_by": dict(Counter(r["reason"].split(":")[0] for r in records
                                  if r["status"] == "pruned")),
        "cached": sum(1 for r in records if r.get("cached")),
        "front": [r["key"] for r in front], "min_realtime_power": best,
        "min_energy_per_frame": frugal, "macs_per_frame": macs,
        "design": best["design"] if best else None,
        "explicit": [r for r in records if r["source"] == "explicit"],
        "sram": sram or {"spec": options.sram},
    }  # fmt: skip
    write_text(out / "pareto.md", pareto_markdown(summary, front, len(good)))
    plot_front(out / "pareto.png", good, front)
    return summary


def _keep_front_designs(out: Path, front: list[dict], records: list[dict]) -> None:
    """Delete the design folders of this run's points off the front (they are in the cache)."""
    keep = {r["design"] for r in front}
    root = out / "designs"
    for record in records:
        folder = record.get("design")
        if folder and folder not in keep and Path(folder).parent == root.resolve():
            shutil.rmtree(folder, ignore_errors=True)


def _ensure_design(model: Path, record: dict, out: Path) -> None:
    """A front point's design folder in DIR/designs; a point cached by an earlier sweep whose
    folder is gone is regenerated (not resynthesized: its figures are the
    record's, and ``bitwave synth`` measures them again)."""
    from bitwave.core.contract import MANIFEST

    if (Path(record["design"]) / MANIFEST).is_file():
        return
    folder = inside(out, "designs", record["key"][:16])
    point = Point(
        record["fold"],
        record["clock_mhz"],
        record["weights"],
        record["max_fanout"],
        record.get("buffering", "double"),
    )
    _generate_point(str(model), folder, point)
    record["design"] = str(folder)
    record["design_note"] = "regenerated from the cache record; bitwave synth re-measures it"


def _fmt(value: float | None, scale: float = 1.0, digits: int = 4) -> str:
    return "" if value is None else f"{value * scale:.{digits}g}"


def pareto_markdown(summary: dict, front: list[dict], eligible_count: int) -> str:
    lines = [
        "# Design-space exploration", "",
        f"Model `{summary['model']}` (IR sha256 {summary['ir_sha256'][:16]}). Constraint: "
        f"{summary['constraint']['fps']:g} frames/s, latency at most "
        f"{summary['constraint']['max_latency_ms']:g} ms.", "",
        f"Strategy: {summary['strategy']}.", "",
        f"Memory macros (RAM weights) priced by: {summary['sram'].get('pricing', summary['sram']['spec'])}.", "",
        f"Points: {summary['points']} ({', '.join(f'{n} {s}' for s, n in summary['status'].items())}; "
        f"{summary['cached']} from the cache). Front over {eligible_count} measured, verified points "
        "meeting timing, by area, energy per frame, real-time power and latency.", "",
        "Real-time power = leakage + dynamic energy per frame x frames/s + the idle run's "
        "dynamic power (clock running, no frame) over the idle part of each second. Energy per frame = the "
        "dynamic energy of a frame (gate-level run over random frames, per frame of a lane) + "
        "leakage over the frame's cycles at the clock. Verified: every output frame of the "
        "mapped netlist equal to the golden model's.", "",
        f"Energy per MAC = energy per frame / {summary['macs_per_frame'] or 0:,} MACs a frame.", "",
        "| fold | weights | buffering | clock MHz | fanout | area um^2 | energy/frame nJ | "
        "energy/MAC fJ | leakage uW | real-time uW | latency ms | cycles/frame | max clock MHz | "
        "verified frames |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for r in front:
        check = r.get("verification") or {}
        lines.append(
            f"| `{r['fold']}` | {r['weights']} | {r.get('buffering', 'double')} | "
            f"{r['clock_mhz']:g} | {r['max_fanout']} | "
            f"{r['area_um2']:,.0f} | {_fmt(r['energy_per_frame_j'], 1e9)} | "
            f"{_fmt(r.get('energy_per_mac_j'), 1e15)} | {_fmt(r['leakage_w'], 1e6)} | {_fmt(r['realtime_power_w'], 1e6)} | "
            f"{_fmt(r['latency_ms'])} | {r['cycles_per_frame']} | {r['max_clock_mhz']:,.1f} | "
            f"{check.get('frames', 0) - check.get('mismatched_frames', 0)} of {check.get('frames', 0)} |"
        )
    best = summary["min_realtime_power"]
    lines += ["", (f"Minimum real-time power: {_fmt(best['realtime_power_w'], 1e6)} uW, "
                   f"`{best['fold']}` ({best['weights']} weights, {best.get('buffering', 'double')} "
                   f"buffering) at {best['clock_mhz']:g} MHz; "
                   f"design folder `{best['design']}`.") if best else
              "No point was measured, verified and met timing: see points.jsonl.", ""]  # fmt: skip
    frugal = summary["min_energy_per_frame"]
    if frugal and frugal.get("energy_per_mac_j"):
        lines += [f"Minimum energy per frame: {_fmt(frugal['energy_per_frame_j'], 1e9)} nJ "
                  f"({_fmt(frugal['energy_per_mac_j'], 1e15)} fJ per MAC), `{frugal['fold']}` "
                  f"({frugal['weights']} weights, {frugal.get('buffering', 'double')} buffering) "
                  f"at {frugal['clock_mhz']:g} MHz.", ""]  # fmt: skip
    return "\n".join(lines)


def plot_front(path: Path, good: list[dict], front: list[dict]) -> None:
    """Real-time power against area, the front highlighted and the minimum named."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for weights, marker in (("const", "o"), ("memory", "s")):
        mine = [r for r in good if r["weights"] == weights]
        ax.scatter([r["area_um2"] for r in mine], [r["realtime_power_w"] * 1e6 for r in mine],
                   marker=marker, color="0.6", label=f"{weights} weights")  # fmt: skip
    ax.scatter([r["area_um2"] for r in front], [r["realtime_power_w"] * 1e6 for r in front],
               facecolors="none", edgecolors="C3", s=120, label="Pareto front")  # fmt: skip
    if front:
        best = front[0]
        ax.annotate("min real-time power", (best["area_um2"], best["realtime_power_w"] * 1e6),
                    textcoords="offset points", xytext=(8, 8))  # fmt: skip
    for values, axis in (([r["area_um2"] for r in good], "x"),
                         ([r["realtime_power_w"] for r in good], "y")):  # fmt: skip
        if values and max(values) > 10 * min(values) > 0:  # e.g. RAM macros beside logic
            getattr(ax, f"set_{axis}scale")("log")
    ax.set_xlabel("area (um^2)")
    ax.set_ylabel("real-time power (uW)")
    ax.set_title("bitwave explore: verified, synthesized points")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------ the command
def parse_clocks(text: str) -> tuple[float, ...] | None:
    """--clock-mhz: "auto" (None) or comma-separated positive MHz values."""
    from bitwave.core.inputs import positive_finite

    if text.strip().lower() == "auto":
        return None
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise BitwaveError(f"{text!r}: allowed: auto or comma-separated MHz values, e.g. 1,2,5")
    return tuple(positive_finite(part, "a clock in MHz") for part in parts)


def parse_weights(text: str) -> tuple[str, ...]:
    """--weights: a comma-separated subset of const, memory."""
    return _subset(text, WEIGHT_CHOICES)


def parse_buffering(text: str) -> tuple[str, ...]:
    """--buffering: a comma-separated subset of BUFFERING (double, single, memory)."""
    return _subset(text, BUFFERING)


def _subset(text: str, allowed: Sequence[str]) -> tuple[str, ...]:
    """A comma-separated, non-empty subset of ``allowed``, in the order given, once each."""
    chosen = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not chosen or any(item not in allowed for item in chosen):
        raise BitwaveError(f"{text!r}: allowed: a comma-separated subset of {', '.join(allowed)}")
    return chosen


def parse_fanouts(text: str) -> tuple[int, ...]:
    """--max-fanout: comma-separated values, each 0 (no repair) or an integer >= 2."""
    from bitwave.core.inputs import int_in_range

    values = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        value = int_in_range(part, "a max fanout", 0)
        if value == 1:
            raise BitwaveError("a max fanout of 1 never ends; allowed: 0 (no repair) or >= 2")
        values.append(value)
    if not values:
        raise BitwaveError(f"{text!r}: allowed: comma-separated integers, 0 or >= 2, e.g. 8,16")
    return tuple(dict.fromkeys(values))


def parse_fold_text(text: str) -> str:
    """--fold/--reference: a fold spec, optionally @MHZ (the layers are checked per point)."""
    spec, _ = split_pinned_clock(text)
    if ":" not in spec:
        raise BitwaveError(
            f"{text!r}: allowed: a fold spec like 'fc0:pe=16,simd=64;fc1:pe=8,simd=32', "
            "optionally followed by @MHZ"
        )
    return text


def handle(args: argparse.Namespace) -> int:
    """explore the design space of one network (on Dask)

    Sweep foldings, clocks, weight storage, frame buffering and max fanout of one network under the real-time
    constraint (--fps frames/s, latency at most --max-latency-ms): prune what cannot meet it,
    generate, verify (gate-level against the golden model) and synthesize the rest on a Dask
    cluster, price each at the real-time rate, and write DIR/points.jsonl, DIR/pareto.md,
    DIR/pareto.png and DIR/summary.json (the minimum real-time power design). Points are cached
    by content hash: a rerun or a bigger sweep reuses them, an interrupted one resumes.
    """
    options = Options(
        fps=args.fps, max_latency_ms=args.max_latency_ms, clocks=args.clock_mhz,
        clock_steps=args.clock_steps, weights=args.weights, max_fanouts=args.max_fanout,
        buffering=args.buffering,
        folds=tuple(args.fold or ()), references=tuple(args.reference or ()),
        max_points=args.max_points, lanes=args.lanes, sim_cycles=args.sim_cycles,
        max_sim_cycles=args.max_sim_cycles, keep_designs=args.keep_designs, sram=args.sram,
    )  # fmt: skip
    cluster = Cluster(args.scheduler, args.workers, not args.threads, not args.quiet)
    summary = explore(args.model, args.out, options, cluster, args.cache)
    best = summary["min_realtime_power"]
    print(f"wrote {args.out}: {summary['points']} points {summary['status']}, "
          f"{summary['synthesized']} synthesized now, {summary['cached']} from the cache")  # fmt: skip
    print(f"  strategy: {summary['strategy']}")
    print(f"  front: {len(summary['front'])} points (pareto.md, pareto.png)")
    print(f"  memory macros priced by: {summary['sram']['pricing']}")
    if best:
        print(f"  minimum real-time power: {best['realtime_power_w'] * 1e6:.4g} uW, "
              f"{best['area_um2']:,.0f} um^2, {best['fold']} ({best['weights']} weights, "
              f"{best.get('buffering', 'double')} buffering) at "
              f"{best['clock_mhz']:g} MHz: {best['design']}")  # fmt: skip
    if args.json:
        print(json.dumps(summary))
    return 0


def register(subparsers: object) -> None:
    from bitwave.core import cli_args

    def typed(check: Callable[[str], object], name: str) -> Callable[[str], object]:
        return cli_args.parser_type(check, name)

    p = cli_args.add_command(subparsers, "explore", handle)
    p.add_argument("model", metavar="CONFIG.yaml|MODEL.bwir", type=cli_args.input_path(),
                   help="the network: an IR, or a config (a random stand-in of its shape)")  # fmt: skip
    cli_args.add_out(p, "output folder (points.jsonl, pareto.md/png, summary.json)", required=True)
    p.add_argument("--fps", type=cli_args.positive_float, default=REAL_TIME_FPS,
                   help="frames per second to meet (default 62.5)")  # fmt: skip
    p.add_argument("--max-latency-ms", type=cli_args.positive_float,
                   default=DEFAULT_MAX_LATENCY_MS, help="latency bound (default 16 ms)")  # fmt: skip
    p.add_argument("--clock-mhz", type=typed(parse_clocks, "clocks"), default=None,
                   help="auto (per fold the lowest ladder clock meeting the constraint and "
                   "--clock-steps - 1 above) or MHz values, e.g. 1,2,5")  # fmt: skip
    p.add_argument("--clock-steps", type=cli_args.int_range(1, len(CLOCK_LADDER_MHZ)), default=2,
                   help="clocks per fold with --clock-mhz auto (default 2)")  # fmt: skip
    p.add_argument("--weights", type=typed(parse_weights, "weights"), default=WEIGHT_CHOICES,
                   help="weight storage choices: const, memory or const,memory (default)")  # fmt: skip
    p.add_argument("--sram", type=cli_args.sram_source, default=DEFAULT_SRAM,
                   metavar="cells|openram|TABLE.yaml",
                   help="what prices RAM weights (--weights memory), as bitwave synth --sram: "
                   "cells (default, the standard-cell macro model), openram (the shipped "
                   "FreePDK45 OpenRAM macros) or a datasheet table (YAML)")  # fmt: skip
    p.add_argument("--buffering", type=typed(parse_buffering, "buffering"), default=BUFFERING,
                   help="frame buffering choices, as bitwave generate --buffering: a subset of "
                   "double, single, memory (single and memory: feed-forward MLPs only; "
                   "skipped elsewhere; default: all three)")  # fmt: skip
    p.add_argument("--max-fanout", type=typed(parse_fanouts, "fanouts"),
                   default=(DEFAULT_MAX_FANOUT,), help="max fanout choices, e.g. 8,16 (default 16)")  # fmt: skip
    p.add_argument("--fold", action="append", type=typed(parse_fold_text, "fold"),
                   metavar="SPEC[@MHZ]", help="explore only these folds (repeatable)")  # fmt: skip
    p.add_argument("--reference", action="append", type=typed(parse_fold_text, "fold"),
                   metavar="SPEC[@MHZ]", help="also evaluate this design, e.g. today's default")  # fmt: skip
    p.add_argument("--max-points", type=cli_args.int_range(1, 100_000),
                   default=DEFAULT_MAX_POINTS,
                   help="synthesize at most this many (a larger space is searched; default 64)")  # fmt: skip
    p.add_argument("--lanes", type=cli_args.int_range(1, 64), default=DEFAULT_LANES,
                   help="gate-level simulation lanes (default 64)")  # fmt: skip
    p.add_argument("--sim-cycles", type=cli_args.int_range(1), default=DEFAULT_SIM_CYCLES,
                   help="cycles a point's gate-level run aims at (1..8 frames a lane)")  # fmt: skip
    p.add_argument("--max-sim-cycles", type=cli_args.int_range(1),
                   default=DEFAULT_MAX_SIM_CYCLES,
                   help="prune points whose one frame takes more gate-level cycles")  # fmt: skip
    cli_args.add_out(p, "cache folder (default DIR/cache; share it between sweeps)",
                     flag="--cache")  # fmt: skip
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="an existing Dask scheduler (default: a local cluster)")  # fmt: skip
    p.add_argument("--workers", type=cli_args.int_range(1, 1024), default=None,
                   help="local workers (default: the machine's cores)")  # fmt: skip
    p.add_argument("--threads", action="store_true",
                   help="local workers as threads of this process (quick for tiny sweeps)")  # fmt: skip
    p.add_argument("--keep-designs", action="store_true",
                   help="keep every point's design folder (default: the front's only)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    cli_args.add_json(p, "also print the summary as JSON")
