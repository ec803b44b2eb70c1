"""Max, average and global average pooling against naive loops and hand-computed values."""

import numpy as np
import pytest

from gategraph.gradcheck.check import check_layer, gradcheck
from gategraph.layers.avg_pool2d import AvgPool2D
from gategraph.layers.global_avg_pool import GlobalAvgPool
from gategraph.layers.max_pool1d import MaxPool1D
from gategraph.layers.max_pool2d import MaxPool2D


def pool_naive(x, pool, stride, reduce):
    """(out, dx for dout = g) by loops; `reduce` is "max" (first argmax gets it) or "avg"."""
    (ph, pw), (sh, sw) = pool, stride
    Ho, Wo = (x.shape[2] - ph) // sh + 1, (x.shape[3] - pw) // sw + 1
    out = np.zeros((*x.shape[:2], Ho, Wo))
    g = np.random.default_rng(9).standard_normal(out.shape)
    dx = np.zeros_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(Ho):
                for j in range(Wo):
                    rows, cols = slice(i * sh, i * sh + ph), slice(j * sw, j * sw + pw)
                    window = x[n, c, rows, cols]
                    if reduce == "max":
                        out[n, c, i, j] = window.max()
                        p, q = np.unravel_index(np.argmax(window), window.shape)
                        dx[n, c, i * sh + p, j * sw + q] += g[n, c, i, j]
                    else:
                        out[n, c, i, j] = window.mean()
                        dx[n, c, rows, cols] += g[n, c, i, j] / window.size
    return out, g, dx


GEOMETRIES = [  # (x shape, pool, stride)
    ((2, 3, 4, 4), (2, 2), (2, 2)),
    ((2, 2, 7, 7), (3, 3), (2, 2)),  # overlapping windows
    ((1, 2, 5, 6), (2, 3), (1, 2)),  # non-square, the last row unused
    ((2, 1, 5, 5), (3, 3), (1, 1)),
    ((1, 1, 6, 6), (2, 2), (3, 3)),  # gaps between windows
]


@pytest.mark.parametrize(("cls", "reduce"), [(MaxPool2D, "max"), (AvgPool2D, "avg")])
@pytest.mark.parametrize(("shape", "pool", "stride"), GEOMETRIES)
def test_2d_pooling_matches_the_naive_loops(cls, reduce, shape, pool, stride) -> None:
    x = np.random.default_rng(1).standard_normal(shape)
    x[0, 0, :2, :2] = 0.5  # a tie: the first maximum in row-major order gets the gradient
    layer = cls(pool, stride)
    out_ref, dout, dx_ref = pool_naive(x, pool, stride, reduce)
    np.testing.assert_allclose(layer.forward(x), out_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.backward(dout), dx_ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("L", "pool", "stride"), [(8, 2, 2), (9, 3, 2), (7, 2, 3), (5, 5, 1)])
def test_max_pool1d_matches_the_2d_loops_on_a_one_row_image(L, pool, stride) -> None:
    x = np.random.default_rng(2).standard_normal((2, 3, L))
    x[0, 0, :pool] = 0.25  # a tie
    out_ref, dout, dx_ref = pool_naive(x[:, :, None, :], (1, pool), (1, stride), "max")
    layer = MaxPool1D(pool, stride)
    np.testing.assert_array_equal(layer.forward(x), out_ref[:, :, 0])
    np.testing.assert_array_equal(layer.backward(dout[:, :, 0]), dx_ref[:, :, 0])


def test_max_pool_hand_values_and_first_maximum_wins_a_tie() -> None:
    x = np.array([[[[1.0, 3.0, 0.0, 2.0], [3.0, 2.0, 5.0, 5.0]]]])
    layer = MaxPool2D(2)
    np.testing.assert_array_equal(layer.forward(x), [[[[3.0, 5.0]]]])
    dx = layer.backward(np.array([[[[10.0, 20.0]]]]))
    np.testing.assert_array_equal(dx, [[[[0, 10, 0, 0], [0, 0, 20, 0]]]])


def test_max_pool_propagates_nan() -> None:
    x = np.array([[[[1.0, np.nan], [3.0, 2.0]]]])
    assert np.isnan(MaxPool2D(2).forward(x)[0, 0, 0, 0])


