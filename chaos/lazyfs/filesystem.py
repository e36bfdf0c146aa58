"""A file system that keeps what was not synced in memory, so a power loss can drop it.

The backing directory holds exactly the durable state; the volatile state (what processes see) lives here:

- File data (and size) written or truncated stays in a page cache (page_cache.FileData) until fsync or
  fdatasync of that file writes it to the backing file. Both sync the size too: an appended record is
  readable after fdatasync, as POSIX requires.
- Names are strict POSIX: a create, mkdir, rename, unlink or rmdir changes only the volatile directory; it
  becomes durable when that directory is fsynced (fsync of the file alone does not make its name durable,
  unlike ext4 in practice, whose journal commit usually carries it). A cross-directory rename becomes
  durable, in both directories at once, when either directory is fsynced (no hard links are modelled).
- A file synced before its name is durable keeps its data in a staging directory under the backing root
  (hidden from readers); a power loss forgets it, as a crash forgets an inode no durable entry reaches.
- Mode, owner and times are volatile metadata served from memory and not modelled for durability.
- `lose_power` drops everything volatile (optionally tearing the last written page: a random prefix of it
  reaches the disk) and reloads the tree from the backing directory. `sync_all` (a clean unmount)
  makes everything durable, as a clean shutdown does.

All backing I/O goes through a descriptor of the backing root opened before the mount, so the file system
can be mounted over its own backing directory. Not thread-safe by itself: the FUSE adapter serialises calls.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import shutil
import stat
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from chaos.lazyfs.page_cache import PAGE_BYTES, FileData

STAGING_NAME = ".lazyfs-staging"
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2


def _error(code: int, what: str = "") -> OSError:
    return OSError(code, os.strerror(code), what)


@dataclass(eq=False)
class Node:
    number: int
    is_dir: bool
    mode: int  # permission bits only
    uid: int = 0
    gid: int = 0
    atime_ns: int = 0
    mtime_ns: int = 0
    ctime_ns: int = 0
    data: FileData | None = None  # files
    entries: dict[str, Node] = field(default_factory=dict)  # directories: what readers see
    durable_entries: dict[str, Node] = field(default_factory=dict)  # directories: what the backing holds
    parent: Node | None = None  # the directory naming it now (None: unlinked)
    durable_link: tuple[Node, str] | None = None  # the durable entry naming it in the backing
    staged: bool = False  # backing lives in the staging directory (synced, but no durable name)
    open_handles: int = 0
    descriptor: int = -1  # cached descriptor of the backing file
    last_write_sequence: int = 0


@dataclass
class PowerLossReport:
    lost_unsynced_bytes: int
    lost_files: int  # files with unsynced data
    lost_directory_changes: int  # directories whose entries differed from the durable ones
    torn: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return {
            "lost_unsynced_bytes": self.lost_unsynced_bytes,
            "lost_files": self.lost_files,
            "lost_directory_changes": self.lost_directory_changes,
            "torn": self.torn,
        }


class LazyFilesystem:
    def __init__(self, root_descriptor: int, clock_ns: Any = time.time_ns) -> None:
        self._root_fd = root_descriptor
        self._clock_ns = clock_ns
        self._next_number = 1
        self._handles: dict[int, Node] = {}
        self._next_handle = 1
        self._write_sequence = 0
        self.root = self._load()

    # ---- the durable tree ---------------------------------------------------------------------

    def _new_node(self, is_dir: bool, mode: int) -> Node:
        now = self._clock_ns()
        node = Node(self._next_number, is_dir, mode & 0o7777, os.getuid(), os.getgid(), now, now, now)
        self._next_number += 1
        if not is_dir:
            node.data = FileData()
        return node

    def _load(self) -> Node:
        """The tree as the backing holds it; leftovers in staging are not durable and are removed."""
        if STAGING_NAME in os.listdir(self._root_fd):
            shutil.rmtree(STAGING_NAME, dir_fd=self._root_fd)
        root_stat = os.stat(self._root_fd)
        root = self._node_from_stat(root_stat)
        self._load_directory(root, ".")
        return root

    def _node_from_stat(self, info: os.stat_result) -> Node:
        node = self._new_node(stat.S_ISDIR(info.st_mode), stat.S_IMODE(info.st_mode))
        node.uid, node.gid = info.st_uid, info.st_gid
        node.atime_ns, node.mtime_ns, node.ctime_ns = info.st_atime_ns, info.st_mtime_ns, info.st_ctime_ns
        if node.data is not None:
            node.data.size = node.data.durable_size = info.st_size
        return node

    def _load_directory(self, directory: Node, path: str) -> None:
        descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY, dir_fd=self._root_fd)
        try:
            names = sorted(os.listdir(descriptor))
            for name in names:
                info = os.stat(name, dir_fd=descriptor, follow_symlinks=False)
                if not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
                    continue  # only files and directories are modelled
                child = self._node_from_stat(info)
                child.parent = directory
                child.durable_link = (directory, name)
                directory.entries[name] = child
                directory.durable_entries[name] = child
                if child.is_dir:
                    self._load_directory(child, name if path == "." else f"{path}/{name}")
        finally:
            os.close(descriptor)

    def _backing_path(self, node: Node) -> str | None:
        if node is self.root:
            return "."
        if node.staged:
            return f"{STAGING_NAME}/{node.number}"
        if node.durable_link is None:
            return None
        parent, name = node.durable_link
        parent_path = self._backing_path(parent)
        if parent_path is None:
            raise AssertionError(f"durable entry {name!r} in a directory with no backing")
        return name if parent_path == "." else f"{parent_path}/{name}"

    def _ensure_staging(self) -> None:
        with contextlib.suppress(FileExistsError):
            os.mkdir(STAGING_NAME, 0o700, dir_fd=self._root_fd)

    def _descriptor(self, node: Node) -> int:
        if node.descriptor < 0:
            path = self._backing_path(node)
            if path is None:
                raise AssertionError("a file with durable bytes has a backing path")
            node.descriptor = os.open(path, os.O_RDWR | os.O_CLOEXEC, dir_fd=self._root_fd)
        return node.descriptor

    def _close_descriptor(self, node: Node) -> None:
        if node.descriptor >= 0:
            os.close(node.descriptor)
            node.descriptor = -1

    def _reader(self, node: Node) -> Any:
        def read_durable(offset: int, length: int) -> bytes:
            return os.pread(self._descriptor(node), length, offset)

        return read_durable

    # ---- lookups ------------------------------------------------------------------------------

    @staticmethod
    def _parts(path: str) -> list[str]:
        return [part for part in path.split("/") if part]

    def _lookup(self, path: str) -> Node:
        node = self.root
        for part in self._parts(path):
            if not node.is_dir:
                raise _error(errno.ENOTDIR, path)
            child = node.entries.get(part)
            if child is None:
                raise _error(errno.ENOENT, path)
            node = child
        return node

    def _parent_and_name(self, path: str) -> tuple[Node, str]:
        parts = self._parts(path)
        if not parts:
            raise _error(errno.EBUSY, path)
        parent = self._lookup("/".join(parts[:-1]))
        if not parent.is_dir:
            raise _error(errno.ENOTDIR, path)
        if parts[-1] == STAGING_NAME and parent is self.root:
            raise _error(errno.EPERM, path)
        return parent, parts[-1]

    def _node(self, path: str | None, handle: int | None) -> Node:
        if handle is not None and handle in self._handles:
            return self._handles[handle]
        if path is None:
            raise _error(errno.EBADF)
        return self._lookup(path)

    def _file(self, handle: int) -> Node:
        node = self._handles.get(handle)
        if node is None:
            raise _error(errno.EBADF)  # a handle from before a power loss
        return node

    # ---- reading the namespace ----------------------------------------------------------------

    def getattr(self, path: str | None, handle: int | None = None) -> dict[str, int]:
        node = self._node(path, handle)
        if node.is_dir:
            mode = stat.S_IFDIR | node.mode
            size = PAGE_BYTES
            links = 2 + sum(1 for child in node.entries.values() if child.is_dir)
        else:
            assert node.data is not None
            mode = stat.S_IFREG | node.mode
            size = node.data.size
            links = 1 if node.parent is not None else 0
        return {
            "st_mode": mode,
            "st_ino": node.number,
            "st_nlink": links,
            "st_size": size,
            "st_blocks": (size + 511) // 512,
            "st_uid": node.uid,
            "st_gid": node.gid,
            "st_atime": node.atime_ns,
            "st_mtime": node.mtime_ns,
            "st_ctime": node.ctime_ns,
        }

    def readdir(self, path: str) -> list[str]:
        node = self._lookup(path)
        if not node.is_dir:
            raise _error(errno.ENOTDIR, path)
        return [".", "..", *sorted(node.entries)]

    def statfs(self) -> dict[str, int]:
        info = os.statvfs(self._root_fd)
        keys = ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree", "f_favail", "f_namemax")
        return {key: getattr(info, key) for key in keys}

    # ---- changing the namespace (volatile until the directory is fsynced) ---------------------

    def _touch(self, *nodes: Node) -> None:
        now = self._clock_ns()
        for node in nodes:
            node.mtime_ns = node.ctime_ns = now

    def _insert(self, parent: Node, name: str, node: Node) -> None:
        if name in parent.entries:
            raise _error(errno.EEXIST, name)
        parent.entries[name] = node
        node.parent = parent
        self._touch(parent)

    def mkdir(self, path: str, mode: int) -> None:
        parent, name = self._parent_and_name(path)
        self._insert(parent, name, self._new_node(True, mode))

    def create(self, path: str, mode: int) -> int:
        parent, name = self._parent_and_name(path)
        node = self._new_node(False, mode)
        self._insert(parent, name, node)
        return self._open_handle(node)

    def _detach(self, parent: Node, name: str) -> Node:
        node = parent.entries.pop(name)
        node.parent = None
        self._touch(parent)
        node.ctime_ns = parent.mtime_ns
        self._forget_if_unreachable(node)
        return node

    def unlink(self, path: str) -> None:
        parent, name = self._parent_and_name(path)
        node = parent.entries.get(name)
        if node is None:
            raise _error(errno.ENOENT, path)
        if node.is_dir:
            raise _error(errno.EISDIR, path)
        self._detach(parent, name)

    def rmdir(self, path: str) -> None:
        parent, name = self._parent_and_name(path)
        node = parent.entries.get(name)
        if node is None:
            raise _error(errno.ENOENT, path)
        if not node.is_dir:
            raise _error(errno.ENOTDIR, path)
        if node.entries:
            raise _error(errno.ENOTEMPTY, path)
        self._detach(parent, name)

    def rename(self, old: str, new: str, flags: int = 0) -> None:
        if flags & RENAME_EXCHANGE or flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE):
            raise _error(errno.EINVAL, "only RENAME_NOREPLACE is supported")
        source_parent, source_name = self._parent_and_name(old)
        node = source_parent.entries.get(source_name)
        if node is None:
            raise _error(errno.ENOENT, old)
        target_parent, target_name = self._parent_and_name(new)
        ancestor: Node | None = target_parent
        while ancestor is not None:
            if ancestor is node:
                raise _error(errno.EINVAL, f"{new} is inside {old}")
            ancestor = ancestor.parent
        existing = target_parent.entries.get(target_name)
        if existing is node:
            return
        if existing is not None:
            if flags & RENAME_NOREPLACE:
                raise _error(errno.EEXIST, new)
            if existing.is_dir and not node.is_dir:
                raise _error(errno.EISDIR, new)
            if node.is_dir and not existing.is_dir:
                raise _error(errno.ENOTDIR, new)
            if existing.is_dir and existing.entries:
                raise _error(errno.ENOTEMPTY, new)
            self._detach(target_parent, target_name)
        del source_parent.entries[source_name]
        target_parent.entries[target_name] = node
        node.parent = target_parent
        self._touch(source_parent, target_parent)
        node.ctime_ns = target_parent.mtime_ns

    def _forget_if_unreachable(self, node: Node) -> None:
        """A node no name, handle or durable entry reaches is gone: free its staged backing and descriptor."""
        if node.parent is not None or node.open_handles > 0 or node.durable_link is not None:
            return
        self._close_descriptor(node)
        if node.staged:
            path = self._backing_path(node)
            assert path is not None
            if node.is_dir:
                shutil.rmtree(path, dir_fd=self._root_fd)
            else:
                os.unlink(path, dir_fd=self._root_fd)
            node.staged = False
        for child in list(node.entries.values()):
            child.parent = None
            self._forget_if_unreachable(child)

    # ---- metadata -------------------------------------------------------------------------------

    def chmod(self, path: str | None, mode: int, handle: int | None = None) -> None:
        node = self._node(path, handle)
        node.mode = mode & 0o7777
        node.ctime_ns = self._clock_ns()

    def chown(self, path: str | None, uid: int, gid: int, handle: int | None = None) -> None:
        node = self._node(path, handle)
        if uid != -1 and uid != 0xFFFFFFFF:
            node.uid = uid
        if gid != -1 and gid != 0xFFFFFFFF:
            node.gid = gid
        node.ctime_ns = self._clock_ns()

    def utimens(self, path: str | None, times: tuple[int, int] | None, handle: int | None = None) -> None:
        node = self._node(path, handle)
        now = self._clock_ns()
        node.atime_ns, node.mtime_ns = times if times is not None else (now, now)
        node.ctime_ns = now

    # ---- file data ------------------------------------------------------------------------------

    def _open_handle(self, node: Node) -> int:
        handle = self._next_handle
        self._next_handle += 1
        self._handles[handle] = node
        node.open_handles += 1
        return handle

    def open(self, path: str) -> int:
        node = self._lookup(path)
        return self._open_handle(node)

    def opendir(self, path: str) -> int:
        node = self._lookup(path)
        if not node.is_dir:
            raise _error(errno.ENOTDIR, path)
        return self._open_handle(node)

    def release(self, handle: int) -> None:
        node = self._handles.pop(handle, None)
        if node is None:
            return  # opened before a power loss: already forgotten
        node.open_handles -= 1
        if node.open_handles == 0:
            self._close_descriptor(node)
            self._forget_if_unreachable(node)

    def read(self, handle: int, size: int, offset: int) -> bytes:
        node = self._file(handle)
        if node.data is None:
            raise _error(errno.EISDIR)
        return node.data.read(offset, size, self._reader(node))

    def write(self, handle: int, data: bytes, offset: int) -> int:
        node = self._file(handle)
        if node.data is None:
            raise _error(errno.EISDIR)
        written = node.data.write(offset, data, self._reader(node))
        self._write_sequence += 1
        node.last_write_sequence = self._write_sequence
        self._touch(node)
        return written

    def truncate(self, path: str | None, length: int, handle: int | None = None) -> None:
        node = self._node(path, handle)
        if node.data is None:
            raise _error(errno.EISDIR, path or "")
        node.data.truncate(length, self._reader(node))
        self._write_sequence += 1
        node.last_write_sequence = self._write_sequence
        self._touch(node)

    # ---- durability ---------------------------------------------------------------------------

    def fsync(self, path: str | None, handle: int | None = None) -> None:
        node = self._node(path, handle)
        if node.is_dir:
            self.fsync_directory(node)
        else:
            self._sync_file(node)

    def fsyncdir(self, path: str | None, handle: int | None = None) -> None:
        node = self._node(path, handle)
        if not node.is_dir:
            raise _error(errno.ENOTDIR, path or "")
        self.fsync_directory(node)

    def _sync_file(self, node: Node) -> None:
        data = node.data
        assert data is not None
        if self._backing_path(node) is None:
            self._ensure_staging()
            node.staged = True
            descriptor = os.open(
                self._backing_path(node) or "", os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600,
                dir_fd=self._root_fd,
            )
            node.descriptor = descriptor
            data.durable_size = 0
        if not data.dirty and data.size == data.durable_size and data.truncate_durable_to() is None:
            return
        descriptor = self._descriptor(node)
        cut = data.truncate_durable_to()
        if cut is not None:
            os.ftruncate(descriptor, cut)
        for offset, chunk in data.extents_to_sync():
            os.pwrite(descriptor, chunk, offset)
        if data.size != os.fstat(descriptor).st_size:
            os.ftruncate(descriptor, data.size)
        data.mark_synced()

    def _materialise_directory(self, directory: Node) -> str:
        path = self._backing_path(directory)
        if path is None:
            self._ensure_staging()
            directory.staged = True
            path = self._backing_path(directory)
            assert path is not None
            os.mkdir(path, 0o700, dir_fd=self._root_fd)
        return path

    def _still_needed(self, node: Node) -> bool:
        return node.parent is not None or node.open_handles > 0

    def fsync_directory(self, directory: Node) -> None:
        """Make the directory's entries durable: the backing directory gets exactly its current names."""
        path = self._materialise_directory(directory)
        prefix = "" if path == "." else f"{path}/"
        for name, child in list(directory.durable_entries.items()):
            if directory.entries.get(name) is child:
                continue
            self._remove_durable_entry(directory, name, child, prefix + name)
        for name, child in directory.entries.items():
            if directory.durable_entries.get(name) is child:
                continue
            target = prefix + name
            source = self._backing_path(child)
            if source is None:
                if child.is_dir:
                    os.mkdir(target, 0o755, dir_fd=self._root_fd)
                else:
                    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=self._root_fd))
                    assert child.data is not None
                    child.data.durable_size = 0
            else:
                os.rename(source, target, src_dir_fd=self._root_fd, dst_dir_fd=self._root_fd)
                if child.durable_link is not None:
                    old_parent, old_name = child.durable_link
                    del old_parent.durable_entries[old_name]
            child.durable_link = (directory, name)
            child.staged = False
            directory.durable_entries[name] = child

    def _remove_durable_entry(self, directory: Node, name: str, child: Node, path: str) -> None:
        del directory.durable_entries[name]
        child.durable_link = None
        if self._still_needed(child):
            # Named elsewhere or open: its bytes must survive this entry, off every durable name.
            self._ensure_staging()
            child.staged = True
            staged = self._backing_path(child)
            assert staged is not None
            os.rename(path, staged, src_dir_fd=self._root_fd, dst_dir_fd=self._root_fd)
            return
        if child.is_dir:
            self._rescue_durable_descendants(child, path)
            shutil.rmtree(path, dir_fd=self._root_fd)
            self._unlink_durable_descendants(child)
        else:
            os.unlink(path, dir_fd=self._root_fd)
            self._close_descriptor(child)

    def _rescue_durable_descendants(self, directory: Node, path: str) -> None:
        """Before a removed directory's backing goes: move out what is still named elsewhere or open."""
        for name, child in list(directory.durable_entries.items()):
            child_path = f"{path}/{name}"
            if self._still_needed(child):
                del directory.durable_entries[name]
                self._ensure_staging()
                child.durable_link = None
                child.staged = True
                staged = self._backing_path(child)
                assert staged is not None
                os.rename(child_path, staged, src_dir_fd=self._root_fd, dst_dir_fd=self._root_fd)
            elif child.is_dir:
                self._rescue_durable_descendants(child, child_path)

    def _unlink_durable_descendants(self, directory: Node) -> None:
        for child in directory.durable_entries.values():
            child.durable_link = None
            self._close_descriptor(child)
            if child.is_dir:
                self._unlink_durable_descendants(child)
        directory.durable_entries.clear()

    def _walk(self) -> Iterator[Node]:
        queue = deque([self.root])
        while queue:
            node = queue.popleft()
            yield node
            queue.extend(node.entries.values())

    def paths(self) -> list[str]:
        """Every path of the volatile and of the durable tree ("/a/b"), the root included."""
        found: set[str] = set()
        stack: list[tuple[Node, str]] = [(self.root, "")]
        while stack:
            node, path = stack.pop()
            found.add(path or "/")
            for entries in (node.entries, node.durable_entries):
                for name, child in entries.items():
                    child_path = f"{path}/{name}"
                    if child_path not in found:
                        stack.append((child, child_path))
        return sorted(found)

    def sync_all(self) -> None:
        """A clean shutdown: every volatile change becomes durable (directories top-down, then files)."""
        for node in list(self._walk()):
            if node.is_dir:
                self.fsync_directory(node)
        for node in list(self._walk()):
            if not node.is_dir:
                self._sync_file(node)
        with contextlib.suppress(FileNotFoundError, OSError):
            os.rmdir(STAGING_NAME, dir_fd=self._root_fd)  # stays only while an unlinked file is open

    def discard_staging(self) -> None:
        """At unmount: what only staging holds has no durable name, so no restart could see it."""
        if STAGING_NAME in os.listdir(self._root_fd):
            shutil.rmtree(STAGING_NAME, dir_fd=self._root_fd)

    # ---- power ----------------------------------------------------------------------------------

    def lose_power(self, torn_seed: int | None = None) -> PowerLossReport:
        """Drop every volatile change; with a `torn_seed`, a random prefix of the last written page
        of the most recently written durably named file reaches the disk first."""
        files = [node for node in self._every_node() if node.data is not None]
        directories = [node for node in self._every_node() if node.is_dir]
        torn = self._tear(files, random.Random(torn_seed)) if torn_seed is not None else None
        report = PowerLossReport(
            lost_unsynced_bytes=sum(node.data.dirty_bytes for node in files if node.data is not None),
            lost_files=sum(1 for node in files if node.data is not None and node.data.dirty),
            lost_directory_changes=sum(1 for node in directories if node.entries != node.durable_entries),
            torn=torn,
        )
        for node in files:
            self._close_descriptor(node)
        self._handles.clear()
        self.root = self._load()
        return report

    def _every_node(self) -> list[Node]:
        """Volatile and durable trees together, plus what only an open handle still reaches."""
        seen: dict[int, Node] = {}
        queue = deque([self.root, *self._handles.values()])
        while queue:
            node = queue.popleft()
            if node.number in seen:
                continue
            seen[node.number] = node
            queue.extend(node.entries.values())
            queue.extend(node.durable_entries.values())
        return list(seen.values())

    def _durably_named(self, node: Node) -> bool:
        """Reached from the root through durable entries (a staged tree is forgotten at power loss)."""
        while node is not self.root:
            if node.durable_link is None:
                return False
            node = node.durable_link[0]
        return True

    def _tear(self, files: list[Node], rng: random.Random) -> dict[str, Any] | None:
        candidates = [
            node for node in files
            if node.data is not None and node.data.dirty and self._durably_named(node)
        ]
        if not candidates:
            return None
        node = max(candidates, key=lambda candidate: candidate.last_write_sequence)
        assert node.data is not None
        extent = node.data.torn_extent(rng)
        if extent is None:
            return None
        offset, chunk = extent
        descriptor = self._descriptor(node)
        os.pwrite(descriptor, chunk, offset)
        path = self._backing_path(node)
        return {"path": path, "offset": offset, "bytes": len(chunk), "durable_size": os.fstat(descriptor).st_size}

    def close(self) -> None:
        for node in self._every_node():
            self._close_descriptor(node)
