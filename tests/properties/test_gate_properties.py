"""Property tests: at random shapes and values every gate passes its gradient check, maps
finite inputs to finite outputs, and returns finite gradients shaped like its inputs.

Each registered gate has a strategy in GATES (layers) or LOSS_CASES (losses) drawing a
float64 instance and inputs; a gate registered without one fails `test_*_has_a_strategy`
and its own property test, which names it. Values stay in sane ranges: [-3, 3], Log and
Power inputs positive, Divide denominators at least 0.25 from 0. Gates with kinks (ReLU,
LeakyReLU, Max, max pooling, the hinge) get multiples of 1/64: two values are either equal
(the input sits exactly on a kink, which the checker must report as a kink, not a failure)
or at least 1/64 apart, far beyond the step h = 1e-5. Max pooling with overlapping windows
gets distinct values, and BatchNorm / LayerNorm in training values at least 0.25 apart.

The last tests aim at the checker itself: an input exactly on a kink is one reported kink;
an input a hair from a kink, or a norm layer fed nearly constant features, must not fail.
"""

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gategraph.gradcheck.check import GradcheckResult, gradcheck
from gategraph.layers import LAYERS, Layer, Param
from gategraph.layers.init import INITIALIZERS
from gategraph.losses import LOSSES, Loss

Shape = tuple[int, ...]
Case = tuple[Layer, tuple[np.ndarray, ...]]
Values = Callable[[Shape], st.SearchStrategy[np.ndarray]]

GRID = 64  # kinked gates get multiples of 1/GRID
SEEDS = st.integers(0, 2**32 - 1)
SIDES = st.integers(1, 4)
MORE = settings(max_examples=2 * settings.default.max_examples)  # one gate per test: cheap


# ---- values --------------------------------------------------------------------------------


def floats(low: float = -3.0, high: float = 3.0) -> Values:
    return lambda shape: hnp.arrays(np.float64, shape, elements=st.floats(low, high))


def signed(low: float, high: float) -> Values:
    """|x| in [low, high], either sign."""
    magnitude = st.floats(low, high)
    elements = st.one_of(magnitude, magnitude.map(lambda v: -v))
    return lambda shape: hnp.arrays(np.float64, shape, elements=elements)


def grid(low: int = -3, high: int = 3) -> Values:
    """Multiples of 1/64 in [low, high]: equal (on a kink exactly) or at least 1/64 apart."""
    ints = st.integers(low * GRID, high * GRID)
    return lambda shape: hnp.arrays(np.int64, shape, elements=ints).map(lambda k: k / GRID)


def distinct(step: float) -> Values:
    """A permutation of 0, step, 2 step, ..., centred on 0: no two values within `step`."""

    def values(shape: Shape) -> st.SearchStrategy[np.ndarray]:
        n = int(np.prod(shape))
        order = st.permutations(range(n))
        return order.map(lambda p: (np.array(p, np.float64).reshape(shape) - n // 2) * step)

    return values


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 0) -> st.SearchStrategy[Shape]:
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=4)


# ---- strategies: one-input and two-input elementwise gates --------------------------------


def unary(name: str, values: Values, **make: st.SearchStrategy) -> st.SearchStrategy[Case]:
    """Gate `name` built with options drawn from `make`, fed x of any shape."""

    @st.composite
    def case(draw: st.DrawFn) -> Case:
        options = {key: draw(option) for key, option in make.items()}
        x = draw(shapes().flatmap(values))
        return LAYERS.get(name)(**options), (x,)

    return case()


def binary(name: str, x_values: Values, y_values: Values | None = None) -> st.SearchStrategy[Case]:
    """Gate `name` fed x and y of shapes that broadcast together (0-d and empty included)."""

    @st.composite
    def case(draw: st.DrawFn) -> Case:
        pair = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4))
        x = draw(x_values(pair.input_shapes[0]))
        y = draw((y_values or x_values)(pair.input_shapes[1]))
        return LAYERS.get(name)(), (x, y)

    return case()


