"""lazyfs's durability model, in-process (no FUSE): what survives a power loss, on a real backing directory."""

from __future__ import annotations

import errno
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.lazyfs.filesystem import STAGING_NAME, LazyFilesystem
from chaos.lazyfs.page_cache import PAGE_BYTES, FileData


@pytest.fixture
def backing(tmp_path: Path) -> Path:
    directory = tmp_path / "disk"
    directory.mkdir()
    return directory


@pytest.fixture
def fs(backing: Path) -> Iterator[LazyFilesystem]:
    descriptor = os.open(backing, os.O_RDONLY | os.O_DIRECTORY)
    filesystem = LazyFilesystem(descriptor)
    yield filesystem
    filesystem.close()
    os.close(descriptor)


def write_file(fs: LazyFilesystem, path: str, data: bytes, *, fsync: bool = False) -> None:
    handle = fs.create(path, 0o644)
    fs.write(handle, data, 0)
    if fsync:
        fs.fsync(None, handle)
    fs.release(handle)


def append(fs: LazyFilesystem, path: str, data: bytes, *, fsync: bool = False) -> None:
    handle = fs.open(path)
    fs.write(handle, data, fs.getattr(path)["st_size"])
    if fsync:
        fs.fsync(None, handle)
    fs.release(handle)


def read(fs: LazyFilesystem, path: str) -> bytes:
    handle = fs.open(path)
    try:
        return fs.read(handle, 1 << 20, 0)
    finally:
        fs.release(handle)


def exists(fs: LazyFilesystem, path: str) -> bool:
    try:
        fs.getattr(path)
    except OSError as error:
        assert error.errno == errno.ENOENT
        return False
    return True


def test_unsynced_write_is_served_but_lost_at_power_loss(fs: LazyFilesystem, backing: Path) -> None:
    write_file(fs, "/log", b"durable", fsync=True)
    fs.fsyncdir("/")
    append(fs, "/log", b"+volatile")
    assert read(fs, "/log") == b"durable+volatile"
    assert (backing / "log").read_bytes() == b"durable"  # the disk never saw it
    report = fs.lose_power()
    assert read(fs, "/log") == b"durable"
    assert report.lost_files == 1 and report.lost_unsynced_bytes > 0


def test_fsync_of_the_file_keeps_its_data(fs: LazyFilesystem) -> None:
    write_file(fs, "/log", b"a", fsync=True)
    fs.fsyncdir("/")
    append(fs, "/log", b"b" * 10_000, fsync=True)
    fs.lose_power()
    assert read(fs, "/log") == b"a" + b"b" * 10_000


def test_created_file_synced_but_not_its_directory_is_gone(fs: LazyFilesystem, backing: Path) -> None:
    write_file(fs, "/segment-2", b"acknowledged", fsync=True)
    assert not (backing / "segment-2").exists()  # its bytes wait in staging, under no durable name
    fs.lose_power()
    assert not exists(fs, "/segment-2")
    assert not (backing / STAGING_NAME).exists()


def test_directory_fsync_makes_the_created_file_durable(fs: LazyFilesystem) -> None:
    write_file(fs, "/segment-2", b"acknowledged", fsync=True)
    fs.fsyncdir("/")
    fs.lose_power()
    assert read(fs, "/segment-2") == b"acknowledged"


def test_directory_fsync_alone_keeps_the_name_but_not_the_data(fs: LazyFilesystem) -> None:
    write_file(fs, "/segment-2", b"never synced")
    fs.fsyncdir("/")
    fs.lose_power()
    assert exists(fs, "/segment-2") and read(fs, "/segment-2") == b""


def test_a_new_directory_needs_its_parent_synced(fs: LazyFilesystem) -> None:
    fs.mkdir("/group", 0o755)
    fs.mkdir("/group/wal", 0o755)
    write_file(fs, "/group/wal/1.log", b"x", fsync=True)
    fs.fsyncdir("/group/wal")
    fs.fsyncdir("/group")  # the root, holding "group", is not synced
    fs.lose_power()
    assert not exists(fs, "/group")
    fs.mkdir("/group", 0o755)
    fs.mkdir("/group/wal", 0o755)
    write_file(fs, "/group/wal/1.log", b"x", fsync=True)
    for directory in ("/group/wal", "/group", "/"):
        fs.fsyncdir(directory)
    fs.lose_power()
    assert read(fs, "/group/wal/1.log") == b"x"


