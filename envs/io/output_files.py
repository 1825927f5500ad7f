"""Writing results so that a failure loses nothing: targets checked before the work, files replaced whole.

A solve can take minutes; a path that cannot be written must be refused before it starts, not after. And a
write that fails half-way (a full disk, a killed process) must leave the previous file as it was: every
result is written to a temporary file beside its target and renamed over it in one step (`replaced`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from envs.errors import NcoError


def _nearest_existing(path: Path) -> Path:
    """The path itself or its nearest ancestor that exists (what a `mkdir -p` of the rest would start from)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_folder_usable(folder: Path, what: str) -> None:
    base = _nearest_existing(folder)
    if not base.is_dir():
        raise NcoError(f"{what}: {base} is a file, not a folder")
    try:  # a real file, not os.access: root, read-only mounts and /proc answer access() wrongly
        fd, probe = tempfile.mkstemp(prefix=".nco-probe-", dir=base)
    except OSError as e:
        raise NcoError(f"{what}: cannot write in {base} ({e.strerror or e})") from None
    os.close(fd)
    os.unlink(probe)


def check_file_target(path: str | Path, what: str) -> Path:
    """Refuse, in one line naming `what` (e.g. `--output out.json`), a file path that could not be written."""
    path = Path(path)
    if path.is_dir():
        raise NcoError(f"{what}: is a folder; give a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise NcoError(f"{what}: the file is read-only")
    _check_folder_usable(path.parent, what)
    return path


def check_folder_target(path: str | Path, what: str) -> Path:
    """Refuse a folder path (created if missing) that could not hold the results."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NcoError(f"{what}: is a file; give a folder when solving a folder")
    _check_folder_usable(path, what)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def replaced(path: str | Path) -> Iterator[Path]:
    """A temporary file beside `path` (same suffix, so writers that go by it still can) to write into; when
    the block ends normally it replaces `path` in one rename, else it is removed and `path` is untouched.
    An OSError (full disk, permissions) becomes one line naming the file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    except OSError as e:
        raise NcoError(f"cannot write {path}: {e.strerror or e}") from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:  # on disk before the rename: a crash leaves the old file or the new one
            os.fsync(f.fileno())
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask()
        os.chmod(tmp, mode)  # mkstemp's 0600 would make a shared result private
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise NcoError(f"cannot write {path}: {e.strerror or e}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    """`text` into `path`, whole or not at all."""
    with replaced(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
