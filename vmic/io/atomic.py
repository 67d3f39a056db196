"""Write outputs atomically: to a temporary name in the same folder, then rename.

An interrupted run (Ctrl-C, crash, kill) therefore never leaves a half-written file under
the final name, and an existing file is replaced only by a complete one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from vmic.errors import VmicError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    Parameters
    ----------
    path : path-like
        Final output path. Its folder must exist.
    suffix : str, optional
        Suffix of the temporary file (defaults to that of ``path``, so that writers that
        pick a format from the extension, e.g. soundfile or matplotlib, still work).

    Yields
    ------
    pathlib.Path
        Where to write. Removed if the block raises.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise VmicError(f"output folder does not exist: {folder}")
    if path.is_dir():
        raise VmicError(f"output path is a folder: {path}")
    suffix = path.suffix if suffix is None else suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".part" + suffix, dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes the file private (0600); give it the permissions a plain open()
        # would have (0666 less the umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
