"""The layer contract (pyproject.toml, checked by tools/check_layers.py in make lint) holds,
and it fails when a stage imports a sibling stage, even lazily inside a function."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def check_layers():
    spec = importlib.util.spec_from_file_location("check_layers", REPO / "tools/check_layers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_package_keeps_its_layers(check_layers, tmp_path):
    check_layers.lay_out(tmp_path)
    assert (tmp_path / "bitwave/synth/eda/liberty.py").is_file()
    assert (tmp_path / "bitwave/cost/tables.py").is_file()
    assert check_layers.lint(tmp_path) == 0


@pytest.mark.parametrize(
    "module, text",
    [
        ("hw/_twin.py", "def f():\n    from bitwave.sim import runner\n"),  # lazy sibling
        ("synth/_twin.py", "import bitwave.models.features\n"),
        ("core/_twin.py", "from bitwave.hw import generate\n"),  # core importing a stage
        ("cost/_twin.py", "from bitwave.app import flow\n"),  # cost importing the app
    ],
)
def test_a_crossing_import_breaks_the_contract(check_layers, tmp_path, module, text):
    check_layers.lay_out(tmp_path)
    (tmp_path / "bitwave" / module).write_text(text)
    assert check_layers.lint(tmp_path) != 0
