"""The fast paths compute what the plain path computes: buffer reuse, flat parameter buffers
and in-place updates change where numbers live, never which numbers come out."""

import sys
from pathlib import Path

import numpy as np
import pytest

from gategraph.core.params import flatten_params
from gategraph.layers.affine import Affine
from gategraph.layers.relu import ReLU
from gategraph.losses.softmax_cross_entropy import SoftmaxCrossEntropy
from gategraph.models.graph import ComputationalGraph
from gategraph.models.sequential import Model, Sequential
from gategraph.optim.sgd import SGD

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from bench_reference import ReferenceMLP  # noqa: E402

SIZES, BATCH, STEPS = (6, 16, 12, 4), 8, 15
LR, MOMENTUM, DECAY = 0.05, 0.9, 1e-3


def _layers(seed: int, dtype: type = np.float32) -> list:
    rng = np.random.default_rng(seed)
    layers = []
    for d_in, d_out in zip(SIZES[:-1], SIZES[1:], strict=True):
        layers += [Affine(d_in, d_out, rng=rng, dtype=dtype), ReLU()]
    return layers[:-1]


def _batches(dtype: type = np.float32) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(1)
    return [
        (rng.standard_normal((BATCH, SIZES[0])).astype(dtype), rng.integers(0, SIZES[-1], BATCH))
        for _ in range(3)
    ]


def _train(model: Model) -> tuple[list[float], list[np.ndarray]]:
    loss = SoftmaxCrossEntropy()
    optimizer = SGD(model.params().values(), lr=LR, momentum=MOMENTUM, weight_decay=DECAY)
    losses = []
    for i in range(STEPS):
        x, y = _batches()[i % 3]
        losses.append(loss.forward(model.forward(x), y))
        model.backward(loss.backward()[0])
        optimizer.step()
    return losses, [p.value.copy() for p in model.params().values()]


def _chain(reuse_buffers: bool) -> Model:
    graph = ComputationalGraph(reuse_buffers=reuse_buffers)
    node = graph.input("x", grad=False)
    for layer in _layers(0):
        node = graph.add(layer, node)
    return Model(graph)


def test_reused_buffers_train_bit_for_bit_like_fresh_arrays() -> None:
    fresh_losses, fresh_weights = _train(_chain(reuse_buffers=False))
    reused_losses, reused_weights = _train(_chain(reuse_buffers=True))
    assert fresh_losses == reused_losses
    for a, b in zip(fresh_weights, reused_weights, strict=True):
        assert np.array_equal(a, b)


def test_a_step_equals_the_plain_layer_by_layer_loop_with_separate_arrays() -> None:
    """Flat buffers and in-place updates against gates called one by one and a NumPy update
    per tensor written as expressions: equal to float32 rounding (the plain update rounds
    g + decay * w once more before adding it to the velocity)."""
    losses, weights = _train(Sequential(_layers(0), input_grad=False))
    layers, loss = _layers(0), SoftmaxCrossEntropy()
    params = [p for layer in layers for p in layer.params.values()]
    velocity = [np.zeros_like(p.value) for p in params]
    plain_losses = []
    for i in range(STEPS):
        x, y = _batches()[i % 3]
        for layer in layers:
            x = layer.forward(x)
        plain_losses.append(loss.forward(x, y))
        d = loss.backward()[0]
        for layer in reversed(layers):
            d = layer.backward(d)
        for p, v in zip(params, velocity, strict=True):
            g = p.grad + DECAY * p.value if p.decay else p.grad
            v[...] = MOMENTUM * v + g
            p.value[...] = p.value - LR * v
    np.testing.assert_allclose(losses, plain_losses, rtol=1e-5)
    for a, p in zip(weights, params, strict=True):
        np.testing.assert_allclose(a, p.value, rtol=1e-4, atol=1e-6)


