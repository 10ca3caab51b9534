"""Reading an input file a user names, bounded in time and memory.

Every file the command line reads (a scenario, its manifest files, a sweep file, a node's
``iptables-save`` dump for ``trace --rules``) goes through :func:`read_input` (or
:func:`open_input` to stream its lines, as a million-line dump is best read): it must be a
regular file (a directory, a FIFO, a device such as ``/dev/zero``, a socket or a symbolic
link loop each get one clear line instead of a hang or an exhausted memory), and at most a
documented size:

``MAX_YAML_BYTES`` (64 MiB)
    scenarios, manifest files and sweep files, each. The apiserver takes at most 3 MiB per
    request body; a scenario bundles a whole cluster: 100,000 Services as
    ``benchmarks/load_bench.py`` writes them are 30 MiB, and a bigger cluster can be split
    over several ``spec.manifests`` files. Loading holds about 60 times a file's size in
    nodes and data (measured: 170 MiB for the 3 MiB of 10,000 Services), so 64 MiB bounds
    it to about 4 GiB.
``MAX_RULES_BYTES`` (1 GiB)
    ``trace --rules`` dumps. The largest published node dump (kubernetes#96018, about 700,000
    lines) and a 1,000,000-rule ``iptables-save`` of kube-proxy's rules (about 103 bytes a
    rule: 100 MiB) fit well under it.

A file that grows while it is read (``/proc`` files report size 0) is still cut at the
limit: the reader never holds more than the limit plus one byte.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from sim.model.errors import SimError

MAX_YAML_BYTES = 64 * 2**20
MAX_RULES_BYTES = 2**30

_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


def size_text(n: int) -> str:
    """A byte count as a person reads it.

    >>> size_text(64 * 2**20), size_text(2**30), size_text(1500)
    ('64 MiB', '1 GiB', '1500 bytes')
    """
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"


def check_input(path: str | Path, name: str | None = None, limit: int = MAX_YAML_BYTES) -> None:
    """Refuse, with one line, anything but a regular file of at most ``limit`` bytes (before
    it is opened: opening a FIFO would block, reading ``/dev/zero`` would never end).

    Raises
    ------
    SimError
        Missing file, not a regular file, symbolic link loop, no permission, or larger than
        ``limit`` bytes.
    """
    shown = name or str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise SimError(f"{shown}: no such file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SimError(f"{shown}: cannot read: a symbolic link loop "
                           "(too many levels of symbolic links)") from None
        raise SimError(f"{shown}: cannot read: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise SimError(f"{shown}: is a directory, not a file")
    for test, kind in _KINDS:
        if test(st.st_mode):
            raise SimError(f"{shown}: is {kind}, not a regular file (save the input to a file first)")
    if st.st_size > limit:
        raise _too_big(shown, limit)


def _too_big(shown: str, limit: int) -> SimError:
    return SimError(f"{shown}: larger than the {size_text(limit)} input limit "
                    f"(see sim/scenario/inputfile.py)")


def read_input(path: str | Path, name: str | None = None, limit: int = MAX_YAML_BYTES) -> bytes:
    """The bytes of the regular file ``path`` (:func:`check_input` first); ``name`` is how the
    file is shown in messages (default: ``path`` as given)."""
    shown = name or str(path)
    check_input(path, shown, limit)
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise SimError(f"{shown}: cannot read: {exc.strerror}") from None
    if len(data) > limit:
        raise _too_big(shown, limit)
    return data


class _Bounded:
    """A binary file read line by line that stops with :class:`SimError` past ``limit``."""

    def __init__(self, fh, shown: str, limit: int) -> None:
        self._fh, self._shown, self._limit, self._read = fh, shown, limit, 0

    def __enter__(self) -> "_Bounded":
        return self

    def __exit__(self, *exc) -> None:
        self._fh.close()

    def __iter__(self):
        for line in self._fh:
            self._read += len(line)
            if self._read > self._limit:
                raise _too_big(self._shown, self._limit)
            yield line


def open_input(path: str | Path, name: str | None = None, limit: int = MAX_RULES_BYTES) -> _Bounded:
    """The regular file ``path`` (:func:`check_input` first), open for streaming its lines
    (``with open_input(...) as f: for raw in f: ...``), never more than ``limit`` bytes."""
    shown = name or str(path)
    check_input(path, shown, limit)
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise SimError(f"{shown}: cannot read: {exc.strerror}") from None
    return _Bounded(fh, shown, limit)


def text_lines(lines: Iterable[bytes], name: str, what: str) -> Iterator[str]:
    """:func:`decode_text` streamed over a file's raw lines (as :func:`open_input` gives
    them): the lines of the text as ``str.splitlines`` splits the whole, with the same
    messages for the first line at fault (the whole-text form reports a NUL byte before an
    earlier non-UTF-8 byte)."""
    offset = 0
    for lineno, raw in enumerate(lines, start=1):
        nul = raw.find(b"\0")
        if nul >= 0:
            raise SimError(f"{name}:{lineno}: a binary file, not text: NUL byte at offset "
                           f"{offset + nul} ({what})")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SimError(f"{name}:{lineno}: not UTF-8 text: byte 0x{raw[exc.start]:02x} at "
                           f"offset {offset + exc.start} ({what})") from None
        offset += len(raw)
        yield from text.splitlines()


def decode_text(data: bytes, name: str, what: str) -> str:
    """``data`` as UTF-8 text, or one line naming the line and byte that is not.

    >>> decode_text(b"a\\n\\xff", "f", "iptables-save writes UTF-8")
    Traceback (most recent call last):
    ...
    sim.model.errors.SimError: f:2: not UTF-8 text: byte 0xff at offset 2 (iptables-save writes UTF-8)
    """
    nul = data.find(b"\0")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise SimError(f"{name}:{line}: a binary file, not text: NUL byte at offset {nul} ({what})")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SimError(f"{name}:{line}: not UTF-8 text: byte 0x{data[exc.start]:02x} at offset "
                       f"{exc.start} ({what})") from None
