"""Hearing, inside the application, that the server process has been asked to stop.

uvicorn stops on SIGTERM or SIGINT by closing its listening socket and waiting for the requests
in flight to finish; the application is told (the ASGI lifespan's shutdown) only after they
have. A long poll held open would make that wait as long as the poll, and end with uvicorn
cancelling it. So while the server runs, the application puts its own handler in front of the
server's: it schedules `on_stop` on the event loop (answering held polls at once), then hands
the signal to the handler that was there before, which stops the server as it always did."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# What a request answered 503 `server_stopping` is told to wait: a restart takes about this long.
STOPPING_RETRY_AFTER_S = 2
Handler = Callable[[int, FrameType | None], object]


@contextmanager
def hearing_stop_signals(
    loop: asyncio.AbstractEventLoop, on_stop: Callable[[], None]
) -> Iterator[None]:
    """While the block runs, a stop signal first schedules `on_stop` on `loop`, then goes to
    the handler installed before (the server's). Nothing changes where signals cannot be
    handled here (not the main thread, as under a test client) or where no Python handler was
    installed (nothing to hand the signal on to)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[signal.Signals, Handler] = {}
    for stop_signal in STOP_SIGNALS:
        handler = signal.getsignal(stop_signal)
        if callable(handler):
            previous[stop_signal] = handler

    def chained(signum: int, frame: FrameType | None) -> None:
        # A signal handler may interrupt code holding any lock: touch nothing here but the
        # loop's thread-safe queue.
        loop.call_soon_threadsafe(on_stop)
        previous[signal.Signals(signum)](signum, frame)

    for stop_signal in previous:
        signal.signal(stop_signal, chained)
    try:
        yield
    finally:
        for stop_signal, handler in previous.items():
            if signal.getsignal(stop_signal) is chained:
                signal.signal(stop_signal, handler)
