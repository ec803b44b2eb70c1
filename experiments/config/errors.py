"""ConfigError, the one error of config reading, and how it names a key path."""

import re

Key = tuple[str | int, ...]  # a key path: ("model", "layers", 2, "out_dim")

KEY_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[\d+\])*")  # optim.lr, layers[0].out_dim


def render_key(key: Key) -> str:
    """("model", "layers", 2, "out_dim") -> "model.layers[2].out_dim". A key that is no word
    (nor a key path, as a sweep's `optim.lr`) is shown as Python spells it, so a message stays
    one unambiguous line: ("data", "n-samples") -> "data['n-samples']"."""
    text = ""
    for part in key:
        if isinstance(part, int) or not KEY_PATH.fullmatch(part):
            text += f"[{part!r}]"
        else:
            text += f".{part}" if text else part
    return text


def one_line(text: str) -> str:
    """`text` with line breaks and other unprintable characters escaped as Python's repr does
    (a newline becomes a backslash and an n)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class ConfigError(ValueError):
    """A config problem, in one line: `where: key.path: reason`.

    `where` is `file:line` (`file:line:column` for YAML syntax), `--set K=V` for an override, or
    empty for an in-memory dict; `key` is the path of the offending entry, () for none. Line
    breaks in `reason` become spaces; `where` is shown with them escaped (`one_line`).
    """

    def __init__(self, reason: str, key: Key = (), where: str = "") -> None:
        self.reason = one_line(" ".join(str(reason).splitlines()))
        self.key, self.where = tuple(key), where
        parts = (one_line(where), render_key(self.key), self.reason)
        super().__init__(": ".join(p for p in parts if p))
