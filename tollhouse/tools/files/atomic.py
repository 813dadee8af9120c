"""Atomic replacement and no-replace renames, always relative to directory descriptors.

A write goes to a fresh temporary file in the target's own directory (created with ``O_EXCL`` and
``O_NOFOLLOW``), is fsynced, takes the old file's permission bits, and is renamed over the name; the
directory is fsynced after. Readers see the old content or the new, never a mix. Because the rename
installs a *new inode*, a hard link elsewhere that shared the old inode keeps the old content: a write
never reaches through a hard link.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import hashlib
import os
import secrets
import stat

from tollhouse.tools.base import ToolError
from tollhouse.tools.files.confine import lstat_at, refuse_special

_RENAME_NOREPLACE = 1


@functools.cache
def _renameat2():  # type: ignore[no-untyped-def]
    """libc's renameat2, or None where libc lacks it (then the link + unlink fallback is used)."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def rename_noreplace(src_dir: int, src: str, dst_dir: int, dst: str) -> None:
    """Rename ``src`` to ``dst`` failing with FileExistsError if ``dst`` exists, atomically.

    Uses ``renameat2(RENAME_NOREPLACE)``; where the kernel or filesystem lacks it, regular files fall
    back to ``link`` + ``unlink`` (``link`` never replaces), and directories are refused.
    """
    fn = _renameat2()
    if fn is not None:
        rc = fn(src_dir, os.fsencode(src), dst_dir, os.fsencode(dst), _RENAME_NOREPLACE)
        if rc == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(code, os.strerror(code))
    st = os.stat(src, dir_fd=src_dir, follow_symlinks=False)
    if stat.S_ISDIR(st.st_mode):
        raise ToolError("this filesystem cannot move a directory without risking an overwrite; refused")
    os.link(src, dst, src_dir_fd=src_dir, dst_dir_fd=dst_dir, follow_symlinks=False)
    os.unlink(src, dir_fd=src_dir)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino, a.st_size, a.st_mtime_ns) == (b.st_dev, b.st_ino, b.st_size, b.st_mtime_ns)


def write_atomic(
    dir_fd: int,
    name: str,
    data: bytes,
    *,
    overwrite: bool,
    rel: str,
    expect: os.stat_result | None = None,
) -> bool:
    """Write ``data`` as ``name`` in ``dir_fd``; returns True when the file was created.

    Without ``overwrite`` an existing name is refused, also when it appears while we write (the final
    step is a no-replace link). With it, only a regular file may be replaced; its mode is kept.
    ``expect`` is the stat of the file as the caller read it: a file changed since is not replaced.
    """
    old = lstat_at(dir_fd, name)
    if expect is not None and (old is None or not _same(old, expect)):
        raise ToolError(f"{rel!r} changed since it was read; nothing was written, read it again and retry")
    if old is not None:
        if stat.S_ISDIR(old.st_mode):
            raise ToolError(f"{rel!r} is a directory; pick a file name")
        if not stat.S_ISREG(old.st_mode):
            raise refuse_special(rel, old.st_mode)
        if not overwrite:
            raise ToolError(f"{rel!r} already exists; pass overwrite=true to replace it, or use files_edit")
    tmp = f".{name[:180]}.tollhouse-{secrets.token_hex(6)}.tmp"
    fd = os.open(
        tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666, dir_fd=dir_fd
    )
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if old is not None:
                os.fchmod(fd, stat.S_IMODE(old.st_mode))
            os.fsync(fd)
        finally:
            os.close(fd)
        if old is None:
            try:
                os.link(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
            except FileExistsError:
                raise ToolError(f"{rel!r} appeared while writing; nothing was overwritten") from None
            os.unlink(tmp, dir_fd=dir_fd)
        else:
            now = lstat_at(dir_fd, name)
            if now is None or not _same(now, old):
                raise ToolError(f"{rel!r} changed while writing; nothing was replaced, try again")
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        os.fsync(dir_fd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        raise
    return old is None
