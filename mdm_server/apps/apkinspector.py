"""apkInspector, without its import-time side effect: its `axml` module calls
`logging.basicConfig(level=DEBUG)` when imported, which would send every library's debug lines
to standard error from every Tabard command and server that reads an APK (`tabard db upgrade`
printed each migration's internals). The root logger is put back as it was."""

from __future__ import annotations

import logging

_root = logging.getLogger()
_handlers, _level = list(_root.handlers), _root.level
try:
    from apkInspector import axml
    from apkInspector.extract import extract_file_based_on_header_info
    from apkInspector.headers import (
        CentralDirectory,
        CentralDirectoryEntry,
        EndOfCentralDirectoryRecord,
        LocalHeaderRecord,
    )
finally:
    for _handler in [h for h in _root.handlers if h not in _handlers]:
        _root.removeHandler(_handler)
    _root.setLevel(_level)

__all__ = [
    "CentralDirectory",
    "CentralDirectoryEntry",
    "EndOfCentralDirectoryRecord",
    "LocalHeaderRecord",
    "axml",
    "extract_file_based_on_header_info",
]
