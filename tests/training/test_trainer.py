"""Trainer: the loop equals a hand-written one, metrics, early stopping, non-finite stops,
interrupt and exact resume, evaluate / predict / confusion matrix."""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from gategraph.data import epoch_order, spiral, split
from gategraph.layers.affine import Affine
from gategraph.layers.batch_norm import BatchNorm
from gategraph.layers.dropout import Dropout
from gategraph.layers.relu import ReLU
from gategraph.losses.mse import MSE
from gategraph.losses.sigmoid_bce import SigmoidBCE
from gategraph.losses.softmax_cross_entropy import SoftmaxCrossEntropy
from gategraph.models.sequential import Sequential
from gategraph.optim.sgd import SGD
from gategraph.saving.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from gategraph.training.checkpoints import Checkpoints
from gategraph.training.early_stopping import EarlyStopping
from gategraph.training.evaluation import confusion_matrix, evaluate, labels_of, predict
from gategraph.training.guard import NonFiniteError, check_weights
from gategraph.training.progress import COLUMNS
from gategraph.training.trainer import Trainer

B = 16  # the batch size of these tests: 90 training samples make 6 steps per epoch


def _data(seed: int = 0, noise: float = 0.2) -> tuple:
    rng = np.random.default_rng(seed)
    X, y = spiral(40, 3, noise, rng=rng)
    parts = split(X.astype(np.float32), y, 0.25, 0.0, rng=rng)
    return parts.train, parts.val


def _trainer(seed: int = 1, lr: float = 0.1, norm: bool = False, **options) -> Trainer:
    """A 2-32-3 ReLU net; with `norm`, BatchNorm (buffers) and Dropout (draws from rng) too."""
    rng = np.random.default_rng(seed)
    middle = [BatchNorm(32), ReLU(), Dropout(0.2, rng=rng)] if norm else [ReLU()]
    layers = [Affine(2, 32, rng=rng), *middle, Affine(32, 3, rng=rng)]
    model = Sequential(layers, input_grad=False)
    optimizer = SGD(model.params().values(), lr=lr, momentum=0.9, weight_decay=1e-3)
    return Trainer(model, SoftmaxCrossEntropy(), optimizer, rng=rng, **options)


def _weights(trainer: Trainer) -> dict[str, np.ndarray]:
    """Params and buffers by name."""
    params = {name: p.value.copy() for name, p in trainer.params.items()}
    return params | {name: a.copy() for name, a in trainer.buffers.items()}


def _same_weights(a: Trainer, b: Trainer) -> bool:
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


