"""Subcommands of the models stage: train, eval. Handlers import torch lazily."""

from __future__ import annotations

import argparse

from bitwave.core import cli_args, ir
from bitwave.core.cli_args import add_command


def _train(args: argparse.Namespace) -> int:
    """train an SE mask estimator and export its IR

    Train the model a YAML config describes on SE data (built-in by default), with checkpoints;
    bitwise and k-bit models are exported to RUN/model.bwir and checked bit-exactly against the
    golden model.
    """
    from bitwave.core import config

    settings = config.load(args.config)  # refused before torch is imported
    from bitwave.models.train import train

    summary = train(settings, args.out, resume=args.resume, progress=not args.quiet)
    last = summary["history"][-1]
    print(
        f"trained {args.out}: loss {last['loss']:.4f}, valid IBM accuracy {last['valid_ibm_accuracy']:.3f}"
    )
    if "bit_exact" in summary:
        check = summary["bit_exact"]
        print(
            f"exported {args.out}/model.bwir; torch == golden on {check['frames']} frames: {check['mismatches']} mismatching bits"
        )
        for k, count in enumerate(check.get("exit_mismatches") or []):
            print(f"  exit {k}: {count} mismatching bits")
    return 0


def _data_override(value: str | None) -> dict | None:
    """--data: a real-data folder, or a YAML config whose data section is used."""
    if value is None:
        return None
    from pathlib import Path

    from bitwave.core import config
    from bitwave.core.errors import BitwaveError

    path = Path(value)
    if path.is_dir():
        return {"folder": str(path)}
    if path.is_file():
        return config.load(path)["data"]
    raise BitwaveError(f"--data: {value} is neither a data folder nor a YAML config")


def _eval(args: argparse.Namespace) -> int:
    """measure SE quality of a trained run

    SI-SDR improvement, STOI, wideband PESQ and IBM accuracy on held-out speakers and noises,
    beside the oracle IBM; writes RUN/eval/metrics.json, wav examples and spectrogram PNGs.
    Masks are applied with the model's gain floor (--mask-floor overrides it).
    """
    from bitwave.models.evaluate import MODEL_FLOOR, evaluate_run

    floor = vars(args).get("mask_floor", MODEL_FLOOR)  # absent: the model's own floor
    result = evaluate_run(
        args.run,
        _data_override(args.data),
        progress=not args.quiet,
        mask_floor_db=floor,
        out=args.out,
    )
    model, oracle, noisy = result["model"], result["oracle_ibm"], result["noisy"]
    floor_text = "none" if result["mask_floor_db"] is None else f"{result['mask_floor_db']:g} dB"
    print(f"{result['kind']} model on {result['utterances']} test utterances "
          f"(mask floor {floor_text}):")  # fmt: skip
    print(
        f"  SI-SDRi {model['si_sdri']:6.2f} dB  STOI {model['stoi']:.3f}  PESQ {model['pesq']:.2f}  IBM accuracy {model['ibm_accuracy']:.3f}"
    )
    print(
        f"  oracle IBM: SI-SDRi {oracle['si_sdri']:6.2f} dB  STOI {oracle['stoi']:.3f}  PESQ {oracle['pesq']:.2f}"
    )
    print(f"  noisy:      STOI {noisy['stoi']:.3f}  PESQ {noisy['pesq']:.2f}")
    for row in result.get("exits") or []:
        scores = row["model"]
        print(
            f"  {row['label']}: SI-SDRi {scores['si_sdri']:6.2f} dB  STOI {scores['stoi']:.3f}  "
            f"PESQ {scores['pesq']:.2f}"
        )
    for line in peer_lines(result):
        print(line)
    seen = result.get("seen_test_talkers")
    if seen:
        print(f"note: {len(seen)} test talker(s) of --data speak in this run's training set "
              f"({', '.join(seen[:4])}{', ...' if len(seen) > 4 else ''}): not unseen speakers")  # fmt: skip
    print(f"wrote {args.out or f'{args.run}/eval'}/metrics.json and examples")
    return 0


def _mmacs(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 1e6:.3g} MMAC/s"


def peer_lines(result: dict) -> list[str]:
    """The deployed peers of an evaluation (metrics.json ``peers``) as printed lines, each with
    its MAC/s, then the run's own network MAC/s and the notes on peers left out, so every
    quality figure has the peer beside it."""
    lines = [
        f"  {name + ':':<11} SI-SDRi {row['si_sdri']:6.2f} dB  STOI {row['stoi']:.3f}  "
        f"PESQ {row['pesq']:.2f}  {_mmacs(row.get('macs_per_second'))}"
        for name, row in (result.get("peers") or {}).items()
    ]
    if "macs_per_second" in result:  # None for a float run: it has no coded network
        kind = result.get("kind", "this run's")
        lines.append(f"  {kind} network: {_mmacs(result['macs_per_second'])}")
    lines += [f"  note: {note}" for note in result.get("peer_notes") or []]
    return lines


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(subparsers, "train", _train)
    cli_args.add_run(p)
    p.add_argument("--resume", action="store_true", help="continue from RUN/checkpoint.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = add_command(subparsers, "eval", _eval)
    p.add_argument("run", help="run folder written by 'bitwave train'")
    p.add_argument("--data", help="evaluate on another data set: a data folder or a YAML config")
    cli_args.add_out(p, "write the metrics, tables and examples here (default: RUN/eval)")
    p.add_argument(
        "--mask-floor",
        metavar="DB",
        type=cli_args.parser_type(ir.parse_mask_floor, "mask floor"),
        default=argparse.SUPPRESS,
        help="gain (dB) of a mask bit 0 instead of the model's own: a number in [-100, 0) "
        "or 'none' (bins zeroed); default: the model's mask_floor_db",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
