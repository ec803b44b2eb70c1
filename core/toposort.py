"""The one topological sort: Kahn's algorithm over nodes and the inputs that feed them."""

from collections import deque
from collections.abc import Mapping, Sequence


class CycleError(ValueError):
    """The nodes cannot be ordered. `cycle` is one cycle in data-flow order, its first node
    repeated at the end (`['a', 'b', 'a']`: a feeds b, b feeds a)."""

    def __init__(self, cycle: list[str]) -> None:
        super().__init__(f"the nodes form a cycle, {' -> '.join(cycle)}")
        self.cycle = cycle


def toposort(inputs: Mapping[str, Sequence[str]]) -> list[str]:
    """The names of `inputs` (node -> the nodes feeding it) ordered so every node comes after
    the nodes that feed it; ties keep the mapping's order. Inputs that are not keys (data fed
    from outside) impose nothing. Raises CycleError naming one cycle."""
    waiting = dict.fromkeys(inputs, 0)
    consumers: dict[str, list[str]] = {name: [] for name in inputs}
    for name, sources in inputs.items():
        for source in sources:
            if source in consumers:
                waiting[name] += 1
                consumers[source].append(name)
    ready = deque(name for name, count in waiting.items() if count == 0)
    order = []
    while ready:
        order.append(name := ready.popleft())
        for consumer in consumers[name]:
            waiting[consumer] -= 1
            if waiting[consumer] == 0:
                ready.append(consumer)
    if len(order) < len(waiting):
        stuck = {name: inputs[name] for name, count in waiting.items() if count}
        raise CycleError(_cycle(stuck))
    return order


def _cycle(stuck: Mapping[str, Sequence[str]]) -> list[str]:
    """One cycle among nodes that never became ready, in data-flow order, first node repeated."""
    path, name = [], next(iter(stuck))
    while name not in path:
        path.append(name)
        name = next(source for source in stuck[name] if source in stuck)
    loop = path[path.index(name) :][::-1]  # each node in `path` is fed by the next one
    return [*loop, loop[0]]
