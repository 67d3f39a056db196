"""What the readers of camera files share: the optional ``cameras`` extra and windows of a
file mapped into memory.

The camera readers (:mod:`vmic.io.mraw`, :mod:`vmic.io.cine`, :mod:`vmic.io.tiffstack`)
need the ``cameras`` extra (``pip install "vmic[cameras]"``: pyMRAW and tifffile) only where
they use those libraries; without it, vmic says which extra to install.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vmic.errors import VmicError

__all__ = ["import_extra", "file_window", "frame_metadata", "check_frame_count",
           "MappedFrames"]


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


class MappedFrames:
    """What the readers of a camera's file share: batches read one window of the file at a
    time (:func:`file_window`, mapped and unmapped per batch), and no stored frame times.
    A subclass has ``n_frames`` and ``read_frames(first, count)``."""

    def batches(self, start: int, count: int, batch_size: int) -> Iterator[np.ndarray]:
        stop = min(start + count, self.n_frames)
        for i in range(start, stop, batch_size):
            yield self.read_frames(i, min(batch_size, stop - i))

    def timestamps(self, start: int, count: int) -> np.ndarray | None:
        return None

    def close(self) -> None:
        pass  # every batch maps and unmaps its own window
