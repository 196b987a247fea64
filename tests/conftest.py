"""Shared fixtures: small random networks and paths to shared development data."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
NANGATE45 = SHARED / "pdk" / "nangate45_typ.lib.gz"


@pytest.fixture
def nangate45() -> Path:
    if not NANGATE45.is_file():
        pytest.skip(
            f"full NanGate45 liberty not found at {NANGATE45} (development data in ../shared/pdk)"
        )
    return NANGATE45


def generated_design(
    folder: Path, sizes: tuple[int, ...], seed: int = 0, beat_bits: int = 8
) -> Path:
    """folder/design: what `bitwave generate` writes for a random binary network of ``sizes``."""
    from bitwave.hw.generate import generate
    from bitwave.ir import save
    from bitwave.random_ir import random_network

    folder.mkdir(parents=True)
    save(random_network(list(sizes), seed=seed, name="demo_net"), folder / "model.bwir")
    generate(folder / "model.bwir", folder / "design", beat_bits=beat_bits)
    return folder / "design"
