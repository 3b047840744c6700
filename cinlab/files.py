"""Files that are never half-written, never silently replaced, and never written by two runs at once.

- :func:`check_output` is the one overwrite guard: called *before* long work (a Gatys run, an
  export), it refuses an existing file unless ``overwrite`` is given and says why a path cannot
  be written (missing folder, a folder where a file should go, read-only, no permission).
- :func:`write_bytes` and :func:`atomic_output` write through a temporary file in the same folder
  and then publish it in one step: with ``overwrite`` by ``os.replace``; without, by a hard link,
  which fails if the name exists, so of two processes racing for one new name exactly one wins.
  A full disk or a crash leaves the old file byte-identical and no partial file behind.
  Temporary names are shortened where needed, so any name the file system allows can be written.
- :class:`RunLock` keeps two training processes out of one run folder; its lock file is never
  reached through a symbolic or hard link (a planted link cannot make training overwrite
  another file).
- :func:`safe_file_names` turns names that come from files (a checkpoint's style names) into
  file names that stay inside their folder and are distinct.
- :func:`file_sha256` hashes files in blocks (weights can be hundreds of MB).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import socket
import stat
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Iterator, Sequence

#: How every "already exists" message ends, in the API and on the command line.
OVERWRITE_HINT = "pass overwrite=True (on the command line: --overwrite) to replace it"


class OutputError(OSError):
    """A file cannot be written where it was asked for; the message says why and what to do."""


class RunLockedError(RuntimeError):
    """Another process is training in this run folder."""


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_output(path: str | os.PathLike, overwrite: bool = False, *, create_parent: bool = True) -> Path:
    """Check, before any work is done, that ``path`` can be written; returns it as a ``Path``.

    Raises ``FileExistsError`` for an existing file without ``overwrite``, and
    :class:`OutputError` for a path that is a folder, a parent that cannot be created, or a
    folder that is read-only or not ours to write.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(
            f"{path} is a folder; give a file name inside it (e.g. {path / ('out' + (path.suffix or '.png'))})."
        )
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; {OVERWRITE_HINT}.")
    parent = path.parent
    if not parent.exists():
        if not create_parent:
            raise OutputError(f"The folder {parent} does not exist; create it first.")
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise _explain(err, parent) from None
    if not parent.is_dir():
        raise OutputError(f"{parent} is a file, not a folder: choose another output path.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(
            f"Cannot write into {parent}: the folder is read-only or you lack permission. Choose another output folder."
        )
    return path


def _explain(err: OSError, path: Path) -> OutputError:
    """An OSError from writing ``path`` as one sentence naming the problem and the fix."""
    reasons = {
        errno.ENOSPC: "the disk is full: free some space or write somewhere else",
        errno.EDQUOT: "the disk quota is exhausted: free some space or write somewhere else",
        errno.EROFS: "the file system is read-only: choose another output folder",
        errno.EACCES: "permission denied: choose a folder you can write to",
        errno.EPERM: "permission denied: choose a folder you can write to",
        errno.ENOENT: "its folder does not exist: create it first",
        errno.EISDIR: "it is a folder: give a file name",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
    }
    reason = reasons.get(err.errno, err.strerror or str(err))
    return OutputError(err.errno or 0, f"Cannot write {path}: {reason}.")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; when the block succeeds, publish it as ``path``.

    ``overwrite=False`` publishes only if ``path`` does not exist at that moment (a hard link,
    atomic): a concurrent writer that got there first wins and this one raises
    ``FileExistsError``. On any error the temporary file is removed and ``path`` is untouched.
    """
    path = check_output(path, overwrite)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path), suffix=_TEMP_SUFFIX)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fix_permissions(tmp)
        _publish(tmp, path, overwrite)
    except OSError as err:
        if isinstance(err, (FileExistsError, OutputError)):
            raise
        raise _explain(err, path) from None
    finally:
        tmp.unlink(missing_ok=True)


_TEMP_SUFFIX = ".tmp"
#: What mkstemp adds to a prefix: 8 random characters.
_TEMP_RANDOM = 8


def name_max(folder: str | os.PathLike) -> int:
    """The longest file name (in bytes) the file system of ``folder`` allows (255 on most)."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def _truncate_bytes(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` bytes of the file-system encoding, not inside a UTF-8 character."""
    encoded = os.fsencode(text)
    if len(encoded) <= limit:
        return text
    cut = encoded[: max(limit, 0)]
    for drop in range(4):  # a UTF-8 character is at most 4 bytes: back off to its start
        try:
            return cut[: len(cut) - drop].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return os.fsdecode(cut)  # not UTF-8 at all (a name in another encoding): bytes as they are


def _temp_prefix(path: Path) -> str:
    """``.<name>.`` for the temporary file next to ``path``, the name shortened so that the whole
    temporary name (prefix, 8 random characters, ``.tmp``) fits the file system's name limit.

    It keeps the ``.<...>.<random>.tmp`` shape :func:`remove_stale_temp_files` looks for.
    """
    room = name_max(path.parent) - len(".") - len(".") - _TEMP_RANDOM - len(_TEMP_SUFFIX)
    return f".{_truncate_bytes(path.name, room)}."


