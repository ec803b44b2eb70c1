"""When PyTorch is installed: every optimizer against torch.optim itself (skipped otherwise)."""

import numpy as np
import pytest

from gategraph.optim import OPTIMIZERS

torch = pytest.importorskip("torch", reason='needs the bench extra (pip install -e ".[bench]")')

TORCH_NAMES = {
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
}


def test_matches_torch_optim(config, make_params, make_grads) -> None:
    name, options = config
    params = make_params()
    grads = make_grads(5, params)
    tensors = [torch.tensor(p.value.copy(), requires_grad=True) for p in params]
    decay = options.get("weight_decay", 1e-2 if name == "adamw" else 0.0)
    groups = [
        {
            "params": [t for t, p in zip(tensors, params, strict=True) if p.decay],
            "weight_decay": decay,
        },
        {
            "params": [t for t, p in zip(tensors, params, strict=True) if not p.decay],
            "weight_decay": 0.0,
        },
    ]
    reference = getattr(torch.optim, TORCH_NAMES[name])(groups, **options)
    optimizer = OPTIMIZERS.build({"type": name, **options}, params=params)
    for step_grads in grads:
        for p, t, g in zip(params, tensors, step_grads, strict=True):
            p.grad[...], t.grad = g, torch.tensor(g)
        optimizer.step()
        reference.step()
    for p, t in zip(params, tensors, strict=True):
        np.testing.assert_allclose(p.value, t.detach().numpy(), rtol=1e-12, atol=1e-12)
