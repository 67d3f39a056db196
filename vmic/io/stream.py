"""The one way the library opens a clip to stream it: :func:`opened_clip`.

:func:`vmic.recovery.recover`, :func:`vmic.learn.siamese.infer.recover_learned` and
:func:`vmic.vibmap.vibration_map` take a path, an array or an opened
:class:`~vmic.io.clip.Clip`; each opens it here and iterates it with
:meth:`Clip.iter_batches <vmic.io.clip.Clip.iter_batches>` (read ahead in a thread).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import numpy as np

from vmic.errors import VmicError
from vmic.io.clip import Clip, open_clip

__all__ = ["opened_clip", "progress_bar"]


@contextlib.contextmanager
def opened_clip(source: str | os.PathLike | Clip | np.ndarray, *, fps: float | None = None,
                roi: tuple[int, int, int, int] | None = None, downsample: int = 1,
                start: int = 0, n_frames: int | None = None,
                segment: int | None = None) -> Iterator[Clip]:
    """Context manager: ``source`` as an opened :class:`~vmic.io.clip.Clip`.

    A Clip is used as it is (and left open); a path or array is opened with
    :func:`~vmic.io.clip.open_clip` and the selection arguments, and closed on exit.

    Raises
    ------
    VmicError
        Another type than those, an array without ``fps``, and whatever
        :func:`~vmic.io.clip.open_clip` refuses.
    """
    if isinstance(source, Clip):
        yield source
        return
    if not isinstance(source, (str, os.PathLike, np.ndarray)):
        raise VmicError(f"clip must be a path, an array of frames (T, H, W) or an opened Clip, "
                        f"got {type(source).__name__}")
    if isinstance(source, np.ndarray) and fps is None:
        raise VmicError("frames given as an array need fps (the capture rate)")
    clip = open_clip(source, fps=fps, roi=roi, downsample=downsample, start=start,
                     n_frames=n_frames, segment=segment)
    try:
        yield clip
    finally:
        clip.close()


def progress_bar(total: int, desc: str, quiet: bool):
    """A tqdm bar on stderr over ``total`` frames, hidden when ``quiet``."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, disable=quiet,
                file=sys.stderr, leave=False, unit="frame")
