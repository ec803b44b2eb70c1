"""AdamW: Adam with decoupled weight decay, as torch.optim.AdamW."""

from collections.abc import Sequence

from gategraph.optim.adam import Adam
from gategraph.optim.base import OPTIMIZERS, Chunk, Params


@OPTIMIZERS.register("adamw")
class AdamW(Adam):
    """w -= lr * weight_decay * w (decayed params), then Adam's step on the raw grad:
    m = β1 m + (1 - β1) grad;  v = β2 v + (1 - β2) grad²;  w -= lr * m̂ / (√v̂ + eps).
    The decay never enters m or v, so it is not rescaled by √v̂ as Adam's L2 is.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: Sequence[float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _decay(self, chunk: Chunk) -> None:
        chunk.values *= 1.0 - self.lr * self.weight_decay

    def penalty(self) -> float:
        """0: decoupled decay is not the gradient of a loss term, so it adds none to the loss."""
        return 0.0
