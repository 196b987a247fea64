"""Shared fixtures: small random networks and paths to shared development data."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
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
    from bitwave.core.ir import save
    from bitwave.core.random_ir import random_network
    from bitwave.hw.generate import generate

    folder.mkdir(parents=True)
    save(random_network(list(sizes), seed=seed, name="demo_net"), folder / "model.bwir")
    generate(folder / "model.bwir", folder / "design", beat_bits=beat_bits)
    return folder / "design"


FOLDED_SPEC = "fc0:pe=3,simd=8,pad;fc1:pe=2,simd=4,pad"


def folded_designs(root: Path) -> dict[str, Path]:
    """{"const": ..., "memory": ...}: one random 37-11-7 network generated with folded layers
    (FOLDED_SPEC) and its weights in ROMs and in RAMs."""
    from bitwave.core.ir import save
    from bitwave.core.random_ir import random_network
    from bitwave.hw.generate import generate

    save(random_network([37, 11, 7], seed=3, name="gate"), root / "a.bwir")
    for storage in ("const", "memory"):
        generate(root / "a.bwir", root / storage, fold_spec=FOLDED_SPEC, weight_storage=storage,
                 beat_bits=8)  # fmt: skip
    return {storage: root / storage for storage in ("const", "memory")}


def synthesized_copy(design: Path, target: Path) -> Path:
    """A copy of a generated design (without its verify results) synthesized in place, for a
    gate-level verification test."""
    import shutil

    from bitwave.synth.flows.design import synthesize_design

    shutil.copytree(design, target, ignore=shutil.ignore_patterns("verify"))
    synthesize_design(target)
    return target


def rewrite_ir(
    src: Path, dst: Path, manifest_edit=None, arrays_edit=None, redeclare: bool = False
) -> Path:
    """Copy an IR archive with edits to its manifest and/or arrays. With ``redeclare`` the
    manifest's array declarations follow the edited arrays; the content hash is left stale
    either way (field validation runs first, so a field error is what gets reported)."""
    with zipfile.ZipFile(src) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        arrays = {
            n[:-4]: np.load(io.BytesIO(archive.read(n)))
            for n in archive.namelist()
            if n.endswith(".npy")
        }
    if arrays_edit:
        arrays_edit(arrays)
    if redeclare:
        manifest["arrays"] = {
            k: {"dtype": v.dtype.str, "shape": list(v.shape)} for k, v in arrays.items()
        }
    if manifest_edit:
        manifest_edit(manifest)
    with zipfile.ZipFile(dst, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, array)
            archive.writestr(f"{name}.npy", buffer.getvalue())
    return dst


def random_float32_bits(rng: np.random.Generator, n: int, exponent: int) -> np.ndarray:
    """n float32 bit patterns: normal values scaled by 2**k, k uniform in [-exponent, exponent)."""
    values = rng.standard_normal(n) * np.exp2(rng.integers(-exponent, exponent, n))
    return values.astype(np.float32).view(np.uint32)


@pytest.fixture(scope="module")
def shared_build_cache(tmp_path_factory):
    """One Verilator/Icarus build cache per test module: equal RTL in different folders is
    compiled once. Simulation test modules use it with ``pytestmark``."""
    from bitwave.sim.runner import CACHE_ENV

    cache = tmp_path_factory.mktemp("sim_cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(cache))
        yield cache
