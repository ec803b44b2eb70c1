"""The command-line pieces the scripts share: the one Parser, `--set`, `error: ...` lines.

Standard library only: `train.py --help` must not wait for NumPy. A script finds this module
through its own folder (sys.path[0] when run; appended when loaded by file path, as tests do).
"""

import argparse
import sys
import textwrap
from collections.abc import Sequence
from typing import Any, NoReturn

EXIT_USAGE = 2  # argparse's own exit code for a bad command line
OVERRIDE_HELP = "override a config key, e.g. optim.lr=0.05 (repeatable; values read as YAML)"


class Parser(argparse.ArgumentParser):
    """The parser of every script. A usage error is one line on stderr, no usage block:
    `error: MESSAGE (see PROG --help)`, exit code 2. Every option needs a help text, which
    `--help` ends with its default; `examples` are printed one per line and never wrapped, so
    each one copy-pastes."""

    def __init__(
        self, prog: str, description: str | None = None, examples: Sequence[str] = ()
    ) -> None:
        epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples) if examples else None
        super().__init__(
            prog=prog, description=description, epilog=epilog, formatter_class=_Formatter
        )

    def add_argument(self, *names: Any, **options: Any) -> argparse.Action:
        if not options.get("help"):
            raise TypeError(f"{self.prog}: option {'/'.join(names)} needs a help text")
        return super().add_argument(*names, **options)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see {self.prog} --help)\n")


class _Formatter(argparse.HelpFormatter):
    """Prose is wrapped to the terminal; a line indented by two spaces (a command) is kept as
    it is. An option's help ends with its default unless it already says `default`."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines, prose = [], []
        for line in [*text.splitlines(), ""]:
            if line.strip() and not line.startswith("  "):
                prose.append(line)
                continue
            if prose:
                lines.append(_wrap(" ".join(prose), width, indent))
                prose = []
            lines.append(indent + line)
        return "\n".join(lines).rstrip("\n")

    def _split_lines(self, text: str, width: int) -> list[str]:
        return _wrap(text, width, "").splitlines()

    def _get_help_string(self, action: argparse.Action) -> str:
        text, default = action.help or "", action.default
        if "default" in text or not action.option_strings or _says_nothing(default):
            return text
        return f"{text} (default: %(default)s)"


def _wrap(text: str, width: int, indent: str) -> str:
    """`text` filled to `width`, never broken inside a word or at a hyphen (`--input-shape`)."""
    words = " ".join(text.split())
    return textwrap.fill(
        words, width, initial_indent=indent, subsequent_indent=indent,
        break_on_hyphens=False, break_long_words=False,
    )  # fmt: skip


def _says_nothing(default: Any) -> bool:
    """None, False (a flag's), [] (a repeatable option's) or SUPPRESS: no default to print."""
    return default is None or default is False or default == [] or default is argparse.SUPPRESS


def non_negative_int(text: str) -> int:
    """argparse `type=`: an integer >= 0 (a seed, say)."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return int(text)


def positive_int(text: str) -> int:
    """argparse `type=`: an integer >= 1 (a count)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


def add_overrides(parser: argparse.ArgumentParser, help: str = OVERRIDE_HELP) -> None:
    """`--set KEY=VALUE`, repeatable, collected in order into `args.overrides` (default [])."""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help
    )


def fail(err: BaseException | str, code: int) -> int:
    """Print `error: ERR` to stderr with ERR's whitespace (newlines too) folded into one line;
    return `code`, the script's exit status."""
    print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
    return code
