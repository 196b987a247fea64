"""OpenRAM (PyPI ``openram``): compile and characterize FreePDK45 SRAM macros, and read the
.lib it writes into a datasheet entry (``sram_table.SramMacro``).

OpenRAM runs in an environment of its own, made on demand (``ensure_env``): it needs
``numpy<2`` (under numpy 2 its layout routing fails in base/vector.py) and brings dependencies
(scikit-learn, volare, ...) that bitwave's environment must not carry. The environment lives in
``~/.cache/bitwave/openram-<version>`` unless ``BITWAVE_OPENRAM_ENV`` names another folder; a
marker file written last tells a finished environment from a half-made one, which is redone.

Macros are characterized with OpenRAM's analytical model (``analytical_delay``), one TT corner
at 1.0 V and 25 C, without DRC/LVS (no Magic/Netgen here) and without supply routing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bitwave.core.errors import BitwaveError
from bitwave.synth.eda.liberty import Group, _numbers, _unit, read_groups
from bitwave.synth.eda.sram_table import SramMacro

OPENRAM_VERSION = "1.2.48"
OPENRAM_REQUIREMENTS = (f"openram=={OPENRAM_VERSION}", "numpy<2")
ENV_VARIABLE = "BITWAVE_OPENRAM_ENV"
MARKER = "bitwave-openram.json"
TECHNOLOGY = "freepdk45"
CORNER = ("TT", 1.0, 25)  # process corner, supply (V), temperature (C)
DEFAULT_TIMEOUT_S = 3600.0
# The switching frequency OpenRAM's analytical power assumes (technology/freepdk45/tech/tech.py
# spice["default_event_frequency"], MHz there); compile_macro checks the installed value.
EVENT_FREQUENCY_HZ = 100e6


def env_dir() -> Path:
    """The folder of OpenRAM's environment (``BITWAVE_OPENRAM_ENV`` or the user cache)."""
    if os.environ.get(ENV_VARIABLE):
        return Path(os.environ[ENV_VARIABLE]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "bitwave" / f"openram-{OPENRAM_VERSION}"


@dataclass(frozen=True)
class OpenramEnv:
    folder: Path
    python: Path
    package: Path  # site-packages/openram: sram_compiler.py, compiler/, technology/

    def variables(self) -> dict[str, str]:
        """The process environment of a compile: OpenRAM finds itself through these two."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env["OPENRAM_HOME"] = str(self.package / "compiler")
        env["OPENRAM_TECH"] = str(self.package / "technology")
        return env


def ensure_env(folder: Path | None = None, timeout: float = 1800.0) -> OpenramEnv:
    """OpenRAM's environment, created (``python -m venv`` + pip) if it is missing or was left
    half-made, e.g. by an interrupted install."""
    folder = Path(folder) if folder is not None else env_dir()
    marker = folder / MARKER
    if marker.is_file():
        try:
            data = json.loads(marker.read_text())
        except (OSError, ValueError):
            data = {}
        if (
            data.get("requirements") == list(OPENRAM_REQUIREMENTS)
            and Path(data.get("package", "")).is_dir()
        ):
            return OpenramEnv(folder, folder / "bin" / "python", Path(data["package"]))
    if folder.exists():
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    python = folder / "bin" / "python"
    _run([sys.executable, "-m", "venv", str(folder)], "create OpenRAM's environment", timeout)
    _run([str(python), "-m", "pip", "install", "-q", *OPENRAM_REQUIREMENTS],
         "install OpenRAM into its environment", timeout)  # fmt: skip
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                   "locate OpenRAM's site-packages", 60).strip()  # fmt: skip
    package = Path(purelib) / "openram"
    if not (package / "sram_compiler.py").is_file():
        raise BitwaveError(
            f"OpenRAM installed into {folder} but {package}/sram_compiler.py is missing"
        )
    marker.write_text(json.dumps({"requirements": list(OPENRAM_REQUIREMENTS),
                                  "package": str(package)}, indent=2))  # fmt: skip
    return OpenramEnv(folder, python, package)


def _run(command: list[str], what: str, timeout: float) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BitwaveError(f"cannot {what}: {error}") from error
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
        raise BitwaveError(f"cannot {what} (exit {result.returncode}):\n{tail}")
    return result.stdout


def macro_name(words: int, width: int) -> str:
    return f"sram_{width}x{words}"


def write_config(words: int, width: int, outdir: Path, layout: bool = True) -> Path:
    """OpenRAM's configuration (a Python file) of one single-port macro."""
    corner, supply, temperature = CORNER
    lines = [
        f"word_size = {width}",
        f"num_words = {words}",
        f'tech_name = "{TECHNOLOGY}"',
        f'process_corners = ["{corner}"]',
        f"supply_voltages = [{supply}]",
        f"temperatures = [{temperature}]",
        "analytical_delay = True  # characterize with the analytical model (no SPICE run)",
        "check_lvsdrc = False  # Magic/Netgen are not installed",
        "route_supplies = False",
        f"netlist_only = {not layout}",
        "use_conda = False  # OpenRAM would try to install miniconda for its own tools",
        "num_threads = 1",
        f'output_path = "{outdir.resolve()}"',
        f'output_name = "{macro_name(words, width)}"',
    ]
    path = outdir / "config.py"
    path.write_text("\n".join(lines) + "\n")
    return path


def event_frequency(env: OpenramEnv) -> float:
    """OpenRAM's default_event_frequency (Hz) in the installed FreePDK45 tech.py."""
    tech = env.package / "technology" / TECHNOLOGY / "tech" / "tech.py"
    text = tech.read_text() if tech.is_file() else ""
    match = re.search(r'spice\["default_event_frequency"\]\s*=\s*([\d.]+)', text)
    if not match:
        raise BitwaveError(f"{tech}: no spice['default_event_frequency']; is OpenRAM installed?")
    return float(match.group(1)) * 1e6


@dataclass(frozen=True)
class Compiled:
    macro: SramMacro
    lib: Path
    seconds: float  # of the compile (a reused one's as recorded then)
    layout: bool
    reused: bool = False


def compile_macro(
    words: int,
    width: int,
    workdir: str | os.PathLike,
    layout: bool = True,
    timeout: float = DEFAULT_TIMEOUT_S,
    env: OpenramEnv | None = None,
) -> Compiled:
    """Compile and characterize one ``words`` x ``width`` macro in ``workdir``/<name>/ and read
    its TT .lib. Without ``layout`` OpenRAM writes netlists only and its .lib has area 0."""
    if words < 16 or width < 1:
        raise BitwaveError(f"an OpenRAM macro needs >= 16 words and >= 1 bit, got {words}x{width}")
    env = env or ensure_env()
    frequency = event_frequency(env)
    name = macro_name(words, width)
    outdir = Path(workdir) / name
    outdir.mkdir(parents=True, exist_ok=True)
    config = write_config(words, width, outdir, layout)
    corner, supply, temperature = CORNER
    lib = outdir / f"{name}_{corner}_{str(supply).replace('.', 'p')}V_{temperature}C.lib"
    done = outdir / "done.json"  # a finished compile of this very config is not redone
    if done.is_file() and lib.is_file():
        record = json.loads(done.read_text())
        if record.get("config") == config.read_text():
            macro = read_macro_lib(lib, words, frequency)
            return Compiled(macro, lib, float(record["seconds"]), layout, reused=True)
    done.unlink(missing_ok=True)
    lib.unlink(missing_ok=True)  # a stale one must not pass for this compile's
    log = outdir / "openram.log"
    command = [str(env.python), str(env.package / "sram_compiler.py"), str(config)]
    start = time.monotonic()
    with open(log, "w") as handle:
        # A session of its own, so a timeout ends OpenRAM and anything it started.
        process = subprocess.Popen(command, cwd=outdir, env=env.variables(), stdout=handle,
                                   stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(process)
            raise BitwaveError(
                f"OpenRAM did not finish {name} within {timeout:.0f} s; log {log}"
            ) from None
        except BaseException:  # e.g. Ctrl-C: OpenRAM must not run on alone
            _kill(process)
            raise
    seconds = time.monotonic() - start
    if code != 0 or not lib.is_file():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise BitwaveError(f"OpenRAM failed on {name} (exit {code}); log {log}:\n{tail}")
    compiled = Compiled(read_macro_lib(lib, words, frequency), lib, seconds, layout)
    done.write_text(json.dumps({"config": config.read_text(), "seconds": round(seconds, 1)}))
    return compiled


def _kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def read_macro_lib(
    path: str | os.PathLike,
    words: int | None = None,
    event_frequency_hz: float = EVENT_FREQUENCY_HZ,
) -> SramMacro:
    """The datasheet entry of an OpenRAM .lib (one memory cell), in SI units (timing in ns).
    ``words``: the depth, when it is not the power of two of the address width;
    ``event_frequency_hz``: the frequency OpenRAM's power figures assume (see ``_access_powers``)."""
    root = read_groups(path)
    cells = root.children("cell")
    if len(cells) != 1:
        raise BitwaveError(f"{path}: an OpenRAM macro library holds one cell, found {len(cells)}")
    cell = cells[0]
    memory = cell.children("memory")
    if not memory:
        raise BitwaveError(f"{path}: cell {cell.args} has no memory() group: not an SRAM macro")
    shape = memory[0].simple
    width = int(shape["word_width"])
    words = words or 2 ** int(shape["address_width"])
    time_ns = _unit(root.simple.get("time_unit", "1ns"), "s") / 1e-9
    leakage_unit = _unit(root.simple.get("leakage_power_unit", "1nW"), "W")
    pins = _pins(cell)
    read_w, write_w = _access_powers(pins.get("clk0"), path)
    return SramMacro(
        name=cell.args[0],
        words=words,
        width=width,
        area_um2=float(cell.simple.get("area", "0")),
        leakage_w=float(cell.simple["cell_leakage_power"]) * leakage_unit,
        read_energy_j=read_w / event_frequency_hz,
        write_energy_j=write_w / event_frequency_hz,
        setup_ns=_worst(pins, "setup_rising", ("rise_constraint", "fall_constraint")) * time_ns,
        clock_to_q_ns=_worst(pins, None, ("cell_rise", "cell_fall"), output=True) * time_ns,
        min_period_ns=_worst(pins, "minimum_period", ("rise_constraint",)) * time_ns,
    )


def _pins(cell: Group) -> dict[str, Group]:
    """Pins by name; a bus stands for its pins (OpenRAM gives one pin group per bus), with the
    bus's direction."""
    pins = {}
    for group in cell.children("pin"):
        pins[group.args[0]] = group
    for bus in cell.children("bus"):
        for pin in bus.children("pin"):
            pin.simple.setdefault("direction", bus.simple.get("direction", ""))
            pins[bus.args[0]] = pin
    return pins


def _access_powers(clock: Group | None, path: object) -> tuple[float, float]:
    """(read, write) power in W of a macro accessed at OpenRAM's event frequency.

    OpenRAM writes a POWER in mW, not the energy liberty expects, under the clock pin's
    internal_power (VLSIDA/OpenRAM#118: "the power is in milliwatts"): characterizer/lib.py
    puts the access with data 1 under rise_power and with data 0 under fall_power, and the
    analytical model (characterizer/elmore.py) gives for every access the macro's dynamic
    power with each gate switching at tech.py's default_event_frequency (100 MHz in
    FreePDK45). So one access costs mean(rise, fall) mW / that frequency: 1.3235 mW / 100 MHz
    = 13.2 pJ for the 32x256 macro (not 2 x 1.3235 pJ, reading the values as edge energies).
    Read: chip select csb0 low and write enable web0 high; write: both low."""
    if clock is None:
        raise BitwaveError(f"{path}: no clk0 pin")
    powers = {}
    for group in clock.children("internal_power"):
        terms = {t.strip() for t in group.simple.get("when", "").split("&")}
        data = [_numbers(g.complex_args("values") or "") for g in group.groups
                if g.kind in ("rise_power", "fall_power")]  # fmt: skip
        values = [float(d.mean()) for d in data if d.size]
        if values:
            powers[frozenset(terms)] = sum(values) / len(values) * 1e-3
    read = powers.get(frozenset({"!csb0", "web0"}))
    write = powers.get(frozenset({"!csb0", "!web0"}))
    if read is None or write is None:
        raise BitwaveError(
            f"{path}: clk0 has no internal_power for read (!csb0 & web0) and write "
            f"(!csb0 & !web0); found {sorted(' & '.join(sorted(k)) for k in powers)}"
        )
    return read, write


def _worst(
    pins: dict[str, Group], timing_type: str | None, tables: tuple[str, ...], output: bool = False
) -> float:
    """The largest value of ``tables`` over the timing groups of ``timing_type`` (or, for
    ``output``, over every timing group of the output pins)."""
    values = [0.0]
    for pin in pins.values():
        if output and pin.simple.get("direction") != "output":
            continue
        for timing in pin.children("timing"):
            if timing_type is not None and timing.simple.get("timing_type") != timing_type:
                continue
            for table in timing.groups:
                if table.kind in tables:
                    values.extend(_numbers(table.complex_args("values") or "").tolist())
    return max(values)
