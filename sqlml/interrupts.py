"""Ctrl-C that stops the engine, not only Python.

DuckDB runs a query inside one C call that Python's SIGINT handler cannot break into: the
KeyboardInterrupt waits until the query is over, however long that takes. So a blocking
engine call made from the main thread runs in a helper thread while the main thread waits,
where a Ctrl-C does arrive; it then asks the engine to stop (``duckdb``'s ``interrupt()``),
waits for the call to end and raises KeyboardInterrupt to the caller, whose connection is
still usable. psycopg does the same for PostgreSQL itself (it cancels the query on Ctrl-C).
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

T = TypeVar("T")


TICK_SECONDS = 0.5


def interruptible(
    call: Callable[[], T],
    interrupt: Callable[[], object],
    tick: Callable[[float], object] | None = None,
) -> T:
    """``call()``, stopped by ``interrupt()`` when Ctrl-C is pressed while it runs;
    ``tick(seconds so far)`` is called every half second while it runs (for progress)."""
    if not _ctrl_c_raises_here():
        # No KeyboardInterrupt can arrive here (another thread's, or a program's own
        # SIGINT handler): the call runs as it is, in its own thread, without progress.
        return call()
    job = _Job(call)
    _helper().put(job)
    started = time.monotonic()
    try:
        while not job.done.wait(TICK_SECONDS if tick else None):
            if tick:
                tick(time.monotonic() - started)
    except KeyboardInterrupt:
        _stop(job.done, interrupt)
        raise
    if job.failure is not None:
        raise job.failure
    return cast(T, job.outcome)


class _Job:
    def __init__(self, call: Callable[[], Any]):
        self.call = call
        self.done = threading.Event()
        self.outcome: Any = None
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            self.outcome = self.call()
        except BaseException as error:  # handed to the caller's thread, whatever it is
            self.failure = error
        finally:
            self.done.set()


# One helper thread, kept: only the main thread hands it calls, one at a time (it waits for
# each), and starting a thread per call cost more than a small statement itself.
_JOBS: queue.SimpleQueue[_Job] | None = None
_STARTING = threading.Lock()


def _forget_helper() -> None:
    global _JOBS
    _JOBS = None


# A forked child has the queue but not the thread: it starts its own.
os.register_at_fork(after_in_child=_forget_helper)


def _helper() -> queue.SimpleQueue[_Job]:
    global _JOBS
    with _STARTING:
        if _JOBS is None:
            jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()

            def serve() -> None:
                while True:
                    jobs.get().run()

            threading.Thread(target=serve, name="sqlml-engine-calls", daemon=True).start()
            _JOBS = jobs
        return _JOBS


def _stop(done: threading.Event, interrupt: Callable[[], object]) -> None:
    """Interrupt the call and wait until it has ended; each further Ctrl-C asks again."""
    while True:
        interrupt()
        try:
            done.wait()
            return
        except KeyboardInterrupt:
            continue


def _ctrl_c_raises_here() -> bool:
    return (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
