"""bitwave explore: a tiny sweep on a local Dask cluster (threads), its cache, its failures,
pruning, the search and the Pareto front."""

import json
import time

import pytest

from bitwave.app import explore as ex
from bitwave.app.cli import main
from bitwave.core import ir
from bitwave.core.random_ir import random_network

FAST = "fc0:pe=8,simd=16;fc1:pe=4,simd=8"  # fully parallel
SLOW = "fc0:pe=1,simd=4;fc1:pe=1,simd=8"
IMPOSSIBLE = "fc0:pe=3,simd=16;fc1:pe=4,simd=8"  # 3 does not divide 8
CRASH = "fc0:pe=2,simd=16;fc1:pe=4,simd=8"  # its synthesis raises (injected below)
OPTIONS = ex.Options(clocks=(1.0,), weights=("const",), lanes=4, buffering=("double",),
                     folds=(FAST, IMPOSSIBLE, CRASH, f"{SLOW}@0.0002"))  # fmt: skip
CLUSTER = ex.Cluster(workers=1, processes=False, progress=False)  # threads: quick


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("explore")
    ir.save(random_network([16, 8, 4], seed=0, name="tiny"), root / "tiny.bwir")
    return root


@pytest.fixture(scope="module")
def sweeps(tiny):
    """The sweep, then a rerun with points.jsonl deleted (an interrupted sweep's state), both
    with a synthesis that counts its calls and fails for CRASH."""
    calls: list[str] = []
    real = ex._synthesize_point

    def counting(design, point, lanes, frames, sram):
        calls.append(point.fold)
        if point.fold == CRASH:
            raise RuntimeError("injected crash")
        return real(design, point, lanes, frames, sram)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ex, "_synthesize_point", counting)
        version = ex.code_version()  # once for both sweeps (as the bench does)
        first = ex.explore(tiny / "tiny.bwir", tiny / "out", OPTIONS, CLUSTER, version=version)
        first_calls = list(calls)
        first_points = _points(tiny / "out")
        (tiny / "out" / "points.jsonl").unlink()
        start = time.perf_counter()
        second = ex.explore(tiny / "tiny.bwir", tiny / "out", OPTIONS, CLUSTER, version=version)
        second_seconds = time.perf_counter() - start
    return {"first": first, "first_calls": first_calls, "first_points": first_points,
            "second": second, "second_calls": calls[len(first_calls):],
            "second_points": _points(tiny / "out"), "second_seconds": second_seconds}  # fmt: skip


def _points(out):
    return [json.loads(line) for line in (out / "points.jsonl").read_text().splitlines()]


def _by_fold(points):
    return {(p["fold"], p["clock_mhz"]): p for p in points}