def _without_seconds(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


# ---- the loop -------------------------------------------------------------------------------


def test_fit_equals_the_textbook_loop_bit_for_bit() -> None:
    train, val = _data()
    trainer = _trainer()
    history = trainer.fit(*train, epochs=3, batch_size=B, validation_data=val)

    reference = _trainer()  # same seed: same init, same Generator
    X, y = train
    for epoch in range(3):
        losses, correct = [], 0
        perm = epoch_order(len(X), reference.rng)
        for start in range(0, len(X), 16):
            idx = perm[start : start + 16]
            scores = reference.model.forward(X[idx])
            losses.append(reference.loss.forward(scores, y[idx]) * len(idx))
            correct += int((scores.argmax(axis=1) == y[idx]).sum())
            reference.model.backward(reference.loss.backward()[0])
            reference.optimizer.step()
        row = history[epoch]
        assert row["epoch"] == epoch + 1
        assert row["train_loss"] == sum(losses) / len(X)
        assert row["train_acc"] == correct / len(X)
    assert _same_weights(trainer, reference)


def test_epoch_metrics_are_what_they_say() -> None:
    train, val = _data()
    trainer = _trainer()
    history = trainer.fit(*train, epochs=4, batch_size=B, validation_data=val)
    assert [list(row) for row in history] == [[*COLUMNS, "seconds"]] * 4
    last = history[-1]
    W = [p.value for p in trainer.params.values() if p.decay]
    penalty = 0.5 * 1e-3 * sum(float(np.sum(w.astype(np.float64) ** 2)) for w in W)
    assert last["train_penalty"] == pytest.approx(penalty, rel=1e-6)
    metrics = trainer.evaluate(*val)
    assert (last["val_loss"], last["val_acc"]) == (metrics["loss"], metrics["acc"])
    assert last["lr"] == 0.1 and last["seconds"] > 0


def test_loss_drops_on_the_spiral() -> None:
    train, val = _data()
    history = _trainer(lr=0.3).fit(*train, epochs=60, batch_size=B, validation_data=val)
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert history[-1]["val_acc"] > 0.8


def test_same_seed_gives_identical_runs() -> None:
    train, val = _data()
    a, b = _trainer(), _trainer()
    ha = a.fit(*train, epochs=5, batch_size=B, validation_data=val)
    hb = b.fit(*train, epochs=5, batch_size=B, validation_data=val)
    assert _without_seconds(ha) == _without_seconds(hb)
    assert _same_weights(a, b)
    c = _trainer(seed=2)
    c.fit(*train, epochs=5, batch_size=B, validation_data=val)
    assert not _same_weights(a, c)


def test_without_validation_the_val_columns_are_none() -> None:
    train, _ = _data()
    row = _trainer().fit(*train, epochs=1, batch_size=B)[0]
    assert row["val_loss"] is None and row["val_acc"] is None


def test_early_stopping_restores_the_best_weights() -> None:
    train, val = _data(noise=0.6)  # noisy labels: the validation loss turns up early
    trainer = _trainer(lr=0.5)
    early = EarlyStopping(monitor="val_loss", patience=3)
    saved: list[dict] = []
    history = trainer.fit(
        *train, epochs=200, batch_size=8, validation_data=val,
        callbacks=[early, Checkpoints(saved.append)],
    )  # fmt: skip
    losses = [row["val_loss"] for row in history]
    best = int(np.argmin(losses))
    assert trainer.progress.stopped and len(history) == best + 1 + 3
    assert trainer.progress.best_epoch == best + 1
    assert trainer.evaluate(*val)["loss"] == losses[best] != losses[-1]
    assert saved[-1]["last"]["progress"]["epoch"] == len(history)
    best_state = [s["best"] for s in saved if "best" in s][-1]
    assert best_state["progress"]["epoch"] == best + 1
    assert all(
        np.array_equal(p.value, best_state["params"][name]) for name, p in trainer.params.items()
    )


def test_early_stopping_restores_running_statistics_too() -> None:
    train, val = _data(noise=0.6)
    trainer = _trainer(lr=0.5, norm=True)
    history = trainer.fit(
        *train, epochs=200, batch_size=8, validation_data=val, callbacks=[EarlyStopping(patience=3)]
    )
    assert trainer.progress.stopped
    best = trainer.progress.best_epoch
    assert trainer.evaluate(*val)["loss"] == history[best - 1]["val_loss"]  # eval mode uses them
    running = trainer.buffers["batch_norm0.running_mean"]
    assert np.array_equal(running, trainer.best_weights["buffers"]["batch_norm0.running_mean"])


def test_best_follows_the_monitor_and_waits_for_the_next_save() -> None:
    train, val = _data()
    trainer, saved = _trainer(), []
    history = trainer.fit(
        *train, epochs=9, batch_size=B, validation_data=val,
        callbacks=[Checkpoints(saved.append, every_epochs=3)],
    )  # fmt: skip
    losses = [row["val_loss"] for row in history]
    best_epochs = [i + 1 for i in range(9) if losses[i] < min(losses[:i], default=math.inf)]
    assert [s["last"]["progress"]["epoch"] for s in saved] == [3, 6, 9]
    bests = [s["best"]["progress"]["epoch"] if "best" in s else None for s in saved]
    windows = ((0, 3), (3, 6), (6, 9))  # epochs since the previous save
    assert bests == [max((e for e in best_epochs if j < e <= k), default=None) for j, k in windows]
    assert bests == [2, 6, 8]  # this run has bests inside a window and at a saved epoch
    for s in saved:  # a best epoch that is also the saved epoch is one state, written once
        if "best" in s and s["best"]["progress"]["epoch"] == s["last"]["progress"]["epoch"]:
            assert s["best"] is s["last"]


def test_checkpoint_frequencies() -> None:
    train, _ = _data()  # 90 samples, batch 16: 6 steps per epoch
    saved: list[dict] = []
    trainer = _trainer()
    checkpoints = Checkpoints(saved.append, every_epochs=2, every_steps=4)
    trainer.fit(*train, epochs=5, batch_size=B, callbacks=[checkpoints])
    steps = [s["last"]["progress"]["global_step"] for s in saved]
    assert steps == [4, 8, 12, 12, 16, 20, 24, 24, 28, 30]  # steps 4k, epochs 2 and 4, the end


# ---- non-finite values ----------------------------------------------------------------------


@pytest.mark.parametrize("clip_norm", [None, 1.0])
def test_a_nan_stops_before_the_update(clip_norm: float | None) -> None:
    (X, y), _ = _data()
    X = X.copy()
    X[5, 1] = np.nan
    trainer = _trainer(clip_norm=clip_norm)
    before = _weights(trainer)
    with pytest.raises(NonFiniteError) as err:
        trainer.fit(X, y, epochs=2, batch_size=len(X))  # one step per epoch
    message = str(err.value)
    assert message.startswith("non-finite value at step 1 (epoch 1, batch 1): loss = nan, ")
    assert "first non-finite gradient: affine0.W" in message and "train.clip_norm" in message
    assert err.value.step == 1 and err.value.param == "affine0.W"
    assert all(np.array_equal(before[k], v) for k, v in _weights(trainer).items())
    assert trainer.optimizer.steps == 0


@pytest.mark.parametrize("clip_norm", [None, 1e40])
def test_huge_but_finite_gradients_and_weights_are_not_called_non_finite(
    clip_norm: float | None,
) -> None:
    # float32 sums of values near 3e38 overflow to inf although every value is finite
    trainer = _trainer(clip_norm=clip_norm)
    trainer.optimizer.grads[:3] = 3e38
    trainer.optimizer.values[:3] = -3e38
    with np.errstate(over="ignore"):
        assert math.isinf(np.add.reduce(trainer.optimizer.grads))
        trainer.guard.on_before_step(trainer, 1.0)  # neither raises
        check_weights(trainer)
    trainer.optimizer.grads[7] = np.inf
    with np.errstate(over="ignore"), pytest.raises(NonFiniteError, match="gradient: affine0.W"):
        trainer.guard.on_before_step(trainer, 1.0)


def test_an_overflowing_update_is_never_saved() -> None:
    train, _ = _data()
    trainer = _trainer(lr=1e39)  # finite gradients, but lr * g overflows float32
    saved: list[bool] = []
    with pytest.raises(NonFiniteError, match=r"update of step 1 .* made the weights non-finite"):
        checkpoints = Checkpoints(lambda states: saved.append(True), every_steps=1)
        trainer.fit(*train, epochs=1, batch_size=B, callbacks=[checkpoints])
    assert saved == []


# ---- interrupt and resume -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop_at", "norm"), [(1, False), (8, False), (12, False), (17, False), (9, True), (18, True)]
)
def test_stop_and_resume_from_a_checkpoint_file_is_exact(
    tmp_path: Path, stop_at: int, norm: bool
) -> None:
    train, val = _data()
    early = EarlyStopping(monitor="val_acc", patience=50)
    reference = _trainer(norm=norm)
    expected = reference.fit(*train, epochs=4, batch_size=B, validation_data=val, callbacks=[early])

    first = _trainer(norm=norm)
    path = tmp_path / "last.npz"

    def save(states: dict) -> None:
        save_checkpoint(path, states["last"], config={})
        if first.progress.global_step == stop_at:
            first.request_stop()

    checkpoints = Checkpoints(save, every_steps=1)
    first.fit(*train, epochs=4, batch_size=B, validation_data=val, callbacks=[early, checkpoints])
    assert first.interrupted and first.progress.global_step == stop_at

    resumed = _trainer(seed=9, norm=norm)  # another init and Generator: all from the file
    resumed.load_state_dict(load_checkpoint(path).state)
    epochs = 4 - resumed.progress.epoch  # fit counts its own epochs: the rest of the 4
    history = resumed.fit(
        *train, epochs=epochs, batch_size=B, validation_data=val, callbacks=[early]
    )
    assert not resumed.interrupted
    assert _without_seconds(history) == _without_seconds(expected)
    assert _same_weights(resumed, reference)
    for key in ("values", "buffers"):
        assert json.dumps(resumed.best_weights[key], default=np.ndarray.tolist) == json.dumps(
            reference.best_weights[key], default=np.ndarray.tolist
        )


