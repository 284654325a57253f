"""Serving the screen inside the running agent: a uvicorn server as a task in the daemon's
event loop, on a loopback socket of its own, with the agent's own secure-side state. Each
launch makes a fresh launch secret and forgets the previous launch; `screen.json` (mode 0600)
in the state directory holds the launch URL for the WebView that opens it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import uvicorn

from device_agent.errors import AgentError
from device_agent.screen.guard import Launch

if TYPE_CHECKING:
    from device_agent.agent import Agent
    from device_agent.screen.app import Screen

SCREEN_FILE = "screen.json"
log = logging.getLogger("tabard.agent.screen")


class _Server(uvicorn.Server):
    """uvicorn, leaving the daemon's own signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ScreenServer:
    """The screen's web server, started by the first launch and kept for later ones."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.screen: Screen | None = None
        self.server: _Server | None = None
        self.task: asyncio.Task[None] | None = None
        self.port: int | None = None

    async def launch(self, port: int = 0) -> dict[str, Any]:
        """A new launch (on the running server if it already has this port): its URL."""
        if self.server is None or port not in (0, self.port):
            await self.close()
            await self._start(port)
        assert self.screen is not None
        assert self.port is not None
        launch = Launch(self.port)
        self.screen.relaunch(launch)
        answer = {"url": launch.url, "port": self.port}
        self.agent.state.write_json(SCREEN_FILE, answer)
        return answer

    async def _start(self, port: int) -> None:
        from device_agent.screen.app import Screen
        from device_agent.screen.web import create_app

        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind(("127.0.0.1", port))
        except OSError as exc:
            listener.close()
            raise AgentError(
                f"cannot serve the screen on 127.0.0.1:{port} ({exc.strerror}); "
                "choose another port, or 0 for any free one"
            ) from None
        self.port = int(listener.getsockname()[1])
        self.screen = Screen(self.agent, Launch(self.port, secret=None))
        config = uvicorn.Config(
            create_app(self.screen),
            log_level="warning",
            access_log=False,
            lifespan="off",
            server_header=False,
        )
        self.server = _Server(config)
        self.task = asyncio.create_task(self.server.serve(sockets=[listener]))
        while not self.server.started:  # uvicorn says when it listens; nothing else to wait on
            if self.task.done():
                await self.task
                raise AgentError("the screen's web server stopped as it started")
            await asyncio.sleep(0.01)
        log.info("the screen is served on 127.0.0.1:%d", self.port)

    async def close(self) -> None:
        """Stop serving; the launch URL no longer works."""
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.server = self.task = self.screen = None
        self.port = None
        self.agent.state.path(SCREEN_FILE).unlink(missing_ok=True)
