"""What a PyTorch or Keras user does first: a hand-written loop with model(x), zero_grad() and
model.params() handed to the optimizer, and Keras's fit, twice."""

import numpy as np
import pytest

from gategraph.data import minibatches, spiral, split
from gategraph.layers.affine import Affine
from gategraph.layers.relu import ReLU
from gategraph.losses.softmax_cross_entropy import SoftmaxCrossEntropy
from gategraph.models.sequential import Sequential
from gategraph.optim.sgd import SGD
from gategraph.training import EarlyStopping, Trainer


def _data() -> tuple:
    rng = np.random.default_rng(0)
    X, y = spiral(60, 3, 0.2, rng=rng)
    parts = split(X.astype(np.float32), y, 0.25, 0.0, rng=rng)
    return parts.train, parts.val


def _model(seed: int = 1) -> Sequential:
    rng = np.random.default_rng(seed)
    return Sequential([Affine(2, 64, rng=rng), ReLU(), Affine(64, 3, rng=rng)])


def _hand_loop(model: Sequential, optimizer: SGD, *, zero_grad: bool) -> list[float]:
    """The PyTorch loop; returns each epoch's mean training loss."""
    (X, y), _ = _data()
    loss_fn, rng, means = SoftmaxCrossEntropy(), np.random.default_rng(2), []
    for _ in range(40):
        total = 0.0
        for idx in minibatches(len(X), 32, rng=rng):
            if zero_grad:
                optimizer.zero_grad()
                model.zero_grad()
            scores = model(X[idx])
            total += loss_fn.forward(scores, y[idx]) * len(idx)
            dscores, _ = loss_fn.backward()  # the labels get no gradient
            model.backward(dscores)
            optimizer.step()
        means.append(total / len(X))
    return means


def test_a_hand_written_loop_learns() -> None:
    model = _model()
    losses = _hand_loop(model, SGD(model.params(), lr=0.3, momentum=0.9), zero_grad=True)
    assert losses[-1] < 0.3 * losses[0]
    _, (Xv, yv) = _data()
    assert np.mean(model(Xv).argmax(axis=1) == yv) > 0.8  # chance is 1/3


def test_params_dict_values_and_zero_grad_train_alike_bit_for_bit() -> None:
    a, b, c = _model(), _model(), _model()
    ha = _hand_loop(a, SGD(a.params(), lr=0.3, momentum=0.9), zero_grad=True)
    hb = _hand_loop(b, SGD(b.params().values(), lr=0.3, momentum=0.9), zero_grad=False)
    hc = _hand_loop(c, SGD(list(c.params().values()), lr=0.3, momentum=0.9), zero_grad=False)
    assert ha == hb == hc
    for name, param in a.params().items():
        assert np.array_equal(param.value, b.params()[name].value)
        assert np.array_equal(param.value, c.params()[name].value)


def test_model_call_is_forward() -> None:
    model = _model()
    x = np.random.default_rng(3).standard_normal((5, 2)).astype(np.float32)
    p = {name: param.value for name, param in model.params().items()}
    hidden = np.maximum(x @ p["affine0.W"] + p["affine0.b"], 0)
    expected = hidden @ p["affine1.W"] + p["affine1.b"]
    np.testing.assert_allclose(model(x), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.array(model(x)), model.forward(x))


def test_an_optimizer_refuses_what_is_not_a_param() -> None:
    model = _model()
    with pytest.raises(TypeError, match=r"SGD needs Params \(model.params\(\) or its values\), "):
        SGD(list(model.params()), lr=0.1)  # the names, not the Params


def _trainer(seed: int = 1) -> Trainer:
    model = _model(seed)
    optimizer = SGD(model.params(), lr=0.3, momentum=0.9)
    return Trainer(model, SoftmaxCrossEntropy(), optimizer, rng=np.random.default_rng(seed))


def test_keras_fit_twice_adds_the_epochs_up() -> None:
    (X, y), val = _data()
    trainer = _trainer()
    first = list(trainer.fit(X, y, epochs=5, batch_size=64, validation_data=val))
    history = trainer.fit(X, y, epochs=5, batch_size=64, validation_data=val)
    assert [row["epoch"] for row in history] == list(range(1, 11))
    assert history[:5] == first
    assert history[-1]["train_loss"] < 0.7 * history[0]["train_loss"]
    straight = _trainer()
    once = straight.fit(X, y, epochs=10, batch_size=64, validation_data=val)
    drop = ("seconds",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in history] == [
        {k: v for k, v in r.items() if k not in drop} for r in once
    ]  # two fits of 5 are one fit of 10, bit for bit
    for name, param in trainer.params.items():
        assert np.array_equal(param.value, straight.params[name].value)


def test_a_fit_after_early_stopping_trains_on() -> None:
    (X, y), val = _data()
    trainer = _trainer()
    stop = EarlyStopping("train_loss", patience=1, min_delta=10.0)  # no epoch improves by 10
    history = trainer.fit(X, y, epochs=20, batch_size=64, validation_data=val, callbacks=[stop])
    assert len(history) == 2 and trainer.progress.stopped  # epoch 1 is the best, epoch 2 stops
    history = trainer.fit(X, y, epochs=3, batch_size=64, validation_data=val)
    assert len(history) == 5 and not trainer.progress.stopped


def test_fit_with_zero_epochs_changes_nothing() -> None:
    (X, y), val = _data()
    trainer = _trainer()
    before = trainer.optimizer.values.copy()
    assert trainer.fit(X, y, epochs=0, validation_data=val) == []
    assert np.array_equal(trainer.optimizer.values, before) and trainer.progress.global_step == 0
