"""OpenRAM macros (`bitwave sram`): the .lib reader, the runner and its environment, merging
compiled macros into a datasheet table, the shipped FreePDK45 table, and the CLI's refusals."""

import json
import os
import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from bitwave.app.cli import main
from bitwave.core.errors import BitwaveError
from bitwave.synth.eda.sram_table import OPENRAM_TABLE, SramTable, load_table, write_table
from bitwave.synth.sram_commands import merge, table_source
from bitwave.synth.tools import openram
from bitwave.synth.tools.openram import Compiled, OpenramEnv, compile_macro, read_macro_lib

# OpenRAM 1.2.48's own output for 256 words x 16 bits (FreePDK45, layout, TT 1.0 V 25 C).
FIXTURE = Path(__file__).resolve().parent.parent / "data" / "openram_sram_16x256_TT.lib"


def test_read_macro_lib_gives_the_datasheet_in_si_units():
    macro = read_macro_lib(FIXTURE)
    assert (macro.name, macro.words, macro.width, macro.kind) == ("sram_16x256", 256, 16, "ram")
    assert macro.area_um2 == pytest.approx(10006.406475)
    assert macro.leakage_w == pytest.approx(0.004492e-3)  # leakage_power_unit 1mW
    # OpenRAM writes the access's power in mW at its 100 MHz event frequency: energy = P / f
    text = FIXTURE.read_text()
    power_mw = float(re.search(r'rise_power\(scalar\)\{\s*values\("([^"]+)"', text).group(1))
    assert power_mw == pytest.approx(0.7318, abs=1e-4)
    assert macro.read_energy_j == pytest.approx(power_mw * 1e-3 / 100e6)
    assert macro.write_energy_j == pytest.approx(power_mw * 1e-3 / 100e6)
    assert macro.setup_ns == pytest.approx(0.009)
    assert macro.clock_to_q_ns == pytest.approx(0.285)
    assert macro.min_period_ns == pytest.approx(1.054)


def _edited(tmp_path, old, new, count=1):
    text = FIXTURE.read_text()
    assert old in text
    path = tmp_path / "edited.lib"
    path.write_text(text.replace(old, new, count))
    return path


def test_read_macro_lib_follows_units_and_access_conditions(tmp_path):
    base = read_macro_lib(FIXTURE)
    micro = read_macro_lib(
        _edited(tmp_path, 'leakage_power_unit : "1mW"', 'leakage_power_unit : "1uW"')
    )
    assert micro.leakage_w == pytest.approx(base.leakage_w * 1e-3)
    slower = read_macro_lib(FIXTURE, event_frequency_hz=50e6)
    assert slower.read_energy_j == pytest.approx(2 * base.read_energy_j)
    # read is chip select low, write enable high; rise and fall (data 1, data 0) are averaged
    read_only = _edited(tmp_path, 'when : "!csb0 & web0"; \n            rise_power(scalar){\n                values("',
                        'when : "!csb0 & web0"; \n            rise_power(scalar){\n                values("2')  # fmt: skip
    edited = read_macro_lib(read_only)
    # rise 0.73 -> 2.73 mW: the mean over data 1 and data 0 rises by 1 mW
    assert edited.read_energy_j == pytest.approx(base.read_energy_j + 1e-3 / 100e6)
    assert edited.write_energy_j == base.write_energy_j
    assert read_macro_lib(FIXTURE, words=200).words == 200


def test_read_macro_lib_refuses_a_lib_without_access_energies(tmp_path):
    broken = _edited(tmp_path, '"!csb0 & web0"', '"csb0 & web0 & x"')
    with pytest.raises(BitwaveError, match=re.escape("no internal_power for read (!csb0 & web0)")):
        read_macro_lib(broken)
    no_memory = _edited(tmp_path, "memory(){", "memoryless(){")
    with pytest.raises(BitwaveError, match="no memory"):
        read_macro_lib(no_memory)


def _compiled(lib, layout=True, **changes):
    return Compiled(replace(read_macro_lib(lib), **changes), Path(lib), 1.0, layout)


def test_merge_keeps_old_entries_and_marks_netlist_only_estimates(tmp_path):
    first = merge(None, [_compiled(FIXTURE)])
    assert first.source == table_source([]) and "layout" in first.source
    small = _compiled(FIXTURE, layout=False, name="sram_16x64", words=64, area_um2=0.0)
    table = merge(first, [small])
    by_name = {m.name: m for m in table.macros}
    assert set(by_name) == {"sram_16x256", "sram_16x64"}
    # the estimate is the layout macro's area per bit, and the source says which are estimates
    assert by_name["sram_16x64"].area_um2 == pytest.approx(10006.406475 / 4)
    assert table.source.endswith("area estimated from the layout macro nearest in bits: sram_16x64")
    path = tmp_path / "t.yaml"
    write_table(path, table)
    assert load_table(path).macros == tuple(sorted(table.macros, key=lambda m: (m.width, m.words)))
    # a later layout compile of the same shape clears the mark
    assert (
        merge(load_table(path), [_compiled(FIXTURE, name="sram_16x64", words=64)]).source
        == first.source
    )
    with pytest.raises(BitwaveError, match="no layout macro to estimate it from"):
        merge(None, [small])


