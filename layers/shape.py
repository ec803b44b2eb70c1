"""Shape gates that gradient graphs are built of: transpose, reshape, broadcast and sum to a
shape, counts, one-hot labels, zeros and the seed 1.

An input listed in a gate's `shape_inputs` is read only for its shape and dtype (its values
never matter, so its gradient is zero): `run` passes a stand-in and frees the value early.
"""

import numbers
from typing import Any

import numpy as np
from numpy.random import Generator

from gategraph.layers.base import LAYERS, Adjoints, Builder, ConstantGate, Layer


def as_float(x: Any) -> np.ndarray:
    """`x` as an array: integers (a circuit's `-2`) become float64, floats keep their dtype."""
    x = np.asarray(x)
    return x if x.dtype.kind in "fc" else x.astype(np.float64)


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> np.ndarray:
    """`grad` summed over the axes broadcasting added or stretched, so it has `shape`."""
    grad = np.asarray(grad)
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    stretched = [lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1]
    return grad.sum(axis=(*range(lead), *stretched), keepdims=True).reshape(shape)


def _check_axis(who: str, axis: Any) -> None:
    if axis is not None and (isinstance(axis, bool) or not isinstance(axis, numbers.Integral)):
        raise TypeError(f"{who} needs axis to be an integer or None, got {axis!r}")


class _ShapeOf(Layer):
    """Base of gates whose last input `like` gives only a shape (gradient zero)."""

    n_inputs = 2
    shape_inputs = (1,)
    _shapes: tuple[tuple[int, ...], tuple[int, ...]] | None = None  # x.shape, like.shape

    def _zeros_for_like(self) -> np.ndarray:
        return np.zeros(self._cached(self._shapes)[1])


@LAYERS.register("transpose")
class Transpose(Layer):
    """out = xᵀ (a view).  x: (N, M), out: (M, N).  Backward: dx = doutᵀ."""

    _x_shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError(f"Transpose expects x (N, M), got x {x.shape}")
        self._x_shape = x.shape
        return x.T

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self._cached(self._x_shape)
        return np.transpose(dout)

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return g.add(Transpose(), dout)

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return g.add(Transpose(), tangents[0])

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        return cls(), rng.standard_normal((3, 4))


@LAYERS.register("sum_like")
class SumLike(_ShapeOf):
    """out = x summed over the axes broadcasting added or stretched, to like's shape (x itself
    when the shapes agree).  x: a shape `like` broadcasts to, out: like's shape.

    The adjoint of broadcasting.  Backward: dx = dout broadcast to x's shape, dlike = 0.
    """

    def forward(self, x: np.ndarray, like: np.ndarray) -> np.ndarray:
        x, like = np.asarray(x), np.asarray(like)
        if np.broadcast_shapes(x.shape, like.shape) != x.shape:
            raise ValueError(f"SumLike cannot sum x {x.shape} down to {like.shape}")
        self._shapes = x.shape, like.shape
        return unbroadcast(x, like.shape)

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x_shape = self._cached(self._shapes)[0]
        return np.broadcast_to(dout, x_shape).copy(), self._zeros_for_like()

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return g.add(BroadcastLike(), dout, inputs[0]), None

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return None if tangents[0] is None else g.add(SumLike(), tangents[0], inputs[1])

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, tuple[np.ndarray, np.ndarray]]:
        return cls(), (rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 1)))


@LAYERS.register("broadcast_like")
class BroadcastLike(_ShapeOf):
    """out = x broadcast to like's shape, after inserting `axis` (if given) as a new axis of
    size 1.  x: a shape that broadcasts to like's, out: like's shape (a read-only view).

    The adjoint of a sum.  Backward: dx = dout summed back to x's shape, dlike = 0.
    """

    def __init__(self, axis: int | None = None) -> None:
        super().__init__()
        _check_axis("BroadcastLike", axis)
        self.axis = axis

    def forward(self, x: np.ndarray, like: np.ndarray) -> np.ndarray:
        x, like = np.asarray(x), np.asarray(like)
        spread = x if self.axis is None else np.expand_dims(x, self.axis)
        try:
            out = np.broadcast_to(spread, like.shape)
        except ValueError:
            raise ValueError(
                f"BroadcastLike(axis={self.axis}) cannot broadcast x {x.shape} to {like.shape}"
            ) from None
        self._shapes = x.shape, like.shape
        return out

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x_shape = self._cached(self._shapes)[0]
        if self.axis is not None:
            return np.sum(dout, axis=self.axis), self._zeros_for_like()
        return unbroadcast(dout, x_shape), self._zeros_for_like()

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        if self.axis is not None:
            return g.add(Sum(self.axis), dout), None
        return g.add(SumLike(), dout, inputs[0]), None

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        t = tangents[0]
        return None if t is None else g.add(BroadcastLike(self.axis), t, inputs[1])

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, tuple[np.ndarray, np.ndarray]]:
        return cls(axis=1), (rng.standard_normal((3, 5)), rng.standard_normal((3, 4, 5)))


