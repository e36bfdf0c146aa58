"""The volatile contents of one file: dirty pages over the durable bytes, as an OS page cache holds them.

Pure logic: the durable bytes are read through a callback and written back by the caller, so this module
touches no file. A write lands in whole pages (read-modify-write of a partly written page, as the kernel
does); a truncate that shrinks the file hides the durable bytes past the new size until the next sync.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

PAGE_BYTES = 4096
_NO_LIMIT = 1 << 62

ReadDurable = Callable[[int, int], bytes]  # (offset, length) -> at most `length` durable bytes


@dataclass
class FileData:
    size: int = 0  # what readers see now
    durable_size: int = 0  # what the backing file holds (survives a power loss)
    dirty: dict[int, bytearray] = field(default_factory=dict)  # page index -> PAGE_BYTES of volatile content
    # Bytes at or past this offset read as zeros unless a dirty page covers them: a shrinking truncate
    # since the last sync hid the durable bytes there (they come back only if power is lost).
    hidden_from: int = _NO_LIMIT
    last_written_page: int | None = None

    @property
    def dirty_bytes(self) -> int:
        return len(self.dirty) * PAGE_BYTES

    def _durable_limit(self) -> int:
        return min(self.durable_size, self.hidden_from)

    def _page(self, index: int, read_durable: ReadDurable) -> bytearray:
        page = self.dirty.get(index)
        if page is None:
            page = bytearray(PAGE_BYTES)
            start = index * PAGE_BYTES
            limit = min(self._durable_limit(), start + PAGE_BYTES)
            if limit > start:
                durable = read_durable(start, limit - start)
                page[: len(durable)] = durable
            self.dirty[index] = page
        return page

    def write(self, offset: int, data: bytes | memoryview, read_durable: ReadDurable) -> int:
        view = memoryview(data)
        position = offset
        while view:
            index, within = divmod(position, PAGE_BYTES)
            count = min(PAGE_BYTES - within, len(view))
            if within == 0 and count == PAGE_BYTES:
                # A whole page: nothing of the old content survives, no need to read it.
                self.dirty[index] = bytearray(view[:count])
            else:
                self._page(index, read_durable)[within : within + count] = view[:count]
            view = view[count:]
            position += count
            self.last_written_page = index
        self.size = max(self.size, offset + len(data))
        return len(data)

    def read(self, offset: int, length: int, read_durable: ReadDurable) -> bytes:
        end = min(offset + length, self.size)
        if end <= offset:
            return b""
        out = bytearray(end - offset)
        durable_end = min(end, self._durable_limit())
        if durable_end > offset:
            durable = read_durable(offset, durable_end - offset)
            out[: len(durable)] = durable
        first, last = offset // PAGE_BYTES, (end - 1) // PAGE_BYTES
        if len(self.dirty) < last - first + 1:
            pages: Iterator[int] = (index for index in sorted(self.dirty) if first <= index <= last)
        else:
            pages = (index for index in range(first, last + 1) if index in self.dirty)
        for index in pages:
            page = self.dirty[index]
            start = index * PAGE_BYTES
            low, high = max(start, offset), min(start + PAGE_BYTES, end)
            out[low - offset : high - offset] = page[low - start : high - start]
        return bytes(out)

    def truncate(self, length: int, read_durable: ReadDurable) -> None:
        if length < self.size:
            index, within = divmod(length, PAGE_BYTES)
            if within:
                # The kept part of the last page stays; the rest must read as zeros if the file grows again.
                page = self._page(index, read_durable)
                page[within:] = bytes(PAGE_BYTES - within)
                index += 1
            for stale in [page_index for page_index in self.dirty if page_index >= index]:
                del self.dirty[stale]
            self.hidden_from = min(self.hidden_from, length)
        self.size = length

    def extents_to_sync(self) -> list[tuple[int, bytes]]:
        """(offset, bytes) runs of contiguous dirty pages within the size, in offset order."""
        runs: list[tuple[int, bytes]] = []
        run_start: int | None = None
        run = bytearray()
        previous = -2
        for index in sorted(self.dirty):
            start = index * PAGE_BYTES
            if start >= self.size:
                break
            page = self.dirty[index][: min(PAGE_BYTES, self.size - start)]
            if index == previous + 1 and run_start is not None:
                run += page
            else:
                if run_start is not None:
                    runs.append((run_start, bytes(run)))
                run_start, run = start, bytearray(page)
            previous = index
        if run_start is not None:
            runs.append((run_start, bytes(run)))
        return runs

    def truncate_durable_to(self) -> int | None:
        """Where the backing file must be cut before the dirty pages are written, or None."""
        return self.hidden_from if self.hidden_from < self.durable_size else None

    def mark_synced(self) -> None:
        self.dirty.clear()
        self.durable_size = self.size
        self.hidden_from = _NO_LIMIT
        self.last_written_page = None

    def torn_extent(self, rng: random.Random) -> tuple[int, bytes] | None:
        """A random non-empty prefix of the last written page's unsynced bytes, as a torn write leaves it
        on disk (the part written before the power failed); None when nothing of it is unsynced."""
        index = self.last_written_page
        if index is None or index not in self.dirty:
            return None
        start = index * PAGE_BYTES
        end = min(start + PAGE_BYTES, self.size)
        if end <= start:
            return None
        # The cut falls past the page's durable bytes (appended data), or anywhere when it overwrote them.
        low = start if self.durable_size >= end else max(start, self.durable_size)
        cut = rng.randint(low + 1, end)
        return start, bytes(self.dirty[index][: cut - start])
