"""Every program (``blasr/*.py`` with a ``main``) answers ``--help``, documents every option and shows its default.

Programs are found, not listed: a new ``blasr/<name>.py`` with a ``main`` is
checked too. Each program's parser is caught as ``main`` parses its options
(``parse_args`` is replaced for that), so its options and subcommands can be
read without running anything.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from blasr.utils import cli

PACKAGE = Path(__file__).resolve().parents[1] / "blasr"


def has_main(path: Path) -> bool:
    tree = ast.parse(path.read_text())
    return any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body)


PROGRAMS = sorted([p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__" and has_main(p)]
                  + [f"launch.{p.stem}" for p in (PACKAGE / "launch").glob("*.py") if has_main(p)])


def source(program: str) -> Path:
    """``blasr/<program>.py`` (``launch.run``: ``blasr/launch/run.py``)."""
    return PACKAGE / f"{program.replace('.', '/')}.py"


class Parsed(Exception):
    """Raised instead of parsing: carries the parser ``main`` built."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def parser_of(program: str, monkeypatch) -> argparse.ArgumentParser:
    module = importlib.import_module(f"blasr.{program}")

    def caught(self, args=None, namespace=None):
        raise Parsed(self)

    with monkeypatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_args", caught)
        with pytest.raises(Parsed) as parsed:
            module.main([])
    return parsed.value.parser


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


def problems(parser: argparse.ArgumentParser, where: str) -> list[str]:
    """Options without a help string, or whose help (as printed) does not show a default they have."""
    found = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) or action.help == argparse.SUPPRESS:
            continue
        name = "/".join(action.option_strings) or action.dest
        if not (action.help or "").strip():
            found.append(f"{where} {name}: no help")
            continue
        shown = parser.formatter_class(prog=parser.prog)._get_help_string(action)
        has_default = (action.option_strings and not action.required and action.default is not None
                       and action.default is not argparse.SUPPRESS and action.default not in ("", [], ()))
        if has_default and "default" not in shown:
            found.append(f"{where} {name}: its default {action.default!r} is not shown")
    return found


def test_programs_are_found():
    assert {"compute_features", "decode", "gmm", "hub5", "manifests", "mkgraph", "prepare_digits",
            "prepare_swbd", "prepare_lang", "sphere", "launch.run"} <= set(PROGRAMS)


@pytest.mark.parametrize("program", PROGRAMS)
def test_help(program, monkeypatch, capsys):
    module = importlib.import_module(f"blasr.{program}")
    with pytest.raises(SystemExit) as done:
        module.main(["--help"])
    assert done.value.code == 0
    assert f"python -m blasr.{program}" in capsys.readouterr().out
    parser = parser_of(program, monkeypatch)
    found = problems(parser, program)
    for name, sub in subcommands(parser).items():
        with pytest.raises(SystemExit) as done:
            module.main([name, "--help"])
        assert done.value.code == 0, f"{program} {name} --help"
        assert sub.description, f"{program} {name}: no description"
        found += problems(sub, f"{program} {name}")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("program", PROGRAMS)
def test_parallel_processes_are_nj(program, monkeypatch):
    """One name for how many processes run at once: --nj (older spellings only as hidden aliases)."""
    parser = parser_of(program, monkeypatch)
    for p in [parser, *subcommands(parser).values()]:
        shown = {s for a in p._actions if a.help != argparse.SUPPRESS for s in a.option_strings}
        assert not shown & {"--num-jobs", "--jobs", "--njobs", "--processes"}, program


@pytest.mark.parametrize("program", PROGRAMS)
def test_options_are_not_abbreviated(program, monkeypatch):
    """Options only as spelled (cli.Parser): a program re-run with --cmd finds and drops its --cmd by name."""
    parser = parser_of(program, monkeypatch)
    for p in [parser, *subcommands(parser).values()]:
        assert p.allow_abbrev is False, program


@pytest.mark.parametrize("program", ["compute_features", "prepare_digits"])
def test_old_num_jobs_still_works(program, monkeypatch):
    parser = parser_of(program, monkeypatch)
    required = ["--out", "x"] + (["--cuts", "c"] if program == "compute_features" else [])
    assert parser.parse_args(required + ["--num-jobs", "3"]).nj == 3
    assert parser.parse_args(required + ["--nj", "4"]).nj == 4
    assert parser.parse_args(required).nj == parser.get_default("nj")
    assert "--num-jobs" not in parser.format_help()


@pytest.mark.parametrize("module", ["blasr.manifests", "blasr.features"])
def test_help_as_python_dash_m(module):
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())  # as wrapped to any terminal width
    assert "--sample-rate" in text and "(default: 16000)" in text
    assert "Traceback" not in done.stderr and "RuntimeWarning" not in done.stderr


