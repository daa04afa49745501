"""Ctrl-C that stops the engine, not only Python.

DuckDB runs a query inside one C call that Python's SIGINT handler cannot break into: the
KeyboardInterrupt waits until the query is over, however long that takes. So a blocking
engine call made from the main thread runs in a helper thread while the main thread waits,
where a Ctrl-C does arrive; it then asks the engine to stop (``duckdb``'s ``interrupt()``),
waits for the call to end and raises KeyboardInterrupt to the caller, whose connection is
still usable. psycopg does the same for PostgreSQL itself (it cancels the query on Ctrl-C).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import TypeVar

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
    outcome: list[T] = []
    failure: list[BaseException] = []
    done = threading.Event()

    def work() -> None:
        try:
            outcome.append(call())
        except BaseException as error:  # handed to the caller's thread, whatever it is
            failure.append(error)
        finally:
            done.set()

    threading.Thread(target=work, name="sqlml-engine-call", daemon=True).start()
    started = time.monotonic()
    try:
        while not done.wait(TICK_SECONDS if tick else None):
            if tick:
                tick(time.monotonic() - started)
    except KeyboardInterrupt:
        _stop(done, interrupt)
        raise
    if failure:
        raise failure[0]
    return outcome[0]


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
