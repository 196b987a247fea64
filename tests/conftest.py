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