def test_a_step_equals_the_benchmarks_hand_written_reference() -> None:
    model = Sequential(_layers(0), input_grad=False)
    params = list(model.params().values())
    pairs = [
        (W.value.copy(), b.value.copy()) for W, b in zip(params[::2], params[1::2], strict=True)
    ]
    reference = ReferenceMLP(pairs, BATCH, lr=LR, momentum=MOMENTUM, weight_decay=DECAY)
    losses, weights = _train(model)
    ref_losses = [reference.step(*_batches()[i % 3]) for i in range(STEPS)]
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    for a, b in zip(weights, reference.params(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_params_grads_and_optimizer_state_share_one_flat_buffer_each() -> None:
    model = Sequential(_layers(0), input_grad=False)
    params = model.params()
    optimizer = SGD(params.values(), lr=LR, momentum=MOMENTUM)
    offset = 0
    for p in sorted(params.values(), key=lambda p: not p.decay):  # decayed first
        for array, flat in ((p.value, optimizer.values), (p.grad, optimizer.grads)):
            expected = flat[offset : offset + p.value.size].reshape(p.value.shape)
            assert array.__array_interface__ == expected.__array_interface__  # the same view
        offset += p.value.size
    assert optimizer.values.size == offset == optimizer.grads.size
    model_values, model_grads, _ = model.graph.flat_params()
    assert model_values.__array_interface__ == optimizer.values.__array_interface__
    assert model_grads.__array_interface__ == optimizer.grads.__array_interface__
    decayed = sum(p.value.size for p in params.values() if p.decay)
    assert optimizer.n_decay == decayed  # weights first: decay is one prefix slice


def test_training_steps_reuse_every_buffer_after_the_first() -> None:
    model = Sequential(_layers(0), input_grad=False)
    loss = SoftmaxCrossEntropy()
    optimizer = SGD(model.params().values(), lr=LR, momentum=MOMENTUM, weight_decay=DECAY)

    def step() -> list[int]:
        x, y = _batches()[0]
        scores = model.forward(x)
        loss.forward(scores, y)
        model.backward(loss.backward()[0])
        optimizer.step()
        return [id(b) for layer in [*model.layers.values(), loss] for b in layer._buffers.values()]

    first = step()
    assert step() == first and step() == first


@pytest.mark.parametrize("batch", [BATCH, 5])
def test_inference_caches_nothing(batch: int) -> None:
    model = Sequential(_layers(0), input_grad=False)
    x = _batches()[0][0][:batch]
    first = model.predict(x)
    second = model.predict(x)
    assert np.array_equal(first, second) and first is not second  # predict returns copies
    assert all(layer._x is None for layer in model.layers.values() if isinstance(layer, Affine))
    assert all(layer._mask is None for layer in model.layers.values() if isinstance(layer, ReLU))


def test_buffers_start_on_a_64_byte_boundary() -> None:
    # NumPy's large arrays start 16 bytes past a cache line; GEMMs on aligned operands run
    # about 3% faster here, so the flat buffers, optimizer state and chunks, and gate buffers
    # are aligned.
    model = Sequential(_layers(0), input_grad=False)
    loss = SoftmaxCrossEntropy()
    optimizer = SGD(model.params().values(), lr=LR, momentum=MOMENTUM, weight_decay=DECAY)
    x, y = _batches()[0]
    loss.forward(model.forward(x), y)
    model.backward(loss.backward()[0])
    optimizer.step()
    arrays = [optimizer.values, optimizer.grads, *optimizer.state.values()]
    arrays += [a for c in optimizer._chunks for a in (c.values, c.grads, c.scratch)]
    arrays += [b for layer in [*model.layers.values(), loss] for b in layer._buffers.values()]
    assert len(arrays) >= 4
    assert all(a.__array_interface__["data"][0] % 64 == 0 for a in arrays)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, bool, np.complex128])
@pytest.mark.parametrize("shape", [(0,), (1,), (7,), (3, 5), (2, 3, 4)])
def test_empty_aligned_gives_the_shape_and_dtype_asked_on_a_64_byte_boundary(
    dtype: type, shape: tuple[int, ...]
) -> None:
    from gategraph.core.params import empty_aligned

    for _ in range(20):  # different allocations land at different offsets
        array = empty_aligned(shape, dtype)
        assert array.shape == shape and array.dtype == np.dtype(dtype)
        assert array.flags.c_contiguous and array.flags.writeable
        assert array.size == 0 or array.__array_interface__["data"][0] % 64 == 0
        array[...] = 1  # all of it is writable memory of its own
        assert np.all(array == 1)


def test_empty_aligned_with_an_odd_item_size_still_gives_the_array_asked() -> None:
    from gategraph.core.params import empty_aligned

    for _ in range(20):  # 3-byte items cannot always start on a 64-byte boundary
        array = empty_aligned((4, 5), "S3")
        assert array.shape == (4, 5) and array.dtype == np.dtype("S3")
        array[...] = b"abc"
        assert np.all(array == b"abc")


def test_params_laid_out_again_keep_their_values_and_sub_ranges_are_reused() -> None:
    model = Sequential(_layers(0), input_grad=False)
    before = {name: p.value.copy() for name, p in model.params().items()}
    weights = [p for p in model.params().values() if p.decay]  # back to back at the front
    values, grads, n_decay = flatten_params(weights)
    assert n_decay == values.size == sum(w.value.size for w in weights)
    assert np.shares_memory(values, model.graph.flat_params()[0])  # a view, not a copy
    biases_first = [p for p in model.params().values() if not p.decay] + weights
    SGD(biases_first[:1] + biases_first[-1:], lr=LR)  # not back to back: laid out afresh
    for name, p in model.params().items():
        np.testing.assert_array_equal(p.value, before[name])
