"""Frame sources: stream grey frames from video files, image folders and ``.npy`` stacks.

A clip is never loaded whole: :meth:`Clip.iter_batches` yields batches of frames, so
memory does not grow with the clip's length. Frames come out as float32 grey images in
the file's own intensity units (0-255 for 8-bit, 0-65535 for 16-bit), grey being the mean
of the colour channels (as ``vmSoundFromVideo`` does), after an optional crop (``roi``)
and integer area downsampling.

Capture rate
------------
High-speed footage is usually stored at a playback rate (say 30 fps) although it was
captured at 600-20 000 fps, and AVI/MKV time bases cannot even hold 2200 fps exactly. The
capture rate therefore comes from, in order: the ``fps`` argument, a sidecar JSON file
``Path(clip).with_suffix(".json")`` holding ``{"fps": ...}``, and last the container's
rate, with a warning.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vmic.errors import VmicError
from vmic.io.prefetch import prefetch
from vmic.io.readers import (
    ArrayReader,
    ImageFolderReader,
    NpyFileReader,
    VideoReader,
)

__all__ = ["Clip", "open_clip", "sidecar_path", "read_sidecar", "to_grey", "downsample_area"]

VIDEO_SUFFIXES = (".avi", ".mkv", ".mp4", ".mov", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv")


def sidecar_path(clip_path: str | Path) -> Path:
    """The sidecar JSON of a clip: ``clip.avi`` -> ``clip.json``, folder ``x/`` -> ``x.json``."""
    path = Path(clip_path)
    return path.with_suffix(".json") if path.suffix else path.parent / (path.name + ".json")


def read_sidecar(clip_path: str | Path) -> dict | None:
    """Read a clip's sidecar JSON, or return None if it has none.

    Raises
    ------
    VmicError
        If the sidecar exists but is not a JSON object.
    """
    path = sidecar_path(clip_path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VmicError(f"cannot read sidecar {path}: {exc}") from None
    if not isinstance(data, dict):
        raise VmicError(f"sidecar {path} must hold a JSON object")
    return data


def _valid_fps(value, where: str) -> float:
    try:
        fps = float(value)
    except (TypeError, ValueError):
        raise VmicError(f"{where}: fps must be a number, got {value!r}") from None
    if not (math.isfinite(fps) and fps > 0):
        raise VmicError(f"{where}: fps must be a positive finite number, got {value!r}")
    return fps


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


class Clip:
    """A clip opened for streaming (use :func:`open_clip`).

    Attributes
    ----------
    path : Path or None
    capture_fps : float
        Capture rate in frames/s.
    fps_source : str
        Where ``capture_fps`` came from: "argument", "sidecar", "container" or "array".
    n_frames : int
        Frames in the selected range.
    frame_shape : (int, int)
        Height and width of the frames yielded, after ROI and downsampling (px).
    source_shape : (int, int)
        Height and width of the stored frames (px).
    """

    def __init__(self, reader, *, path, capture_fps, fps_source, roi, downsample, start,
                 n_frames):
        self._reader = reader
        self.path = path
        self.capture_fps = capture_fps
        self.fps_source = fps_source
        self.source_shape = reader.shape
        self.start = start
        self.downsample = downsample
        height, width = reader.shape
        if roi is None:
            roi = (0, 0, width, height)
        x, y, w, h = roi
        if x < 0 or y < 0 or w < 1 or h < 1 or x + w > width or y + h > height:
            raise VmicError(
                f"ROI {x},{y},{w},{h} (X,Y,W,H) is outside the {width}x{height} px frame"
            )
        self.roi = (x, y, w, h)
        out_h, out_w = h // downsample, w // downsample
        if out_h < 1 or out_w < 1:
            raise VmicError(f"downsampling {w}x{h} px by {downsample} leaves no pixels")
        self.frame_shape = (out_h, out_w)
        total = reader.n_frames
        if total == 0:
            raise VmicError(f"{path if path is not None else 'the array'} holds no frames")
        if start >= total:
            raise VmicError(f"--start {start} is past the clip's last frame ({total} frames)")
        available = total - start
        self.n_frames = available if n_frames is None else min(n_frames, available)

    def _prepare(self, raw: np.ndarray) -> np.ndarray:
        x, y, w, h = self.roi
        grey = to_grey(raw[:, y : y + h, x : x + w])
        return np.ascontiguousarray(downsample_area(grey, self.downsample), dtype=np.float32)

    def _prepare_copy(self, raw: np.ndarray) -> np.ndarray:
        # As _prepare, never a view of `raw` (a slot of a shared ring, reused once taken).
        prepared = self._prepare(raw)
        return prepared.copy() if np.may_share_memory(prepared, raw) else prepared

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.n_frames:
            raise VmicError(
                f"frame {index} is outside the clip's {self.n_frames} frames "
                f"(0..{self.n_frames - 1})"
            )

    def read_frame(self, index: int) -> np.ndarray:
        """One frame (index counted from the clip's ``start``), float32 (H, W)."""
        self._check_index(index)
        batch = next(self._reader.batches(self.start + index, 1, 1))
        return self._prepare(batch)[0]

    def mean_frame(self, first: int = 0, count: int = 1) -> np.ndarray:
        """Mean of ``count`` frames from ``first`` on (fewer at the clip's end), float32 (H, W).

        A reference image averaged over frames carries less camera noise than one frame;
        the motion between the frames averaged is sub-pixel and only blurs it slightly.
        """
        self._check_index(first)
        if count < 1:
            raise VmicError(f"frames to average must be >= 1, got {count}")
        if count == 1:
            return self.read_frame(first)
        total = np.zeros(self.frame_shape)
        n = 0
        for _, frames in self.iter_batches(32, first, count, background=False):
            total += frames.sum(axis=0, dtype=np.float64)
            n += frames.shape[0]
        return (total / n).astype(np.float32)

    def iter_batches(self, batch_size: int = 32, first: int = 0,
                     count: int | None = None, background: bool = True,
                     buffer_bytes: int = 64 << 20) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(first_index, frames)`` batches, frames float32 (B, H, W).

        Parameters
        ----------
        batch_size : int
            Frames per batch (the last may be shorter).
        first : int
            First frame, counted from the clip's ``start``.
        count : int, optional
            Number of frames (default: to the end of the selected range).
        background : bool, default True
            Read the next batches in a background thread (:func:`prefetch`), starting now;
            they are converted to float32 as they are taken.
        buffer_bytes : int, default 64 MiB
            How far ahead the background thread may read, in stored bytes (at least two
            batches); a fixed amount, whatever the clip's length.
        """
        if count is None:
            count = self.n_frames - first
        count = max(0, min(count, self.n_frames - first))

        if not background:
            raw = self._reader.batches(self.start + first, count, batch_size)
            return _PreparedBatches(raw, self._prepare, first)
        # The reader only decodes; frames are converted to float32 as they are taken. The
        # buffer so holds stored frames (1 byte per pixel for 8-bit grey, not 4), and
        # reaches four times further ahead in the same memory.
        h, w = self._reader.shape
        raw_bytes = batch_size * h * w * self._reader.bytes_per_pixel
        depth = max(2, buffer_bytes // max(raw_bytes, 1))
        raw = self._reader.batches(self.start + first, count, batch_size)
        return _PreparedBatches(prefetch(raw, depth=depth), self._prepare, first)

    def close(self) -> None:
        self._reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return (f"Clip({str(self.path)!r}, n_frames={self.n_frames}, "
                f"frame_shape={self.frame_shape}, capture_fps={self.capture_fps})")


class _PreparedBatches:
    """Iterator of ``(first_index, frames)``: stored batches, cropped, grey and float32."""

    def __init__(self, raw, prepare, first: int):
        self._raw = raw
        self._prepare = prepare
        self._index = first

    def __iter__(self):
        return self

    def __next__(self):
        frames = self._prepare(next(self._raw))
        index = self._index
        self._index += frames.shape[0]
        return index, frames

    def close(self) -> None:
        """Stop reading (and the background thread, if any)."""
        close = getattr(self._raw, "close", None)
        if close is not None:
            close()


def open_clip(source, *, fps: float | None = None, roi=None, downsample: int = 1,
              start: int = 0, n_frames: int | None = None) -> Clip:
    """Open a clip for streaming.

    Parameters
    ----------
    source : str, Path or ndarray
        A video file (read through OpenCV; lossless FFV1 is what ``vmic synth`` writes), a
        folder of PNG/TIFF frames (8 or 16 bit), a ``.npy`` stack of shape (T, H, W) or
        (T, H, W, C) (read batch by batch), or an array of that shape.
    fps : float, optional
        Capture rate in frames/s. Overrides the sidecar and the container.
    roi : (int, int, int, int), optional
        Crop ``(x, y, width, height)`` in px of the stored frame.
    downsample : int, default 1
        Integer area-downsampling factor applied after the crop.
    start : int, default 0
        First frame of the range.
    n_frames : int, optional
        Number of frames of the range (default: to the end).

    Returns
    -------
    Clip

    Raises
    ------
    VmicError
        Missing or unreadable input, a range or ROI outside the clip, an unknown or invalid
        capture rate.
    """
    if isinstance(downsample, bool) or int(downsample) < 1:
        raise VmicError(f"downsample factor must be an integer >= 1, got {downsample!r}")
    if start < 0:
        raise VmicError(f"start must be >= 0, got {start}")
    if n_frames is not None and n_frames < 1:
        raise VmicError(f"number of frames must be >= 1, got {n_frames}")
    path = None
    sidecar = None
    if isinstance(source, np.ndarray):
        reader = ArrayReader(source, "array")
    else:
        path = Path(source)
        if not path.exists():
            raise VmicError(f"no such file or folder: {path}")
        if path.is_dir():
            reader = ImageFolderReader(path)
        elif path.suffix.lower() == ".npy":
            reader = NpyFileReader(path)
        else:
            try:
                with open(path, "rb") as handle:
                    handle.read(1)
            except OSError as exc:
                raise VmicError(f"cannot read {path}: {exc.strerror}") from None
            reader = VideoReader(path)
        sidecar = read_sidecar(path)

    if fps is not None:
        capture_fps, fps_source = _valid_fps(fps, "--fps"), "argument"
    elif sidecar is not None and "fps" in sidecar:
        capture_fps, fps_source = _valid_fps(sidecar["fps"], str(sidecar_path(path))), "sidecar"
    elif reader.container_fps is not None:
        capture_fps, fps_source = reader.container_fps, "container"
        warnings.warn(
            f"capture rate taken from the container ({capture_fps:g} fps), which usually "
            "holds a playback rate for high-speed footage; pass --fps or write a sidecar "
            f"{sidecar_path(path).name} with {{\"fps\": ...}}",
            stacklevel=2,
        )
    else:
        raise VmicError(
            "capture rate unknown: pass --fps (or fps=...) or write a sidecar JSON "
            + (f"{sidecar_path(path)} " if path is not None else "")
            + 'with {"fps": ...}'
        )
    return Clip(reader, path=path, capture_fps=capture_fps, fps_source=fps_source, roi=roi,
                downsample=int(downsample), start=int(start), n_frames=n_frames)
