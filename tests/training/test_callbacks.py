"""Callbacks: which hooks fit calls, when, in which order; the per-step hooks only where a
callback asks for them; on_train_end however fit ends."""

import numpy as np
import pytest

from gategraph.layers.affine import Affine
from gategraph.losses.softmax_cross_entropy import SoftmaxCrossEntropy
from gategraph.models.sequential import Sequential
from gategraph.optim.sgd import SGD
from gategraph.training import Callback, Checkpoints, EarlyStopping, NonFiniteError, Trainer
from gategraph.training.callback import Loop, Row, hooks


class Recorder(Callback):
    """Writes down every hook call as (name, epochs done, steps done)."""

    def __init__(self, log: list, order: int = 50, name: str = "rec") -> None:
        self.log, self.order, self.name = log, order, name

    def _note(self, hook: str, trainer: Loop) -> None:
        p = trainer.progress
        self.log.append((self.name, hook, p.epoch, p.global_step))

    def on_train_begin(self, trainer: Loop) -> None:
        self._note("train_begin", trainer)

    def on_epoch_begin(self, trainer: Loop) -> None:
        self._note("epoch_begin", trainer)

    def on_before_step(self, trainer: Loop, loss: float) -> None:
        self._note("before_step", trainer)

    def on_batch_end(self, trainer: Loop) -> None:
        self._note("batch_end", trainer)

    def on_epoch_end(self, trainer: Loop, row: Row) -> None:
        assert trainer.progress.history[-1] is row
        self._note("epoch_end", trainer)

    def on_train_end(self, trainer: Loop) -> None:
        self._note(f"train_end finished={trainer.finished}", trainer)


class EpochsOnly(Callback):
    def on_epoch_end(self, trainer: Loop, row: Row) -> None:
        row["mine"] = row["epoch"] * 10


def _trainer(lr: float = 0.1) -> Trainer:
    rng = np.random.default_rng(0)
    model = Sequential([Affine(2, 3, rng=rng)], input_grad=False)
    return Trainer(model, SoftmaxCrossEntropy(), SGD(model.params(), lr=lr), rng=rng)


def _data(n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.standard_normal((n, 2)).astype(np.float32), rng.integers(0, 3, n)


def test_fit_calls_the_hooks_of_the_loop_it_describes() -> None:
    log: list = []
    X, y = _data(10)  # batch 4: 3 steps per epoch
    _trainer().fit(X, y, epochs=2, batch_size=4, callbacks=[Recorder(log)])
    step = [("before_step", 0), ("batch_end", 1)]
    expected = [("train_begin", 0, 0)]
    for epoch in range(2):
        expected.append(("epoch_begin", epoch, 3 * epoch))
        for k in range(3):
            expected += [(hook, epoch, 3 * epoch + k + done) for hook, done in step]
        expected.append(("epoch_end", epoch + 1, 3 * epoch + 3))
    expected.append(("train_end finished=True", 2, 6))
    assert [entry[1:] for entry in log] == expected


def test_callbacks_run_by_order_then_as_given() -> None:
    log: list = []
    late, early = Recorder(log, order=60, name="late"), Recorder(log, order=5, name="early")
    first, second = Recorder(log, name="first"), Recorder(log, name="second")
    X, y = _data(4)
    _trainer().fit(X, y, epochs=1, batch_size=4, callbacks=[late, first, second, early])
    names = [name for name, hook, *_ in log if hook == "epoch_end"]
    assert names == ["early", "first", "second", "late"]


def test_a_callback_adds_to_the_row_and_per_step_hooks_are_only_the_overridden() -> None:
    X, y = _data(4)
    callback = EpochsOnly()
    history = _trainer().fit(X, y, epochs=2, batch_size=4, callbacks=[callback])
    assert [row["mine"] for row in history] == [10, 20]
    assert hooks([callback], "on_batch_end") == () == hooks([callback], "on_before_step")
    assert hooks([callback], "on_epoch_end") == (callback.on_epoch_end,)


def test_train_end_runs_when_fit_raises_and_says_it_did_not_finish() -> None:
    log: list = []
    X, y = _data(4)
    X[0, 0] = np.nan
    with pytest.raises(NonFiniteError):
        _trainer().fit(X, y, epochs=2, batch_size=4, callbacks=[Recorder(log)])
    assert [hook for _, hook, *_ in log] == [
        "train_begin",
        "epoch_begin",
        "train_end finished=False",  # the guard (order 0) raised before the recorder's hook
    ]


def test_fit_refuses_what_is_not_a_callback() -> None:
    X, y = _data(4)
    message = "Trainer.fit needs callbacks that subclass Callback, got function"
    with pytest.raises(TypeError, match=message):
        _trainer().fit(X, y, callbacks=[lambda trainer: None])  # type: ignore[list-item]


def test_a_loaded_mid_epoch_state_needs_its_batch_size() -> None:
    X, y = _data(10)
    trainer = _trainer()
    trainer.fit(X, y, epochs=1, batch_size=4, callbacks=[Checkpoints(lambda s: None)])
    state = {}

    def keep(states: dict) -> None:
        state.update(states["last"])
        trainer.request_stop()

    trainer.fit(X, y, epochs=1, batch_size=4, callbacks=[Checkpoints(keep, every_steps=1)])
    assert trainer.interrupted and state["progress"]["step"] == 1
    resumed = _trainer()
    resumed.load_state_dict(state)
    with pytest.raises(ValueError) as err:
        resumed.fit(X, y, epochs=1, batch_size=5)
    assert str(err.value) == (
        "Trainer.fit: the loaded state is 1 batches (4 samples) into epoch 2; finishing it "
        "exactly needs the batch size it was saved with, got batch_size 5"
    )
    assert resumed.progress.global_step == 4  # refused before any step
    resumed.fit(X, y, epochs=1, batch_size=4)
    assert resumed.progress.epoch == 2 and resumed.progress.global_step == 6


def test_a_stop_request_ends_fit_after_the_step_unfinished() -> None:
    X, y = _data(10)
    trainer = _trainer(lr=0.1)
    stop = EarlyStopping("train_loss", patience=5)
    trainer.request_stop()  # fit ends after its first step, unfinished
    trainer.fit(X, y, epochs=3, batch_size=4, callbacks=[stop])
    assert trainer.interrupted and not trainer.finished and trainer.best_weights is None
    assert trainer.progress.global_step == 1 and not trainer.stop_requested


class StopAfter(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, trainer: Loop, row: Row) -> None:
        if row["epoch"] == self.epoch:
            trainer.request_stop()


def test_a_stop_requested_at_an_epoch_end_saves_that_epoch() -> None:
    X, y = _data(10)
    saved: list = []
    checkpoints = Checkpoints(saved.append, every_epochs=100)  # never due by the count
    trainer = _trainer()
    trainer.fit(X, y, epochs=5, batch_size=4, callbacks=[StopAfter(2), checkpoints])
    assert trainer.interrupted and trainer.progress.epoch == 2
    assert [s["last"]["progress"]["epoch"] for s in saved] == [2]
    assert saved[0]["last"]["progress"]["step"] == 0
