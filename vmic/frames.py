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

from .errors import VmicError

__all__ = ["Clip", "open_clip", "sidecar_path", "read_sidecar", "to_grey", "downsample_area",
           "prefetch", "Prefetcher"]

IMAGE_SUFFIXES = (".png", ".tif", ".tiff")
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


def _put(items, stop, entry) -> bool:
    import queue

    while not stop.is_set():
        try:
            items.put(entry, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _produce(iterator, items, stop) -> None:
    # Runs in the prefetch thread.
    try:
        for item in iterator:
            if not _put(items, stop, ("item", item)):
                return
        _put(items, stop, ("done", None))
    except BaseException as exc:  # handed to the consumer, raised there
        _put(items, stop, ("error", exc))


class Prefetcher:
    """Iterate an iterable in a background thread, up to ``depth`` items ahead.

    The thread starts at construction, so decoding (OpenCV releases the GIL) can run while
    the caller still sets up (imports, numba's first use, the reference frame), and later
    overlaps the pyramid work on the batches already read. Exceptions from the producer
    are raised in the consumer; :meth:`close` (also on garbage collection, e.g. after a
    ``break``) stops the producer.
    """

    def __init__(self, iterable, depth: int = 2):
        import queue
        import threading

        self._queue_module = queue
        self._items: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
        self._stop = threading.Event()
        self._finished = False
        # The thread gets the queue and the event, not `self`: holding `self` would keep the
        # object alive, and __del__ (which stops the thread after a `break`) would never run.
        self._worker = threading.Thread(
            target=_produce, args=(iter(iterable), self._items, self._stop),
            name="vmic-prefetch", daemon=True)
        self._worker.start()

    def __iter__(self):
        return self

    def __next__(self):
        if self._finished:
            raise StopIteration
        kind, value = self._items.get()
        if kind == "item":
            return value
        self.close()
        if kind == "error":
            raise value
        raise StopIteration

    def close(self) -> None:
        """Stop the producer and wait for its thread."""
        self._finished = True
        if not hasattr(self, "_worker"):  # __init__ did not get that far
            return
        self._stop.set()
        while self._worker.is_alive():
            try:
                self._items.get_nowait()
            except self._queue_module.Empty:
                self._worker.join(timeout=0.05)

    def __del__(self):
        self.close()


def prefetch(iterable, depth: int = 2) -> Prefetcher:
    """Iterate ``iterable`` in a background thread, ``depth`` items ahead (see
    :class:`Prefetcher`)."""
    return Prefetcher(iterable, depth)


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
        layout = getattr(self._reader, "stored_frame", None)
        if layout is not None and count > 0:
            from .forked import ForkedPrefetcher, can_fork

            if can_fork():
                # Video: decode in a child process, out of this interpreter's lock (see
                # vmic.forked); the stored frames arrive in a shared ring of `depth` slots.
                start = self.start + first
                forked = ForkedPrefetcher(
                    lambda: self._reader.batches(start, count, batch_size), batch_size,
                    layout[0], layout[1], depth)
                return _PreparedBatches(forked, self._prepare_copy, first)
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


class _ArrayReader:
    """Frames from an in-memory or memory-mapped array (T, H, W[, C])."""

    container_fps = None

    def __init__(self, array: np.ndarray, name: str):
        if array.ndim not in (3, 4) or (array.ndim == 4 and array.shape[-1] not in (1, 3, 4)):
            raise VmicError(f"{name}: expected frames of shape (T, H, W) or (T, H, W, C), "
                            f"got {array.shape}")
        if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
                or array.dtype == np.bool_):
            raise VmicError(f"{name}: unsupported dtype {array.dtype}")
        if array.ndim == 4 and array.shape[-1] == 1:
            array = array[..., 0]
        self.array = array
        self.n_frames = array.shape[0]
        self.shape = tuple(array.shape[1:3])
        self.bytes_per_pixel = array.dtype.itemsize * (array.shape[3] if array.ndim == 4 else 1)

    def batches(self, start, count, batch_size):
        for i in range(start, start + count, batch_size):
            yield np.asarray(self.array[i : min(i + batch_size, start + count)])

    def close(self):
        pass


