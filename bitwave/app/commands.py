"""Core subcommands: flow, enhance, explore, random-ir, run-golden, inspect, config."""

from __future__ import annotations

import argparse
import json

import numpy as np

from bitwave.app import explore
from bitwave.core import cli_args, inputs
from bitwave.core.cli_args import add_command
from bitwave.core.errors import BitwaveError
from bitwave.core.paths import atomic_write


def parse_int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise BitwaveError(
            f"{what}: expected comma-separated integers like 2052,256,513, got {text!r}"
        ) from None
    if not values:
        raise BitwaveError(f"{what}: expected at least one integer, got {text!r}")
    return values


def _int_or_list(text: str, what: str) -> int | list[int]:
    values = parse_int_list(text, what)
    return values[0] if len(values) == 1 else values


def _parse_layers(text: str) -> list[int | str]:
    """--layers items: integers (the input and dense widths), gru:H (a binary_gru layer) and
    exit (an early exit head)."""
    from bitwave.core.random_ir import EXIT_ITEM, GRU_ITEM, LAYER_FORMS, layer_item

    items: list[int | str] = []
    for part in (part.strip() for part in text.split(",")):
        if not part:
            continue
        try:
            items.append(int(part))
        except ValueError:
            try:
                kind, units = layer_item(part)
                items.append(EXIT_ITEM if kind == "exit" else f"{GRU_ITEM}{units}")
            except BitwaveError:
                raise BitwaveError(
                    f"--layers: expected comma-separated {LAYER_FORMS}; got item {part!r} in "
                    f"{text!r}"
                ) from None
    if not items:
        raise BitwaveError(f"--layers: expected at least one integer, got {text!r}")
    return items


def _random_ir(args: argparse.Namespace) -> int:
    """write a random (untrained) IR network

    Write a valid random IR with random weights and plausible thresholds, so hardware can be
    generated and tested without training. Items gru:H make binary_gru layers (bipolar, before
    every dense layer), e.g. --layers 2052,gru:256,513; the item exit after a hidden width
    adds an early exit head there, e.g. --layers 2052,64,exit,64,exit,64,513.
    """
    from bitwave.core import ir
    from bitwave.core.random_ir import random_network

    net = random_network(
        _parse_layers(args.layers),
        wbits=_int_or_list(args.wbits, "--wbits"),
        abits=_int_or_list(args.abits, "--abits"),
        in_bits=args.in_bits,
        seed=args.seed,
        name=args.name,
    )
    digest = ir.save(net, args.out)
    print(f"wrote {args.out} (sha256 {digest[:16]})")
    print(net.summary())
    return 0


def _run_golden(args: argparse.Namespace) -> int:
    """run the golden model on a batch of frames

    Execute an IR with exact integer semantics. Input: a .npy array (frames, input_width) of
    integer codes (bits 0/1 for bipolar inputs), or float features (frames, features) that the
    IR's bit-plane coding encodes.
    """
    from bitwave.core import golden, ir

    inputs.npy_header(args.input, "--input")
    net = ir.load(args.model)
    out = golden.run(net, golden.load_input_frames(args.input, net), exits=args.exit)
    with atomic_write(args.output, "wb") as handle:
        np.save(handle, out, allow_pickle=False)
    print(f"wrote {args.output}: {out.shape[0]} frames x {out.shape[1]} {net.output_type}")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    """summarize an IR file

    Validate an IR file and summarize it.
    """
    from bitwave.core import ir

    net = ir.load(args.model)
    if args.json:
        layers = [_layer_json(layer) for layer in net.layers]
        summary = {"name": net.name, "sha256": net.sha256, "input_width": net.input_width,
                   "input_type": str(net.input_type), "provenance": net.provenance, "layers": layers}  # fmt: skip
        if net.mask_floor_db is not None:
            summary["mask_floor_db"] = net.mask_floor_db
        if net.audio is not None:
            summary["audio"] = net.audio.to_json()
        if net.exits:
            summary["exits"] = [
                {"after": early.after, "layer": _layer_json(early.head)} for early in net.exits
            ]
        print(json.dumps(summary))
    else:
        print(net.summary())
    return 0


def _layer_json(layer: object) -> dict:
    return {"name": layer.name, "op": layer.op, "in_width": layer.in_width,
            "out_width": layer.out_width, "wbits": layer.wbits,
            "in_type": str(layer.in_type), "out_type": str(layer.out_type)}  # fmt: skip


def _config(args: argparse.Namespace) -> int:
    """print the effective configuration

    Validate a YAML config against the schema and print it merged with the defaults.
    """
    import yaml

    from bitwave.core import config

    print(yaml.safe_dump(config.load(args.config), sort_keys=False), end="")
    return 0


def _flow(args: argparse.Namespace) -> int:
    """the main job: data -> train -> IR -> hardware -> verify -> synth -> report

    Train a bitwise SE network (and its float baseline), export the IR, generate the hardware,
    verify it on Verilator with real test frames, synthesize it for area and power at the
    real-time frame rate, and write RUN/report.md. Stages whose results exist in RUN are kept.
    """
    from bitwave.core import config

    settings = config.load(args.config)  # refused before the stages are imported
    from bitwave.app.flow import run_flow

    run_flow(settings, args.out, force=args.force, report_dir=args.report_dir)
    return 0


