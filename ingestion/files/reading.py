"""Reading a JSONL file in blocks of whole lines, with bounded memory whatever it holds.

A plain file is read as byte ranges that workers re-read themselves; a gzip stream as blocks.
A line longer than the per-line cap is skipped, not buffered (`LongLine` keeps its first
bytes for the quarantine), and a block that is mostly empty lines is split at bytes speed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ingestion.lake.quarantine import KEPT_BYTES

_NOT_EMPTY = re.compile(rb"[^\n\r][^\n]*|\r[^\n]+")


def split_lines(blob: bytes, newlines: int) -> tuple[list[bytes], list[int] | None, int]:
    """The lines of a block, without the empty ones when there are many (a newline flood).

    Returns the lines, their 0-based numbers in the block (None: numbered in order) and how
    many empty lines were left out. Events are hundreds of bytes: a block averaging under 32
    bytes a line is mostly empty lines, which one C-speed regex scan skips.
    """
    if newlines * 32 <= len(blob):
        lines = blob.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        return lines, None, 0
    lines, numbers = [], []
    n = pos = 0
    count = blob.count
    for m in _NOT_EMPTY.finditer(blob):
        start = m.start()
        n += count(b"\n", pos, start)
        pos = start
        lines.append(m.group())
        numbers.append(n)
    total = newlines + (0 if blob.endswith(b"\n") or not blob else 1)
    return lines, numbers, total - len(lines)


@dataclass(frozen=True)
class LongLine:
    """A line longer than the per-line cap: where it starts, its length, its first bytes."""

    pos: int
    length: int  # without its newline
    head: bytes
    ended: bool  # False when the file ended inside it


def skip_line(fh: BinaryIO, seen: int, read_bytes: int) -> tuple[int, bool, bytes]:
    """Read past the rest of a line whose first `seen` bytes are read, keeping none of it.

    Returns the line's length (without its newline), whether a newline ended it, and the
    bytes read after that newline. Memory stays at one read, whatever the line's length.
    """
    length = seen
    while True:
        block = fh.read(read_bytes)
        if not block:
            return length, False, b""
        cut = block.find(b"\n")
        if cut >= 0:
            return length + cut, True, block[cut + 1 :]
        length += len(block)


def iter_chunks(
    fh: BinaryIO, chunk_bytes: int, max_line: int = 1 << 62
) -> Iterator[tuple[int, bytes, int] | LongLine]:
    """Blocks of whole lines of a stream (gzip), as `iter_ranges` yields them; the last block
    may hold an unfinished line (`end` 0). A line longer than `max_line` is skipped, not
    buffered: it comes as a `LongLine`."""
    pending = b""
    while True:
        block = fh.read(chunk_bytes)
        if not block:
            break
        block = pending + block if pending else block
        cut = block.rfind(b"\n")
        if cut < 0:
            pending = block
        else:
            pending = block[cut + 1 :]
            yield 0, block[: cut + 1], cut + 1
        while len(pending) > max_line and b"\n" not in pending:
            length, ended, rest = skip_line(fh, len(pending), chunk_bytes)
            yield LongLine(0, length, pending[:KEPT_BYTES], ended)
            pending = rest
            cut = pending.rfind(b"\n")
            if cut >= 0:
                yield 0, pending[: cut + 1], cut + 1
                pending = pending[cut + 1 :]
    if pending:
        yield 0, pending, 0


def iter_ranges(
    fh: BinaryIO, start: int, chunk_bytes: int, max_line: int = 1 << 62
) -> Iterator[tuple[int, bytes, int] | LongLine]:
    """Ranges of whole lines of a plain file: (offset, block, end of the whole lines in block).

    Each block is read where the previous range ended (a seek, not a copy of the partial
    line); `end` is 0 for the last block when it holds no newline at all (an unfinished line).
    A line longer than `max_line` is skipped, not buffered: it comes as a `LongLine`.
    """
    pos = start
    while True:
        fh.seek(pos)
        block = fh.read(chunk_bytes)
        if not block:
            return
        cut = block.rfind(b"\n")
        while cut < 0:  # a line longer than a chunk: read on to its end
            if len(block) > max_line:
                length, ended, _ = skip_line(fh, len(block), chunk_bytes)
                yield LongLine(pos, length, block[:KEPT_BYTES], ended)
                if not ended:
                    return
                pos += length + 1
                break
            more = fh.read(chunk_bytes)
            if not more:
                yield pos, block, 0
                return
            cut = more.rfind(b"\n")
            cut = cut + len(block) if cut >= 0 else -1
            block += more
        else:
            yield pos, block, cut + 1
            pos += cut + 1