@LAYERS.register("reshape_like")
class ReshapeLike(_ShapeOf):
    """out = x reshaped to like's shape, in like's dtype (labels become floats).
    x: as many elements as like, out: like's shape.  Backward: dx = dout reshaped to x's shape.
    """

    _dtype: np.dtype | None = None

    def forward(self, x: np.ndarray, like: np.ndarray) -> np.ndarray:
        x, like = np.asarray(x), np.asarray(like)
        if x.size != like.size:
            raise ValueError(f"ReshapeLike cannot reshape x {x.shape} to {like.shape}")
        self._shapes, self._dtype = (x.shape, like.shape), x.dtype
        return x.reshape(like.shape).astype(like.dtype, copy=False)

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x_shape = self._cached(self._shapes)[0]
        return np.reshape(dout, x_shape), self._zeros_for_like()

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return g.add(ReshapeLike(), dout, inputs[0]), None

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        t = tangents[0]
        return None if t is None else g.add(ReshapeLike(), t, inputs[1])

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, tuple[np.ndarray, np.ndarray]]:
        return cls(), (rng.standard_normal((2, 6)), rng.standard_normal((3, 4)))


class _Constant(ConstantGate):
    """Base of shape.py's constant gates: an example of shape (3, 4)."""

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        return cls(), rng.standard_normal((3, 4))


@LAYERS.register("count")
class Count(_Constant):
    """out = the number of elements of x (axis None) or its length along `axis`, as a 0-d
    float of x's dtype: the N of a mean.  x: any shape.  Backward: dx = 0."""

    def __init__(self, axis: int | None = None) -> None:
        super().__init__()
        _check_axis("Count", axis)
        self.axis = axis

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        self._x_shape = x.shape
        n = x.size if self.axis is None else x.shape[self.axis]
        return np.asarray(n, x.dtype if x.dtype.kind == "f" else np.float64)


@LAYERS.register("zeros_like")
class ZerosLike(_Constant):
    """out = zeros of x's shape and dtype.  Backward: dx = 0."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        self._x_shape = x.shape
        return np.zeros(x.shape, x.dtype if x.dtype.kind == "f" else np.float64)


@LAYERS.register("seed")
class Seed(_Constant):
    """out = 1 shaped like x, for a scalar x (one element): the adjoint of the node `of`
    that a gradient starts from.  Backward: dx = 0."""

    def __init__(self, of: str = "") -> None:
        super().__init__()
        self.of = of

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.size != 1:
            raise ValueError(
                f"gradients of {self.of!r}: it has shape {x.shape}, not a scalar; pass "
                f"seed='<input name>' holding the cotangent of {self.of!r} (same shape)"
            )
        self._x_shape = x.shape
        return np.ones(x.shape, x.dtype if x.dtype.kind == "f" else np.float64)

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        return cls("f"), np.asarray(rng.standard_normal())


@LAYERS.register("one_hot")
class OneHot(ConstantGate):
    """out[i, j] = 1 if y_i == j else 0, in like's shape and dtype.  y: (N,) integer class
    ids in [0, C) (float ids are rounded: a gradient check's nudge changes nothing),
    like: (N, C).  Backward: dy = 0, dlike = 0."""

    n_inputs = 2
    shape_inputs = (1,)

    def forward(self, y: np.ndarray, like: np.ndarray) -> np.ndarray:
        y, like = np.asarray(y), np.asarray(like)
        if like.ndim != 2 or y.shape != like.shape[:1]:
            raise ValueError(f"OneHot expects y (N,) and like (N, C), got {y.shape}, {like.shape}")
        ids = (np.rint(y) if y.dtype.kind == "f" else y).astype(np.intp)
        if len(ids) and (ids.min() < 0 or ids.max() >= like.shape[1]):
            raise ValueError(f"OneHot expects class ids in [0, {like.shape[1]}), got {ids}")
        out = np.zeros(like.shape, like.dtype)
        out[np.arange(len(y)), ids] = 1
        self._shapes = y.shape, like.shape
        return out

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, tuple[np.ndarray, np.ndarray]]:
        return cls(), (rng.integers(0, 4, 5).astype(np.float64), rng.standard_normal((5, 4)))


@LAYERS.register("sum")
class Sum(Layer):
    """out = Σ x over all elements (axis=None: a 0-d value) or over one `axis` (dropped).

    x: any shape; out: () or x's shape without `axis`.  Backward: dx = dout copied along the
    summed axis (every element of x gets the gradient of the sum it went into).
    """

    _x: np.ndarray | None = None

    def __init__(self, axis: int | None = None) -> None:
        super().__init__()
        _check_axis("Sum", axis)
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

    def vjp(self, g: Builder, inputs: tuple[str, ...], out: str, dout: str) -> Adjoints:
        return g.add(BroadcastLike(self.axis), dout, inputs[0])

    def jvp(self, g: Builder, inputs: tuple[str, ...], out: str, tangents: tuple) -> str | None:
        return g.add(Sum(self.axis), tangents[0])

    @classmethod
    def example(cls, rng: Generator) -> tuple[Layer, np.ndarray]:
        return cls(axis=1), rng.standard_normal((3, 4))