def test_load_state_dict_refuses_another_model_or_a_broken_state() -> None:
    state = _trainer().state_dict()
    state["params"]["affine1.W"] = np.zeros((32, 4), np.float32)
    with pytest.raises(CheckpointError, match=r"affine1.W is \(32, 4\) in the checkpoint, \(32, 3"):
        _trainer().load_state_dict(state, source="c.npz")
    with pytest.raises(CheckpointError) as err:
        _trainer(norm=True).load_state_dict(_trainer().state_dict(), source="c.npz")
    assert str(err.value) == (
        "c.npz: the checkpoint does not match this model: missing batch_norm0.gamma (32,); "
        "missing batch_norm0.beta (32,); missing batch_norm0.running_mean (32,); "
        "missing batch_norm0.running_var (32,)"
    )
    state = _trainer().state_dict()
    del state["progress"]
    with pytest.raises(CheckpointError, match="c.npz: not a trainer state, 'progress' is missing"):
        _trainer().load_state_dict(state, source="c.npz")
    state = _trainer().state_dict()
    state["optimizer"]["velocity"] = np.zeros(3, np.float32)
    with pytest.raises(CheckpointError, match="c.npz: cannot restore the trainer: SGD.load_state"):
        _trainer().load_state_dict(state, source="c.npz")


