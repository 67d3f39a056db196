"""Frame conversions: grey as the mean of the colour channels, area downsampling."""

from __future__ import annotations

import numpy as np

from vmic.errors import VmicError

__all__ = ["to_grey", "downsample_area", "frame_runs", "mean_of_batches"]


def to_grey(frames: np.ndarray) -> np.ndarray:
    """Mean of the colour channels, as float32.

    Parameters
    ----------
    frames : ndarray, shape (..., H, W) or (..., H, W, C)
        Frames with the colour axis last (C = 3 or 4; alpha is ignored) or grey.

    Returns
    -------
    ndarray of float32, shape (..., H, W)
    """
    if frames.ndim >= 3 and frames.shape[-1] in (3, 4):
        # Three strided adds are ~14x faster than mean(axis=-1) on interleaved pixels.
        grey = frames[..., 0].astype(np.float32)
        grey += frames[..., 1]
        grey += frames[..., 2]
        grey *= np.float32(1.0 / 3.0)
        return grey
    return frames.astype(np.float32, copy=False)


def downsample_area(frames: np.ndarray, factor: int) -> np.ndarray:
    """Reduce frames by an integer factor, averaging factor x factor blocks.

    Parameters
    ----------
    frames : ndarray of float32, shape (..., H, W)
    factor : int
        Reduction factor (1 returns the input). Rows/columns that do not fill a block
        are dropped.

    Returns
    -------
    ndarray of float32, shape (..., H // factor, W // factor)
    """
    if factor == 1:
        return frames
    h, w = frames.shape[-2] // factor, frames.shape[-1] // factor
    cropped = frames[..., : h * factor, : w * factor]
    blocks = cropped.reshape(frames.shape[:-2] + (h, factor, w, factor))
    return blocks.mean(axis=(-3, -1), dtype=np.float32)


def frame_runs(indices: np.ndarray) -> str:
    """``[12, 13, 14, 20]`` -> ``"12-14, 20"``."""
    breaks = np.flatnonzero(np.diff(indices) != 1)
    starts = np.concatenate(([indices[0]], indices[breaks + 1]))
    ends = np.concatenate((indices[breaks], [indices[-1]]))
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in zip(starts, ends, strict=True))


def mean_of_batches(batches, first: int = 0) -> np.ndarray:
    """Mean frame, float32 (H, W), of ``(index, frames)`` batches (closed when done);
    ``first`` names where they start in the error when they hold none."""
    total, n = None, 0
    try:
        for _, frames in batches:
            part = frames.sum(axis=0, dtype=np.float64)
            total = part if total is None else total + part
            n += frames.shape[0]
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    if not n:
        raise VmicError(f"no frames could be read from frame {first} on")
    return (total / n).astype(np.float32)
