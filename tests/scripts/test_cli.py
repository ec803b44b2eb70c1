"""scripts/_cli.py: the one-line usage error (exit 2), `--set` into a list, `error:` lines."""

import importlib.util
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
    parser.add_argument("--n", type=int, default=1)
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
