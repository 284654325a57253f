"""The device's file system, as much of it as ADB can see: `/data/local/tmp`, `/sdcard`
(a link to `/storage/emulated/0`), read-only `/system`, and the APKs pushed for install.

Paths are absolute POSIX paths. Failures return Linux errno values, which the sync service
reports as adbd does."""

from __future__ import annotations

import base64
import errno
import posixpath
import stat
from dataclasses import dataclass, field
from typing import Any

ENOENT, EACCES, EEXIST, ENOTDIR, EISDIR, EROFS, ENOSPC, ENOTEMPTY = (
    errno.ENOENT,
    errno.EACCES,
    errno.EEXIST,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EROFS,
    errno.ENOSPC,
    errno.ENOTEMPTY,
)
MESSAGES = {
    ENOENT: "No such file or directory",
    EACCES: "Permission denied",
    EEXIST: "File exists",
    ENOTDIR: "Not a directory",
    EISDIR: "Is a directory",
    EROFS: "Read-only file system",
    ENOSPC: "No space left on device",
    ENOTEMPTY: "Directory not empty",
}
SHELL_UID = 2000
SDCARD_RW_GID = 1015
CAPACITY_BYTES = 512 * 1024 * 1024
# Where the shell user may write; everything else is someone else's or read-only.
WRITABLE_ROOTS = ("/data/local/tmp", "/storage/emulated/0")
READ_ONLY_ROOTS = ("/system", "/vendor")


class FsError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(MESSAGES.get(code, f"errno {code}"))
        self.code = code


@dataclass
class Node:
    mode: int
    mtime: int
    data: bytes = b""
    target: str = ""  # for symbolic links
    uid: int = 0
    gid: int = 0

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_link(self) -> bool:
        return stat.S_ISLNK(self.mode)

    @property
    def size(self) -> int:
        return len(self.target) if self.is_link else len(self.data)


def _dir(perm: int, uid: int = 0, gid: int = 0) -> Node:
    return Node(mode=stat.S_IFDIR | perm, mtime=1230768000, uid=uid, gid=gid)


