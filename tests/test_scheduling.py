"""The scan writer's scheduling (``scan._ordered``): results in task order, the calling
thread one of the workers, no thread left after a save, an error or an early close."""

from __future__ import annotations

import threading
import time

import pytest

from pillow_streamjpeg import scan

WAIT = 30.0  # seconds a task waits for another before the test fails instead of hanging


def _pool_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("streamjpeg")]


@pytest.mark.parametrize("workers", [2, 3, 5])
@pytest.mark.parametrize("count", [2, 3, 17])
def test_results_in_task_order_coded_by_the_calling_thread_and_the_pool(workers: int,
                                                                        count: int) -> None:
    """Task 0 waits until task 1 has run: it completes only if another thread codes task 1
    meanwhile, whichever thread took task 0 (the calling thread the next task or one after
    it, or the pool)."""
    one_done = threading.Event()
    threads: dict[int, threading.Thread] = {}

    def work(task: int) -> int:
        threads[task] = threading.current_thread()
        if task == 0:
            assert one_done.wait(WAIT), "no other thread coded task 1"
        elif task == 1:
            one_done.set()
        else:
            time.sleep(0.001 * (task % 3))
        return task * task

    assert list(scan._ordered(range(count), work, workers)) == [t * t for t in range(count)]
    assert sorted(threads) == list(range(count))
    assert threads[0] is not threads[1]
    if workers == 2:  # one pool thread: task 0 or task 1 was the calling thread's
        assert threading.current_thread() in (threads[0], threads[1])
    assert all(t is threading.current_thread() or t.name.startswith("streamjpeg")
               for t in threads.values())
    assert len({t for t in threads.values() if t.name.startswith("streamjpeg")}) <= workers - 1
    assert _pool_threads() == []


def test_the_calling_thread_codes_later_tasks_while_the_pool_codes_the_next() -> None:
    """With 2 workers (one pool thread), the pool's first task (0 or 1) waits until task 2
    is done: the calling thread must code the tasks after it instead of waiting for its
    result (else the task fails after WAIT seconds)."""
    first = threading.Event()
    two_done = threading.Event()

    def work(task: int) -> int:
        if not threading.current_thread().name.startswith("streamjpeg"):
            assert first.wait(WAIT), "the pool thread coded no task"
        elif not first.is_set():
            first.set()
            assert two_done.wait(WAIT), "the calling thread waited instead of coding on"
        if task == 2:
            two_done.set()
        return task

    assert list(scan._ordered(range(6), work, 2)) == list(range(6))
    assert first.is_set() and two_done.is_set() and _pool_threads() == []


@pytest.mark.parametrize("bad", [0, 1, 4])
def test_an_error_in_any_task_reaches_the_caller_and_leaves_no_thread(bad: int) -> None:
    coded = []

    def work(task: int) -> int:
        coded.append(task)
        if task == bad:
            raise RuntimeError(f"task {task} failed")
        time.sleep(0.002)
        return task

    results = []
    with pytest.raises(RuntimeError, match=f"task {bad} failed"):
        for result in scan._ordered(range(40), work, 2):
            results.append(result)
    assert results == list(range(len(results))) and len(results) <= bad
    assert len(coded) <= bad + 1 + scan.TASKS_PER_WORKER * 2
    assert _pool_threads() == []


def test_closed_early_no_queued_task_runs_and_no_thread_is_left() -> None:
    coded = []

    def work(task: int) -> int:
        coded.append(task)
        time.sleep(0.002)
        return task

    results = scan._ordered(range(100), work, 2)
    assert next(results) == 0
    results.close()
    done = len(coded)
    assert done <= 1 + scan.TASKS_PER_WORKER * 2
    time.sleep(0.05)
    assert len(coded) == done and _pool_threads() == []