# ---- evaluate, predict, confusion matrix ----------------------------------------------------


def _fixed_model() -> Sequential:
    affine = Affine(2, 3, rng=np.random.default_rng(0), dtype=np.float64)
    affine.params["W"].value[...] = [[1, 0, 0], [0, 1, 0]]
    affine.params["b"].value[...] = [0, 0, 0.5]
    return Sequential([affine])


def test_evaluate_predict_and_labels_by_hand() -> None:
    X = np.array([[2.0, 0.0], [0.0, 2.0], [0.0, 0.0]])  # scores [2,0,.5], [0,2,.5], [0,0,.5]
    y = np.array([0, 1, 1])
    scores = np.array([[2, 0, 0.5], [0, 2, 0.5], [0, 0, 0.5]])
    log_probs = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    expected = -np.mean(log_probs[np.arange(3), y])
    for batch_size in (1, 2, 1024):
        metrics = evaluate(_fixed_model(), SoftmaxCrossEntropy(), X, y, batch_size=batch_size)
        assert metrics["loss"] == pytest.approx(expected, rel=1e-12)
        assert metrics["acc"] == 2 / 3
    assert np.array_equal(predict(_fixed_model(), X, batch_size=2), scores)
    assert labels_of(scores).tolist() == [0, 1, 2]
    assert labels_of(np.array([[-1.0], [2.0]])).tolist() == [0, 1]


def test_binary_accuracy_uses_the_sign_of_one_score() -> None:
    affine = Affine(1, 1, rng=np.random.default_rng(0), dtype=np.float64)
    affine.params["W"].value[...] = 1.0
    affine.params["b"].value[...] = 0.0
    X, y = np.array([[-2.0], [3.0], [1.0]]), np.array([0, 1, 0])
    assert evaluate(Sequential([affine]), SigmoidBCE(), X, y)["acc"] == 2 / 3


def test_regression_has_no_accuracy() -> None:
    affine = Affine(1, 1, rng=np.random.default_rng(0), dtype=np.float64)
    affine.params["W"].value[...] = 2.0
    affine.params["b"].value[...] = 0.0
    X, y = np.array([[1.0], [2.0]]), np.array([2.0, 5.0])
    metrics = evaluate(Sequential([affine]), MSE(), X, y)
    assert metrics == {"loss": 0.5, "acc": None}  # ((2-2)^2 + (4-5)^2) / 2


