"""Readers of stored frames: arrays, ``.npy`` stacks, image folders and video files.

Each reader has ``shape``, ``n_frames``, ``container_fps``, ``bytes_per_pixel``,
``batches(start, count, batch_size)`` and ``close()``; :class:`vmic.io.clip.Clip` crops,
converts and streams what they read.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from vmic.errors import VmicError

IMAGE_SUFFIXES = (".png", ".tif", ".tiff")


class ArrayReader:
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


class NpyFileReader(ArrayReader):
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


class ImageFolderReader:
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


class VideoReader:
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