@st.composite
def power(draw: st.DrawFn) -> Case:
    """An integer exponent takes x of either sign; a fractional one needs x > 0."""
    exponent = draw(st.one_of(st.integers(-3, 3).filter(bool).map(float), st.floats(-3, 3)))
    if exponent == 0:
        exponent = 0.5
    if exponent != int(exponent):
        values = floats(0.25, 3.0)
    else:
        values = signed(0.25, 3.0) if exponent < 0 else floats()
    return LAYERS.get("power")(exponent), (draw(shapes().flatmap(values)),)


@st.composite
def total(draw: st.DrawFn) -> Case:
    x = draw(shapes().flatmap(floats()))
    axes = st.integers(-x.ndim, x.ndim - 1) if x.ndim else st.nothing()
    return LAYERS.get("sum")(axis=draw(st.none() | axes)), (x,)


@st.composite
def matmul(draw: st.DrawFn) -> Case:
    N, D, M = draw(SIDES), draw(SIDES), draw(SIDES)
    return LAYERS.get("matmul")(), (draw(floats()((N, D))), draw(floats()((D, M))))


@st.composite
def dropout(draw: st.DrawFn) -> Case:
    rng = np.random.default_rng(draw(SEEDS))
    layer = LAYERS.get("dropout")(draw(st.floats(0.0, 0.9)), rng=rng)
    return layer, (draw(shapes().flatmap(floats())),)


# ---- strategies: layers with parameters or geometry ---------------------------------------


@st.composite
def affine(draw: st.DrawFn) -> Case:
    """x (N, d1, ..., dk), k = 1 or 2, flattened to (N, D) by the layer."""
    x = draw(shapes(min_dims=2, max_dims=3, min_side=1).flatmap(floats()))
    layer = LAYERS.get("affine")(
        int(np.prod(x.shape[1:])),
        draw(SIDES),
        rng=np.random.default_rng(draw(SEEDS)),
        init=draw(st.sampled_from(INITIALIZERS.names())),
        init_scale=draw(st.floats(0.01, 1.0)),
        dtype=np.float64,
    )
    return layer, (x,)


def window(draw: st.DrawFn, n: int, low: int) -> int | tuple[int, ...]:
    """A kernel, stride or pad for `n` spatial axes, given as an int or as a tuple."""
    sizes = tuple(draw(st.integers(low, 3)) for _ in range(n))
    return sizes[0] if len(set(sizes)) == 1 and draw(st.booleans()) else sizes


def spatial(draw: st.DrawFn, kernel: Shape, pad: Shape) -> Shape:
    """A spatial size the (padded) window fits in, up to 3 positions more."""
    return tuple(
        max(1, k - 2 * p) + draw(st.integers(0, 3)) for k, p in zip(kernel, pad, strict=True)
    )


def tup(value: int | tuple[int, ...], n: int) -> Shape:
    return value if isinstance(value, tuple) else (value,) * n


def conv(name: str, n: int) -> st.SearchStrategy[Case]:
    @st.composite
    def case(draw: st.DrawFn) -> Case:
        C, F, N = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
        kernel, stride, pad = window(draw, n, 1), window(draw, n, 1), window(draw, n, 0)
        size = spatial(draw, tup(kernel, n), tup(pad, n))
        rng = np.random.default_rng(draw(SEEDS))
        layer = LAYERS.get(name)(C, F, kernel, stride, pad, rng=rng, dtype=np.float64)
        return layer, (draw(floats()((N, C, *size))),)

    return case()


def pool(name: str, n: int, kinked: bool) -> st.SearchStrategy[Case]:
    """Pooling over `n` axes; a max pool with overlapping windows gets distinct values (a tie
    shared by two windows whose douts differ in sign is no kink along one coordinate)."""

    @st.composite
    def case(draw: st.DrawFn) -> Case:
        size_of, stride = window(draw, n, 1), draw(st.none() | st.integers(1, 3))
        kernel = tup(size_of, n)
        steps = kernel if stride is None else (stride,) * n
        shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), *spatial(draw, kernel, (0,) * n))
        overlap = any(s < k for s, k in zip(steps, kernel, strict=True))
        values = distinct(1 / GRID) if kinked and overlap else grid() if kinked else floats()
        return LAYERS.get(name)(size_of, stride), (draw(values(shape)),)

    return case()


