"""One-line math gates: the circuits of the backprop lecture (add, multiply, max, exp, ...).

Every gate takes arrays of any shape, 0-d included (`Add().forward(-2.0, 5.0)`); integer
inputs become float64, float inputs keep their dtype. Two-input gates broadcast like numpy
and sum each gradient back to its input's own shape.
"""

import numbers
from typing import Any

import numpy as np
from numpy.random import Generator

from gategraph.core.checks import check_number
from gategraph.core.params import gemm
from gategraph.layers.base import LAYERS, Layer


def as_float(x: Any) -> np.ndarray:
    """`x` as an array: integers (a circuit's `-2`) become float64, floats keep their dtype."""
    x = np.asarray(x)
    return x if x.dtype.kind in "fc" else x.astype(np.float64)


def _unbroadcast(grad: Any, shape: tuple[int, ...]) -> np.ndarray:
    """`grad` summed over the axes broadcasting added or stretched, so it has `shape`."""
    grad = np.asarray(grad)
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    stretched = [lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1]
    return grad.sum(axis=(*range(lead), *stretched), keepdims=True).reshape(shape)


class _Binary(Layer):
    """Base of the two-input gates.  x, y: shapes that broadcast together; out: their
    broadcast shape. `_start` checks that once and gives the output buffer."""

    n_inputs = 2
    _shapes: tuple[tuple[int, ...], tuple[int, ...]] | None = None  # x.shape, y.shape

    def _start(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x and y as float arrays, and the output buffer of their broadcast shape."""
        x, y = as_float(x), as_float(y)
        try:
            shape = np.broadcast_shapes(x.shape, y.shape)
        except ValueError:
            raise ValueError(
                f"{type(self).__name__} cannot broadcast x {x.shape} with y {y.shape}"
            ) from None
        self._shapes = x.shape, y.shape
        return x, y, self._buffer("out", shape, np.result_type(x, y))

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, tuple[np.ndarray, np.ndarray]]:
        """x (2, 3, 4) and y (3, 1): broadcasting adds a leading axis and stretches the last."""
        return cls(), (rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 1)))


@LAYERS.register("add")
class Add(_Binary):
    """out = x + y (broadcast).  Backward: dx = dout, dy = dout, each summed to its shape."""

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x, y, out = self._start(x, y)
        return np.add(x, y, out=out)

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x_shape, y_shape = self._cached(self._shapes)
        return _unbroadcast(dout, x_shape), _unbroadcast(dout, y_shape)


@LAYERS.register("subtract")
class Subtract(_Binary):
    """out = x - y (broadcast).  Backward: dx = dout, dy = -dout, each summed to its shape."""

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x, y, out = self._start(x, y)
        return np.subtract(x, y, out=out)

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x_shape, y_shape = self._cached(self._shapes)
        dy = _unbroadcast(dout, y_shape)
        dy = np.negative(dy, out=self._buffer("dy", y_shape, dy.dtype))
        return _unbroadcast(dout, x_shape), dy


@LAYERS.register("multiply")
class Multiply(_Binary):
    """out = x * y (broadcast).  Backward: dx = dout * y, dy = dout * x, each summed to shape."""

    _x: np.ndarray | None = None
    _y: np.ndarray | None = None

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x, y, out = self._start(x, y)
        self._x, self._y = x, y
        return np.multiply(x, y, out=out)

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = self._cached(self._x), self._cached(self._y)
        shape, dtype = np.broadcast_shapes(x.shape, y.shape), np.result_type(x, y)
        dx = np.multiply(dout, y, out=self._buffer("dx", shape, dtype))
        dy = np.multiply(dout, x, out=self._buffer("dy", shape, dtype))
        return _unbroadcast(dx, x.shape), _unbroadcast(dy, y.shape)


@LAYERS.register("divide")
class Divide(_Binary):
    """out = x / y (broadcast), y != 0 everywhere (a ValueError otherwise).

    Backward: dx = dout / y, dy = -dout * x / y² = -dx * out, each summed to its input's shape.
    """

    _y: np.ndarray | None = None
    _out: np.ndarray | None = None

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if np.any(np.equal(y, 0)):
            raise ValueError(f"Divide needs y != 0 everywhere, got a zero in y {np.shape(y)}")
        x, y, out = self._start(x, y)
        self._y, self._out = y, out
        return np.divide(x, y, out=out)

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y, out = self._cached(self._y), self._cached(self._out)
        x_shape, y_shape = self._cached(self._shapes)
        dx = np.divide(dout, y, out=self._buffer("dx", out.shape, out.dtype))
        dy = np.multiply(dx, out, out=self._buffer("dy", out.shape, out.dtype))
        np.negative(dy, out=dy)
        return _unbroadcast(dx, x_shape), _unbroadcast(dy, y_shape)

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, tuple[np.ndarray, np.ndarray]]:
        y = rng.uniform(0.5, 1.5, (3, 1)) * rng.choice([-1.0, 1.0], (3, 1))  # away from y = 0
        return cls(), (rng.standard_normal((2, 3, 4)), y)


@LAYERS.register("max")
class Max(_Binary):
    """out = max(x, y), elementwise (broadcast).

    Backward: dout goes to the larger input: dx = dout * [x > y], dy = dout * [x < y]. On a tie
    x == y it is split half/half, as in torch.maximum: symmetric in x and y, and exact for
    max(x, x) = x, whose two halves add up to dout at the fork.
    """

    _share: np.ndarray | None = None  # x's share of dout: 1 where x > y, 0.5 on a tie, else 0

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x, y, out = self._start(x, y)
        share = np.greater(x, y, out=self._buffer("share", out.shape, out.dtype))
        np.copyto(share, 0.5, where=np.equal(x, y))
        self._share = share
        return np.maximum(x, y, out=out)

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        share, (x_shape, y_shape) = self._cached(self._share), self._cached(self._shapes)
        dx = np.multiply(dout, share, out=self._buffer("dx", share.shape, share.dtype))
        dy = np.subtract(dout, dx, out=self._buffer("dy", share.shape, share.dtype))
        return _unbroadcast(dx, x_shape), _unbroadcast(dy, y_shape)

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, tuple[np.ndarray, np.ndarray]]:
        x = rng.standard_normal((3, 4))
        gap = rng.uniform(0.1, 1.0, (3, 4)) * rng.choice([-1.0, 1.0], (3, 4))  # off the tie
        return cls(), (x, x + gap)


@LAYERS.register("matmul")
class MatMul(Layer):
    """out = x @ y.  x: (N, D), y: (D, M), out: (N, M).  Backward: dx = dout yᵀ, dy = xᵀ dout."""

    n_inputs = 2
    _x: np.ndarray | None = None
    _y: np.ndarray | None = None

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x, y = as_float(x), as_float(y)
        if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[0]:
            raise ValueError(f"MatMul expects x (N, D) and y (D, M), got x {x.shape}, y {y.shape}")
        self._x, self._y = x, y
        out = self._buffer("out", (len(x), y.shape[1]), np.result_type(x, y))
        return gemm(x, y, out)

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = self._cached(self._x), self._cached(self._y)
        dx = gemm(dout, y.T, self._buffer("dx", x.shape, dout.dtype))
        dy = gemm(x.T, dout, self._buffer("dy", y.shape, dout.dtype))
        return dx, dy

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, tuple[np.ndarray, np.ndarray]]:
        return cls(), (rng.standard_normal((3, 4)), rng.standard_normal((4, 2)))


class _Unary(Layer):
    """Base of the one-input math gates: one input, any shape, an example of shape (3, 4)."""

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        return cls(), rng.standard_normal((3, 4))


@LAYERS.register("negate")
class Negate(_Unary):
    """out = -x.  x: any shape, out: same shape.  Backward: dx = -dout."""

    _dtype: np.dtype | None = None  # x's dtype

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float(x)
        self._dtype = x.dtype
        return np.negative(x, out=self._buffer("out", x.shape, x.dtype))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dtype = self._cached(self._dtype)
        return np.negative(dout, out=self._buffer("dx", np.shape(dout), dtype))


@LAYERS.register("scale")
class Scale(_Unary):
    """out = factor * x for a constant `factor`.  x: any shape, out: same shape.

    Backward: dx = factor * dout.
    """

    _dtype: np.dtype | None = None  # x's dtype

    def __init__(self, factor: float) -> None:
        super().__init__()
        check_number("Scale", "factor", factor)
        self.factor = factor

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float(x)
        self._dtype = x.dtype
        return np.multiply(x, self.factor, out=self._buffer("out", x.shape, x.dtype))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dtype = self._cached(self._dtype)
        return np.multiply(dout, self.factor, out=self._buffer("dx", np.shape(dout), dtype))

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        return cls(-1.5), rng.standard_normal((3, 4))


@LAYERS.register("exp")
class Exp(_Unary):
    """out = exp(x).  x: any shape, out: same shape.  Backward: dx = dout * out.

    Like np.exp, exp(x) is inf for x > 709 in float64 (88 in float32).
    """

    _out: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float(x)
        self._out = np.exp(x, out=self._buffer("out", x.shape, x.dtype))
        return self._out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        out = self._cached(self._out)
        return np.multiply(dout, out, out=self._buffer("dx", out.shape, out.dtype))


@LAYERS.register("log")
class Log(_Unary):
    """out = ln(x), x > 0 everywhere (a ValueError otherwise).  x: any shape, out: same shape.

    Backward: dx = dout / x.
    """

    _x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float(x)
        if not np.all(x > 0):
            raise ValueError(f"Log needs x > 0 everywhere, got min(x) = {np.min(x)}")
        self._x = x
        return np.log(x, out=self._buffer("out", x.shape, x.dtype))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x = self._cached(self._x)
        return np.divide(dout, x, out=self._buffer("dx", x.shape, x.dtype))

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        return cls(), rng.uniform(0.5, 2.0, (3, 4))


@LAYERS.register("sin")
class Sin(_Unary):
    """out = sin(x).  x: any shape, out: same shape.  Backward: dx = dout * cos(x)."""

    _x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x = as_float(x)
        return np.sin(x, out=self._buffer("out", x.shape, x.dtype))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x = self._cached(self._x)
        dx = np.cos(x, out=self._buffer("dx", x.shape, x.dtype))
        return np.multiply(dx, dout, out=dx)


@LAYERS.register("cos")
class Cos(_Unary):
    """out = cos(x).  x: any shape, out: same shape.  Backward: dx = -dout * sin(x)."""

    _x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x = as_float(x)
        return np.cos(x, out=self._buffer("out", x.shape, x.dtype))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x = self._cached(self._x)
        dx = np.sin(x, out=self._buffer("dx", x.shape, x.dtype))
        np.negative(dx, out=dx)
        return np.multiply(dx, dout, out=dx)


@LAYERS.register("power")
class Power(_Unary):
    """out = x ** exponent for a constant nonzero `exponent`.  x: any shape, out: same shape.

    A non-integer exponent needs x >= 0 and a negative one x != 0 (ValueError otherwise).
    Backward: dx = dout * exponent * x ** (exponent - 1), inf at x = 0 if 0 < exponent < 1.
    """

    _x: np.ndarray | None = None

    def __init__(self, exponent: float) -> None:
        super().__init__()
        check_number("Power", "exponent", exponent)
        if exponent == 0:
            raise ValueError("Power needs a nonzero exponent (x ** 0 is the constant 1), got 0")
        self.exponent = exponent

    def forward(self, x: np.ndarray) -> np.ndarray:
        x, p = as_float(x), self.exponent
        if p != int(p) and np.any(x < 0):
            raise ValueError(
                f"Power({p}) needs x >= 0 (non-integer exponent), got min(x) = {np.min(x)}"
            )
        if p < 0 and np.any(x == 0):
            raise ValueError(f"Power({p}) needs x != 0 (negative exponent), got a zero in x")
        self._x = x
        return np.power(x, p, out=self._buffer("out", x.shape, x.dtype))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x, p = self._cached(self._x), self.exponent
        dx = np.power(x, p - 1, out=self._buffer("dx", x.shape, x.dtype))
        dx *= p
        return np.multiply(dx, dout, out=dx)

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        return cls(2.5), rng.uniform(0.5, 2.0, (3, 4))


@LAYERS.register("sum")
class Sum(_Unary):
    """out = Σ x over all elements (axis=None: a 0-d value) or over one `axis` (dropped).

    x: any shape; out: () or x's shape without `axis`.  Backward: dx = dout copied along the
    summed axis (every element of x gets the gradient of the sum it went into).
    """

    _x: np.ndarray | None = None

    def __init__(self, axis: int | None = None) -> None:
        super().__init__()
        if axis is not None and (isinstance(axis, bool) or not isinstance(axis, numbers.Integral)):
            raise TypeError(f"Sum needs axis to be an integer or None, got {axis!r}")
        self.axis = axis

    def forward(self, x: np.ndarray) -> np.ndarray:
        x, axis = as_float(x), self.axis
        if axis is None:
            shape: tuple[int, ...] = ()
        elif -x.ndim <= axis < x.ndim:
            shape = x.shape[: axis % x.ndim] + x.shape[axis % x.ndim + 1 :]
        else:
            raise ValueError(f"Sum(axis={axis}) is out of range for x {x.shape} (ndim {x.ndim})")
        self._x = x
        return np.sum(x, axis=axis, out=self._buffer("out", shape, x.dtype))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x, axis = self._cached(self._x), self.axis
        dx = self._buffer("dx", x.shape, x.dtype)
        np.copyto(dx, dout if axis is None else np.expand_dims(dout, axis))
        return dx

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        return cls(axis=1), rng.standard_normal((3, 4))
