"""lstmkit.optimizers: Keras's names and defaults, objects, classes and factories, one exact step."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

import lstmkit
from lstmkit import Sequential, optimizers
from lstmkit.layers import LSTM, Dense

from test_models import compiled_model, make_data, make_model


# -- optimizers -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, torch_class, learning_rate",
    [
        ("adam", torch.optim.Adam, 0.001),
        ("Adam", torch.optim.Adam, 0.001),
        ("adamw", torch.optim.AdamW, 0.001),
        ("sgd", torch.optim.SGD, 0.01),
        ("rmsprop", torch.optim.RMSprop, 0.001),
    ],
)
def test_optimizers_by_name_with_keras_defaults(name, torch_class, learning_rate):
    x, y = make_data(samples=8)
    model = compiled_model(optimizer=name)
    model.fit(x, y, epochs=1, verbose=0, seed=0)
    assert type(model.optimizer) is torch_class
    assert model.optimizer.param_groups[0]["lr"] == learning_rate
    assert model.optimizer.param_groups[0]["params"] == list(model.parameters())


def test_optimizer_objects_and_torch_factories():
    x, y = make_data(samples=8)
    model = compiled_model(optimizer=optimizers.Adam(learning_rate=0.05))
    model.fit(x, y, epochs=1, verbose=0, seed=0)
    group = model.optimizer.param_groups[0]
    assert type(model.optimizer) is torch.optim.Adam
    assert group["lr"] == 0.05 and group["eps"] == 1e-7 and group["betas"] == (0.9, 0.999)

    model = compiled_model(optimizer=optimizers.RMSprop(learning_rate=0.01, rho=0.8))
    model.fit(x, y, epochs=1, verbose=0, seed=0)
    assert model.optimizer.param_groups[0]["alpha"] == 0.8

    model = compiled_model(optimizer=functools.partial(torch.optim.SGD, lr=0.1, momentum=0.5))
    model.fit(x, y, epochs=1, verbose=0, seed=0)
    assert type(model.optimizer) is torch.optim.SGD and model.optimizer.param_groups[0]["momentum"] == 0.5

    model = make_model()
    built = torch.optim.SGD(model.parameters(), lr=0.2)
    model.compile(loss="mse", optimizer=built)
    model.fit(x, y, epochs=1, verbose=0, seed=0)
    assert model.optimizer is built


def test_sgd_takes_exactly_one_gradient_step():
    x, y = make_data(samples=6)
    model = compiled_model(optimizer=optimizers.SGD(learning_rate=0.1))
    before = [p.detach().clone() for p in model.parameters()]
    loss = ((model(torch.from_numpy(x)) - torch.from_numpy(y)) ** 2).mean()
    grads = torch.autograd.grad(loss, list(model.parameters()))
    model.fit(x, y, epochs=1, batch_size=6, verbose=0, shuffle=False)
    for old, grad, new in zip(before, grads, model.parameters()):
        torch.testing.assert_close(new.detach(), old - 0.1 * grad, rtol=0, atol=1e-6)


def test_optimizer_factory_must_return_a_torch_optimizer():
    x, y = make_data(samples=8)
    model = compiled_model(optimizer=lambda params: "not an optimizer")
    with pytest.raises(TypeError, match=r"the optimizer factory returned str, not a torch.optim.Optimizer"):
        model.fit(x, y, epochs=1, verbose=0)


def test_optimizer_class_is_accepted_like_an_instance():
    model = Sequential([LSTM(4, input_shape=(3, 1)), Dense(1)])
    model.compile(loss="mse", optimizer=lstmkit.optimizers.Adam)
    model.fit(np.ones((4, 3, 1), "float32"), np.ones((4, 1), "float32"), epochs=1, verbose=0)
    assert isinstance(model.optimizer, torch.optim.Adam)
    assert model.optimizer.param_groups[0]["lr"] == pytest.approx(0.001)