@st.composite
def global_avg_pool(draw: st.DrawFn) -> Case:
    return LAYERS.get("global_avg_pool")(), (draw(shapes(3, 4, 1).flatmap(floats())),)


def randomized(layer: Layer, draw: st.DrawFn) -> Layer:
    """gamma and beta drawn (gamma away from 0), instead of ones and zeros."""
    D = len(layer.params["gamma"].value)
    layer.params["gamma"].value[...] = draw(signed(0.25, 2.0)((D,)))
    layer.params["beta"].value[...] = draw(floats()((D,)))
    return layer


@st.composite
def batch_norm(draw: st.DrawFn) -> Case:
    """Training mode: spread-out values (see test_norm_layers_at_constant_features); eval
    mode: drawn running statistics, any values."""
    shape = draw(shapes(min_dims=2, max_dims=4, min_side=1))
    eps, momentum = draw(st.floats(1e-5, 0.1)), draw(st.floats(0.0, 0.99))
    layer = randomized(LAYERS.get("batch_norm")(shape[1], momentum, eps, dtype=np.float64), draw)
    if draw(st.booleans()):
        return layer, (draw(distinct(0.25)(shape)),)
    layer.buffers["running_mean"][...] = draw(floats()((shape[1],)))
    layer.buffers["running_var"][...] = draw(floats(0.1, 3.0)((shape[1],)))
    return layer.eval(), (draw(floats()(shape)),)


@st.composite
def layer_norm(draw: st.DrawFn) -> Case:
    shape = draw(shapes(min_dims=1, max_dims=3, min_side=1))
    layer = LAYERS.get("layer_norm")(shape[-1], draw(st.floats(1e-5, 0.1)), dtype=np.float64)
    return randomized(layer, draw), (draw(distinct(0.25)(shape)),)


# ---- strategies: the helper gates of gradient graphs ---------------------------------------


@st.composite
def to_shape(draw: st.DrawFn, name: str) -> Case:
    """sum_like: x of a broadcast shape down to like's; broadcast_like: x up to it."""
    pair = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4))
    small, big = pair.input_shapes[1], pair.result_shape
    x_shape, like_shape = (big, small) if name == "sum_like" else (small, big)
    return LAYERS.get(name)(), (draw(floats()(x_shape)), draw(floats()(like_shape)))


@st.composite
def reshape_like(draw: st.DrawFn) -> Case:
    x = draw(shapes().flatmap(floats()))
    return LAYERS.get("reshape_like")(), (x, draw(floats()(x.shape[::-1])))


@st.composite
def labels_and_scores(draw: st.DrawFn, name: str, values: Values) -> Case:
    """Float64 class ids (every gate's inputs are floats) and scores (N, C)."""
    scores, y = draw(class_scores(values))
    return LAYERS.get(name)(), (y.astype(np.float64), scores)[:: 1 if name == "one_hot" else -1]


def dropout_mask(case: Case) -> Case:
    """The mask of a frozen dropout after its forward, read as a gate."""
    layer, (x,) = case
    return LAYERS.get("dropout_mask")(layer.freeze()), (layer.forward(x),)


@st.composite
def spread_like(draw: st.DrawFn) -> Case:
    like = draw(shapes(min_dims=3, max_dims=4, min_side=1).flatmap(floats()))
    return LAYERS.get("spread_like")(), (draw(floats()(like.shape[:2])), like)


def unpooled(name: str, pool_name: str, n: int) -> st.SearchStrategy[Case]:
    """A pool's adjoint gates: v shaped like the pool's output (max_unpool, avg_unpool2d) or
    input (max_gather), x its input with distinct values (no argmax ties)."""

    @st.composite
    def case(draw: st.DrawFn) -> Case:
        gate, (x,) = draw(pool(pool_name, n, kinked=False))
        x = draw(distinct(1 / GRID)(x.shape))
        shape = x.shape if name == "max_gather" else gate.output_shape(x.shape)
        return LAYERS.get(name)(gate), (draw(floats()(shape)), x)

    return case()


