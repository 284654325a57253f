"""Hearing a stop signal inside the application, ahead of the server's own handler."""

from __future__ import annotations

import asyncio
import signal
import threading
from types import FrameType

from mdm_server.stopping import hearing_stop_signals


def test_a_stop_signal_runs_on_stop_on_the_loop_then_reaches_the_servers_handler() -> None:
    heard: list[str] = []

    def server_handler(signum: int, frame: FrameType | None) -> None:
        heard.append(f"server {signal.Signals(signum).name}")

    async def serve() -> None:
        stopped = asyncio.Event()

        def on_stop() -> None:
            heard.append("on_stop")
            stopped.set()

        with hearing_stop_signals(asyncio.get_running_loop(), on_stop):
            signal.raise_signal(signal.SIGTERM)
            await asyncio.wait_for(stopped.wait(), timeout=30)
        assert signal.getsignal(signal.SIGTERM) is server_handler  # put back as it was

    before = signal.signal(signal.SIGTERM, server_handler)
    try:
        asyncio.run(serve())
    finally:
        signal.signal(signal.SIGTERM, before)
    assert heard == ["server SIGTERM", "on_stop"]  # on_stop runs on the loop, just after


def test_outside_the_main_thread_it_leaves_signals_alone() -> None:
    seen: list[object] = []

    def elsewhere() -> None:
        async def run() -> None:
            with hearing_stop_signals(asyncio.get_running_loop(), lambda: None):
                seen.append(signal.getsignal(signal.SIGTERM))

        asyncio.run(run())

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join(timeout=30)
    assert seen == [before]
