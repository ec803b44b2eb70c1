"""Per-epoch learning-rate schedules that set `optimizer.lr`, registered in SCHEDULES."""

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from gategraph.core.checks import check_number
from gategraph.core.registry import Registry
from gategraph.optim.base import Optimizer


class Schedule:
    """Sets `optimizer.lr` epoch by epoch: `step(metric)`, called once at the end of each epoch,
    sets the lr of the next one. `base_lr` is the optimizer's lr at construction.

    `state_dict()` holds plain numbers only (an npz can store it); `load_state_dict` restores it.
    """

    key: ClassVar[str] = ""  # set by the registry
    needs_metric: ClassVar[bool] = False  # step() wants the monitored metric
    _state: ClassVar[tuple[str, ...]] = ("epoch", "base_lr")

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.epoch = 0  # epochs finished

    def step(self, metric: float | None = None) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not define step")

    def state_dict(self) -> dict[str, float | int]:
        return {key: getattr(self, key) for key in self._state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if set(state) != set(self._state):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict expects keys {sorted(self._state)}, "
                f"got {sorted(state)}"
            )
        for key in self._state:
            setattr(self, key, type(getattr(self, key))(state[key]))


class EpochSchedule(Schedule):
    """A schedule whose lr at epoch e (0-based) is a pure function `lr_at(e)` of e and `base_lr`,
    so resuming at epoch e reproduces the uninterrupted run exactly.

    Subclasses set their options first, then call this `__init__` (it needs `lr_at`).
    """

    def __init__(self, optimizer: Optimizer) -> None:
        super().__init__(optimizer)
        optimizer.lr = self.lr_at(0)

    def lr_at(self, epoch: int) -> float:
        raise NotImplementedError(f"{type(self).__name__} does not define lr_at")

    def step(self, metric: float | None = None) -> None:
        """End an epoch (`metric` is ignored): the next epoch runs at `lr_at(epoch)`."""
        self.epoch += 1
        self.optimizer.lr = self.lr_at(self.epoch)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.optimizer.lr = self.lr_at(self.epoch)


SCHEDULES: Registry[Schedule] = Registry("schedule")


@SCHEDULES.register("step")
class StepDecay(EpochSchedule):
    """lr(e) = base_lr * gamma ** (e // step_size), as torch's StepLR."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        check_number("StepDecay", "step_size", step_size, low=1, integer=True)
        check_number("StepDecay", "gamma", gamma, low=0.0, high=1.0, low_open=True)
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


@SCHEDULES.register("exponential")
class ExponentialDecay(EpochSchedule):
    """lr(e) = base_lr * gamma ** e, as torch's ExponentialLR."""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        check_number("ExponentialDecay", "gamma", gamma, low=0.0, high=1.0, low_open=True)
        self.gamma = float(gamma)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma**epoch


@SCHEDULES.register("cosine")
class CosineAnnealing(EpochSchedule):
    """Linear warm-up, then cosine annealing to `min_lr` at the end of the run (W warm-up
    epochs, E = `epochs` in all, T = E - W):

        lr(e) = base_lr * (e + 1) / (W + 1)                                  for e < W
        lr(e) = min_lr + (base_lr - min_lr) * (1 + cos(π (e - W) / T)) / 2   for W <= e <= E

    so warm-up climbs from base_lr / (W + 1) and meets base_lr at e = W; as torch's
    CosineAnnealingLR (T_max = T), lr reaches min_lr after the last epoch, and stays there.
    """

    def __init__(
        self, optimizer: Optimizer, min_lr: float = 0.0, warmup_epochs: int = 0, *, epochs: int
    ) -> None:
        check_number("CosineAnnealing", "epochs", epochs, low=1, integer=True)
        check_number(
            "CosineAnnealing", "warmup_epochs", warmup_epochs, low=0, high=epochs - 1, integer=True
        )
        check_number("CosineAnnealing", "min_lr", min_lr, low=0.0, high=optimizer.lr)
        self.min_lr, self.epochs = float(min_lr), int(epochs)
        self.warmup_epochs = int(warmup_epochs)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        warmup, span = self.warmup_epochs, self.epochs - self.warmup_epochs
        if epoch < warmup:
            return self.base_lr * (epoch + 1) / (warmup + 1)
        progress = min(epoch - warmup, span) / span
        return self.min_lr + (self.base_lr - self.min_lr) * (1 + math.cos(math.pi * progress)) / 2


@SCHEDULES.register("reduce_on_plateau")
class ReduceOnPlateau(Schedule):
    """lr = max(lr * factor, min_lr) once the metric has not improved for more than `patience`
    epochs, then no counting for `cooldown` epochs, as torch's ReduceLROnPlateau.

    Improved means < best * (1 - threshold) in mode `min`, > best * (1 + threshold) in mode
    `max` (torch's relative threshold). A reduction smaller than 1e-8 is skipped, as in torch.
    """

    needs_metric = True
    _state = ("epoch", "base_lr", "best", "num_bad_epochs", "cooldown_counter")

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__(optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceOnPlateau needs mode 'min' or 'max', got {mode!r}")
        check_number(
            "ReduceOnPlateau", "factor", factor, low=0.0, high=1.0, low_open=True, high_open=True
        )
        check_number("ReduceOnPlateau", "patience", patience, low=0, integer=True)
        check_number("ReduceOnPlateau", "threshold", threshold, low=0.0, high=1.0, high_open=True)
        check_number("ReduceOnPlateau", "cooldown", cooldown, low=0, integer=True)
        check_number("ReduceOnPlateau", "min_lr", min_lr, low=0.0)
        self.mode, self.factor, self.patience = mode, float(factor), int(patience)
        self.threshold, self.cooldown, self.min_lr = float(threshold), int(cooldown), float(min_lr)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = 0

    def step(self, metric: float | None = None) -> None:
        """End an epoch whose monitored metric (e.g. the validation loss) was `metric`."""
        if metric is None:
            raise TypeError("ReduceOnPlateau.step needs the monitored metric, got None")
        self.epoch += 1
        if self._improves(float(metric)):
            self.best, self.num_bad_epochs = float(metric), 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            new_lr = max(self.optimizer.lr * self.factor, self.min_lr)
            if self.optimizer.lr - new_lr > 1e-8:
                self.optimizer.lr = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0

    def _improves(self, metric: float) -> bool:
        if self.mode == "min":
            return metric < self.best * (1.0 - self.threshold)
        return metric > self.best * (1.0 + self.threshold)
