"""``bitwave bench data``: how long the built-in demo data set takes to generate from scratch
and to load from its cache (both measured in this run, in a temporary cache folder)."""

from __future__ import annotations

import tempfile
import time

from bitwave.models.data.builtin import build_builtin
from bitwave.models.data.config import DataConfig


def run(preset: str = "demo") -> dict:
    with tempfile.TemporaryDirectory(prefix="bitwave-data-bench-") as cache:
        config = DataConfig.from_dict({"preset": preset, "cache_dir": cache})
        start = time.perf_counter()
        dataset = build_builtin(config, progress=False)
        generate_s = time.perf_counter() - start
        start = time.perf_counter()
        build_builtin(config, progress=False)
        load_s = time.perf_counter() - start
    audio_s = sum(m.seconds for split in dataset.splits.values() for m in split)
    utterances = sum(len(split) for split in dataset.splits.values())
    return {
        "preset": preset,
        "utterances": utterances,
        "audio_minutes": round(audio_s / 60, 2),
        "generate_s": round(generate_s, 2),
        "generate_ms_per_utterance": round(1000 * generate_s / utterances, 2),
        "audio_seconds_per_second": round(audio_s / generate_s, 1),
        "cache_load_s": round(load_s, 3),
    }