def _enhance(args: argparse.Namespace) -> int:
    """enhance noisy WAV files through the SE chip (golden model, RTL or gates)

    Read each NOISY.wav (any WAV: PCM or float, any rate, mixed down to mono, resampled to 16
    kHz, as 16-bit samples) and run it through the full chip: the fixed-point STFT front end,
    the network's mask, the back end with the model's gain floor (or --mask-floor), 16-bit PCM
    out, written to DIR/<stem>_enhanced.wav atomically. --engine golden runs the chip's golden
    model (fast), rtl the generated chip in Verilator, gates its synthesized netlist; all three
    give the same samples. With --clean, print SI-SDR, STOI and PESQ of the noisy and the
    enhanced audio against the clean references.
    """
    from bitwave.app import enhance

    enhance.run(
        args.model,
        args.noisy,
        args.out,
        floor_db=vars(args).get("mask_floor", enhance.evaluate.MODEL_FLOOR),
        clean=args.clean,
        progress=not args.quiet,
        engine=args.engine,
        design=args.design,
    )
    return 0


def _add_enhance(subparsers: argparse._SubParsersAction) -> None:
    from bitwave.core import ir

    p = add_command(subparsers, "enhance", _enhance)
    p.add_argument("model", metavar="RUN|MODEL.bwir", type=cli_args.input_path(),
                   help="a bitwise or k-bit run folder, or an IR file with an input coding")  # fmt: skip
    p.add_argument("noisy", metavar="NOISY.wav", nargs="+", type=cli_args.input_path(),
                   help="noisy WAV file(s)")  # fmt: skip
    cli_args.add_out(p, "output folder for <stem>_enhanced.wav", required=True)
    p.add_argument("--engine", default="golden", type=cli_args.parser_type(_engine, "engine"),
                   help="golden (the chip's golden model, default), rtl (the generated chip in "
                   "Verilator) or gates (its synthesized netlist)")  # fmt: skip
    p.add_argument("--design", metavar="DIR", type=cli_args.input_path(), default=None,
                   help="rtl/gates: the chip (bitwave generate --audio; gates: after bitwave "
                   "synth); default RUN/chip, or for rtl one generated on the fly")  # fmt: skip
    p.add_argument(
        "--mask-floor", metavar="DB", default=argparse.SUPPRESS,
        type=cli_args.parser_type(ir.parse_mask_floor, "mask floor"),
        help="gain (dB) of a mask bit 0 instead of the model's own: a number in [-100, 0) or "
        "'none' (bins zeroed)",
    )  # fmt: skip
    p.add_argument("--clean", metavar="REF.wav", nargs="+", type=cli_args.input_path(),
                   help="clean reference(s), one per noisy file: print quality before/after")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _engine(name: str) -> str:
    """--engine: golden, rtl or gates (bitwave.app.enhance.ENGINES)."""
    from bitwave.app.enhance import ENGINES

    if name not in ENGINES:
        raise BitwaveError(f"engine {name!r} is not available; allowed: {', '.join(ENGINES)}")
    return name


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(subparsers, "flow", _flow)
    cli_args.add_run(p)
    p.add_argument(
        "--force",
        action="store_true",
        help="redo every stage: delete RUN first (only a run folder bitwave flow made, marked .bitwave-run)",
    )
    cli_args.add_out(
        p, "also copy the report and its plots here (e.g. reports/demo)", flag="--report-dir"
    )

    _add_enhance(subparsers)
    explore.register(subparsers)  # bitwave explore: the design space on Dask

    p = add_command(subparsers, "random-ir", _random_ir)
    p.add_argument(
        "--layers",
        required=True,
        help="widths input,hidden...,output, e.g. 2052,256,256,513; an item gru:H is a "
        "binary_gru layer of H units (GRU layers come first, bipolar), e.g. 2052,gru:256,513; "
        "an item exit after a hidden width adds an early exit head there, e.g. "
        "2052,64,exit,64,exit,64,513",
    )
    p.add_argument(
        "--wbits", default="1", help="weight bits: one value or one per layer (1 = binary)"
    )
    p.add_argument(
        "--abits",
        default="1",
        help="output bits of each layer: one value or one per layer (1 = bipolar)",
    )
    p.add_argument("--in-bits", type=int, default=1, help="input bits (1 = bipolar input)")
    cli_args.add_seed(p)
    p.add_argument("--name", default="random", help="network name (sanitized into an identifier)")
    cli_args.add_out(p, "output .bwir file", kind="file", required=True)

    p = add_command(subparsers, "run-golden", _run_golden)
    p.add_argument("model", help="IR file (.bwir)")
    p.add_argument("--input", required=True, help="input frames (.npy)")
    p.add_argument(
        "--exit",
        type=int,
        default=None,
        help="for a multi-exit network: the exit to run, 0 = the shallowest (default: the final)",
    )
    cli_args.add_out(p, "output codes (.npy)", kind="file", required=True, flag="--output")

    p = add_command(subparsers, "inspect", _inspect)
    p.add_argument("model", help="IR file (.bwir)")
    cli_args.add_json(p)

    p = add_command(subparsers, "config", _config)
    cli_args.add_config(p, "YAML config (default: built-in defaults)")
