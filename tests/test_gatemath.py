"""lstmkit.ops.gatemath: the one e^x, σ and tanh of every compiled kernel, and their error bounds
(the module docstring's table), against float64 numpy over a dense grid including large |z|."""

import numpy as np
import pytest

from lstmkit.ops.gatemath import BOUNDS, exp, sigmoid, tanh
from lstmkit.ops.jit import kernel


@kernel()
def _evaluate(z, exps, sigmoids, tanhs):
    for n in range(z.size):
        exps[n] = exp(z[n])
        sigmoids[n] = sigmoid(z[n])
        tanhs[n] = tanh(z[n])


def _grid(dtype):
    """Every 3e-5 over [-30, 30], a coarser grid to ±10⁴, tiny values, the bounds and zeros."""
    bound = BOUNDS[dtype]
    parts = [np.linspace(-30, 30, 2_000_001), np.linspace(-1e4, 1e4, 200_001), np.geomspace(1e-30, 1e-2, 1000),
             -np.geomspace(1e-30, 1e-2, 1000), [bound, -bound, np.nextafter(bound, 0), 0.0, -0.0, np.inf, -np.inf]]
    return np.concatenate(parts).astype(dtype)


# (e^x relative, σ absolute, tanh absolute), as the module docstring states them
BOUNDS_STATED = {np.float32: (3.6e-7, 1.2e-7, 2.4e-7), np.float64: (6.7e-16, 2.3e-16, 4.5e-16)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_error_bounds_against_float64_numpy(dtype):
    z = _grid(dtype)
    exps, sigmoids, tanhs = (np.empty_like(z) for _ in range(3))
    _evaluate(z, exps, sigmoids, tanhs)
    exact = z.astype(np.float64)
    exp_bound, sigmoid_bound, tanh_bound = BOUNDS_STATED[dtype]
    inside = np.abs(exact) <= BOUNDS[dtype]
    with np.errstate(over="ignore"):
        exact_exp = np.exp(exact[inside])
        exact_sigmoid = 1 / (1 + np.exp(-exact))
    assert np.max(np.abs(exps[inside] / exact_exp - 1)) <= exp_bound
    assert np.max(np.abs(sigmoids - exact_sigmoid)) <= sigmoid_bound
    assert np.max(np.abs(tanhs - np.tanh(exact))) <= tanh_bound
    # the bounds are tight: within 4x of the worst error found
    assert np.max(np.abs(sigmoids - exact_sigmoid)) > sigmoid_bound / 4
    assert np.max(np.abs(tanhs - np.tanh(exact))) > tanh_bound / 4
    # saturation and symmetry far out; NaN passes through
    assert sigmoids[z == dtype(1e4)][0] == 1 and sigmoids[z == dtype(-1e4)][0] < 1e-30
    assert tanhs[z == np.inf][0] == 1 and tanhs[z == -np.inf][0] == -1
    nan = np.array([np.nan], dtype)
    outs = [np.empty_like(nan) for _ in range(3)]
    _evaluate(nan, *outs)
    assert all(np.isnan(out[0]) for out in outs)


def test_interpreted_python_gets_the_same_functions_from_libm():
    assert sigmoid(0.0) == 0.5 and abs(tanh(0.5) - np.tanh(0.5)) < 1e-15 and exp(1.0) == np.exp(1.0)