class _NpyFileReader(_ArrayReader):
    """Frames from a ``.npy`` file, read batch by batch with plain file reads.

    A memory map would be simpler, but every page it touches stays in the process's
    resident memory until unmapped, so memory would grow with the clip's length.
    """

    def __init__(self, path: Path):
        try:
            header = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise VmicError(f"cannot read {path} as a .npy stack: {exc}") from None
        super().__init__(header, str(path))
        self._fortran = not header.flags.c_contiguous
        self._offset = header.offset
        self._dtype = header.dtype
        self._frame_shape = header.shape[1:]
        self._frame_items = int(np.prod(self._frame_shape))
        self._path = path
        if not self._fortran:
            self.array = None  # drop the map; batches() reads the file directly

    def batches(self, start, count, batch_size):
        if self._fortran:  # rare; frames are not contiguous on disk
            yield from super().batches(start, count, batch_size)
            return
        with open(self._path, "rb") as handle:
            for i in range(start, start + count, batch_size):
                n = min(batch_size, start + count - i)
                handle.seek(self._offset + i * self._frame_items * self._dtype.itemsize)
                data = np.fromfile(handle, dtype=self._dtype, count=n * self._frame_items)
                if data.size < n * self._frame_items:
                    raise VmicError(f"{self._path}: file ends before frame {i + n}")
                frames = data.reshape((n,) + self._frame_shape)
                yield frames[..., 0] if frames.ndim == 4 and frames.shape[-1] == 1 else frames


class _ImageFolderReader:
    """Frames from a folder of PNG/TIFF files, in name order (8 or 16 bit, grey or colour)."""

    container_fps = None

    def __init__(self, folder: Path):
        import cv2

        self._cv2 = cv2
        self.files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise VmicError(f"{folder}: folder holds no PNG or TIFF frames")
        first = self._read(self.files[0])
        self.shape = tuple(first.shape[:2])
        self.bytes_per_pixel = first.nbytes // max(first.shape[0] * first.shape[1], 1)
        self.n_frames = len(self.files)

    def _read(self, path: Path) -> np.ndarray:
        image = self._cv2.imread(str(path), self._cv2.IMREAD_UNCHANGED)
        if image is None:
            raise VmicError(f"cannot read image {path}")
        return image  # BGR(A) order: the grey mean does not depend on it

    def batches(self, start, count, batch_size):
        for i in range(start, start + count, batch_size):
            frames = [self._read(p) for p in self.files[i : min(i + batch_size, start + count)]]
            if any(f.shape[:2] != self.shape for f in frames):
                raise VmicError("image frames differ in size; all must match the first")
            yield np.stack(frames)

    def close(self):
        pass


# OpenCV's codes (CAP_PROP_CODEC_PIXEL_FORMAT) for grey pixel formats: GRAY8, GRAY16LE/BE.
GREY_PIXEL_FORMATS = (b"Y800", b"GREY", b"Y1\x00\x10", b"\x10\x001Y")


def _open_capture(cv2, path: Path):
    """``cv2.VideoCapture`` with a one-thread decoder where the back-end takes the option.

    The recovery already keeps every core busy with the pyramid: FFmpeg's extra decoding
    threads then only compete with it. On a 1100-frame 192 x 192 FFV1 file, one thread
    decoded in 1.30-1.34 s of CPU, two in 1.56-1.66 s, for about the same wall time
    alone (``bench/speed.py`` measures the whole recovery).
    """
    threads = getattr(cv2, "CAP_PROP_N_THREADS", None)
    if threads is not None:
        capture = cv2.VideoCapture(str(path), cv2.CAP_ANY, [threads, 1])
        if capture.isOpened():
            return capture
        capture.release()
    return cv2.VideoCapture(str(path))