def write_bytes(path: str | os.PathLike, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`)."""
    path = Path(path)
    with atomic_output(path, overwrite) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return path


def _fix_permissions(tmp: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions


def _publish(tmp: Path, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # fails with FileExistsError if the name was taken meanwhile
    except FileExistsError:
        raise FileExistsError(f"{path} already exists; {OVERWRITE_HINT}.") from None
    except OSError as err:  # file systems without hard links: exclusive create, then copy
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            raise FileExistsError(f"{path} already exists; {OVERWRITE_HINT}.") from None
        os.close(fd)
        os.replace(tmp, path)


def remove_stale_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete temporary files an interrupted write left in ``folder`` (``.<name>.<random>.tmp``).

    Call it only while no other writer can be active there (e.g. holding the :class:`RunLock`).
    """
    folder = Path(folder)
    removed = []
    if folder.is_dir():
        for tmp in folder.glob(".*.tmp"):
            if tmp.is_file():
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    return removed


class RunLock:
    """An exclusive lock on a run folder, held while a training run writes there.

    Uses ``fcntl.flock`` on ``<folder>/.lock``: the operating system releases it when the
    process ends, however it ends (``kill -9`` included), so a stale lock never blocks a
    restart. The lock file is opened without following links (``O_NOFOLLOW``) and must be a
    plain file with one name: a ``.lock`` that is a symbolic link, a hard link to another
    file, a FIFO or a device is refused with :class:`OutputError` and left alone, since the
    lock writes (truncates) its file. The file records who holds it, for the message another process gets. Re-entrant
    within one process (the command line holds it around a whole command, the trainer around
    each ``fit``).
    """

    _held: dict[str, list[int]] = {}  # folder -> [file descriptor, depth], for this process

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / ".lock"

    def _key(self) -> str:
        return os.path.realpath(self.folder)

    def acquire(self) -> "RunLock":
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        key = self._key()
        if key in RunLock._held:
            RunLock._held[key][1] += 1
            return self
        fd = open_no_follow(self.path, os.O_RDWR | os.O_CREAT, what="run lock")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise RunLockedError(
                f"Another training process ({holder}) is using the run folder {self.folder}; wait for it to finish, "
                "stop it, or choose another folder."
            ) from None
        os.ftruncate(fd, 0)
        os.write(
            fd,
            json.dumps(
                {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
            ).encode(),
        )
        RunLock._held[key] = [fd, 1]
        return self

    def release(self) -> None:
        key = self._key()
        entry = RunLock._held.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del RunLock._held[key]
            os.close(entry[0])  # closing the descriptor releases the flock

    @property
    def held(self) -> bool:
        """True while this process holds the lock."""
        return self._key() in RunLock._held

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def open_no_follow(path: str | os.PathLike, flags: int, mode: int = 0o644, *, what: str = "file") -> int:
    """``os.open`` that never follows a symbolic link in the last component and only opens a
    plain file with one name (no FIFO, device, or hard link to some other file); returns the
    descriptor. A link or special file raises :class:`OutputError` naming it and the fix.

    For files cinlab writes in folders others may share (run folders): a planted ``.lock`` or
    log link must not make it write through to the file it points to.
    """
    path = Path(path)
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    refuse = OutputError(
        errno.ELOOP,
        f"{path} is a link or a special file, not cinlab's {what}; cinlab does not write through it. "
        "Remove it (or choose another folder) and run again.",
    )
    try:
        # O_NONBLOCK: opening a planted FIFO must not hang (it is refused just below).
        fd = os.open(path, flags | nofollow | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0), mode)
    except OSError as err:
        if err.errno == errno.ELOOP or (err.errno in (errno.ENXIO, errno.EMLINK) and path.is_symlink()):
            raise refuse from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
        os.close(fd)
        raise refuse
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return fd


# ----------------------------------------------------------------------------- names from data

#: Characters kept as they are in a file name made from data; everything else becomes "_".
_UNSAFE = re.compile(r"[^\w.\-+=,@ ]", re.UNICODE)
#: Names Windows reserves (a folder shared with Windows, or a zip unpacked there).
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def safe_file_name(name: str, *, max_bytes: int = 100, fallback: str = "style") -> str:
    """``name`` (text from a file: a style name) as a readable file name that cannot leave its folder.

    Path separators, ``..``, control characters and other unsafe characters become ``_``;
    leading dots and spaces go (no hidden files, no ``.``/``..``); the result is at most
    ``max_bytes`` bytes, never empty (``fallback``), and never a reserved Windows device name.
    Plain names (``starry_night``) come back unchanged.
    """
    text = unicodedata.normalize("NFC", str(name))
    text = "".join("_" if unicodedata.category(ch)[0] in "CZ" and ch != " " else ch for ch in text)
    text = _UNSAFE.sub("_", text)
    text = re.sub(r"_{2,}", "_", text).strip(" .")
    text = _truncate_bytes(text, max_bytes).rstrip(" .")
    if not text or text.split(".")[0].lower() in _RESERVED:
        text = f"{fallback}_{text}" if text else fallback
    return text


def safe_file_names(names: Sequence[str], *, max_bytes: int = 100, fallback: str = "style") -> list[str]:
    """:func:`safe_file_name` for each name, made distinct: where two names would give the same
    file name (also when they differ only in letter case, for case-insensitive file systems),
    each of them gets ``_<position>`` appended (its index in ``names``: the style label).
    """
    safe = [safe_file_name(n, max_bytes=max_bytes, fallback=fallback) for n in names]
    counts: dict[str, int] = {}
    for s in safe:
        counts[s.casefold()] = counts.get(s.casefold(), 0) + 1
    out = [f"{s}_{i}" if counts[s.casefold()] > 1 else s for i, s in enumerate(safe)]
    # Appending a number could collide with another name that already ends in one ("a_1"): number on.
    seen: set[str] = set()
    for i, s in enumerate(out):
        candidate, k = s, 1
        while candidate.casefold() in seen:
            candidate, k = f"{s}_{k}", k + 1
        seen.add(candidate.casefold())
        out[i] = candidate
    return out


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode() or "{}")
        return f"pid {info.get('pid', '?')} on {info.get('host', '?')}, since {info.get('since', '?')}"
    except (OSError, ValueError):
        return "unknown holder"
