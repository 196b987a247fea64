"""``bitwave data``: build (or load from cache) a data set, print what is in it, and
optionally write listening examples and a noise gallery to a folder."""

from __future__ import annotations

import argparse
import json
import time

from bitwave.core import cli_args
from bitwave.core.cli_args import add_command


def _handle(args: argparse.Namespace) -> int:
    """build or inspect the SE data set (built-in or a real-data folder)

    Builds the data set a config's data section describes (the built-in eSpeak +
    procedural-noise demo set by default; cached, so a second run is instant) or loads a
    real-data folder, and prints its splits. With --out, writes example wav files
    (noisy/clean/noise) and a spectrogram gallery of the test noise types.
    """
    from bitwave.core import config as config_mod
    from bitwave.models.data import DataConfig, build_dataset

    values = dict(config_mod.load(args.config).get("data") or {}) if args.config else {}
    if args.folder:
        values["folder"] = args.folder
    if args.seed is not None:
        values["seed"] = args.seed
    config = DataConfig.from_dict(values)
    start = time.perf_counter()
    dataset = build_dataset(config, progress=not args.quiet)
    summary = dataset.describe()
    summary["seconds_to_build"] = round(time.perf_counter() - start, 2)
    summary["cache"] = dataset.metadata.get("cache")
    if args.out:
        from bitwave.models.data.examples import write_examples

        summary["examples"] = write_examples(dataset, args.out, per_type=args.examples)
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    print(
        f"data set {summary['name']!r} ready in {summary['seconds_to_build']} s"
        + (f" (cache {summary['cache']})" if summary["cache"] else "")
    )
    for split in ("train", "valid", "test"):
        if split in summary:
            part = summary[split]
            types = ", ".join(f"{k} {v}" for k, v in part["noise_types"].items())
            print(
                f"  {split:5s}: {part['mixtures']} mixtures, {part['seconds'] / 60:.1f} min, {part['speakers']} speakers; noise: {types}"
            )
    if args.out:
        print(f"wrote examples and noise_gallery.png to {args.out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "data", _handle)
    cli_args.add_config(parser, "YAML config whose data: section is used (default: built-in demo)")
    parser.add_argument(
        "--folder", help="a real-data folder (VoiceBank+DEMAND style, or clean/ + noise/)"
    )
    cli_args.add_seed(parser, "override data.seed", default=None)
    cli_args.add_out(parser, "folder for example wavs and noise_gallery.png")
    parser.add_argument(
        "--examples",
        type=cli_args.int_range(1, 100),
        default=1,
        help="test examples per noise type written with --out (default 1)",
    )
    cli_args.add_json(parser, "print the summary as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
