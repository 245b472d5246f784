"""The thread choice: one thread for small work or when other processes are busy."""

import pytest
import torch

from lstmkit.ops import threads


@pytest.fixture
def two_threads(monkeypatch):
    monkeypatch.setattr(threads, "_available", 2)
    monkeypatch.setattr(threads, "_others_busy", [False])


def test_small_work_gets_one_thread(two_threads):
    assert threads.threads_for(threads.lstm_flops(1, 5, 1, 50) * 3) == 1  # W1's step


def test_big_work_gets_all_threads_while_the_cores_are_free(two_threads, monkeypatch):
    monkeypatch.setattr(threads, "_others_cores", lambda: 0.02)
    assert threads.threads_for(1e10) == 2


def test_big_work_gets_one_thread_while_another_process_is_busy(two_threads, monkeypatch):
    monkeypatch.setattr(threads, "_others_cores", lambda: 0.9)
    assert threads.threads_for(1e10) == 1
    monkeypatch.setattr(threads, "_others_cores", lambda: None)  # too soon to tell: keep the last verdict
    assert threads.threads_for(1e10) == 1


def test_user_override_and_restore(two_threads):
    threads.set_num_threads(3)
    try:
        assert threads.threads_for(10) == 3
    finally:
        threads.set_num_threads(None)
    with pytest.raises(ValueError, match="`threads` must be an integer >= 1 or None; got 0"):
        threads.set_num_threads(0)
    before = torch.get_num_threads()
    other = 2 if before == 1 else 1  # a count that differs, so that restoring it shows
    with threads.thread_limit(other):
        assert torch.get_num_threads() == other
    assert torch.get_num_threads() == before


def test_other_cores_looks_afresh_when_the_last_look_is_old(monkeypatch):
    # /proc/stat read at scripted moments: [wall seconds, busy seconds of all CPUs, this process's CPU seconds]
    samples = iter([[100.0, 50.0, 5.0], [100.03, 50.06, 5.0],  # no earlier look: a fresh 30 ms one
                    [100.05, 50.07, 5.0],                        # 20 ms later: too soon to tell
                    [100.53, 50.30, 5.20],                       # half a second after the baseline
                    [110.0, 60.0, 6.0], [110.03, 60.03, 6.03]])  # the last look long ago: a fresh one
    monkeypatch.setattr(threads, "_cpu_sample", lambda: next(samples))
    slept = []
    monkeypatch.setattr(threads.time, "sleep", lambda seconds: slept.append(seconds))
    threads._last_sample.clear()
    assert threads._others_cores() == pytest.approx(0.06 / 0.03)  # two cores busy, none of them this process
    assert slept == [0.03]
    assert threads._others_cores() is None and threads._last_sample == [100.03, 50.06, 5.0]  # baseline kept
    assert threads._others_cores() == pytest.approx((0.24 - 0.20) / 0.5)  # busy time less this process's own
    assert threads._others_cores() == pytest.approx(0.0)  # only this process was busy in the fresh look
    assert slept == [0.03, 0.03]


def test_a_spinning_process_counts_as_busy():
    import subprocess
    import sys

    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        import time

        time.sleep(0.3)
        threads._last_sample.clear()
        busy = threads._others_cores()
    finally:
        spinner.kill()
        spinner.wait()
    assert busy is not None and busy > 0.5  # Linux: one core spinning


def _record_threads(monkeypatch, module, name):
    """Wrap module.name so that each call records torch's intra-op thread count at that moment."""
    seen, original = [], getattr(module, name)

    def recorded(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, recorded)
    return seen


@pytest.fixture
def torch_on_two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # PyTorch's default on the 2-core machines; a thread limit must lower it
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("op, layer", [("lstm", "LSTM"), ("gru", "GRU"), ("rnn_tanh", "SimpleRNN")])
def test_a_small_recurrent_op_runs_on_one_thread_whoever_calls_it(torch_on_two_threads, monkeypatch, op, layer):
    # A layer used as a plain torch module, outside fit and predict: PyTorch would give its op both
    # threads, and each call then waits on a core another process holds (dispatch._small_on_one_thread).
    import lstmkit.layers

    seen = _record_threads(monkeypatch, torch, op)
    small = getattr(lstmkit.layers, layer)(32)
    with torch.no_grad():
        small(torch.randn(16, 36, 1))
        small(torch.randn(16, 36, 1), mask=torch.arange(36).expand(16, 36) < 20)  # the masked path too
    assert seen == [1, 1] and torch.get_num_threads() == 2  # restored after each call
    big = getattr(lstmkit.layers, layer)(256)
    with torch.no_grad(), lstmkit.ops.use_backend("torch"):
        big(torch.randn(64, 50, 64))  # 2·64·50·4·256·320 = 2.1e9 flops for an LSTM: the caller's threads
    assert seen[2:] == [2]
    threads.set_num_threads(2)  # the user's count stands, small work or not
    try:
        with torch.no_grad():
            small(torch.randn(16, 36, 1))
    finally:
        threads.set_num_threads(None)
    assert seen[3:] == [2]


def test_validation_in_a_fused_fit_runs_on_one_thread(torch_on_two_threads, monkeypatch):
    from lstmkit import Sequential
    from lstmkit.layers import LSTM, Dense
    from lstmkit.training import fused_engine

    seen = _record_threads(monkeypatch, fused_engine, "evaluate_batches")  # only a fused engine calls this one
    x = torch.randn(40, 12, 1).numpy()
    model = Sequential([LSTM(16, input_shape=(12, 1)), Dense(1)])
    model.compile(loss="mse", optimizer="adam")
    history = model.fit(x, x[:, -1, 0], epochs=3, batch_size=8, validation_split=0.25, verbose=0, seed=0)
    assert len(history.history["val_loss"]) == 3 and seen == [1, 1, 1]
    assert torch.get_num_threads() == 2
