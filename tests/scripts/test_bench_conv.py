"""scripts/bench_conv.py: its NumPy reference computes the convolution, run() reports sanely."""

import importlib.util
from pathlib import Path

import numpy as np

from gategraph.layers.conv2d import Conv2D

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"batch": 5, "in_channels": 2, "out_channels": 3, "size": 4}  # 5 samples: 2 dx chunks


def _bench():
    spec = importlib.util.spec_from_file_location("bench_conv", ROOT / "scripts" / "bench_conv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_matches_gategraph_conv2d_in_float64() -> None:
    bench = _bench()
    rng = np.random.default_rng(0)
    x, dout = rng.standard_normal((5, 2, 4, 4)), rng.standard_normal((5, 3, 4, 4))
    conv = Conv2D(2, 3, 3, pad=1, rng=rng, dtype=np.float64)
    conv.params["b"].value[...] = rng.standard_normal(3)
    W, b = conv.params["W"].value, conv.params["b"].value
    reference = bench.NumpyConv(W, b, x.shape)
    np.testing.assert_allclose(reference.forward(x), conv.forward(x), rtol=0, atol=1e-12)
    dx, dW, db = reference.backward(dout)
    np.testing.assert_allclose(dx, conv.backward(dout), rtol=0, atol=1e-12)
    np.testing.assert_allclose(dW, conv.params["W"].grad, rtol=0, atol=1e-12)
    np.testing.assert_allclose(db, conv.params["b"].grad, rtol=0, atol=1e-12)


def test_run_reports_every_implementation_with_ordered_stats() -> None:
    bench = _bench()
    result = bench.run(2, block=1, workload=SMALL)
    assert result["workload"] == {**SMALL, "kernel": 3, "pad": 1, "dtype": "float32"}
    assert max(result["errors"].values()) < 1e-5
    for case in ("forward", "forward_backward"):
        assert list(result[case]) == ["gategraph", "numpy", "numpy_fresh"]
        assert result[case]["numpy"]["ratio"] == 1.0
        for stats in result[case].values():
            assert 0 < stats["min_ms"] <= stats["median_ms"] <= stats["max_ms"]
    table = bench.table(result)
    assert "| gategraph Conv2D (Sequential) |" in table and "batch 5" in table