def test_atomic_replace_by_rename_is_durable_only_with_the_directory_fsync(fs: LazyFilesystem) -> None:
    write_file(fs, "/state.json", b"old", fsync=True)
    fs.fsyncdir("/")
    write_file(fs, "/state.json.tmp", b"new", fsync=True)
    fs.rename("/state.json.tmp", "/state.json")
    assert read(fs, "/state.json") == b"new"
    fs.lose_power()
    assert read(fs, "/state.json") == b"old" and not exists(fs, "/state.json.tmp")
    write_file(fs, "/state.json.tmp", b"new", fsync=True)
    fs.rename("/state.json.tmp", "/state.json")
    fs.fsyncdir("/")
    fs.lose_power()
    assert read(fs, "/state.json") == b"new" and not exists(fs, "/state.json.tmp")


def test_rename_without_fsyncing_the_file_keeps_the_name_but_not_the_data(fs: LazyFilesystem) -> None:
    write_file(fs, "/state.json.tmp", b"new")  # the classic bug: rename without fsync of the file
    fs.rename("/state.json.tmp", "/state.json")
    fs.fsyncdir("/")
    fs.lose_power()
    assert read(fs, "/state.json") == b""


def test_cross_directory_rename_becomes_durable_with_either_directory(fs: LazyFilesystem) -> None:
    for directory in ("/a", "/b"):
        fs.mkdir(directory, 0o755)
    fs.fsyncdir("/")
    write_file(fs, "/a/f", b"data", fsync=True)
    fs.fsyncdir("/a")
    fs.rename("/a/f", "/b/f")
    fs.fsyncdir("/b")
    fs.lose_power()
    assert read(fs, "/b/f") == b"data" and not exists(fs, "/a/f")


def test_unlink_is_undone_unless_the_directory_is_synced(fs: LazyFilesystem, backing: Path) -> None:
    write_file(fs, "/old-segment", b"archived", fsync=True)
    fs.fsyncdir("/")
    fs.unlink("/old-segment")
    fs.lose_power()
    assert read(fs, "/old-segment") == b"archived"
    fs.unlink("/old-segment")
    fs.fsyncdir("/")
    fs.lose_power()
    assert not exists(fs, "/old-segment") and not (backing / "old-segment").exists()


def test_an_unlinked_open_file_keeps_its_bytes_until_closed(fs: LazyFilesystem) -> None:
    write_file(fs, "/f", b"x" * 5000, fsync=True)
    fs.fsyncdir("/")
    handle = fs.open("/f")
    fs.unlink("/f")
    fs.fsyncdir("/")
    assert fs.read(handle, 10, 4995) == b"xxxxx"
    fs.release(handle)
    assert fs.readdir("/") == [".", ".."]


def test_truncate_is_volatile_until_synced_and_hides_the_old_bytes(fs: LazyFilesystem) -> None:
    write_file(fs, "/f", b"abcdefgh" * 1000, fsync=True)
    fs.fsyncdir("/")
    fs.truncate("/f", 3)
    fs.truncate("/f", 6)  # growing again shows zeros, never the durable bytes past the cut
    assert read(fs, "/f") == b"abc\0\0\0"
    fs.lose_power()
    assert read(fs, "/f") == b"abcdefgh" * 1000
    fs.truncate("/f", 3)
    fs.fsync("/f")
    fs.lose_power()
    assert read(fs, "/f") == b"abc"


def test_torn_power_loss_writes_a_prefix_of_the_last_written_page(fs: LazyFilesystem, backing: Path) -> None:
    durable = b"d" * 100
    write_file(fs, "/wal", durable, fsync=True)
    fs.fsyncdir("/")
    append(fs, "/wal", b"u" * 300)
    report = fs.lose_power(torn_seed=7)
    torn = read(fs, "/wal")
    assert report.torn is not None and report.torn["path"] == "wal"
    assert torn.startswith(durable) and 100 < len(torn) <= 400
    assert torn[100:] == b"u" * (len(torn) - 100)  # a prefix of what was written, nothing else
    assert (backing / "wal").read_bytes() == torn