def test_the_shipped_table_is_openram_freepdk45_with_positive_figures():
    table = load_table(OPENRAM_TABLE)
    for words in ("OpenRAM 1.2.48", "FreePDK45", "TT 1.0 V 25 C", "analytical", "layout"):
        assert words in table.source
    assert table.process == "freepdk45"
    widths = {m.width for m in table.macros}
    assert {16, 32, 64} <= widths and max(m.words for m in table.macros) >= 1024
    for m in table.macros:
        assert m.name == f"sram_{m.width}x{m.words}"
        for value in (m.area_um2, m.leakage_w, m.read_energy_j, m.write_energy_j, m.setup_ns,
                      m.clock_to_q_ns, m.min_period_ns):  # fmt: skip
            assert value > 0, m
        # SRAM figures in the range OpenRAM gives FreePDK45 (0.5-3 um^2, 0.2-3 nW per bit)
        assert 0.5 < m.area_um2 / m.bits < 3.0 and 0.2e-9 < m.leakage_w / m.bits < 3e-9, m


def _fake_package(tmp_path, body):
    """An 'OpenRAM' whose sram_compiler.py runs ``body`` with the config's names in scope."""
    package = tmp_path / "openram"
    tech = package / "technology" / "freepdk45" / "tech"
    tech.mkdir(parents=True, exist_ok=True)
    (tech / "tech.py").write_text('spice["default_event_frequency"] = 100  # MHz\n')
    (package / "sram_compiler.py").write_text(
        "import os, shutil, sys\n"
        "cfg = {}\n"
        "exec(open(sys.argv[1]).read(), cfg)\n"
        "assert os.environ['OPENRAM_HOME'].endswith('compiler'), 'no OPENRAM_HOME'\n"
        "assert os.environ['OPENRAM_TECH'].endswith('technology'), 'no OPENRAM_TECH'\n"
        "assert cfg['use_conda'] is False and cfg['tech_name'] == 'freepdk45'\n" + body
    )
    return OpenramEnv(tmp_path, Path(sys.executable), package)


def test_compile_macro_runs_the_compiler_and_reuses_a_finished_compile(tmp_path):
    copy = (
        f"print('compiling', cfg['num_words'], cfg['word_size'], cfg['netlist_only'])\n"
        f"shutil.copy({str(FIXTURE)!r}, cfg['output_path'] + '/' + cfg['output_name'] "
        "+ '_TT_1p0V_25C.lib')\n"
    )
    env = _fake_package(tmp_path, copy)
    result = compile_macro(256, 16, tmp_path / "work", layout=True, env=env)
    assert result.macro == read_macro_lib(FIXTURE) and result.layout
    log = tmp_path / "work" / "sram_16x256" / "openram.log"
    assert "compiling 256 16 False" in log.read_text()
    log.unlink()
    again = compile_macro(256, 16, tmp_path / "work", layout=True, env=env)
    assert again.macro == result.macro and again.reused and not result.reused
    assert not log.exists()  # reused, not rerun
    compile_macro(256, 16, tmp_path / "work", layout=False, env=env)  # another config: rerun
    assert "compiling 256 16 True" in log.read_text()


def test_sram_compile_merges_each_macro_into_the_table_as_it_finishes(
    tmp_path, monkeypatch, capsys
):
    # the fake compiler gives the fixture for 256 words and fails on any other shape
    body = (
        "if cfg['num_words'] != 256: sys.exit('no such macro')\n"
        f"shutil.copy({str(FIXTURE)!r}, cfg['output_path'] + '/' + cfg['output_name'] "
        "+ '_TT_1p0V_25C.lib')\n"
    )
    monkeypatch.setattr(openram, "ensure_env", lambda: _fake_package(tmp_path, body))
    table = tmp_path / "t.yaml"
    write_table(table, SramTable("old", "x", (replace(read_macro_lib(FIXTURE), name="kept"),)))
    argv = [
        "sram",
        "compile",
        "--width",
        "16",
        "--out",
        str(table),
        "--workdir",
        str(tmp_path / "w"),
    ]
    assert main([*argv, "--words", "256"]) == 0
    assert "[1/1] sram_16x256: compiled in" in capsys.readouterr().err
    assert {m.name for m in load_table(table).macros} == {"kept", "sram_16x256"}
    assert "OpenRAM 1.2.48" in load_table(table).source
    # 256 words are reused, 512 fail: the table keeps what finished before the failure
    table.unlink()
    assert main([*argv, "--words", "512", "--words", "256"]) == 2
    err = capsys.readouterr().err
    assert "reused from --workdir" in err and "OpenRAM failed on sram_16x512" in err
    assert [m.name for m in load_table(table).macros] == ["sram_16x256"]