def test_confusion_matrix_by_hand() -> None:
    counts = confusion_matrix(np.array([0, 1, 1, 2, 2]), np.array([0, 1, 2, 2, 0]), 3)
    assert counts.tolist() == [[1, 0, 0], [0, 1, 1], [1, 0, 1]]
    with pytest.raises(ValueError, match=r"class ids in \[0, 2\)"):
        confusion_matrix(np.array([0, 2]), np.array([0, 1]), 2)


# ---- arguments, modes and the progress bar --------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"eval_batch_size": 0}, ValueError, "Trainer needs eval_batch_size >= 1, got 0"),
        ({"clip_norm": -1.0}, ValueError, "Trainer needs clip_norm > 0, got -1.0"),
    ],
)
def test_trainer_arguments_are_checked(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        _trainer(**kwargs)


def test_fit_arguments_are_checked() -> None:
    (X, y), val = _data()
    trainer = _trainer()
    with pytest.raises(ValueError, match="train data is empty"):
        trainer.fit(X[:0], y[:0], epochs=1)
    with pytest.raises(ValueError, match="train data: X has 90 rows but y has 89"):
        trainer.fit(X, y[1:], epochs=1)
    with pytest.raises(ValueError, match="Trainer.fit needs epochs >= 0, got -1"):
        trainer.fit(X, y, epochs=-1)
    with pytest.raises(ValueError, match="Trainer.fit needs batch_size >= 1, got 0"):
        trainer.fit(X, y, epochs=1, batch_size=0)
    with pytest.raises(TypeError, match="Trainer.fit needs batch_size to be an integer, got 2.5"):
        trainer.fit(X, y, epochs=1, batch_size=2.5)
    with pytest.raises(ValueError, match="Checkpoints needs every_epochs >= 1, got 0"):
        Checkpoints(print, every_epochs=0)
    with pytest.raises(TypeError, match="Checkpoints needs every_steps to be an integer, got 2.5"):
        Checkpoints(print, every_steps=2.5)
    with pytest.raises(ValueError, match="monitors val_acc but there is no validation data"):
        trainer.fit(
            X, y, epochs=1, validation_data=(X[:0], y[:0]), callbacks=[EarlyStopping("val_acc")]
        )
    assert trainer.progress.global_step == 0  # every refusal before the first step


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"monitor": "val_los"}, "monitor must be one of"),
        ({"patience": 0}, "EarlyStopping needs patience >= 1, got 0"),
        ({"min_delta": -0.1}, "EarlyStopping needs min_delta >= 0, got -0.1"),
    ],
)
def test_early_stopping_options_are_checked(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EarlyStopping(**kwargs)


def test_training_mode_during_fit_and_eval_mode_for_evaluation() -> None:
    train, val = _data()
    trainer = _trainer()
    modes: list[bool] = []
    forward = trainer.model.graph.forward

    def spy(**inputs: np.ndarray) -> np.ndarray:
        modes.append(trainer.model.training)
        return forward(**inputs)

    trainer.model.graph.forward = spy  # type: ignore[method-assign]
    trainer.fit(*train, epochs=1, batch_size=B, validation_data=val)
    assert modes == [True] * 6 + [False]  # 6 training steps, then one validation batch
    assert trainer.model.training


def test_progress_bar_only_on_a_terminal(capsys: pytest.CaptureFixture, monkeypatch) -> None:
    train, val = _data()
    _trainer().fit(*train, epochs=2, batch_size=B, validation_data=val)
    assert capsys.readouterr().err == ""  # stderr is not a terminal under pytest
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    _trainer().fit(*train, epochs=2, batch_size=B, validation_data=val)
    assert "/2 [" in capsys.readouterr().err  # tqdm's "0/2 [00:00<?, ?epoch/s]"
    _trainer(quiet=True).fit(*train, epochs=2, batch_size=B, validation_data=val)
    assert capsys.readouterr().err == ""
