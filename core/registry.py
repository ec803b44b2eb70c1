"""Registry: maps the `type:` names of configs to classes (and dataset names to functions)."""

import difflib
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")

# arguments a builder passes from the run, never from a config block
CONTEXT = ("rng", "dtype", "params", "optimizer", "epochs")


class Registry(Generic[T]):
    """Maps config `type:` names to classes; `register(name)` decorates, `names()` is sorted."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._classes: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def decorate(cls: type[T]) -> type[T]:
            taken = self._classes.get(name)
            if taken is not None and _where(taken) != _where(cls):
                raise ValueError(
                    f"{self.kind} {name!r} is taken by {_where(taken)}; "
                    f"cannot register {_where(cls)} under it too"
                )
            self._classes[name] = cls  # the same class again (a module re-imported) replaces it
            cls.key = name  # type: ignore[attr-defined]
            return cls

        return decorate

    def names(self) -> list[str]:
        return sorted(self._classes)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def get(self, name: str) -> type[T]:
        if name not in self._classes:
            close = difflib.get_close_matches(str(name), self.names(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            valid = ", ".join(self.names())
            raise ValueError(f"unknown {self.kind} {name!r}{hint}; valid: {valid}")
        return self._classes[name]

    def accepted(self, name: str) -> list[str]:
        """Options a config block may give for `name` (context arguments like `rng` excluded)."""
        params = inspect.signature(self.get(name)).parameters.values()
        variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        return [p.name for p in params if p.name not in CONTEXT and p.kind not in variadic]

    def build(self, spec: Mapping[str, Any], **context: Any) -> T:
        options = dict(spec)
        name = options.pop("type", "")
        cls = self.get(name)
        settable = self.accepted(name)
        if unknown := sorted(set(options) - set(settable)):
            valid = ", ".join(settable) or "(none)"
            raise ValueError(f"{name!r} got unknown {unknown}; accepted: {valid}")
        takes = inspect.signature(cls).parameters
        return cls(**options, **{k: v for k, v in context.items() if k in takes})


def _where(obj: Any) -> str:
    """`module.QualName` of a registered class or function: the same after a re-import."""
    return f"{obj.__module__}.{obj.__qualname__}"
