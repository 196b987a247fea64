"""``bitwave bench NAME --json``: benchmarks that print one JSON object. Ratios are measured
within one run so that the noise of a shared machine cancels; nothing here is a timed test."""

from __future__ import annotations

import argparse
import importlib
import json

from bitwave.core import cli_args

# name -> "module:function"; the function returns a JSON-able dict.
BENCHES = {
    "golden": "bitwave.app.bench.golden:run",
    "gru": "bitwave.app.bench.gru:run",
    "gru-hw": "bitwave.app.bench.gru_hw:run",
    "data": "bitwave.app.bench.data:run",
    "popcount-area": "bitwave.app.bench.popcount_area:run",
    "verify": "bitwave.app.bench.verify:run",
    "synth-memories": "bitwave.app.bench.synth_memories:run",
    "explore": "bitwave.app.bench.explore:run",
}


def run_bench(name: str) -> dict:
    module_name, function_name = BENCHES[name].split(":")
    return getattr(importlib.import_module(module_name), function_name)()


def _handle(args: argparse.Namespace) -> int:
    """run a benchmark and print its figures

    Benchmarks (not tests): each prints figures measured in one run.
    """
    result = run_bench(args.name)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = cli_args.add_command(subparsers, "bench", _handle)
    parser.add_argument("name", choices=sorted(BENCHES), help="which benchmark")
    cli_args.add_json(parser, "print one JSON object")