@st.composite
def conv_op(draw: st.DrawFn, name: str) -> Case:
    """The convolution's functional gates, on a drawn Conv2D or Conv1D's geometry."""
    n = draw(st.sampled_from([1, 2]))
    layer, (x,) = draw(conv(f"conv{n}d", n))
    W = draw(floats()(layer.params["W"].value.shape))
    v = draw(floats()(layer.forward(x).shape))
    inputs = {"conv_fn": (x, W), "conv_input_grad": (v, W, x), "conv_weight_grad": (x, v, W)}
    return LAYERS.get(name)(layer), inputs[name]


def running_stat(case: Case) -> Case:
    norm, (x,) = case
    like = np.zeros((1, x.shape[1], *(1,) * (x.ndim - 2)))
    return LAYERS.get("running_stat")(norm, "scale"), (like,)


@st.composite
def read_param(draw: st.DrawFn) -> Case:
    value = draw(shapes().flatmap(floats()))
    return LAYERS.get("read_param")(Param(value)), ()


GATES: dict[str, st.SearchStrategy[Case]] = {
    "add": binary("add", floats()),
    "subtract": binary("subtract", floats()),
    "multiply": binary("multiply", floats()),
    "divide": binary("divide", floats(), signed(0.25, 3.0)),
    "max": binary("max", grid()),
    "matmul": matmul(),
    "negate": unary("negate", floats()),
    "scale": unary("scale", floats(), factor=st.floats(-10, 10)),
    "exp": unary("exp", floats()),
    "log": unary("log", floats(0.05, 3.0)),
    "sin": unary("sin", floats()),
    "cos": unary("cos", floats()),
    "power": power(),
    "sum": total(),
    "sigmoid": unary("sigmoid", floats()),
    "tanh": unary("tanh", floats()),
    "relu": unary("relu", grid()),
    "leaky_relu": unary("leaky_relu", grid(), alpha=st.floats(0.0, 0.99)),
    "softmax": shapes(min_dims=1, min_side=1)
    .flatmap(floats())
    .map(lambda x: (LAYERS.get("softmax")(), (x,))),
    "flatten": shapes(min_dims=1).flatmap(floats()).map(lambda x: (LAYERS.get("flatten")(), (x,))),
    "dropout": dropout(),
    "affine": affine(),
    "conv1d": conv("conv1d", 1),
    "conv2d": conv("conv2d", 2),
    "max_pool1d": pool("max_pool1d", 1, kinked=True),
    "max_pool2d": pool("max_pool2d", 2, kinked=True),
    "avg_pool2d": pool("avg_pool2d", 2, kinked=False),
    "global_avg_pool": global_avg_pool(),
    "batch_norm": batch_norm(),
    "layer_norm": layer_norm(),
    "transpose": matmul().map(lambda case: (LAYERS.get("transpose")(), case[1][:1])),
    "sum_like": to_shape("sum_like"),
    "broadcast_like": to_shape("broadcast_like"),
    "reshape_like": reshape_like(),
    "count": unary("count", floats()),
    "zeros_like": unary("zeros_like", floats()),
    "seed": floats()(()).map(lambda x: (LAYERS.get("seed")("f"), (x,))),
    "one_hot": labels_and_scores("one_hot", floats()),
    "hinge_slope": labels_and_scores("hinge_slope", floats()),
    "shift": unary("shift", floats(), offset=st.floats(-10, 10)),
    "step": unary("step", signed(0.25, 3.0), low=st.floats(0.0, 0.99)),
    "read_param": read_param(),
    "dropout_mask": dropout().map(dropout_mask),
    "spread_like": spread_like(),
    "avg_unpool2d": unpooled("avg_unpool2d", "avg_pool2d", 2),
    "max_unpool": unpooled("max_unpool", "max_pool2d", 2),
    "max_gather": unpooled("max_gather", "max_pool1d", 1),
    "feature_sum": shapes(min_dims=2, min_side=1)
    .flatmap(floats())
    .map(lambda x: (LAYERS.get("feature_sum")(), (x,))),
    "batch_norm_mode": batch_norm().map(
        lambda case: (LAYERS.get("batch_norm_mode")(case[0]), case[1])
    ),
    "running_stat": batch_norm().map(running_stat),
    "conv_fn": conv_op("conv_fn"),
    "conv_input_grad": conv_op("conv_input_grad"),
    "conv_weight_grad": conv_op("conv_weight_grad"),
}