def test_avg_and_global_avg_pool_hand_values() -> None:
    x = np.arange(8.0).reshape(1, 2, 2, 2)
    np.testing.assert_array_equal(AvgPool2D(2).forward(x), [[[[1.5]], [[5.5]]]])
    gap = GlobalAvgPool()
    np.testing.assert_array_equal(gap.forward(x), [[1.5, 5.5]])
    np.testing.assert_array_equal(
        gap.backward(np.array([[4.0, 8.0]])), [[[[1, 1], [1, 1]], [[2, 2], [2, 2]]]]
    )
    np.testing.assert_array_equal(gap.forward(np.arange(6.0).reshape(1, 2, 3)), [[1.0, 4.0]])
    np.testing.assert_array_equal(gap.backward(np.array([[3.0, 6.0]])), [[[1, 1, 1], [2, 2, 2]]])


def test_max_pool_ties_are_reported_as_kinks_not_failures() -> None:
    rng = np.random.default_rng(3)
    x = np.round(rng.standard_normal((2, 2, 4, 4)))  # whole numbers: many ties
    for layer, x_in in ((MaxPool2D(2), x), (MaxPool1D(2), x.reshape(2, 2, 16))):
        result = gradcheck(layer, x_in, rng)
        assert result.ok, str(result)
        assert result.kinks, "ties should show up as kinks"


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        (MaxPool2D((3, 2), (2, 1)), (2, 2, 7, 5)),
        (AvgPool2D(3, 2), (2, 2, 7, 6)),
        (GlobalAvgPool(), (2, 3, 5)),
    ],
)
def test_pooling_passes_the_gradient_check(layer, shape) -> None:
    rng = np.random.default_rng(4)
    x = rng.permutation(np.prod(shape)).reshape(shape) / 10.0  # distinct values, 0.1 apart
    check_layer(layer, x, rng)


@pytest.mark.parametrize("layer", [MaxPool2D(), AvgPool2D(), GlobalAvgPool()])
def test_float32_stays_float32(layer) -> None:
    x = np.random.default_rng(5).standard_normal((2, 3, 4, 4)).astype(np.float32)
    out = layer.forward(x)
    assert out.dtype == layer.backward(np.ones_like(out)).dtype == np.float32


def test_stride_defaults_to_the_pool_size() -> None:
    assert MaxPool2D(3).output_shape((2, 4, 9, 8)) == (2, 4, 3, 2)
    assert AvgPool2D((2, 4)).output_shape((1, 1, 4, 8)) == (1, 1, 2, 2)
    assert MaxPool1D(4).output_shape((2, 3, 10)) == (2, 3, 2)


@pytest.mark.parametrize(
    ("layer", "shape", "message"),
    [
        (
            MaxPool2D(3),
            (2, 3, 2, 5),
            "MaxPool2D: window (3, 3) is larger than the spatial size (2, 5) of x (2, 3, 2, 5)",
        ),
        (MaxPool2D(), (2, 3, 4), "MaxPool2D expects x of shape (N, C, H, W), got (2, 3, 4)"),
        (AvgPool2D(), (2, 4), "AvgPool2D expects x of shape (N, C, H, W), got (2, 4)"),
        (MaxPool1D(), (2, 3, 4, 4), "MaxPool1D expects x of shape (N, C, L), got (2, 3, 4, 4)"),
        (
            GlobalAvgPool(),
            (2, 3),
            "GlobalAvgPool expects x of shape (N, C, L) or (N, C, H, W), got (2, 3)",
        ),
    ],
)
def test_bad_shapes_raise_naming_the_layer(layer, shape, message) -> None:
    with pytest.raises(ValueError) as info:
        layer.forward(np.zeros(shape))
    assert str(info.value) == message


def test_bad_options_raise() -> None:
    with pytest.raises(ValueError) as info:
        MaxPool2D(0)
    assert (
        str(info.value) == "MaxPool2D needs pool_size to be a positive integer or 2 of them, got 0"
    )
    with pytest.raises(ValueError) as info:
        AvgPool2D(2, stride=(1, 1, 1))
    assert (
        str(info.value)
        == "AvgPool2D needs stride to be a positive integer or 2 of them, got (1, 1, 1)"
    )


@pytest.mark.parametrize("layer", [MaxPool2D(), AvgPool2D(), MaxPool1D(), GlobalAvgPool()])
def test_backward_before_forward_raises(layer) -> None:
    with pytest.raises(RuntimeError, match=rf"^{type(layer).__name__}\.backward called before"):
        layer.backward(np.ones((1, 1, 2, 2)))
