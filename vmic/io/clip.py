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
``Path(clip).with_suffix(".json")`` holding ``{"fps": ...}``, a camera's header, a phone's
slow-motion tag, and last the container's rate, with a warning (:mod:`vmic.io.rate`).
"""

from __future__ import annotations

import operator
import os
from collections.abc import Iterator

import numpy as np

from vmic.errors import VmicError
from vmic.io.convert import downsample_area, frame_runs, mean_of_batches, to_grey
from vmic.io.formats import open_path
from vmic.io.prefetch import prefetch
from vmic.io.rate import resolve_capture_rate
from vmic.io.readers import ArrayReader
from vmic.io.sidecar import read_sidecar, sidecar_path

__all__ = ["Clip", "open_clip", "sidecar_path", "read_sidecar", "to_grey", "downsample_area"]


class Clip:
    """A clip opened for streaming (use :func:`open_clip`).

    ``len(clip)`` is its number of frames; ``clip[a:b]`` is a clip over frames ``a`` to
    ``b - 1`` of this one (same capture rate, ROI and downsampling); ``clip[i]`` is frame
    ``i`` (:meth:`read_frame`). Frames holding NaN or inf are refused as they are read,
    naming them. :attr:`metadata` and :meth:`timestamps` give what the source stores.

    Attributes
    ----------
    path : Path or None
    capture_fps : float
        Capture rate in frames/s.
    fps_source : str
        Where ``capture_fps`` came from: "argument", "sidecar", "header" (a camera's),
        "metadata" (a phone's slow-motion tag) or "container" (:mod:`vmic.io.rate`).
    start : int
        First frame of the clip, counted in the source.
    n_frames : int
        Frames in the selected range.
    frame_shape : (int, int)
        Height and width of the frames yielded, after ROI and downsampling (px).
    source_shape : (int, int)
        Height and width of the stored frames (px).
    roi : (int, int, int, int)
        Crop ``(x, y, width, height)`` in px of the stored frame.
    downsample : int
        Integer area-downsampling factor applied after the crop.
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
        crop = raw[:, y : y + h, x : x + w]
        # By the batch's ndim: a grey crop 3 or 4 px wide is not a colour axis
        with np.errstate(over="ignore"):  # float64 beyond float32's range: inf, refused later
            grey = to_grey(crop) if raw.ndim == 4 else crop.astype(np.float32, copy=False)
        return np.ascontiguousarray(downsample_area(grey, self.downsample), dtype=np.float32)

    def _nonfinite_error(self, bad: np.ndarray, checked_to: int) -> VmicError:
        # bad: the clip's indices of frames holding NaN or inf; checked_to: first unchecked.
        one = len(bad) == 1
        where = f"frame{'' if one else 's'} {frame_runs(bad + self.start)}"
        if self.start:
            where += f" of the source ({frame_runs(bad)} of the clip)"
        later = " (later frames not checked)" if checked_to < self.n_frames else ""
        return VmicError(f"{where} hold{'s' if one else ''} NaN or inf values{later}")

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.n_frames:
            raise VmicError(
                f"frame {index} is outside the clip's {self.n_frames} frames "
                f"(0..{self.n_frames - 1})"
            )

    def __len__(self) -> int:
        return self.n_frames

    def __getitem__(self, key: int | slice) -> np.ndarray | Clip:
        """``clip[i]``: frame ``i``, float32 (H, W); ``clip[a:b]``: a :class:`Clip` over
        frames ``a`` to ``b - 1`` (indices of this clip; negative ones count from its end).

        Raises
        ------
        VmicError
            A slice with a step other than 1 or holding no frames, an index outside the
            clip, or a key that is neither an integer nor a slice.
        """
        if isinstance(key, slice):
            first, stop, step = key.indices(self.n_frames)
            if step != 1:
                raise VmicError(f"a clip's slice must have step 1, got {key.step}")
            if stop <= first:
                raise VmicError(f"slice {first}:{stop} of a clip of {self.n_frames} frames "
                                "holds no frames")
            return Clip(self._reader, path=self.path, capture_fps=self.capture_fps,
                        fps_source=self.fps_source, roi=self.roi, downsample=self.downsample,
                        start=self.start + first, n_frames=stop - first)
        try:
            index = operator.index(key)
        except TypeError:
            raise VmicError("a clip is indexed by an integer or a slice, got "
                            f"{type(key).__name__}") from None
        return self.read_frame(index + self.n_frames if index < 0 else index)

    @property
    def metadata(self) -> dict:
        """What the source stores about its frames (a new dict each time).

        Keys, always present (None where the source does not say):

        - ``format``: container (``"avi"``, ``"matroska,webm"``, ...), or ``"npy"``,
          ``"images"`` (a folder) or ``"array"``;
        - ``codec``: video codec (``"ffv1"``, ``"h264"``, ...);
        - ``pixel_format``: stored pixel format (``"gray"``, ``"gray16le"``, ``"yuv420p"``,
          ...); grey formats are read as stored, others as 8-bit colour;
        - ``dtype``: NumPy dtype of the frames as read, before the grey conversion;
        - ``container_fps``: frame rate the container states (frames/s), usually a playback
          rate for high-speed footage;
        - ``duration_s``: duration the container states (s), on the same playback clock;
        - ``rotation``: rotation the container asks for (degrees counter-clockwise),
          applied to the frames when it is a multiple of 90;
        - ``bit_depth``: bits per stored sample (10 for ``gray10le``; None for floats);
        - ``lossless``: whether the codec keeps every bit (None where it cannot be told);
        - ``n_frames``: frames in the whole source (the clip may select fewer).
        Camera files add header fields (``record_fps``...), video segments ``segment``.
        """
        return {**self._reader.metadata, "n_frames": self._reader.n_frames}

    def timestamps(self, first: int = 0, count: int | None = None) -> np.ndarray | None:
        """Stored presentation times of frames, in s (``pts * time_base`` of a video).

        These are on the container's clock, usually a playback clock for high-speed
        footage; the capture time of frame ``i`` is ``i / capture_fps``.

        Parameters
        ----------
        first : int, default 0
            First frame, counted from the clip's ``start``.
        count : int, optional
            Number of frames (default: to the end of the clip).

        Returns
        -------
        ndarray of float64, shape (count,), or None
            None for sources that store no times (arrays, ``.npy``, image folders) or a
            video whose packets lack them; NaN for frames past the end of a truncated file.
        """
        self._check_index(first)
        count = self.n_frames - first if count is None else max(0, min(count,
                                                                        self.n_frames - first))
        return self._reader.timestamps(self.start + first, count)

    def read_frame(self, index: int) -> np.ndarray:
        """One frame (index counted from the clip's ``start``), float32 (H, W).

        Raises
        ------
        VmicError
            An index outside the clip, or a frame holding NaN or inf.
        """
        self._check_index(index)
        batch = next(self._reader.batches(self.start + index, 1, 1), None)
        if batch is None:
            raise VmicError(f"frame {index} could not be decoded (a truncated file?)")
        frame = self._prepare(batch)[0]
        if batch.dtype.kind == "f" and not np.isfinite(frame).all():
            raise self._nonfinite_error(np.array([index]), self.n_frames)
        return frame

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
        return mean_of_batches(self.iter_batches(32, first=first, count=count,
                                                 background=False), first)

    def iter_batches(self, batch_size: int = 32, *, first: int = 0,
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
            Read (decode) the next batches in a background thread (:func:`prefetch`),
            starting now; they are converted to float32 as they are taken.
        buffer_bytes : int, default 64 MiB
            How far ahead the background thread may read, in stored bytes (at least two
            batches); a fixed amount, whatever the clip's length.

        Raises
        ------
        VmicError
            While iterating: a batch of float frames holding NaN or inf (naming the frames).
        """
        if count is None:
            count = self.n_frames - first
        count = max(0, min(count, self.n_frames - first))

        if not background:
            raw = self._reader.batches(self.start + first, count, batch_size)
            return _PreparedBatches(raw, self, first)
        # The reader only decodes; frames are converted to float32 as they are taken. The
        # buffer so holds stored frames (1 byte per pixel for 8-bit grey, not 4), and
        # reaches four times further ahead in the same memory.
        h, w = self._reader.shape
        raw_bytes = batch_size * h * w * self._reader.bytes_per_pixel
        depth = max(2, buffer_bytes // max(raw_bytes, 1))
        raw = self._reader.batches(self.start + first, count, batch_size)
        return _PreparedBatches(prefetch(raw, depth=depth), self, first)

    def close(self) -> None:
        self._reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return (f"Clip({str(self.path)!r}, start={self.start}, n_frames={self.n_frames}, "
                f"frame_shape={self.frame_shape}, capture_fps={self.capture_fps})")


def _nonfinite(frames: np.ndarray, first: int) -> np.ndarray:
    """Indices (counted from ``first``) of the frames holding NaN or inf."""
    return np.flatnonzero(~np.isfinite(frames).all(axis=(1, 2))) + first


class _PreparedBatches:
    """Iterator of ``(first_index, frames)``: stored batches, cropped, grey and float32.

    Float batches are checked for NaN and inf as they are taken (integer frames cannot
    hold them); bad frames are refused, naming the whole run of them.
    """

    def __init__(self, raw, clip: Clip, first: int):
        self._raw = raw
        self._clip = clip
        self._index = first

    def __iter__(self):
        return self

    def __next__(self):
        raw = next(self._raw)
        index = self._index
        frames = self._clip._prepare(raw)
        self._index += frames.shape[0]
        if raw.dtype.kind == "f":
            bad = _nonfinite(frames, index)
            if bad.size:
                self._refuse(bad)
        return index, frames

    def _refuse(self, bad: np.ndarray):
        # Read on while the run of bad frames goes on past the batch, to name all of it.
        runs = [bad]
        while runs[-1][-1] == self._index - 1 and self._index < self._clip.n_frames:
            raw = next(self._raw, None)
            if raw is None:
                break
            frames = self._clip._prepare(raw)
            runs.append(_nonfinite(frames, self._index))
            self._index += frames.shape[0]
            if not runs[-1].size:
                break
        self.close()
        raise self._clip._nonfinite_error(np.concatenate(runs), self._index)

    def close(self) -> None:
        """Stop reading (and the background thread, if any)."""
        close = getattr(self._raw, "close", None)
        if close is not None:
            close()


def open_clip(source: str | os.PathLike | np.ndarray, *, fps: float | None = None,
              roi: tuple[int, int, int, int] | None = None, downsample: int = 1,
              start: int = 0, n_frames: int | None = None, segment: int | None = None) -> Clip:
    """Open a clip for streaming.

    Parameters
    ----------
    source : str, path-like or ndarray
        A video file (decoded by FFmpeg through PyAV; lossless FFV1 is what ``vmic synth``
        writes), a folder of PNG/TIFF frames (8 or 16 bit, or float), a ``.npy`` stack of
        shape (T, H, W) or (T, H, W, C) (read batch by batch), a camera's file (Photron
        ``.cih``/``.cihx``/``.mraw``, Phantom ``.cine``, a multi-page ``.tif`` stack;
        :mod:`vmic.io.formats`), or an array of shape (T, H, W[, C]) (integer or float
        intensities; C = 1, 3 or 4, colour averaged to grey).
    fps : float, optional
        Capture rate in frames/s. Overrides the sidecar, the header and the container.
    roi : (int, int, int, int), optional
        Crop ``(x, y, width, height)`` in px of the stored frame.
    downsample : int, default 1
        Integer area-downsampling factor applied after the crop.
    start : int, default 0
        First frame of the range.
    n_frames : int, optional
        Number of frames of the range (default: to the end).
    segment : int, optional
        A video holding segments at different rates (a phone's slow motion): the one to
        read, counted from 0; ``start`` and ``n_frames`` then count within it. Default the
        longest constant-rate segment (:mod:`vmic.io.segments`).

    Returns
    -------
    Clip

    Raises
    ------
    VmicError
        Missing or unreadable input, a source that is neither a path nor an array, an empty
        or boolean array or one of the wrong shape, a range or ROI outside the clip, an
        unknown or invalid capture rate. Frames holding NaN or inf are refused as they are
        read (:meth:`Clip.iter_batches`, :meth:`Clip.read_frame`).
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
    elif not isinstance(source, (str, os.PathLike)):
        hint = "; stack a list of frames with np.stack" if isinstance(source, (list, tuple)) else ""
        raise VmicError("source must be a path or a NumPy array of frames, got "
                        f"{type(source).__name__}{hint}")
    else:
        path, reader, sidecar = open_path(source, segment=segment)

    capture_fps, fps_source = resolve_capture_rate(fps, path, sidecar, reader)
    return Clip(reader, path=path, capture_fps=capture_fps, fps_source=fps_source, roi=roi,
                downsample=int(downsample), start=int(start), n_frames=n_frames)
