"""The FUSE shell of LazyFilesystem: mfusepy's path-based operations, every call under one lock.

One lock, because the model is plain Python objects and the control channel (another thread) must see a
consistent file system when it drops power. libfuse runs single-threaded (`-s`) anyway: the GIL allows no
parallel Python, and one thread keeps the order of requests the order of arrival.

The kernel caches attributes (KERNEL_CACHE_S), not names (below): a round trip to this process per fstat or
O_APPEND write would cost the store throughput. Every change reaches the kernel through this mount except
a power loss, after which `invalidate` tells the kernel to forget what it cached of every path; each
process opening a file again drops the kernel's cached pages of it (no keep_cache).
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterable
from typing import Any

import mfusepy

from chaos.lazyfs.filesystem import LazyFilesystem

KERNEL_CACHE_S = 30.0

_libfuse = mfusepy._libfuse
_libfuse.fuse_invalidate_path.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_libfuse.fuse_invalidate_path.restype = ctypes.c_int


class LazyOperations(mfusepy.Operations):
    use_ns = True  # times as integer nanoseconds, as the model keeps them

    def __init__(self, filesystem: LazyFilesystem, lock: threading.Lock) -> None:
        self.filesystem = filesystem
        self._lock = lock
        self._fuse_handle: int | None = None  # libfuse's struct fuse, known from init on

    def init_with_config(self, conn_info: Any, config_3: Any) -> None:
        self._fuse_handle = _libfuse.fuse_get_context().contents.fuse

    def invalidate(self, paths: Iterable[str]) -> None:
        """Drops the kernel's cached entries, attributes and pages of `paths` (call without the lock:
        the kernel may wait for a request this process is serving)."""
        if self._fuse_handle is None:
            return
        for path in paths:
            # -ENOENT for a path the kernel never looked up: it caches nothing of it.
            _libfuse.fuse_invalidate_path(self._fuse_handle, path.encode("utf-8", "surrogateescape"))

    # Names
    def getattr(self, path: str | None, fh: int | None = None) -> dict[str, Any]:
        with self._lock:
            return self.filesystem.getattr(path, fh)

    def readdir(self, path: str, fh: int) -> list[str]:
        with self._lock:
            return self.filesystem.readdir(path)

    def mkdir(self, path: str, mode: int) -> int:
        with self._lock:
            self.filesystem.mkdir(path, mode)
        return 0

    def rmdir(self, path: str) -> int:
        with self._lock:
            self.filesystem.rmdir(path)
        return 0

    def unlink(self, path: str) -> int:
        with self._lock:
            self.filesystem.unlink(path)
        return 0

    def rename(self, old: str, new: str) -> int:
        with self._lock:
            self.filesystem.rename(old, new)
        return 0

    def chmod(self, path: str | None, mode: int) -> int:
        with self._lock:
            self.filesystem.chmod(path, mode)
        return 0

    def chown(self, path: str | None, uid: int, gid: int) -> int:
        with self._lock:
            self.filesystem.chown(path, uid, gid)
        return 0

    def utimens(self, path: str | None, times: tuple[int, int] | None = None) -> int:
        with self._lock:
            self.filesystem.utimens(path, times)
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        with self._lock:
            return self.filesystem.statfs()

    # Files
    def create(self, path: str, mode: int, fi: Any = None) -> int:
        with self._lock:
            return self.filesystem.create(path, mode)

    def open(self, path: str, flags: int) -> int:
        with self._lock:
            return self.filesystem.open(path)

    def opendir(self, path: str) -> int:
        with self._lock:
            return self.filesystem.opendir(path)

    def read(self, path: str | None, size: int, offset: int, fh: int) -> bytes:
        with self._lock:
            return self.filesystem.read(fh, size, offset)

    def write(self, path: str | None, data: bytes, offset: int, fh: int) -> int:
        with self._lock:
            return self.filesystem.write(fh, data, offset)

    def truncate(self, path: str | None, length: int, fh: int | None = None) -> int:
        with self._lock:
            self.filesystem.truncate(path, length, fh)
        return 0

    def flush(self, path: str | None, fh: int) -> int:
        return 0  # close(2) is not a sync point: data stays volatile

    def fsync(self, path: str | None, datasync: int, fh: int) -> int:
        with self._lock:
            self.filesystem.fsync(path, fh)
        return 0

    def fsyncdir(self, path: str | None, datasync: int, fh: int) -> int:
        with self._lock:
            self.filesystem.fsyncdir(path, fh)
        return 0

    def release(self, path: str | None, fh: int) -> int:
        with self._lock:
            self.filesystem.release(fh)
        return 0

    def releasedir(self, path: str | None, fh: int) -> int:
        with self._lock:
            self.filesystem.release(fh)
        return 0

    def destroy(self, path: str) -> None:
        # A clean unmount is a clean shutdown: what the page cache holds reaches the disk.
        with self._lock:
            self.filesystem.sync_all()
            self.filesystem.close()
            self.filesystem.discard_staging()


class LazyFuse(mfusepy.FUSE):
    """mfusepy's FUSE, passing the file handle of an ftruncate (SQLite truncates open files, and with
    hard_remove an unlinked open file has no path)."""

    def truncate_fuse_3(self, path: bytes | None, length: int, fip: Any) -> int:
        handle = fip.contents.fh if fip else None
        decoded = None if path is None else path.decode(self.encoding, self.errors)
        return self.operations.truncate(decoded, length, handle)


def mount(operations: LazyOperations, mountpoint: str) -> None:
    """Serve until unmounted (blocks)."""
    LazyFuse(
        operations,
        mountpoint,
        foreground=True,
        nothreads=True,
        fsname="lazyfs",
        subtype="lazyfs",
        default_permissions=True,
        hard_remove=True,
        attr_timeout=KERNEL_CACHE_S,
        # Names are looked up every time: fuse_invalidate_path drops a path's attributes and pages but not
        # the kernel's dentry, so after a power loss a dropped directory still "existed" (`mkdir -p` skipped
        # it) while creating a file in it failed with ENOENT (seen: a store's group could not be reopened).
        entry_timeout=0,
        negative_timeout=0,  # a name a power loss brings back must not stay "absent" in the kernel
    )

