"""The package installs as one import package, bitwave, with the stage folders as subpackages."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_stage_subpackages_import():
    import bitwave.app
    import bitwave.core
    import bitwave.cost
    import bitwave.hw
    import bitwave.models
    import bitwave.sim
    import bitwave.synth

    for module in (
        bitwave.core,
        bitwave.models,
        bitwave.hw,
        bitwave.sim,
        bitwave.synth,
        bitwave.cost,
        bitwave.app,
    ):
        assert module.__doc__


@pytest.mark.slow
def test_wheel_holds_only_the_bitwave_package(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("bitwave-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {
        "bitwave",
        f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info",
    }
    for sub in ("core", "app", "models", "hw", "sim", "synth", "cost"):
        assert f"bitwave/{sub}/__init__.py" in names
    assert "bitwave/core/config_schema.yaml" in names
    assert "bitwave/synth/data/compact45.lib" in names
    assert "bitwave/cost/tables/default.yaml" in names