@dataclass
class VirtualFS:
    nodes: dict[str, Node] = field(default_factory=dict)

    @classmethod
    def fresh(cls) -> VirtualFS:
        fs = cls()
        for path, node in (
            ("/", _dir(0o755)),
            ("/data", _dir(0o771, 1000, 1000)),
            ("/data/local", _dir(0o751, SHELL_UID, SHELL_UID)),
            ("/data/local/tmp", _dir(0o771, SHELL_UID, SHELL_UID)),
            ("/data/app", _dir(0o771, 1000, 1000)),
            ("/storage", _dir(0o755)),
            ("/storage/emulated", _dir(0o555)),
            ("/storage/emulated/0", _dir(0o770, 0, SDCARD_RW_GID)),
            ("/storage/emulated/0/Download", _dir(0o770, 0, SDCARD_RW_GID)),
            ("/system", _dir(0o755)),
            ("/system/bin", _dir(0o755, 0, SHELL_UID)),
            ("/system/app", _dir(0o755)),
            ("/system/xbin", _dir(0o755, 0, SHELL_UID)),
            ("/vendor", _dir(0o755)),
        ):
            fs.nodes[path] = node
        fs.nodes["/sdcard"] = Node(
            mode=stat.S_IFLNK | 0o777, mtime=1230768000, target="/storage/self/primary"
        )
        fs.nodes["/storage/self"] = _dir(0o755)
        fs.nodes["/storage/self/primary"] = Node(
            mode=stat.S_IFLNK | 0o777, mtime=1230768000, target="/storage/emulated/0"
        )
        return fs

    # -- paths ---------------------------------------------------------------------------

    def resolve(self, path: str, *, follow: bool = True, depth: int = 0) -> str:
        """The real path behind `path`, following links in every component (and in the last
        one if `follow`)."""
        if depth > 16:
            raise FsError(errno.ELOOP)
        path = posixpath.normpath(path if path.startswith("/") else "/" + path)
        if path == "/":
            return path
        parts = path.strip("/").split("/")
        current = ""
        for index, part in enumerate(parts):
            current = f"{current}/{part}"
            node = self.nodes.get(current)
            last = index == len(parts) - 1
            if node is not None and node.is_link and (follow or not last):
                target = (
                    node.target
                    if node.target.startswith("/")
                    else posixpath.join(posixpath.dirname(current), node.target)
                )
                rest = "/".join(parts[index + 1 :])
                joined = posixpath.join(target, rest) if rest else target
                return self.resolve(joined, follow=follow, depth=depth + 1)
        return current

    def lookup(self, path: str, *, follow: bool = True) -> Node:
        real = self.resolve(path, follow=follow)
        node = self.nodes.get(real)
        if node is None:
            parent = posixpath.dirname(real)
            if parent != real and parent in self.nodes and not self.nodes[parent].is_dir:
                raise FsError(ENOTDIR)
            raise FsError(ENOENT)
        return node

    def exists(self, path: str) -> bool:
        try:
            self.lookup(path)
        except FsError:
            return False
        return True

    @staticmethod
    def _writable(real: str) -> None:
        if any(real == root or real.startswith(root + "/") for root in READ_ONLY_ROOTS):
            raise FsError(EROFS)
        if not any(real == root or real.startswith(root + "/") for root in WRITABLE_ROOTS):
            raise FsError(EACCES)

    def used_bytes(self) -> int:
        return sum(len(node.data) for node in self.nodes.values())

    # -- operations ----------------------------------------------------------------------

    def listdir(self, path: str) -> list[tuple[str, Node]]:
        real = self.resolve(path)
        node = self.lookup(real)
        if not node.is_dir:
            raise FsError(ENOTDIR)
        if real == "/data" or real.startswith("/data/app"):
            raise FsError(EACCES)  # not listable by the shell user
        prefix = real.rstrip("/") + "/"
        children = [
            (name[len(prefix) :], child)
            for name, child in self.nodes.items()
            if name.startswith(prefix) and "/" not in name[len(prefix) :] and name != real
        ]
        return sorted(children)

    def read(self, path: str) -> bytes:
        node = self.lookup(path)
        if node.is_dir:
            raise FsError(EISDIR)
        real = self.resolve(path)
        if real.startswith("/data/app/"):
            raise FsError(EACCES)
        return node.data

    def write(self, path: str, data: bytes, *, mode: int, mtime: int) -> None:
        """Create or replace a file, making missing parent directories as adbd does."""
        real = self.resolve(path)
        self._writable(real)
        existing = self.nodes.get(real)
        if existing is not None and existing.is_dir:
            raise FsError(EISDIR)
        growth = len(data) - (len(existing.data) if existing else 0)
        if self.used_bytes() + growth > CAPACITY_BYTES:
            raise FsError(ENOSPC)
        self.mkdir(posixpath.dirname(real), parents=True)
        perm = stat.S_IMODE(mode) or 0o644
        self.nodes[real] = Node(
            mode=stat.S_IFREG | perm, mtime=mtime, data=data, uid=SHELL_UID, gid=SHELL_UID
        )

    def symlink(self, path: str, target: str, *, mtime: int) -> None:
        real = self.resolve(path, follow=False)
        self._writable(real)
        self.nodes[real] = Node(
            mode=stat.S_IFLNK | 0o777, mtime=mtime, target=target, uid=SHELL_UID, gid=SHELL_UID
        )

    def mkdir(self, path: str, *, parents: bool = False, mtime: int = 1230768000) -> None:
        real = self.resolve(path)
        if real in self.nodes:
            if self.nodes[real].is_dir and parents:
                return
            raise FsError(EEXIST)
        parent = posixpath.dirname(real)
        if parent not in self.nodes:
            if not parents:
                raise FsError(ENOENT)
            self.mkdir(parent, parents=True, mtime=mtime)
        self._writable(real)
        self.nodes[real] = _dir(0o771, SHELL_UID, SHELL_UID)
        self.nodes[real].mtime = mtime

    def remove(self, path: str, *, recursive: bool = False) -> None:
        real = self.resolve(path, follow=False)
        node = self.nodes.get(real)
        if node is None:
            raise FsError(ENOENT)
        self._writable(real)
        if node.is_dir:
            children = [name for name in self.nodes if name.startswith(real + "/")]
            if children and not recursive:
                raise FsError(EISDIR)
            for name in children:
                del self.nodes[name]
        del self.nodes[real]

    # -- persistence ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            path: {
                "mode": oct(node.mode),
                "mtime": node.mtime,
                "uid": node.uid,
                "gid": node.gid,
                **({"target": node.target} if node.is_link else {}),
                **({"data_base64": base64.b64encode(node.data).decode()} if node.data else {}),
            }
            for path, node in sorted(self.nodes.items())
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VirtualFS:
        return cls(
            {
                path: Node(
                    mode=int(entry["mode"], 8),
                    mtime=int(entry["mtime"]),
                    data=base64.b64decode(entry.get("data_base64", "")),
                    target=entry.get("target", ""),
                    uid=int(entry.get("uid", 0)),
                    gid=int(entry.get("gid", 0)),
                )
                for path, entry in data.items()
            }
        )
