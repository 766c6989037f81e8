"""The settlement journal: a process-private, append-only file of bills not yet in the database.

A response's last bytes must not leave before its bill is safe (a request that completed is
billed, whatever happens next), and the client must not wait for bookkeeping that can happen after
its last byte. The journal does both: settling a request appends one record here (one ``write``
into the page cache, a few microseconds), the response is released, and the group-commit writer
puts the bill in the database afterwards. A ``kill -9`` loses nothing: the kernel still holds the
written bytes, and the next start replays every record whose owner is gone. Replaying a record
that did reach the database changes nothing (ledger postings and usage events are idempotent by
key), so the journal never has to know exactly how far the database got.

It does not survive the loss of the machine's page cache (a power cut, a kernel crash) within the
few milliseconds a record waits for its group commit; ``WAYSTATION_JOURNAL=off`` makes every
response wait for its database COMMIT instead.

Files: ``<dir>/settle-<pid>-<random>.journal``, written by one process that holds an exclusive
``flock`` on it for its lifetime. A file nobody holds a lock on belongs to a process that is gone.
Records: ``<u32 length><u32 crc32><payload>``; a torn or corrupt tail ends the file's replay.
A segment is rotated when it grows past :data:`SEGMENT_BYTES` and deleted once every record in it
is in the database.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("waystation.journal")

SUFFIX = ".journal"
#: A segment is rotated once it holds this much (it is deleted when all its records are written).
SEGMENT_BYTES = 4 << 20
_HEADER = struct.Struct("<II")


class Segment:
    """One journal file and how many of its records still wait for the database."""

    __slots__ = ("path", "fd", "size", "pending")

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.size = 0
        self.pending = 0

    def close(self, *, delete: bool) -> None:
        if delete:
            self.path.unlink(missing_ok=True)  # unlinked while still locked: nobody can replay it
        os.close(self.fd)  # releases the lock


def _open_locked(path: Path, flags: int) -> int | None:
    """Open ``path`` and take its exclusive lock without waiting; None when another process has it."""
    fd = os.open(path, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


class Journal:
    """This process's journal: :meth:`append` a record, :meth:`written` once it is in the database."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._current: Segment | None = None
        self._sealed: list[Segment] = []

    def _new_segment(self) -> Segment:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"settle-{os.getpid()}-{secrets.token_hex(6)}"
        # Created under a name replay ignores, locked, then renamed: a concurrent replay can never
        # take a live segment for an orphan.
        temporary = self.directory / f"{name}.new"
        fd = _open_locked(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND)
        assert fd is not None, "a file this process just created exclusively is not locked by another"
        final = self.directory / f"{name}{SUFFIX}"
        os.rename(temporary, final)
        return Segment(final, fd)

    def append(self, payload: bytes) -> Segment:
        """Write one record (before the response it bills is released). Returns its segment, to be
        passed to :meth:`written` when the record is in the database."""
        segment = self._current
        if segment is None or segment.size >= SEGMENT_BYTES:
            if segment is not None:
                self._seal(segment)
            segment = self._current = self._new_segment()
        record = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        written = os.write(segment.fd, record)
        if written != len(record):  # a full disk: the caller falls back to waiting for the database
            raise OSError(f"journal write of {len(record)} bytes wrote {written}")
        segment.size += written
        segment.pending += 1
        return segment

    def _seal(self, segment: Segment) -> None:
        if segment.pending:
            self._sealed.append(segment)
        else:
            segment.close(delete=True)

    def written(self, segment: Segment, count: int = 1) -> None:
        """``count`` records of ``segment`` are in the database."""
        segment.pending -= count
        if segment.pending == 0 and segment is not self._current:
            self._sealed.remove(segment)
            segment.close(delete=True)

    def close(self) -> None:
        """At shutdown, after the writer drained: delete what is fully written, keep the rest for
        the next start."""
        for segment in [*self._sealed, *([self._current] if self._current else [])]:
            segment.close(delete=segment.pending == 0)
        self._sealed.clear()
        self._current = None


def read_records(data: bytes) -> Iterator[bytes]:
    """The records of one journal file's contents, up to a torn or corrupt tail."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        payload = data[start:start + length]
        if len(payload) != length or zlib.crc32(payload) != crc:
            log.warning("journal record at byte %d is torn or corrupt; the rest of the file is ignored", offset)
            return
        yield payload
        offset = start + length


class Orphan:
    """A journal file whose writer is gone, locked by this process while it is replayed."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    def records(self) -> list[bytes]:
        return list(read_records(self.path.read_bytes()))

    def done(self) -> None:
        """Every record is in the database: delete the file."""
        self.path.unlink(missing_ok=True)
        os.close(self._fd)

    def abandon(self) -> None:
        """Replay failed: keep the file for the next start."""
        os.close(self._fd)


def orphans(directory: Path) -> Iterator[Orphan]:
    """Journal files in ``directory`` left by processes that are gone (those still running hold a
    lock on theirs), oldest first."""
    if not directory.is_dir():
        return
    paths = sorted(directory.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime)
    for path in paths:
        try:
            fd = _open_locked(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # replayed by another process meanwhile
        if fd is not None:
            if not path.exists():  # replayed and deleted between our listing and our lock
                os.close(fd)
                continue
            yield Orphan(path, fd)
