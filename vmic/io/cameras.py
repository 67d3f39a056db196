"""What the readers of camera files share: the optional ``cameras`` extra and windows of a
file mapped into memory.

The camera readers (:mod:`vmic.io.mraw`, :mod:`vmic.io.cine`, :mod:`vmic.io.tiffstack`)
need the ``cameras`` extra (``pip install "vmic[cameras]"``: pyMRAW and tifffile) only where
they use those libraries; without it, vmic says which extra to install.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

from vmic.errors import VmicError

__all__ = ["import_extra", "file_window", "frame_metadata", "check_frame_count"]


def import_extra(module: str, what: str):
    """Import ``module`` of the ``cameras`` extra, or refuse naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise VmicError(f"reading {what} needs the {module} package: "
                        'pip install "vmic[cameras]"') from None


def file_window(path: Path, offset: int, nbytes: int) -> np.ndarray:
    """Bytes ``offset`` .. ``offset + nbytes - 1`` of a file, mapped read-only, uint8 (nbytes,).

    One window per batch: pages a whole-file map touches stay in the process's resident
    memory until it is unmapped, so a long clip would grow it; a window is unmapped as soon
    as its batch is decoded and dropped.
    """
    return np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=(nbytes,))


def frame_metadata(kind: str, dtype, *, bit_depth: int, codec: str | None,
                   pixel_format: str | None, lossless: bool | None = True,
                   duration_s: float | None = None) -> dict:
    """The metadata dict of a reader (see :attr:`vmic.io.clip.Clip.metadata`)."""
    return {"format": kind, "codec": codec, "pixel_format": pixel_format,
            "dtype": np.dtype(dtype).name, "container_fps": None, "duration_s": duration_s,
            "rotation": 0, "bit_depth": bit_depth, "lossless": lossless}


def check_frame_count(path: Path, what: str, size: int, needed: int) -> None:
    """Refuse a data file shorter than its header says (``size`` and ``needed`` in bytes)."""
    if size < needed:
        raise VmicError(f"{path} holds {size:,} bytes where {what} take {needed:,} "
                        "(a truncated file, or the wrong header?)")
