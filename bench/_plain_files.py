"""The baseline for bench/apps.py: one file served plainly, by Starlette's `FileResponse` (as
Tabard's download route answers) on uvicorn with the settings `tabard serve` gives it, with
no authentication, database or command behind it.

    python -m bench._plain_files PATH PORT
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Route

APK_MEDIA_TYPE = "application/vnd.android.package-archive"


def plain_app(path: Path) -> Starlette:
    """`GET /file` answers the file at `path`."""

    async def serve_file(_: Request) -> FileResponse:
        return FileResponse(path, media_type=APK_MEDIA_TYPE, filename=path.name)

    return Starlette(routes=[Route("/file", serve_file)])


def main() -> None:
    path, port = Path(sys.argv[1]), int(sys.argv[2])
    uvicorn.run(
        plain_app(path),
        host="127.0.0.1",
        port=port,
        workers=1,
        access_log=False,
        log_level="info",
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
