"""``bitwave ops``: which stage supports which IR op (the registry in ``bitwave.core.ops``)."""

from __future__ import annotations

import argparse
import json

from bitwave.core.ops import EXIT_STAGES, STAGES, support_matrix


def format_matrix(matrix: dict[str, dict[str, bool]]) -> str:
    """The op x stage matrix as an aligned text table ("yes" / "-")."""
    first = max(len("op"), *(len(name) for name in matrix))
    widths = [max(len(stage), 3) for stage in STAGES]
    header = "  ".join(
        ["op".ljust(first)] + [s.ljust(w) for s, w in zip(STAGES, widths, strict=True)]
    )
    lines = [header.rstrip()]
    for name, stages in matrix.items():
        cells = ["yes" if stages[stage] else "-" for stage in STAGES]
        row = [name.ljust(first)] + [c.ljust(w) for c, w in zip(cells, widths, strict=True)]
        lines.append("  ".join(row).rstrip())
    return "\n".join(lines)


def _handle(args: argparse.Namespace) -> int:
    matrix = support_matrix()
    if args.json:
        print(json.dumps(matrix, indent=1))
    else:
        print(format_matrix(matrix))
        print(f"\nnetworks with early exits (IR version 3): {', '.join(EXIT_STAGES)}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ops",
        help="print which stage supports which IR op",
        description="The op x stage support matrix: a stage refuses an IR holding an op it "
        "does not support, before doing any work.",
    )
    parser.add_argument("--json", action="store_true", help="print the matrix as JSON")
    parser.set_defaults(func=_handle)