def test_torn_cut_is_replayable_by_seed(tmp_path: Path) -> None:
    sizes = []
    for attempt in range(2):
        directory = tmp_path / f"disk-{attempt}"
        directory.mkdir()
        descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        fs = LazyFilesystem(descriptor)
        write_file(fs, "/wal", b"d", fsync=True)
        fs.fsyncdir("/")
        append(fs, "/wal", b"u" * 3000)
        fs.lose_power(torn_seed=12345)
        sizes.append(fs.getattr("/wal")["st_size"])
        fs.close()
        os.close(descriptor)
    assert sizes[0] == sizes[1]


def test_clean_shutdown_makes_everything_durable(fs: LazyFilesystem, backing: Path) -> None:
    fs.mkdir("/g", 0o755)
    write_file(fs, "/g/item.db", b"rows")
    write_file(fs, "/gone", b"x", fsync=True)
    fs.unlink("/gone")
    fs.sync_all()
    assert (backing / "g" / "item.db").read_bytes() == b"rows"
    assert sorted(os.listdir(backing)) == ["g"]


def test_files_already_on_disk_are_durable_at_mount(backing: Path) -> None:
    (backing / "sub").mkdir()
    (backing / "sub" / "f").write_bytes(b"before the mount")
    (backing / STAGING_NAME).mkdir()  # left by a crashed lazyfs: never durable
    descriptor = os.open(backing, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fs = LazyFilesystem(descriptor)
        assert fs.readdir("/") == [".", "..", "sub"]
        fs.lose_power()
        assert read(fs, "/sub/f") == b"before the mount"
        fs.close()
    finally:
        os.close(descriptor)


def test_handles_from_before_a_power_loss_are_dead(fs: LazyFilesystem) -> None:
    handle = fs.create("/f", 0o644)
    fs.lose_power()
    with pytest.raises(OSError) as raised:
        fs.write(handle, b"late write from a killed process", 0)
    assert raised.value.errno == errno.EBADF
    fs.release(handle)  # the kernel's late release is ignored


@pytest.mark.parametrize("seed", range(20))
def test_page_cache_reads_back_random_writes_and_truncates(seed: int) -> None:
    rng = random.Random(seed)
    durable = bytearray(rng.randbytes(rng.randint(0, 3 * PAGE_BYTES)))
    data = FileData(size=len(durable), durable_size=len(durable))
    expected = bytearray(durable)

    def read_durable(offset: int, length: int) -> bytes:
        return bytes(durable[offset : offset + length])

    for _ in range(30):
        if rng.random() < 0.8:
            offset = rng.randint(0, 4 * PAGE_BYTES)
            chunk = rng.randbytes(rng.randint(1, 2 * PAGE_BYTES))
            data.write(offset, chunk, read_durable)
            if offset > len(expected):
                expected.extend(bytes(offset - len(expected)))
            expected[offset : offset + len(chunk)] = chunk
        else:
            length = rng.randint(0, 4 * PAGE_BYTES)
            data.truncate(length, read_durable)
            del expected[length:]
            expected.extend(bytes(length - len(expected)))
        offset, length = rng.randint(0, len(expected)), rng.randint(0, 3 * PAGE_BYTES)
        assert data.read(offset, length, read_durable) == bytes(expected[offset : offset + length])
    assert data.read(0, len(expected) + 10, read_durable) == bytes(expected)
    # Syncing writes exactly the extents and cut the model asks for; the disk then equals the view.
    cut = data.truncate_durable_to()
    if cut is not None:
        del durable[cut:]
    for offset, chunk in data.extents_to_sync():
        if offset > len(durable):
            durable.extend(bytes(offset - len(durable)))
        durable[offset : offset + len(chunk)] = chunk
    del durable[data.size :]
    durable.extend(bytes(data.size - len(durable)))
    data.mark_synced()
    assert bytes(durable) == bytes(expected)