def test_sweep_records_every_point_and_the_front(sweeps, tiny):
    points = _by_fold(sweeps["first_points"])
    assert len(sweeps["first_points"]) == 4
    record = points[(FAST, 1.0)]
    assert record["status"] == "ok", record
    check = record["verification"]
    assert check["checked"] and check["frames"] > 0 and check["mismatched_frames"] == 0
    idle_s = record["idle_fraction"]  # of each second: the clock runs, no frame
    assert record["idle_dynamic_w"] > 0 and 0 < idle_s < 1
    expected = (record["leakage_w"] + record["dynamic_energy_per_frame_j"] * OPTIONS.fps
                + record["idle_dynamic_w"] * idle_s)  # fmt: skip
    assert record["realtime_power_w"] == pytest.approx(expected)
    # synthesis' own real-time figure (its energy per frame from the run's mean power)
    assert record["realtime_power_w"] == pytest.approx(record["synth_realtime_w"], rel=0.05)
    assert record["area_um2"] > 0 and record["latency_ms"] > 0 and record["meets_timing"]
    failed = points[(IMPOSSIBLE, 1.0)]
    assert failed["status"] == "failed" and "does not divide" in failed["reason"]
    crashed = points[(CRASH, 1.0)]
    assert crashed["status"] == "failed" and crashed["reason"] == "RuntimeError: injected crash"
    pruned = points[(SLOW, 0.0002)]
    assert pruned["status"] == "pruned" and pruned["reason"].startswith("frame rate")
    assert sorted(sweeps["first_calls"]) == sorted([FAST, CRASH])  # never the pruned one
    summary = json.loads((tiny / "out" / "summary.json").read_text())
    best = summary["min_realtime_power"]
    assert best["key"] in summary["front"]
    assert (tiny / "out" / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    assert f"`{best['fold']}`" in (tiny / "out" / "pareto.md").read_text()
    # energy per MAC: the frame's energy over the network's MACs (the tiny net's dense layers)
    net = ir.load(tiny / "tiny.bwir")
    assert summary["macs_per_frame"] == sum(fc.in_width * fc.out_width for fc in net.layers)
    assert summary["min_energy_per_frame"]["energy_per_mac_j"] == pytest.approx(
        summary["min_energy_per_frame"]["energy_per_frame_j"] / summary["macs_per_frame"]
    )
    assert "fJ per MAC" in (tiny / "out" / "pareto.md").read_text()
    assert summary["strategy"].startswith("exhaustive")
    assert summary["front"] == [record["key"]] and summary["design"] == record["design"]
    assert (tiny / "out" / "designs" / record["key"][:16] / "manifest.json").is_file()
    # the other points' folders are deleted (CRASH's was generated before its failure)
    assert not (tiny / "out" / "designs" / points[(CRASH, 1.0)]["key"][:16]).exists()
    assert points[(CRASH, 1.0)]["design"] is None


def test_rerun_takes_every_finished_point_from_the_cache(sweeps):
    assert sweeps["second_calls"] == [CRASH]  # an unexpected failure is retried, not cached
    assert sweeps["second"]["synthesized"] == 1
    before, after = _by_fold(sweeps["first_points"]), _by_fold(sweeps["second_points"])
    assert set(before) == set(after)  # points.jsonl rebuilt whole from the cache
    assert after[(FAST, 1.0)]["cached"] and not before[(FAST, 1.0)]["cached"]
    assert after[(FAST, 1.0)]["area_um2"] == before[(FAST, 1.0)]["area_um2"]
    assert after[(CRASH, 1.0)]["status"] == "failed" and not after[(CRASH, 1.0)]["cached"]
    assert (
        sweeps["second"]["min_realtime_power"]["key"]
        == sweeps["first"]["min_realtime_power"]["key"]
    )


def test_pareto_front_excludes_a_dominated_point(sweeps):
    good = [r for r in sweeps["first_points"] if ex.eligible(r)]
    front = ex.pareto_front(good)
    for i in front:  # no measured point dominates a front point
        assert not any(ex.pareto_front([good[i], other]) == [1] for other in good)
    base = {"area_um2": 10.0, "energy_per_frame_j": 1.0, "realtime_power_w": 1.0, "latency_ms": 1.0}
    worse = {**base, "area_um2": 10.5}  # dominated: equal elsewhere, larger area
    trade = {**base, "area_um2": 12.0, "latency_ms": 0.5}  # not dominated: faster
    assert ex.pareto_front([base, worse, trade]) == [0, 2]
    assert ex.pareto_front([worse, base]) == [1]
    assert ex.pareto_front([base, dict(base)]) == [0, 1]  # equal points dominate neither


def test_pruning_by_frame_rate_and_latency(tiny):
    net = ir.load(tiny / "tiny.bwir")
    options = ex.Options(
        clocks=(0.0002, 1.0), weights=("const",), folds=(SLOW,), buffering=("double",)
    )
    planned = {p.point.clock_mhz: p for p in ex.plan(net, options)[0]}
    assert planned[1.0].status is None
    assert planned[0.0002].status == "pruned" and "frame rate" in planned[0.0002].reason
    tight = ex.Options(
        clocks=(1.0,), weights=("const",), folds=(SLOW,), max_latency_ms=0.01, buffering=("double",)
    )
    (late,) = ex.plan(net, tight)[0]
    assert late.status == "pruned" and late.reason.startswith("latency")
    auto = ex.Options(
        weights=("const",), folds=(SLOW,), fps=62.5, clock_steps=2, buffering=("double",)
    )
    clocks = sorted(p.point.clock_mhz for p in ex.plan(net, auto)[0])
    assert clocks == list(ex.CLOCK_LADDER_MHZ[:2])  # the lowest that meets the rate, and one up


def test_search_is_exhaustive_when_small_and_guided_when_large(tiny):
    net = ir.load(tiny / "tiny.bwir")
    small, info = ex.plan(net, ex.Options(weights=("const",), clock_steps=1, max_points=1000))
    assert info["strategy"].startswith("exhaustive")
    feasible = [p for p in small if p.status is None]
    assert {p.point.buffering for p in feasible} == {"double", "single", "memory"}
    for each in feasible:  # the search's analytic timing is the hardware's
        cycles, latency = ex.timing(net, each.point.fold, "const", each.point.buffering)
        assert (each.cycles_per_frame, each.latency_cycles) == (cycles, latency)
    guided, info = ex.plan(net, ex.Options(weights=("const", "memory"), clock_steps=1,
                                           max_points=4))  # fmt: skip
    chosen = [p for p in guided if p.status is None]
    assert info["strategy"].startswith("guided") and len(chosen) == 4
    assert {p.point.weights for p in chosen} == {"const", "memory"}
    const = [p for p in feasible if p.point.weights == "const"]
    model_front = ex.front_2d(const, lambda p: (p.model_area_um2, p.latency_ms))
    smallest = min(model_front, key=lambda p: p.model_area_um2).point.fold
    assert smallest in {p.point.fold for p in chosen if p.point.weights == "const"}


def test_a_config_explores_a_stand_in_with_its_design_as_reference(tmp_path):
    config = tmp_path / "small.yaml"
    config.write_text("model: {hidden: [8]}\nhw: {fold: 'fc0:pe=8,simd=114;fc1:pe=27,simd=8'}\n")
    model, defaults = ex.load_network(config, tmp_path / "out")
    net = ir.load(model)
    assert net.widths == [2052, 8, 513]
    assert defaults["config_fold"].endswith("@100")
    options = ex._with_config_defaults(
        ex.Options(weights=("const",), max_points=1, buffering=("double",)), defaults
    )
    planned, _ = ex.plan(net, options)
    assert [p.point.fold for p in planned if p.source == "reference"] == [
        "fc0:pe=8,simd=114;fc1:pe=27,simd=8"
    ]


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--max-points", "0"], "--max-points"),
        (["--weights", "rom"], "const, memory"),
        (["--buffering", "triple"], "double, single"),
        (["--clock-mhz", "0"], "positive"),
        (["--max-fanout", "1"], ">= 2"),
        (["--fold", "nonsense"], "fold spec"),
        (["--workers", "0"], "--workers"),
    ],
)
def test_bad_arguments_exit_2(tiny, tmp_path, capsys, extra, words):
    with pytest.raises(SystemExit) as stop:
        main(["explore", str(tiny / "tiny.bwir"), "--out", str(tmp_path / "o"), *extra])
    assert stop.value.code == 2
    assert words in capsys.readouterr().err


