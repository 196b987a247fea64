"""``bitwave generate``: lower an IR to Verilog + manifest + FuseSoC core (bitwave.hw)."""

from __future__ import annotations

import argparse

from bitwave.core import cli_args
from bitwave.core.cli_args import add_command
from bitwave.core.contract import BUFFERING

MAX_BEAT_BITS = 1 << 16  # a stream wider than any frame bitwave builds; bounds the port width


def _generate(args: argparse.Namespace) -> int:
    """lower an IR to Verilog, manifest.json and a FuseSoC core

    Build the streaming XNOR-popcount hardware for an IR (with --audio the whole chip, audio
    samples in and enhanced samples out) and write DIR/rtl/<top>.v, DIR/manifest.json,
    DIR/<top>.core and a copy of the IR. The folding (PE/SIMD per layer) is
    chosen to meet --fps at --clock-mhz with the least estimated area, or given explicitly with
    --fold.
    """
    from bitwave.core.errors import BitwaveError
    from bitwave.hw.generate import generate
    from bitwave.hw.lint import lint_verilog

    if args.fold is not None and args.fps is not None and args.clock_mhz is None:
        raise BitwaveError("--fold with --fps needs --clock-mhz to check the rate against")
    result = generate(
        args.model,
        args.out,
        clock_mhz=args.clock_mhz,
        fps=args.fps,
        fold_spec=args.fold,
        weight_storage=args.weights,
        beat_bits=args.beat_bits,
        audio=args.audio,
        buffering=args.buffering,
    )
    manifest = result.manifest
    print(f"wrote {result.out_dir}: top {result.top}, {manifest['rtl']['verilog_bytes'] / 1e6:.2f} MB Verilog "
          f"in {result.seconds:.1f} s")  # fmt: skip
    print(f"  folding ({manifest['folding']['source']}): {manifest['folding']['spec']}")
    print(f"  {manifest['cycles_per_frame']} cycles/frame, latency {manifest['latency_cycles']} cycles, "
          f"{manifest['targets']['achieved_fps']:.6g} frames/s at {manifest['targets']['clock_mhz']:g} MHz")  # fmt: skip
    if "audio" in manifest:
        chip = manifest["audio"]
        print(f"  full chip: PCM in/out at {chip['sample_rate_hz']} Hz, {chip['cycles_per_frame']} "
              f"cycles/frame = {100 * chip['realtime_load']:.2g}% of the clock at real time; "
              f"parts {', '.join(chip['parts'].values())}")  # fmt: skip
    if "exits" in manifest:
        spec = manifest["exits"]
        print(f"  {spec['count']} exits on {spec['port']} ({spec['width']} bits; "
              "a larger value = the final exit):")  # fmt: skip
        for point in spec["per_exit"]:
            print(f"    exit {point['index']} {point['name']}: {point['cycles_per_frame']} cycles/frame, "
                  f"latency {point['latency_cycles']} cycles ({' -> '.join(point['layers'])})")  # fmt: skip
    if args.lint:
        lint = lint_verilog(result.verilog, result.top, result.waivers)
        print(f"  verilator --lint-only -Wall: {'clean' if lint.ok else 'FAILED'}")
        if not lint.ok:
            print(lint.output)
            return 1
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "generate", _generate)
    parser.add_argument("model", help="the .bwir network")
    cli_args.add_out(parser, "output folder", required=True)
    parser.add_argument(
        "--clock-mhz", type=cli_args.positive_float, default=None,
        help="clock frequency (default 100)",
    )  # fmt: skip
    parser.add_argument("--fps", type=cli_args.positive_float, default=None,
                        help="target frames per second (default 62.5 = 16 kHz audio, hop 256)")  # fmt: skip
    parser.add_argument("--fold", default=None, metavar="SPEC",
                        help='explicit folding, e.g. "fc0:pe=16,simd=64;fc1:pe=8,simd=30,pad"')  # fmt: skip
    parser.add_argument("--weights", choices=("const", "memory"), default="const",
                        help="weights baked into logic (const) or in memories with a write port")  # fmt: skip
    parser.add_argument(
        "--beat-bits",
        type=cli_args.int_range(1, MAX_BEAT_BITS),
        default=32,
        help="stream data width in bits (default 32)",
    )
    parser.add_argument(
        "--buffering", choices=BUFFERING, default="double",
        help="where frames are registered: double (default) every stage its own copy; single: "
        "the first layer computes from the input deserializer's register and the output beats "
        "come straight from the last layer's (fewer flip-flops, a longer frame interval; "
        "dense networks without early exits); memory: as single, and the first layer takes "
        "the input stream itself, one SIMD slice a beat (the beat width), into a RAM",
    )  # fmt: skip
    parser.add_argument(
        "--audio", action="store_true",
        help="the full chip: PCM in, front end, network, back end, enhanced PCM out (needs an "
        "IR with a 513-bin bit-plane coding and a 513-bit mask output)",
    )  # fmt: skip
    parser.add_argument(
        "--lint", action="store_true", help="run verilator --lint-only -Wall afterwards"
    )
