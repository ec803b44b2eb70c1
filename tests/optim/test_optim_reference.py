"""Every optimizer against a plain per-param NumPy transcription of torch.optim's documented
pseudo-code (float64, several params, biases without decay, lr changed mid-run)."""

from typing import Any

import numpy as np

from gategraph.optim import OPTIMIZERS

Array = np.ndarray


def torch_sgd(
    w: Array,
    g: Array,
    st: dict,
    t: int,
    *,
    lr: float,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
) -> Array:
    if weight_decay:
        g = g + weight_decay * w
    if momentum:
        st["b"] = momentum * st["b"] + g if t > 1 else g.copy()
        g = g + momentum * st["b"] if nesterov else st["b"]
    return w - lr * g


def torch_adam(
    w: Array,
    g: Array,
    st: dict,
    t: int,
    *,
    lr: float,
    betas: tuple = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    w_decay: bool = False,
) -> Array:
    b1, b2 = betas
    if w_decay:  # AdamW: theta_t <- theta_{t-1} - lr * lambda * theta_{t-1}
        w = w - lr * weight_decay * w
    elif weight_decay:
        g = g + weight_decay * w
    st["m"] = b1 * st.get("m", 0.0) + (1 - b1) * g
    st["v"] = b2 * st.get("v", 0.0) + (1 - b2) * g**2
    m_hat, v_hat = st["m"] / (1 - b1**t), st["v"] / (1 - b2**t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps)


def torch_adamw(
    w: Array, g: Array, st: dict, t: int, *, weight_decay: float = 1e-2, **options: Any
) -> Array:
    return torch_adam(w, g, st, t, weight_decay=weight_decay, w_decay=bool(weight_decay), **options)


def torch_rmsprop(
    w: Array,
    g: Array,
    st: dict,
    t: int,
    *,
    lr: float,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
) -> Array:
    if weight_decay:
        g = g + weight_decay * w
    st["v"] = alpha * st.get("v", 0.0) + (1 - alpha) * g**2
    v_tilde = st["v"]
    if centered:
        st["g_ave"] = st.get("g_ave", 0.0) * alpha + (1 - alpha) * g
        v_tilde = v_tilde - st["g_ave"] ** 2
    if momentum > 0:
        st["b"] = momentum * st.get("b", 0.0) + g / (np.sqrt(v_tilde) + eps)
        return w - lr * st["b"]
    return w - lr * g / (np.sqrt(v_tilde) + eps)


def torch_adagrad(
    w: Array,
    g: Array,
    st: dict,
    t: int,
    *,
    lr: float,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    initial_accumulator_value: float = 0.0,
    eps: float = 1e-10,
) -> Array:
    lr_t = lr / (1 + (t - 1) * lr_decay)
    if weight_decay:
        g = g + weight_decay * w
    st["sum"] = st.get("sum", initial_accumulator_value) + g**2
    return w - lr_t * g / (np.sqrt(st["sum"]) + eps)


REFERENCES = {
    "sgd": torch_sgd,
    "adam": torch_adam,
    "adamw": torch_adamw,
    "rmsprop": torch_rmsprop,
    "adagrad": torch_adagrad,
}
LR_FACTORS = [1.0, 1.0, 0.5, 0.5, 0.25, 1.0]  # a schedule changes optimizer.lr between steps


def run_reference(
    name: str, options: dict[str, Any], values: list, decays: list, grads: list
) -> list:
    states: list[dict] = [{} for _ in values]
    for t, (step_grads, factor) in enumerate(zip(grads, LR_FACTORS, strict=True), start=1):
        opts = {**options, "lr": options["lr"] * factor}
        for i, (g, decay) in enumerate(zip(step_grads, decays, strict=True)):
            wd = opts.get("weight_decay", 1e-2 if name == "adamw" else 0.0) if decay else 0.0
            values[i] = REFERENCES[name](values[i], g, states[i], t, **{**opts, "weight_decay": wd})
    return values


def test_steps_match_torch_pseudo_code(config, make_params, make_grads) -> None:
    name, options = config
    params = make_params()
    grads = make_grads(len(LR_FACTORS), params)
    expected = run_reference(
        name, options, [p.value.copy() for p in params], [p.decay for p in params], grads
    )
    optimizer = OPTIMIZERS.build({"type": name, **options}, params=params)
    for step_grads, factor in zip(grads, LR_FACTORS, strict=True):
        optimizer.lr = options["lr"] * factor
        for p, g in zip(params, step_grads, strict=True):
            p.grad[...] = g
        optimizer.step()
    for p, want in zip(params, expected, strict=True):
        np.testing.assert_allclose(p.value, want, rtol=1e-12, atol=1e-12)
    moved = [np.abs(p.value - q.value).max() for p, q in zip(params, make_params(), strict=True)]
    assert min(moved) > 1e-3  # every param took real steps, so the comparison means something