def test_a_missing_or_unknown_network_exits_2(tmp_path, capsys):
    (tmp_path / "net.txt").write_text("x")
    for model, words in (
        (tmp_path / "none.bwir", "does not exist"),
        (tmp_path / "net.txt", "allowed"),
    ):
        assert main(["explore", str(model), "--out", str(tmp_path / "o"), "--quiet"]) == 2
        assert words in capsys.readouterr().err


def test_cache_key_follows_the_imports_of_the_generator_and_synthesis(tmp_path):
    (tmp_path / "a.py").write_text("import os\n\ndef f():\n    from pkg.b import g\n")
    (tmp_path / "b.py").write_text("from pkg import c\n")
    (tmp_path / "c.py").write_text("")
    (tmp_path / "unused.py").write_text("")
    found = {p.name for p in ex._imported_sources(["pkg.a"], {"pkg": tmp_path})}
    assert found == {"a.py", "b.py", "c.py"}  # inside functions too; never the unused module
    roots = {name: ex._package_dir(name) for name in ex.POINT_CODE_PACKAGES}
    real = {p.as_posix() for p in ex._imported_sources(ex.POINT_CODE_ROOTS, roots)}
    for module in ("hw/folding.py", "synth/eda/gatesim.py", "bitwave/core/golden.py"):
        assert any(path.endswith(module) for path in real)


def test_single_buffering_points_are_built_single(tiny, tmp_path):
    options = ex.Options(clocks=(1.0,), weights=("const",), lanes=4, folds=(SLOW,),
                         buffering=("single",))  # fmt: skip
    summary = ex.explore(tiny / "tiny.bwir", tmp_path / "out", options, CLUSTER)
    best = summary["min_realtime_power"]
    assert best["buffering"] == "single" and ex.verified(best)
    manifest = json.loads((tmp_path / "out" / "designs" / best["key"][:16] / "manifest.json")
                          .read_text())  # fmt: skip
    assert manifest["buffering"] == "single"
    assert manifest["cycles_per_frame"] == best["cycles_per_frame"]
    assert "| single |" in (tmp_path / "out" / "pareto.md").read_text()


def test_single_buffering_is_left_out_where_it_is_not_built():
    gru = random_network([16, "gru:8", 4], seed=0, name="g")
    planned, info = ex.plan(gru, ex.Options(weights=("const",), clock_steps=1))
    assert {p.point.buffering for p in planned} == {"double"}
    assert "feed-forward" in info["buffering_skipped"]["single"]


def test_ram_weights_priced_by_a_datasheet_rank_by_their_macros_leakage(tiny):
    """With --sram openram the area model counts a RAM weight store as its banked macros'
    leakage (in DFF-equivalent area): a store that fits the macros' words beats one of the
    same bits that wastes them, which the flip-flop model cannot tell apart."""
    from bitwave.hw.folding import LayerFold, estimate_area_um2

    bits = 131_328  # the demo's fc0: 2052 x 64
    wasteful, fitting = (
        ex.macro_leakage_area("openram", bits // 3, 3),
        ex.macro_leakage_area("openram", bits // 16, 16),
    )
    assert wasteful > 4 * fitting > 0
    net = ir.load(tiny / "tiny.bwir")
    layer = net.layers[0]
    for name, choices in ex.layer_choices(net, "memory", "openram")[:1]:
        for choice in choices:
            fold = LayerFold(choice.pe, choice.simd)
            store = choice.schedule.weights
            expected = estimate_area_um2(layer, fold, "memory", store=False)
            expected += ex.macro_leakage_area("openram", store.depth, store.word_bits)
            assert choice.area_um2 == pytest.approx(expected), (name, choice)
    cells = ex.layer_choices(net, "memory", "cells")[0][1]
    assert cells[0].area_um2 == pytest.approx(
        estimate_area_um2(layer, LayerFold(cells[0].pe, cells[0].simd), "memory")
    )