@pytest.mark.parametrize("program", PROGRAMS)
def test_errors_go_through_the_shared_handler(program):
    """Every main is wrapped by cli.program: a user's error is one line and status 1, a bug a traceback."""
    main = importlib.import_module(f"blasr.{program}").main
    assert main.__code__ is cli.program(lambda argv: 0).__code__, f"{program}.main is not wrapped by cli.program"


@pytest.mark.parametrize("program, argv", [
    ("prepare_lang", ["{tmp}/no_dict", "{tmp}/lang"]),
    ("profile", ["--arch", "resnet22", "--json", "{tmp}/no_dir/costs.json"]),
    ("export", ["--model", "{tmp}/garbage.pt", "--data", "{tmp}/cuts.jsonl", "--out", "{tmp}/out"]),
    ("decode", ["--graph", "{tmp}", "--model", "{tmp}/final.mdl", "--nnet", "{tmp}/garbage.pt",
                "--data", "{tmp}/cuts.jsonl", "--out", "{tmp}/out"]),
])
def test_bad_input_is_one_line_and_status_1(program, argv, tmp_path, capsys):
    (tmp_path / "garbage.pt").write_text("not a checkpoint")
    main = importlib.import_module(f"blasr.{program}").main
    assert main([a.format(tmp=tmp_path) for a in argv]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and str(tmp_path) in err, err


@pytest.mark.parametrize("program", PROGRAMS)
def test_booleans_take_kaldis_syntax(program, monkeypatch):
    """Every on/off option is a cli.KaldiBool: --flag, --flag=true|false (and --no-flag where it existed)."""
    parser = parser_of(program, monkeypatch)
    for p in [parser, *subcommands(parser).values()]:
        plain = [a.option_strings for a in p._actions if isinstance(
            a, (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse.BooleanOptionalAction))]
        assert not plain, f"{program}: {plain} are not Kaldi booleans"


def test_export_takes_nnet_forwards_options(monkeypatch):
    parser = parser_of("export", monkeypatch)
    required = ["--model", "m", "--data", "d", "--out", "o"]
    args = parser.parse_args(required + ["--apply-log=true", "--no-softmax=true", "--use-gpu=no"])
    assert (args.apply_log, args.no_softmax, args.device) == (True, True, "cpu")
    args = parser.parse_args(required + ["--apply-log=false", "--priors=false", "--use-gpu=optional"])
    assert (args.apply_log, args.priors, args.device) == (False, False, None)


@pytest.mark.parametrize("program", PROGRAMS)
def test_the_status_of_main_is_the_exit_status(program):
    """``python -m blasr.X`` exits with what main returns (cli.program returns 1 on a user's error)."""
    tree = ast.parse(source(program).read_text())
    calls = [ast.unparse(node.body[0]) for node in tree.body if isinstance(node, ast.If)
             and ast.unparse(node.test) == "__name__ == '__main__'"]
    assert calls == ["sys.exit(main())"], program


def test_a_bad_model_exits_1_with_one_line(tmp_path):
    (tmp_path / "garbage.pt").write_text("not a checkpoint")
    done = subprocess.run([sys.executable, "-m", "blasr.export", "--model", str(tmp_path / "garbage.pt"), "--data",
                           str(tmp_path / "cuts.jsonl"), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and done.stderr.startswith("error: cannot read checkpoint"), done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


# programs whose logging is set up further down, and where
LOGGING_SET_UP_BY = {"train": "blasr.utils.distributed.run_training (per rank)",
                     "train_image": "blasr.utils.distributed.run_training (per rank)"}


@pytest.mark.parametrize("program", PROGRAMS)
def test_every_program_sets_up_the_one_log_format(program):
    """Every program logs in one format: its main calls setup_logging (blasr.utils.cli's, or for an export the
    training's, blasr.utils.distributed's: both use blasr.utils.logs.formatter)."""
    tree = ast.parse(source(program).read_text())
    main = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main")
    calls = {ast.unparse(node.func).rsplit(".", 1)[-1] for node in ast.walk(main) if isinstance(node, ast.Call)}
    assert "setup_logging" in calls or program in LOGGING_SET_UP_BY, f"{program}.main does not set up logging"


def test_the_log_format_is_spelt_once():
    """Only blasr/utils/logs.py builds a log format: no second formatter, basicConfig or %(asctime)s."""
    spelt = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
             if any(s in path.read_text() for s in ("logging.Formatter(", "basicConfig(", "%(asctime)"))]
    assert spelt == ["utils/logs.py"], spelt
