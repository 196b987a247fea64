"""``bitwave bench explore``: design-space exploration throughput on a tiny network, measured in
one run: a cold sweep (every point generated, verified and synthesized on a local Dask cluster)
and the same sweep again (every point from the cache), in points per hour."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

SIZES = (32, 16, 8)
# Four foldings of the tiny network: fully parallel to fully folded.
FOLDS = (
    "fc0:pe=16,simd=32;fc1:pe=8,simd=16",
    "fc0:pe=4,simd=8;fc1:pe=2,simd=16",
    "fc0:pe=1,simd=8;fc1:pe=1,simd=4",
    "fc0:pe=1,simd=1;fc1:pe=1,simd=1",
)


def run(sizes: tuple[int, ...] = SIZES, folds: tuple[str, ...] = FOLDS, workers: int = 2) -> dict:
    from bitwave.app import explore as ex
    from bitwave.core import ir
    from bitwave.core.random_ir import random_network

    # one point a fold: one clock, weight storage and buffering (the figure is points per hour)
    options = ex.Options(clocks=(1.0,), weights=("const",), folds=folds, lanes=16,
                         buffering=("double",))  # fmt: skip
    cluster = ex.Cluster(workers=workers, processes=True, progress=False)
    result: dict = {"network": "-".join(map(str, sizes)), "points": len(folds),
                    "workers": workers, "processes": True}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bitwave_bench_explore_") as tmp:
        root = Path(tmp)
        ir.save(random_network(list(sizes), seed=0, name="bench"), root / "net.bwir")
        version = ex.code_version()  # once: an edit of the tree between the runs is not a miss
        for label in ("cold", "cached"):
            start = time.perf_counter()
            summary = ex.explore(root / "net.bwir", root / "out", options, cluster, version=version)
            seconds = time.perf_counter() - start
            result[label] = {
                "seconds": seconds,
                "synthesized": summary["synthesized"],
                "from_cache": summary["cached"],
                "status": summary["status"],
                "points_per_hour": len(folds) / seconds * 3600,
            }
    result["cache_speedup"] = (
        result["cached"]["points_per_hour"] / result["cold"]["points_per_hour"]
    )
    return result
