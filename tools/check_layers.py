"""Check the import-linter contracts of pyproject.toml (``make lint`` runs this).

bitwave installs as one import package whose stage folders (models/, hw/, sim/, synth/,
cost/) are mapped in by ``package-dir``. import-linter (grimp) finds a package's modules by
walking its folder on disk, so it would not see the mapped stages. This script lays the
package out as it is imported (a temporary copy of the .py files) and runs ``lint-imports``
on that copy. Every import counts, including those inside functions.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def package_dirs() -> dict[str, Path]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    mapping = config["tool"]["setuptools"]["package-dir"]
    return {name: REPO / folder for name, folder in mapping.items()}


def lay_out(root: Path) -> None:
    """Copy every mapped package's .py files to ROOT/<dotted path as folders>."""
    for name, folder in package_dirs().items():
        target = root.joinpath(*name.split("."))
        for source in folder.rglob("*.py"):
            relative = source.relative_to(folder)
            if "__pycache__" in relative.parts or _belongs_to_other_mapping(source, name):
                continue
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target / relative)


def _belongs_to_other_mapping(source: Path, name: str) -> bool:
    """bitwave/ is mapped as ``bitwave``; its copy must not swallow another mapping's folder."""
    others = [f for n, f in package_dirs().items() if n != name and n.startswith(name + ".")]
    return any(source.is_relative_to(folder) for folder in others)


def lint(root: Path) -> int:
    """Run lint-imports on a laid-out copy at ROOT; its exit code (0: every contract kept)."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = [str(lint_imports), str(REPO / "pyproject.toml"), "--no-cache"]
    return subprocess.run(command, cwd=root, env=env, check=False).returncode


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bitwave-layers-") as tmp:
        lay_out(Path(tmp))
        return lint(Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
