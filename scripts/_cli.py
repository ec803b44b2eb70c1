"""The command-line pieces the scripts share: a one-line usage error, `--set`, `error: ...` lines.

Standard library only: `train.py --help` must not wait for NumPy. A script finds this module
through its own folder (sys.path[0] when run; appended when loaded by file path, as tests do).
"""

import argparse
import sys
from typing import NoReturn

EXIT_USAGE = 2  # argparse's own exit code for a bad command line
OVERRIDE_HELP = "override a config key, e.g. optim.lr=0.05 (repeatable; values read as YAML)"


class Parser(argparse.ArgumentParser):
    """argparse whose usage error is one line on stderr, no usage block:
    `error: MESSAGE (see PROG --help)`, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see {self.prog} --help)\n")


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
