"""Reading a zip from outside as a stream: its members in chunks, and a check that its bytes
are exactly those a writer would give its contents, made as the writer writes and held nowhere.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

CHUNK = 1 << 20


class Comparison(io.RawIOBase):
    """A seekable sink for zipfile that keeps nothing: each write is compared with the zip's
    own bytes at the same offset. zipfile writes a member's header, its data, then the header
    again with the CRC; the last write at an offset is the one that counts."""

    def __init__(self, original: IO[bytes]) -> None:
        super().__init__()
        self._original = original
        self._position = 0
        self._end = 0
        self._matches: dict[int, bool] = {}

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._position = offset if whence == io.SEEK_SET else self._end + offset
        return self._position

    def write(self, data: Any) -> int:
        written = bytes(data)
        self._original.seek(self._position)
        self._matches[self._position] = self._original.read(len(written)) == written
        self._position += len(written)
        self._end = max(self._end, self._position)
        return len(written)

    def same_as_original(self) -> bool:
        self._original.seek(0, io.SEEK_END)
        return all(self._matches.values()) and self._end == self._original.tell()


def chunks(archive: zipfile.ZipFile, name: str) -> Iterator[bytes]:
    with archive.open(name) as member:
        while chunk := member.read(CHUNK):
            yield chunk


@contextmanager
def opened(source: bytes | Path) -> Iterator[tuple[zipfile.ZipFile, IO[bytes]]]:
    """The zip, and a second handle on its bytes for a Comparison. zipfile's own errors
    (BadZipFile and others) say it is not a readable zip."""
    with ExitStack() as stack:
        handles: list[IO[bytes]]
        if isinstance(source, Path):
            handles = [stack.enter_context(source.open("rb")) for _ in range(2)]
        else:
            handles = [io.BytesIO(source), io.BytesIO(source)]
        archive = stack.enter_context(zipfile.ZipFile(handles[0]))
        yield archive, handles[1]
