"""scripts/_cli.py: the one-line usage error (exit 2), help with defaults and whole examples,
`--set` into a list, `error:` lines; and every script speaks through it."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"


def load_cli() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cli_under_test", SCRIPTS / "_cli.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cli = load_cli()


def demo_parser(**overrides: str):
    parser = cli.Parser(prog="demo.py")
    parser.add_argument("--n", type=int, default=1, help="how many")
    cli.add_overrides(parser, **overrides)
    return parser


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--n", "x"], "argument --n: invalid int value: 'x'"),
        (["--set"], "argument --set: expected one argument"),
    ],
)
def test_a_usage_error_is_one_line_naming_the_help_and_exits_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        demo_parser().parse_args(argv)
    assert stop.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"error: {message} (see demo.py --help)\n"


def test_a_script_s_own_check_reads_like_argparse_s(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        demo_parser().error("--n must be >= 1, got 0")
    assert stop.value.code == 2
    assert capsys.readouterr().err == "error: --n must be >= 1, got 0 (see demo.py --help)\n"


def test_set_collects_every_override_in_order_and_defaults_to_an_empty_list() -> None:
    parser = demo_parser()
    args = parser.parse_args(["--set", "optim.lr=0.05", "--n", "3", "--set", "train.epochs=[1, 2]"])
    assert args.overrides == ["optim.lr=0.05", "train.epochs=[1, 2]"] and args.n == 3
    assert parser.parse_args([]).overrides == []  # the first parse did not fill the default


def test_set_shows_its_metavar_and_the_help_it_is_given() -> None:
    default = " ".join(demo_parser().format_help().split())  # unwrapped
    help_text = "override a config key, e.g. optim.lr=0.05 (repeatable; values read as YAML)"
    assert f"--set KEY=VALUE {help_text}" in default
    custom = " ".join(demo_parser(help="override a key in every config").format_help().split())
    assert "override a key in every config" in custom and "optim.lr" not in custom


def test_fail_prints_one_error_line_and_returns_the_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.fail(ValueError("bad.yaml: lr:\n  expected  a number"), 3) == 3
    assert cli.fail("a sanity check failed", 1) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "error: bad.yaml: lr: expected a number\nerror: a sanity check failed\n"


def test_a_script_loaded_by_file_path_finds_cli_and_cli_needs_only_the_standard_library(
    tmp_path: Path,
) -> None:
    probe = (
        "import importlib.util, sys; before = set(sys.modules); "
        f"spec = importlib.util.spec_from_file_location('s', {str(SCRIPTS / 'plot.py')!r}); "
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
        "new = {n.split('.')[0] for n in set(sys.modules) - before}; "
        "print(m.Parser.__module__, sorted(new - set(sys.stdlib_module_names)))"
    )
    done = subprocess.run(  # a fresh process in another folder: scripts/ is not on sys.path
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.stdout == "_cli ['_cli']\n", done.stderr


def unwrapped_help(parser: object) -> str:
    return " ".join(parser.format_help().split())


def test_an_option_without_help_is_refused_where_it_is_written() -> None:
    parser = cli.Parser(prog="demo.py")
    with pytest.raises(TypeError, match="^demo.py: option --n needs a help text$"):
        parser.add_argument("--n", type=int, default=1)


def test_help_ends_each_option_with_its_default_unless_it_says_one() -> None:
    parser = cli.Parser(prog="demo.py")
    parser.add_argument("--rate", type=float, default=0.3, help="seconds per block")
    parser.add_argument("--mode", choices=("a", "b"), default="a", help="which")
    parser.add_argument("--seed", type=int, default=0, help="the seed")
    parser.add_argument("--out", help="where (default: the run folder)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--name", help="a name")
    text = unwrapped_help(parser)
    assert "--rate RATE seconds per block (default: 0.3)" in text
    assert "--mode {a,b} which (default: a)" in text
    assert "--seed SEED the seed (default: 0)" in text  # 0 is a default, not "nothing"
    assert "--out OUT where (default: the run folder) " in text and text.count("default") == 4
    assert text.endswith("--quiet no progress bar --name NAME a name")


def test_examples_are_printed_whole_however_narrow_the_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    long = "python scripts/demo.py --config configs/a_rather_long_name.yaml --set optim.lr=0.05"
    parser = cli.Parser(prog="demo.py", description="Does a thing. " * 8, examples=[long, "x y"])
    lines = parser.format_help().splitlines()
    assert lines[-3:] == ["examples:", f"  {long}", "  x y"]
    assert all(len(line) <= 40 for line in lines[: lines.index("examples:")])  # prose wraps


def test_non_negative_and_positive_integers() -> None:
    parser = cli.Parser(prog="demo.py")
    parser.add_argument("--seed", type=cli.non_negative_int, default=0, help="seed")
    parser.add_argument("--k", type=cli.positive_int, default=1, help="count")
    assert vars(parser.parse_args(["--seed", "0", "--k", "7"])) == {"seed": 0, "k": 7}
    for argv in (["--seed", "-1"], ["--seed", "1.5"], ["--k", "0"], ["--k", "x"]):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)


# ---- every script ---------------------------------------------------------------------------

SCRIPT_FILES = sorted(p for p in SCRIPTS.glob("*.py") if not p.name.startswith("_"))
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z-]*)")


def run_script(script: Path, *args: str, columns: int = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(columns)}
    command = [sys.executable, str(script), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)


def test_every_script_is_covered() -> None:
    names = {p.name for p in SCRIPT_FILES}
    assert {"train.py", "gradcheck.py", "sweep.py", "bench.py", "bench_reference.py"} <= names


@pytest.mark.parametrize("script", SCRIPT_FILES, ids=[p.name for p in SCRIPT_FILES])
def test_help_documents_every_option_and_its_examples_copy_paste(script: Path) -> None:
    done = run_script(script, "--help")
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    text = done.stdout
    assert text.startswith(f"usage: {script.name} ") and "\nexamples:\n" in text
    options = set(OPTION.findall(text[: text.index("\nexamples:\n")]))
    examples = text.split("\nexamples:\n")[1].splitlines()
    command = re.compile(
        rf"^  (env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE )?python scripts/{script.name}( |$)"
    )
    for example in examples:  # each whole on its line, at 60 columns too
        assert command.match(example), example
        assert set(OPTION.findall(example)) <= options, example
    source = script.read_text()
    assert "argparse.ArgumentParser(" not in source and "Parser(" in source


@pytest.mark.parametrize("script", SCRIPT_FILES, ids=[p.name for p in SCRIPT_FILES])
def test_a_bad_option_is_one_error_line_and_exit_2(script: Path) -> None:
    done = run_script(script, "--bogus")
    assert done.returncode == 2 and done.stdout == ""
    assert re.fullmatch(rf"error: .+ \(see {script.name} --help\)\n", done.stderr), done.stderr


def test_reproduce_without_a_paper_names_the_choices() -> None:
    done = run_script(SCRIPTS / "reproduce.py")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "error: name the paper whose table to reproduce: mnist1d (see reproduce.py --help)\n"
    )
