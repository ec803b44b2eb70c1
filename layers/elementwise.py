"""One-line math gates: the circuits of the backprop lecture (add, multiply, max, exp, ...).

Every gate takes arrays of any shape, 0-d included (`Add().forward(-2.0, 5.0)`); integer
inputs become float64, float inputs keep their dtype. Two-input gates broadcast like numpy
and sum each gradient back to its input's own shape.
"""

from typing import Any

import numpy as np
from numpy.random import Generator

from gategraph.core.checks import check_number
from gategraph.core.params import gemm
from gategraph.layers.base import LAYERS, Adjoints, Builder, ConstantGate, Layer
from gategraph.layers.shape import BroadcastLike, SumLike, Transpose, as_float
from gategraph.layers.shape import Sum as Sum  # Sum (a shape gate now) is still imported here
from gategraph.layers.shape import unbroadcast as _unbroadcast


def sum_nodes(g: Builder, *terms: str | None) -> str | None:
    """The sum of the terms that are not None (None if all are)."""
    present = [t for t in terms if t is not None]
    total = present[0] if present else None
    for term in present[1:]:
        total = g.add(Add(), total, term)
    return total


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

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        x, y = inputs
        return g.add(SumLike(), dout, x), g.add(SumLike(), dout, y)

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        tx, ty = tangents
        if tx is not None and ty is not None:
            return g.add(Add(), tx, ty)
        return g.add(BroadcastLike(), tx if ty is None else ty, out)


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

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        x, y = inputs
        return g.add(SumLike(), dout, x), g.add(Negate(), g.add(SumLike(), dout, y))

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        tx, ty = tangents
        if tx is not None and ty is not None:
            return g.add(Subtract(), tx, ty)
        return g.add(BroadcastLike(), tx if ty is None else g.add(Negate(), ty), out)


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

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        x, y = inputs
        dx, dy = g.add(Multiply(), dout, y), g.add(Multiply(), dout, x)
        return g.add(SumLike(), dx, x), g.add(SumLike(), dy, y)

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        (x, y), (tx, ty) = inputs, tangents
        return sum_nodes(
            g,
            None if tx is None else g.add(Multiply(), tx, y),
            None if ty is None else g.add(Multiply(), x, ty),
        )


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

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        x, y = inputs
        dx = g.add(Divide(), dout, y)
        dy = g.add(Negate(), g.add(Multiply(), dx, out))
        return g.add(SumLike(), dx, x), g.add(SumLike(), dy, y)

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        (_, y), (tx, ty) = inputs, tangents
        dx = None if tx is None else g.add(Divide(), tx, y)
        dy = None if ty is None else g.add(Negate(), g.add(Multiply(), g.add(Divide(), ty, y), out))
        return sum_nodes(g, dx, dy)

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

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        x, y = inputs
        share = g.add(Step(at_zero=0.5), g.add(Subtract(), x, y))
        dx = g.add(Multiply(), dout, share)
        dy = g.add(Subtract(), dout, dx)
        return g.add(SumLike(), dx, x), g.add(SumLike(), dy, y)

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        (x, y), (tx, ty) = inputs, tangents
        share = g.add(Step(at_zero=0.5), g.add(Subtract(), x, y))
        if ty is None:
            return g.add(Multiply(), share, tx)
        if tx is None:
            return g.add(Subtract(), ty, g.add(Multiply(), share, ty))
        return g.add(Add(), ty, g.add(Multiply(), share, g.add(Subtract(), tx, ty)))

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

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        x, y = inputs
        dx = g.add(MatMul(), dout, g.add(Transpose(), y))
        return dx, g.add(MatMul(), g.add(Transpose(), x), dout)

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        (x, y), (tx, ty) = inputs, tangents
        return sum_nodes(
            g,
            None if tx is None else g.add(MatMul(), tx, y),
            None if ty is None else g.add(MatMul(), x, ty),
        )

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

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return g.add(Negate(), dout)

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return g.add(Negate(), tangents[0])


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

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return g.add(Scale(self.factor), dout)

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return g.add(Scale(self.factor), tangents[0])

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

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return g.add(Multiply(), dout, out)

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return g.add(Multiply(), tangents[0], out)


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

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return g.add(Divide(), dout, inputs[0])

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return g.add(Divide(), tangents[0], inputs[0])

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

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return g.add(Multiply(), dout, g.add(Cos(), inputs[0]))

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return g.add(Multiply(), tangents[0], g.add(Cos(), inputs[0]))


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

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return g.add(Multiply(), dout, g.add(Negate(), g.add(Sin(), inputs[0])))

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return g.add(Multiply(), tangents[0], g.add(Negate(), g.add(Sin(), inputs[0])))


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

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return g.add(Multiply(), dout, self._slope(g, inputs[0]))

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return g.add(Multiply(), tangents[0], self._slope(g, inputs[0]))

    def _slope(self, g: Builder, x: str) -> str:
        """p x^(p - 1) as nodes (p for p = 1, where x^0 is no Power gate)."""
        p = self.exponent
        return g.add(Scale(p), x if p == 1 else g.add(Power(p - 1), x))

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        return cls(2.5), rng.uniform(0.5, 2.0, (3, 4))


@LAYERS.register("shift")
class Shift(_Unary):
    """out = x + offset for a constant `offset`.  x: any shape, out: same shape.

    Backward: dx = dout.
    """

    _dtype: np.dtype | None = None  # x's dtype

    def __init__(self, offset: float) -> None:
        super().__init__()
        check_number("Shift", "offset", offset)
        self.offset = offset

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float(x)
        self._dtype = x.dtype
        return np.add(x, self.offset, out=self._buffer("out", x.shape, x.dtype))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self._cached(self._dtype)
        return np.array(dout, copy=True)

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return dout

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return tangents[0]

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        return cls(1.0), rng.standard_normal((3, 4))


@LAYERS.register("step")
class Step(ConstantGate):
    """out = 1 where x > 0, `low` where x < 0 and `at_zero` (default `low`) where x = 0: the
    slope of ReLU (low 0), of LeakyReLU (low alpha) and a max's share (at_zero 0.5).
    x: any shape, out: same shape.  Piecewise constant: dx = 0 (and no gradient graph needs
    more: its adjoint and tangent are zero).
    """

    shape_inputs = ()  # unlike other constant gates, it reads x's values

    def __init__(self, low: float = 0.0, at_zero: float | None = None) -> None:
        super().__init__()
        check_number("Step", "low", low)
        self.low = low
        self.at_zero = low if at_zero is None else check_number("Step", "at_zero", at_zero)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float(x)
        out = self._buffer("out", x.shape, x.dtype)
        out.fill(self.low)
        np.copyto(out, 1, where=x > 0)
        if self.at_zero != self.low:
            np.copyto(out, self.at_zero, where=x == 0)
        self._x_shape = x.shape
        return out

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        magnitude = rng.uniform(0.1, 1.0, (3, 4))  # keep off the jump at 0
        return cls(low=0.1), magnitude * rng.choice([-1.0, 1.0], (3, 4))
