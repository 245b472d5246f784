"""Bad input gets an error that names the argument, what was expected and what was found."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstmkit import Sequential
from lstmkit.callbacks import EarlyStopping
from lstmkit.layers import LSTM, Dense, Dropout
from lstmkit.optimizers import Adam


@pytest.fixture
def model() -> Sequential:
    model = Sequential([LSTM(3, input_shape=(5, 1)), Dense(1)])
    model.compile(loss="mse", optimizer="adam")
    return model


X = np.zeros((6, 5, 1), dtype=np.float32)
Y = np.zeros((6, 1), dtype=np.float32)


# -- x and y ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "x, message",
    [
        (np.zeros((6, 4, 1)), r"`x` has shape \(6, 4, 1\) but the model expects \(None, 5, 1\) \(samples first\)"),
        (np.zeros((6, 5, 2)), r"`x` has shape \(6, 5, 2\) but the model expects \(None, 5, 1\).*input_shape=\(5, 2\)"),
        (np.zeros((6, 5, 1, 1)), r"`x` has shape \(6, 5, 1, 1\) but the model expects \(None, 5, 1\)"),
        (np.zeros(6), r"`x` has shape \(6,\) but the model expects \(None, 5, 1\)"),
    ],
)
def test_x_shape_disagreeing_with_input_shape(model, x, message):
    with pytest.raises(ValueError, match=message):
        model.fit(x, Y, verbose=0)
    with pytest.raises(ValueError, match=message):
        model.predict(x)


def test_nan_and_inf_name_the_sample(model):
    x = X.copy()
    x[3, 2, 0] = np.nan
    with pytest.raises(ValueError, match=r"`x` holds NaN or inf values \(first in sample 3\)"):
        model.fit(x, Y, verbose=0)
    x = X.copy()
    x[4, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"`x` holds NaN or inf values \(first in sample 4\)"):
        model.predict(x)
    y = Y.copy()
    y[2, 0] = -np.inf
    y[5, 0] = np.nan
    with pytest.raises(ValueError, match=r"`y` holds NaN or inf values \(first in sample 2\)"):
        model.fit(X, y, verbose=0)
    with pytest.raises(ValueError, match=r"`y` holds NaN or inf values \(first in sample 1\)"):
        model.fit(torch.zeros(6, 5, 1), torch.tensor([0.0, float("nan"), 0.0, 0.0, 0.0, 0.0]), verbose=0)
    x_val = X.copy()
    x_val[1] = np.nan
    with pytest.raises(ValueError, match=r"`validation_data\[0\]` holds NaN or inf values \(first in sample 1\)"):
        model.fit(X, Y, verbose=0, validation_data=(x_val, Y))


def test_y_length_must_match_x(model):
    with pytest.raises(ValueError, match=r"`y` has 5 samples but x has 6; they must match one to one"):
        model.fit(X, Y[:5], verbose=0)
    with pytest.raises(ValueError, match=r"`y` has 7 samples but x has 6"):
        model.evaluate(X, np.zeros((7, 1)))
    with pytest.raises(ValueError, match=r"`validation_data\[1\]` has 2 samples but x has 6"):
        model.fit(X, Y, verbose=0, validation_data=(X, Y[:2]))


def test_y_of_wrong_width(model):
    with pytest.raises(
        ValueError, match=r"`y` has shape \(6, 2\) but the model outputs \(None, 1\)\. Give targets of that shape"
    ):
        model.fit(X, np.zeros((6, 2)), verbose=0)
    classifier = Sequential([LSTM(3, input_shape=(5, 1)), Dense(4, activation="softmax")])
    classifier.compile(loss="categorical_crossentropy", optimizer="adam")
    with pytest.raises(ValueError, match=r"`y` has shape \(6, 3\) but the model outputs \(None, 4\).*one-hot rows"):
        classifier.fit(X, np.zeros((6, 3)), verbose=0)
    classifier.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    with pytest.raises(
        ValueError,
        match=r"`y` has shape \(6, 2\) but sparse_categorical_crossentropy takes one class index per output row, "
        r"shape \(None,\) or \(None, 1\), for the model's output \(None, 4\)",
    ):
        classifier.fit(X, np.zeros((6, 2)), verbose=0)


def test_labels_outside_the_class_range(model):
    classifier = Sequential([LSTM(3, input_shape=(5, 1)), Dense(3, activation="softmax")])
    classifier.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    with pytest.raises(ValueError, match=r"`y` holds class label 3 in sample 4, outside 0..2 for the model's 3 out"):
        classifier.fit(X, np.array([0, 1, 2, 0, 3, 1]), verbose=0)
    with pytest.raises(ValueError, match=r"`y` holds class label -1 in sample 0, outside 0..2"):
        classifier.fit(X, np.array([-1, 1, 2, 0, 1, 1]), verbose=0)
    with pytest.raises(ValueError, match=r"`y` must hold integer class labels for sparse_categorical_crossentropy"):
        classifier.fit(X, np.array([0.5, 1, 2, 0, 1, 1]), verbose=0)

    per_step = Sequential([LSTM(3, return_sequences=True, input_shape=(5, 1)), Dense(3, activation="softmax")])
    per_step.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    labels = np.zeros((6, 5))
    labels[2, 3] = 7  # not the first label of its sample
    with pytest.raises(ValueError, match=r"`y` holds class label 7 in sample 2, outside 0..2"):
        per_step.fit(X, labels, verbose=0)
    with pytest.raises(ValueError, match=r"takes one class index per output row, shape \(None, 5\)"):
        per_step.fit(X, np.zeros((6, 4)), verbose=0)


def test_non_numeric_x(model):
    with pytest.raises(TypeError, match=r"`x` must hold numbers; got an array of dtype <U1\. Convert it with np"):
        model.fit(np.full((6, 5, 1), "a"), Y, verbose=0)
    with pytest.raises(TypeError, match=r"`x` must hold numbers; got an array of dtype object"):
        model.predict(None)
    with pytest.raises(TypeError, match=r"`y` must hold numbers; got an array of dtype <U"):
        model.fit(X, [["high"]] * 6, verbose=0)
    with pytest.raises(ValueError, match=r"`x` must be an array with the same shape for every sample"):
        model.predict([[1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 2.0]])


def test_empty_x(model):
    with pytest.raises(ValueError, match=r"`x` is empty \(shape \(0, 5, 1\)\); pass at least one sample"):
        model.fit(np.zeros((0, 5, 1)), np.zeros((0, 1)), verbose=0)
    with pytest.raises(ValueError, match=r"`x` is empty \(shape \(0,\)\)"):
        model.predict([])


# -- fit arguments ----------------------------------------------------------------------------
@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_bad_batch_size(model, batch_size):
    with pytest.raises(ValueError, match=rf"`batch_size` must be an integer >= 1; got {batch_size!r}"):
        model.fit(X, Y, batch_size=batch_size, verbose=0)
    with pytest.raises(ValueError, match=r"`batch_size` must be an integer >= 1"):
        model.predict(X, batch_size=batch_size)


def test_bad_epochs_verbose_seed_and_validation(model):
    with pytest.raises(ValueError, match=r"`epochs` must be an integer >= 0; got -1"):
        model.fit(X, Y, epochs=-1, verbose=0)
    with pytest.raises(ValueError, match=r"`verbose` must be 0, 1, 2 or 'auto'; got 3"):
        model.fit(X, Y, verbose=3)
    with pytest.raises(ValueError, match=r"`seed` must be an integer >= 0; got -1"):
        model.fit(X, Y, verbose=0, seed=-1)
    with pytest.raises(ValueError, match=r"`validation_split` must be a fraction in \[0, 1\); got 1.0"):
        model.fit(X, Y, verbose=0, validation_split=1.0)
    with pytest.raises(ValueError, match=r"validation_split=0.9 of 6 samples leaves an empty training or valid"):
        model.fit(X, Y, verbose=0, validation_split=0.9)
    with pytest.raises(ValueError, match=r"`validation_data` must be a pair \(x_val, y_val\)"):
        model.fit(X, Y, verbose=0, validation_data=(X,))
    with pytest.raises(TypeError, match=r"callbacks must be lstmkit.callbacks objects; got function"):
        model.fit(X, Y, verbose=0, callbacks=[lambda: None])


def test_fit_and_evaluate_before_compile():
    model = Sequential([LSTM(3, input_shape=(5, 1)), Dense(1)])
    with pytest.raises(ValueError, match=r"call model.compile\(loss=..., optimizer=...\) before fit\(\)"):
        model.fit(X, Y, verbose=0)
    with pytest.raises(ValueError, match=r"call model.compile\(loss=..., optimizer=...\) before evaluate\(\)"):
        model.evaluate(X, Y)


def test_model_without_layers():
    with pytest.raises(ValueError, match=r"the model has no layers: add some with model.add"):
        Sequential().predict(X)


# -- compile ----------------------------------------------------------------------------------
def test_unknown_loss_lists_close_matches(model):
    with pytest.raises(ValueError, match=r"unknown loss 'mse2'; did you mean 'mse'.*expected one of .*'mean_squared_error'"):
        model.compile(loss="mse2")
    with pytest.raises(TypeError, match=r"`loss` must be a name such as 'mse' or a PyTorch loss.*got int"):
        model.compile(loss=3)


def test_unknown_optimizer_lists_close_matches(model):
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamm'; did you mean 'adam'.*expected one of 'adam', 'adamw'"):
        model.compile(optimizer="adamm")
    with pytest.raises(TypeError, match=r"`optimizer` must be a name such as 'adam'.*got int"):
        model.compile(optimizer=3)
    with pytest.raises(ValueError, match=r"`learning_rate` must be a positive number; got 0"):
        Adam(learning_rate=0)


def test_unknown_metric_lists_close_matches(model):
    with pytest.raises(ValueError, match=r"unknown metric 'maee'; did you mean 'mae'.*expected one of 'acc', 'accuracy'"):
        model.compile(metrics=["maee"])
    with pytest.raises(ValueError, match=r"unknown metric 'f1_scores'; expected one of"):
        model.compile(metrics="f1_scores")
    with pytest.raises(TypeError, match=r"metrics must be names such as 'mae' or 'accuracy'; got 3"):
        model.compile(metrics=[3])


def test_bad_device(model):
    with pytest.raises(ValueError, match=r"`device` must be 'auto', 'cpu' or 'cuda'; got 'gpu'"):
        model.compile(device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"device='cuda' was asked for but no CUDA GPU is visible"):
            model.compile(device="cuda")


# -- layers and stacking ------------------------------------------------------------------------
def test_lstm_after_lstm_without_return_sequences_explains():
    with pytest.raises(
        ValueError,
        match=r"cannot add layer 'lstm_1': LSTM expects inputs of shape \(timesteps, features\).*got \(3,\)\. "
        r"The layer before it returns one vector per sequence: give it return_sequences=True",
    ):
        Sequential([LSTM(3, input_shape=(5, 1)), LSTM(2)])
    lazy = Sequential([LSTM(3), LSTM(2), Dense(1)])  # found when the data arrives
    lazy.compile()
    with pytest.raises(ValueError, match=r"give it return_sequences=True"):
        lazy.fit(X, Y, verbose=0)


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: Dense(0), ValueError, r"`units` must be an integer >= 1; got 0"),
        (lambda: LSTM(-3), ValueError, r"`units` must be an integer >= 1; got -3"),
        (lambda: LSTM(2.5), TypeError, r"`units` must be an integer >= 1; got 2.5"),
        (lambda: LSTM(3, dropout=1.5), ValueError, r"`dropout` must be a fraction in \[0, 1\); got 1.5"),
        (
            lambda: LSTM(3, recurrent_dropout=-0.1),
            ValueError,
            r"`recurrent_dropout` must be a fraction in \[0, 1\); got -0.1",
        ),
        (lambda: Dropout(1.0), ValueError, r"`rate` must be a fraction in \[0, 1\); got 1.0"),
        (lambda: LSTM(3, activation="relux"), ValueError, r"unknown activation 'relux'; did you mean 'relu'"),
        (lambda: LSTM(3, activation=torch.relu), TypeError, r"`activation` must be a name, one of .*'tanh'.*; got builtin"),
        (lambda: Dense(3, activation="softmaxx"), ValueError, r"unknown activation 'softmaxx'; did you mean 'softmax'"),
        (lambda: LSTM(3, input_shape=(5,)), ValueError, r"LSTM expects inputs of shape \(timesteps, feat.*got \(5,\)"),
        (lambda: LSTM(3, input_shape="5,1"), ValueError, r"`input_shape` must be a tuple of positive.*got '5,1'"),
        (lambda: LSTM(3, input_shape=(0, 1)), ValueError, r"`input_shape` must be a tuple of positive.*got \(0, 1\)"),
        (lambda: EarlyStopping(patience=-1), ValueError, r"`patience` must be an integer >= 0; got -1"),
        (lambda: EarlyStopping(mode="up"), ValueError, r"unknown mode 'up'.*expected one of 'auto', 'max', 'min'"),
    ],
)
def test_bad_layer_and_callback_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_bad_stacking():
    with pytest.raises(TypeError, match=r"Sequential takes lstmkit layers \(LSTM, Dense, Dropout, ...\); got Linear"):
        Sequential([torch.nn.Linear(2, 2)])
    with pytest.raises(ValueError, match=r"only the first layer takes `input_shape`; layer 1 has one"):
        Sequential([LSTM(3, input_shape=(5, 1)), Dense(1, input_shape=(3,))])
    with pytest.raises(ValueError, match=r"layer 'lstm' has return_state=True, which returns a tuple"):
        Sequential([LSTM(3, input_shape=(5, 1), return_state=True), Dense(1)])