def _pixel_format(capture, cv2) -> bytes:
    code = int(capture.get(cv2.CAP_PROP_CODEC_PIXEL_FORMAT) or 0)
    return code.to_bytes(4, "little", signed=False) if 0 <= code < 2**32 else b""


class _VideoReader:
    """Frames from a video file through OpenCV (FFmpeg), decoded sequentially.

    Grey streams (8 or 16 bit, what monochrome high-speed cameras record) are read as they
    are stored: OpenCV would otherwise expand them to 8-bit BGR, which costs time and
    drops a 16-bit file's low byte, the part that holds sub-pixel motion.
    """

    def __init__(self, path: Path):
        import cv2

        self._cv2 = cv2
        self.path = path
        capture = _open_capture(cv2, path)
        if not capture.isOpened():
            raise VmicError(f"cannot open video {path} (not a video, or an unsupported codec)")
        self.raw_grey = _pixel_format(capture, cv2) in GREY_PIXEL_FORMATS
        if self.raw_grey:
            capture.set(cv2.CAP_PROP_CONVERT_RGB, 0)
        ok, frame = capture.read()
        if ok and frame is not None and self.raw_grey and frame.ndim != 2:
            # Not what a grey stream should give: fall back to OpenCV's BGR conversion.
            self.raw_grey = False
            capture.release()
            capture = _open_capture(cv2, path)
            ok, frame = capture.read()
        if not ok or frame is None:
            capture.release()
            raise VmicError(f"{path}: video holds no decodable frames")
        self.shape = tuple(frame.shape[:2])
        self.bytes_per_pixel = frame.nbytes // max(frame.shape[0] * frame.shape[1], 1)
        # Shape and dtype of a decoded frame, for readers in another process (vmic.forked).
        self.stored_frame = (tuple(frame.shape), frame.dtype)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.container_fps = fps if math.isfinite(fps) and fps > 0 else None
        capture.release()
        if count <= 0:  # some containers do not store a count: count by decoding
            count = self._count_frames()
        self.n_frames = count
        self._capture = None
        self._warned_short = False

    def _open(self):
        capture = _open_capture(self._cv2, self.path)
        if self.raw_grey:
            capture.set(self._cv2.CAP_PROP_CONVERT_RGB, 0)
        return capture

    def _count_frames(self) -> int:
        capture = _open_capture(self._cv2, self.path)
        count = 0
        while capture.grab():
            count += 1
        capture.release()
        return count

    def batches(self, start, count, batch_size):
        capture = self._open()
        self._capture = capture
        try:
            # Seeking by frame index is unreliable for inter-coded video: decode and drop.
            for _ in range(start):
                if not capture.grab():
                    return
            remaining = count
            while remaining > 0:
                frames = []
                for _ in range(min(batch_size, remaining)):
                    ok, frame = capture.read()
                    if not ok:
                        break
                    frames.append(frame)  # BGR: channel order does not change the mean
                remaining -= len(frames)
                if frames:
                    yield np.stack(frames)
                if remaining > 0 and len(frames) < batch_size:
                    # The container promised more frames than decode: say so (once per
                    # file), since the audio comes out shorter than the clip.
                    if not self._warned_short:
                        self._warned_short = True
                        warnings.warn(f"{self.path.name}: decoding stopped after "
                                      f"{start + count - remaining} of the {self.n_frames} "
                                      "frames the container announces (a truncated or "
                                      "damaged file?)", stacklevel=2)
                    return
        finally:
            capture.release()
            self._capture = None

    def close(self):
        if self._capture is not None:
            self._capture.release()


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
        reader = _ArrayReader(source, "array")
    else:
        path = Path(source)
        if not path.exists():
            raise VmicError(f"no such file or folder: {path}")
        if path.is_dir():
            reader = _ImageFolderReader(path)
        elif path.suffix.lower() == ".npy":
            reader = _NpyFileReader(path)
        else:
            try:
                with open(path, "rb") as handle:
                    handle.read(1)
            except OSError as exc:
                raise VmicError(f"cannot read {path}: {exc.strerror}") from None
            reader = _VideoReader(path)
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
