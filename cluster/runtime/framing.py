"""Length-prefixed JSON frames on a byte stream: the wire format between our processes."""

from __future__ import annotations

import asyncio
import json
import struct

FRAME_HEADER = struct.Struct(">I")
# Bounded so that a corrupt or hostile length prefix cannot make a process allocate gigabytes.
MAX_FRAME_BYTES = 32 << 20


class FrameError(Exception):
    """The peer sent something that is not a frame of ours; the connection must be dropped."""


def encode_frame(payload: object) -> bytes:
    body = json.dumps(payload, separators=(",", ":")).encode()
    if len(body) > MAX_FRAME_BYTES:
        raise FrameError(f"frame of {len(body)} bytes exceeds {MAX_FRAME_BYTES}")
    return FRAME_HEADER.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> object:
    """Returns the decoded payload; raises asyncio.IncompleteReadError at a clean end of stream."""
    header = await reader.readexactly(FRAME_HEADER.size)
    (length,) = FRAME_HEADER.unpack(header)
    if length > MAX_FRAME_BYTES:
        raise FrameError(f"frame length {length} exceeds {MAX_FRAME_BYTES}")
    body = await reader.readexactly(length)
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FrameError(f"frame is not JSON: {error}") from error
