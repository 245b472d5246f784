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
