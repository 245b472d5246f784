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
    with pytest.raises(ValueError, match="positive integer"):
        threads.set_num_threads(0)
    before = torch.get_num_threads()
    with threads.thread_limit(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_other_cores_reads_proc_stat():
    threads._last_sample.clear()
    assert threads._others_cores() is None  # the first look only sets the baseline
    threads._last_sample[0] -= 1.0  # pretend a second has passed
    value = threads._others_cores()
    assert value is None or -1.0 <= value <= 64