def test_compile_macro_failure_gives_the_log_tail(tmp_path):
    env = _fake_package(tmp_path, "print('ERROR: routing blew up'); sys.exit(3)\n")
    with pytest.raises(
        BitwaveError, match=r"OpenRAM failed on sram_8x16 \(exit 3\)(.|\n)*routing blew up"
    ):
        compile_macro(16, 8, tmp_path / "work", env=env)
    hang = _fake_package(tmp_path / "h", "import time; time.sleep(30)\n")
    with pytest.raises(BitwaveError, match="did not finish sram_8x16 within 1 s"):
        compile_macro(16, 8, tmp_path / "work2", env=hang, timeout=1)


def test_ensure_env_redoes_a_half_made_environment(tmp_path, monkeypatch):
    folder = tmp_path / "env"
    (folder / "junk").mkdir(parents=True)  # left by an interrupted install: no marker
    package = tmp_path / "site" / "openram"
    package.mkdir(parents=True, exist_ok=True)
    (package / "sram_compiler.py").write_text("")
    commands = []

    def fake_run(command, what, timeout):
        commands.append(command)
        if "venv" in command:
            folder.mkdir()
        return f"{package.parent}\n"

    monkeypatch.setattr(openram, "_run", fake_run)
    env = openram.ensure_env(folder)
    assert not (folder / "junk").exists() and env.package == package
    assert commands[0][1:] == ["-m", "venv", str(folder)]
    assert commands[1][-2:] == list(openram.OPENRAM_REQUIREMENTS) == ["openram==1.2.48", "numpy<2"]
    marker = json.loads((folder / openram.MARKER).read_text())
    assert marker["requirements"] == ["openram==1.2.48", "numpy<2"]
    commands.clear()
    assert openram.ensure_env(folder) == env and commands == []  # finished: not redone
    monkeypatch.setenv(openram.ENV_VARIABLE, str(tmp_path / "elsewhere"))
    assert openram.env_dir() == tmp_path / "elsewhere"


@pytest.mark.parametrize(
    "argv,message",
    [
        (["sram", "compile", "--words", "100", "--width", "8"], "not a power of two"),
        (["sram", "compile", "--words", "8", "--width", "8"], "--words"),
        (["sram", "compile", "--words", "64", "--width", "0"], "--width"),
        (["sram", "compile", "--width", "8"], "--words"),
        (["sram"], "SUBCOMMAND"),
    ],
)
def test_cli_refuses_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda d: d["macros"][0].update(area_um2=-1.0), "macros[0].area_um2 must be a finite"),
        (lambda d: d["macros"][0].update(ports=2), "macros[0]: unknown field(s) ['ports']"),
        (lambda d: d.pop("macros"), "macros must be a non-empty list"),
    ],
)
def test_sram_show_refuses_a_bad_table_naming_the_field(tmp_path, capsys, edit, message):
    path = tmp_path / "mine.yaml"
    write_table(path, SramTable("my datasheet", "my28", (read_macro_lib(FIXTURE),)))
    assert main(["sram", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "my datasheet" in out and re.search(r"sram_16x256\s+256\s+16\s+ram\s+10006", out)
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data))
    assert main(["sram", "show", str(path)]) == 2
    assert f"{path}: {message}" in capsys.readouterr().err.replace("\n", " ")
    assert main(["sram", "show", str(tmp_path / "missing.yaml")]) == 2


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("BITWAVE_OPENRAM") != "1",
                    reason="runs OpenRAM (creates its environment): set BITWAVE_OPENRAM=1")  # fmt: skip
def test_openram_really_compiles_a_macro(tmp_path, capsys):
    table = tmp_path / "table.yaml"
    common = ["--width", "4", "--out", str(table), "--workdir", str(tmp_path / "w")]
    assert main(["sram", "compile", "--words", "32", "--netlist-only", *common]) == 2
    assert "no layout macro" in capsys.readouterr().err  # refused before compiling
    assert main(["sram", "compile", "--words", "16", *common]) == 0
    assert main(["sram", "compile", "--words", "32", "--netlist-only", *common]) == 0
    loaded = load_table(table)
    small, large = loaded.macros
    assert (small.name, small.words, small.width) == ("sram_4x16", 16, 4)
    assert small.area_um2 > 0 and small.leakage_w > 0 and small.read_energy_j > 0
    assert large.area_um2 == pytest.approx(2 * small.area_um2)  # estimated per bit
    assert large.leakage_w > small.leakage_w and "sram_4x32" in loaded.source