# ---- strategies: losses -------------------------------------------------------------------


LABELS = [np.int64, np.int32, np.uint8, np.float64]  # check_labels takes integral floats


@st.composite
def class_scores(draw: st.DrawFn, values: Values) -> tuple[np.ndarray, np.ndarray]:
    """scores (N, C) and one class id in [0, C) per row, in a drawn integer or float dtype."""
    N, C = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    y = draw(hnp.arrays(np.int64, (N,), elements=st.integers(0, C - 1)))
    return draw(values((N, C))), y.astype(draw(st.sampled_from(LABELS)))


@st.composite
def mse(draw: st.DrawFn) -> Case:
    """Targets of the scores' shape, or (N,) for scores (N, 1)."""
    scores = draw(shapes(min_side=1).flatmap(floats()))
    column = scores.ndim == 2 and scores.shape[1] == 1 and draw(st.booleans())
    y = draw(floats()(scores.shape[:1] if column else scores.shape))
    return LOSSES.get("mse")(draw(st.sampled_from(["mean", "sum"]))), (scores, y)


@st.composite
def sigmoid_bce(draw: st.DrawFn) -> Case:
    """Logits (N,) or (N, 1); labels 0 or 1 as bools, integers or floats."""
    N = draw(st.integers(1, 6))
    scores = draw(floats(-8.0, 8.0)(draw(st.sampled_from([(N,), (N, 1)]))))
    shape = draw(st.sampled_from([(N,), scores.shape]))
    y = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, 1)))
    return LOSSES.get("sigmoid_bce")(), (scores, y.astype(draw(st.sampled_from([bool, *LABELS]))))


LOSS_CASES: dict[str, st.SearchStrategy[Case]] = {
    "softmax_cross_entropy": class_scores(floats()).map(
        lambda sy: (LOSSES.get("softmax_cross_entropy")(), sy)
    ),
    "svm_hinge": st.tuples(class_scores(grid()), grid(0, 3)(())).map(
        lambda c: (LOSSES.get("svm_hinge")(float(c[1])), c[0])
    ),
    "mse": mse(),
    "sigmoid_bce": sigmoid_bce(),
}


# ---- the checks ---------------------------------------------------------------------------


def checked_sound(layer: Layer, inputs: tuple[np.ndarray, ...]) -> GradcheckResult:
    """Gradient check green (kinks inside their bracket allowed), every float input and param
    coordinate compared; then a forward and a backward of `layer` itself, all finite."""
    result = gradcheck(layer, inputs, np.random.default_rng(0))
    assert result.ok, str(result)
    assert all(kink.inside for kink in result.kinks), str(result)
    is_loss = isinstance(layer, Loss)
    compared = inputs[:1] if is_loss else inputs
    expected = sum(x.size for x in compared) + sum(p.value.size for p in layer.params.values())
    assert sum(row.checked for row in result.rows) == expected, str(result)
    out = layer.forward(*inputs)
    assert np.all(np.isfinite(out)), f"{type(layer).__name__} forward gave {out}"
    dout = 1.0 if is_loss else np.random.default_rng(1).standard_normal(np.shape(out))
    grads = layer.backward(dout)
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert len(grads) == len(inputs) and (not is_loss or grads[1] is None)  # labels: no gradient
    for x, dx in zip(compared, grads[: len(compared)], strict=True):
        assert np.shape(dx) == np.shape(x) and np.all(np.isfinite(dx)), (x, dx)
    for name, p in layer.params.items():
        assert p.grad.shape == p.value.shape and np.all(np.isfinite(p.grad)), name
    return result


