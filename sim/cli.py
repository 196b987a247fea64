"""``bitwave verify``: the sim/ stage's command."""

from __future__ import annotations

import argparse
from pathlib import Path

from bitwave.core import cli_args, inputs
from bitwave.core.cli_args import add_command, parser_type

MAX_VECTORS = 1_000_000  # frames per run; the lower bound (3) is verify's to state


def _handle_verify(args: argparse.Namespace) -> int:
    """simulate a generated design and compare every output bit with the golden model

    Stream frames through a generated design (bitwave generate) in a cocotb testbench with
    random valid/ready stalls, compare every output bit with the golden model, and check the
    manifest's cycles per frame and latency. Exit 0 only if everything matched. Writes
    DIR/verify/result.json.

    A recurrent design (a GRU network) is driven with whole sequences: random frames in several
    utterances of unequal random lengths, or the --inputs files, each file one utterance
    (--inputs A.npy --inputs B.npy); its state restarts at every utterance's first frame.

    A multi-exit design gets an exit selector with every frame: one timing run per exit (its
    cycles per frame and latency against the manifest), then frames whose exit changes from
    frame to frame (--exits), each checked at its own exit; the result counts per exit.

    A full chip (bitwave generate --audio) is driven with speech: each --inputs file (a WAV
    file, resampled to 16 kHz, or a 1-D int16 .npy) is one utterance, else a few seeded
    synthetic speech-like utterances; every output sample is compared with the golden model
    and the claimed cycles per frame with the first (unstalled) utterance's.
    """
    from bitwave.sim.verify import RANDOM_EXITS, VerifyOptions, summary, verify

    for path in args.inputs or ():
        if path.suffix.lower() != ".wav":  # WAV files are for a chip, read when it runs
            inputs.npy_header(path, "--inputs")

    options = VerifyOptions(
        sim=args.sim,
        vectors=args.vectors,
        seed=args.seed,
        ir=args.ir,
        inputs=tuple(args.inputs) if args.inputs else None,
        waves=args.waves,
        gate_level=args.gate_level,
        load_ir_weights=args.load_ir_weights,
        fast_build=args.fast_build,
        exits=args.exits or RANDOM_EXITS,
    )
    result = verify(args.design, options)
    for line in summary(result):
        print(line)
    print(f"result: {Path(args.design) / 'verify' / 'result.json'}")
    return 0 if result["passed"] else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "verify", _handle_verify)
    parser.add_argument(
        "design",
        type=cli_args.input_path(Path),
        help="generated design folder (with manifest.json)",
    )
    parser.add_argument(
        "--sim",
        choices=("verilator", "icarus"),
        default="verilator",
        help="simulator (default verilator)",
    )
    parser.add_argument(
        "--vectors",
        type=cli_args.int_range(high=MAX_VECTORS),
        default=None,
        help="number of frames (default 64 random, or all of --inputs; with several files the "
        "first N frames of them back to back)",
    )
    cli_args.add_seed(parser, "seed for random frames and stalls (default 0)")
    parser.add_argument(
        "--ir",
        type=cli_args.input_path(Path),
        default=None,
        help="compare against this IR instead of DIR/model.bwir",
    )
    parser.add_argument(
        "--inputs",
        type=cli_args.input_path(Path),
        action="append",
        default=None,
        metavar="X.npy|U.wav",
        help=".npy input frames (frames, width): integer codes, or float features for an IR "
        "with a coding. Repeat it for several utterances: each file is one, and a recurrent "
        "(GRU) design restarts its state at each file's first frame. A full chip takes "
        "utterances: WAV files (any rate, resampled to 16 kHz) or 1-D int16 .npy samples",
    )
    parser.add_argument(
        "--waves",
        action="store_true",
        help="write a waveform (FST; VCD from Verilator without liblz4-dev) and print its path",
    )
    parser.add_argument(
        "--gate-level",
        action="store_true",
        help="simulate DIR/synth's netlist with cell models from its liberty",
    )
    parser.add_argument(
        "--fast-build",
        action="store_true",
        help="Verilator: compile the model with -O0 (several times faster builds of large designs, slower runs)",
    )
    parser.add_argument(
        "--load-ir-weights",
        action="store_true",
        help="(--weights memory designs) load the --ir network's weights through the write port "
        "instead of the built-from weights; thresholds stay the design's",
    )
    parser.add_argument(
        "--exits",
        type=parser_type(_parse_exits, "exits"),
        default=None,
        metavar="random|V[,V...]",
        help="(multi-exit designs) the exit selector values mixed from frame to frame: 'random' "
        "(default: every value the port carries, those past the last exit meaning the final "
        "one, in seeded runs and switches) or a list such as 0,2 (one value: every frame at "
        "that exit); each exit's timing run comes first either way. A multi-exit chip takes "
        "one exit per utterance: every exit in a seeded order, or these values in turn",
    )


def _parse_exits(text: str) -> str | tuple[int, ...]:
    from bitwave.sim.verify import parse_exits

    return parse_exits(text)