def strategy(cases: dict[str, st.SearchStrategy[Case]], name: str) -> st.SearchStrategy[Case]:
    if name not in cases:
        pytest.fail(f"gate {name!r} has no strategy: add one to GATES or LOSS_CASES in {__file__}")
    return cases[name]


def test_every_layer_has_a_strategy() -> None:
    assert sorted(GATES) == LAYERS.names(), set(GATES) ^ set(LAYERS.names())


def test_every_loss_has_a_strategy() -> None:
    assert sorted(LOSS_CASES) == LOSSES.names(), set(LOSS_CASES) ^ set(LOSSES.names())


@pytest.mark.parametrize("name", LAYERS.names())
@MORE
@given(data=st.data())
def test_layer_gradients_hold_at_random_shapes(name: str, data: st.DataObject) -> None:
    checked_sound(*data.draw(strategy(GATES, name), label=name))


@pytest.mark.parametrize("name", LOSSES.names())
@MORE
@given(data=st.data())
def test_loss_gradients_hold_at_random_shapes(name: str, data: st.DataObject) -> None:
    checked_sound(*data.draw(strategy(LOSS_CASES, name), label=name))


# ---- kinks and flat features: what the checker must not call a failure --------------------


@pytest.mark.parametrize("name", ["relu", "leaky_relu"])
@given(x=shapes(min_side=1).flatmap(grid(-1, 1)))
def test_inputs_on_the_kink_are_reported_as_kinks(name: str, x: np.ndarray) -> None:
    """Each x == 0 exactly is one kink (one-sided slopes 0 or alpha, and 1), bracketing the
    analytic slope; no other coordinate is one."""
    result = checked_sound(LAYERS.get(name)(), (x,))
    assert len(result.kinks) == np.count_nonzero(x == 0), str(result)
    assert {k.index for k in result.kinks} == {tuple(map(int, i)) for i in np.argwhere(x == 0)}


@pytest.mark.parametrize("name", ["relu", "leaky_relu"])
@given(distance=st.floats(1e-9, 2e-5), sign=st.sampled_from([-1.0, 1.0]))
@example(distance=3e-6, sign=1.0)
@example(distance=5e-6, sign=-1.0)
@example(distance=9e-6, sign=1.0)
def test_a_kink_within_h_of_the_input_is_no_failure(
    name: str, distance: float, sign: float
) -> None:
    """x a hair (< h = 1e-5) from the kink at 0: f is not differentiable within [x - h, x + h],
    yet the analytic slope is right: the check must pass, not fail."""
    checked_sound(LAYERS.get(name)(), (np.array([sign * distance, -1.0, 2.0]),))


@st.composite
def flat(draw: st.DrawFn) -> np.ndarray:
    """x (N, D), every entry within 0.1 of one value: flat rows (what layer_norm normalizes)
    and flat columns (batch_norm's features), as from a dead unit or a constant pixel."""
    base, spread = draw(st.floats(-3, 3)), draw(st.floats(0, 0.1))
    shape = (draw(st.integers(2, 4)), draw(st.integers(2, 4)))
    return base + spread * draw(floats(-1, 1)(shape))


@pytest.mark.parametrize("name", ["batch_norm", "layer_norm"])
@given(x=flat())
@example(x=np.zeros((3, 2)))
@example(x=np.array([[0.0, 0.01], [0.0, 0.01], [0.0, 0.01]]))
def test_norm_layers_at_flat_features(name: str, x: np.ndarray) -> None:
    """var + eps near eps: the normalization bends on a scale of sqrt(eps) ~ 3e-3, still far
    above h = 1e-5. The analytic gradient is exact; the check must pass."""
    checked_sound(LAYERS.get(name)(x.shape[1], dtype=np.float64), (x,))
