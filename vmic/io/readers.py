"""Readers of stored frames: arrays, ``.npy`` stacks, image folders and video files.

Every reader follows :class:`FrameReader`; :class:`vmic.io.clip.Clip` crops, converts and
streams what they read.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from vmic.errors import VmicError
from vmic.io.videometa import bit_depth, capture_fps_tag, codec_lossless, is_deep_yuv, luma_plane

__all__ = ["FrameReader", "ArrayReader", "NpyFileReader", "ImageFolderReader", "VideoReader",
           "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".tif", ".tiff")


class FrameReader(Protocol):
    """What a reader of stored frames provides.

    Attributes
    ----------
    shape : (int, int)
        Height and width of a stored frame (px), after any rotation a video asks for.
    n_frames : int
        Number of frames the source announces.
    container_fps : float or None
        Frame rate the container states (frames/s), usually a playback rate.
    bytes_per_pixel : int
        Bytes of one stored pixel, all channels.
    metadata : dict
        See :attr:`vmic.io.clip.Clip.metadata`.
    """

    shape: tuple[int, int]
    n_frames: int
    container_fps: float | None
    bytes_per_pixel: int
    metadata: dict

    def batches(self, start: int, count: int, batch_size: int) -> Iterator[np.ndarray]:
        """Frames ``start`` .. ``start + count - 1`` as stacks (B, H, W) or (B, H, W, C)."""

    def timestamps(self, start: int, count: int) -> np.ndarray | None:
        """Stored presentation times (s) of those frames, or None where none are stored."""

    def close(self) -> None:
        """Release what the reader holds."""


def _metadata(kind: str, dtype, *, codec=None, pixel_format=None, container_fps=None,
              duration_s=None, rotation=0, lossless=None) -> dict:
    dtype = np.dtype(dtype)
    return {"format": kind, "codec": codec, "pixel_format": pixel_format,
            "dtype": dtype.name, "container_fps": container_fps,
            "duration_s": duration_s, "rotation": rotation, "lossless": lossless,
            "bit_depth": 8 * dtype.itemsize if dtype.kind in "ui" else None}


class ArrayReader:
    """Frames from an in-memory or memory-mapped array (T, H, W[, C])."""

    container_fps = None

    def __init__(self, array: np.ndarray, name: str):
        if array.ndim not in (3, 4) or (array.ndim == 4 and array.shape[-1] not in (1, 3, 4)):
            raise VmicError(f"{name}: expected frames of shape (T, H, W) or (T, H, W, C) with "
                            f"C = 1, 3 or 4, got {array.shape}")
        if array.dtype == np.bool_:
            raise VmicError(f"{name}: frames are booleans; give intensities (integer or float)")
        if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
            raise VmicError(f"{name}: unsupported dtype {array.dtype}")
        if array.shape[0] == 0:
            raise VmicError(f"{name} holds no frames (shape {array.shape})")
        if 0 in array.shape[1:3]:
            raise VmicError(f"{name}: frames have no pixels (shape {array.shape})")
        if array.ndim == 4 and array.shape[-1] == 1:
            array = array[..., 0]
        self.array = array
        self.n_frames = array.shape[0]
        self.shape = tuple(array.shape[1:3])
        self.bytes_per_pixel = array.dtype.itemsize * (array.shape[3] if array.ndim == 4 else 1)
        self.metadata = _metadata("npy" if name.endswith(".npy") else "array", array.dtype)

    def batches(self, start: int, count: int, batch_size: int) -> Iterator[np.ndarray]:
        for i in range(start, start + count, batch_size):
            yield np.asarray(self.array[i : min(i + batch_size, start + count)])

    def timestamps(self, start: int, count: int) -> np.ndarray | None:
        return None

    def close(self) -> None:
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

    def batches(self, start: int, count: int, batch_size: int) -> Iterator[np.ndarray]:
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
    """Frames from a folder of PNG/TIFF files, in name order (8 or 16 bit or float, grey or
    colour), read with OpenCV."""

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
        self.metadata = _metadata("images", first.dtype, lossless=True)  # PNG, TIFF

    def _read(self, path: Path) -> np.ndarray:
        image = self._cv2.imread(str(path), self._cv2.IMREAD_UNCHANGED)
        if image is None:
            raise VmicError(f"cannot read image {path}")
        return image  # BGR(A) order: the grey mean does not depend on it

    def batches(self, start: int, count: int, batch_size: int) -> Iterator[np.ndarray]:
        for i in range(start, start + count, batch_size):
            frames = [self._read(p) for p in self.files[i : min(i + batch_size, start + count)]]
            if any(f.shape[:2] != self.shape for f in frames):
                raise VmicError("image frames differ in size; all must match the first")
            yield np.stack(frames)

    def timestamps(self, start: int, count: int) -> np.ndarray | None:
        return None

    def close(self) -> None:
        pass


# Grey pixel formats (what monochrome high-speed cameras record), read as stored: uint8 for
# "gray", uint16 holding the stored values (0-1023 for 10 bit, ...) for the others.
GREY_PIXEL_FORMATS = frozenset(["gray"] + [f"gray{bits}{order}" for bits in (9, 10, 12, 14, 16)
                                           for order in ("le", "be")])


def _open_container(path: Path):
    """An opened container and its first video stream, decoded by libavcodec's threads."""
    import av

    # A URL (vmic.io.urls.RemotePath) is read as a seekable file object through fsspec.
    source = path.open_binary() if hasattr(path, "open_binary") else str(path)
    try:
        container = av.open(source, metadata_errors="ignore")
    except (av.FFmpegError, OSError) as exc:
        raise VmicError(f"cannot open video {path} (not a video, or an unsupported "
                        f"container): {exc}") from None
    if not container.streams.video:
        container.close()
        raise VmicError(f"{path}: file holds no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame and slice threads, as many as libavcodec sees fit
    return container, stream


def _decode(container, stream) -> Iterator:
    """Decoded frames in presentation order. A packet that does not decode is skipped: the
    frame count then falls short of the container's, which :meth:`VideoReader.batches`
    reports."""
    import av

    for packet in container.demux(stream):  # ends with an empty packet that drains the decoder
        try:
            frames = packet.decode()
        except av.FFmpegError:
            continue
        yield from frames


def _rate(stream) -> float | None:
    rate = stream.average_rate or stream.guessed_rate
    rate = float(rate) if rate else 0.0
    return rate if math.isfinite(rate) and rate > 0 else None


def _duration_s(container, stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return container.duration / 1e6 if container.duration else None  # AV_TIME_BASE is 1 us


class VideoReader:
    """Frames from a video file, decoded by FFmpeg through PyAV in presentation order.

    Grey streams (``gray``, ``gray10le``, ``gray16le``/``be``, ...: what monochrome
    high-speed cameras record) are read as stored, uint8 or uint16 in the file's own units:
    the low bits of a 10- to 16-bit file hold sub-pixel motion. So are the luma planes of
    YUV streams of more than 8 bits (a phone's 10-bit HDR). Other streams are converted to
    8-bit BGR (the grey mean does not depend on the order).
    A rotation the container asks for (multiples of 90 degrees) is applied.

    Seeking goes to the nearest earlier keyframe and drops the frames before the one asked
    for, identified by its timestamp; where that does not land exactly, the file is decoded
    from its first frame and frames are dropped by count.
    """

    def __init__(self, path: Path):
        from av.video.reformatter import VideoReformatter

        self.path = path
        container, stream = _open_container(path)
        try:
            first = next(_decode(container, stream), None)
            if first is None:
                raise VmicError(f"{path}: video holds no decodable frames")
            self.pixel_format = first.format.name
            self.raw_grey = self.pixel_format in GREY_PIXEL_FORMATS
            self.deep_yuv = is_deep_yuv(self.pixel_format)
            rotation = int(getattr(first, "rotation", 0) or 0)  # PyAV >= 14 reads it
            self._turns = (rotation // 90) % 4 if rotation % 90 == 0 else 0
            if rotation % 90:
                warnings.warn(f"{path.name}: rotation of {rotation} degrees is not a multiple "
                              "of 90; frames are read unrotated", stacklevel=3)
            frame = self._array(first, VideoReformatter())
            self.container_fps = _rate(stream)
            self.time_base = stream.time_base
            announced = int(stream.frames or 0)
            self.metadata = _metadata(
                container.format.name, frame.dtype, codec=stream.codec_context.name,
                pixel_format=self.pixel_format, container_fps=self.container_fps,
                duration_s=_duration_s(container, stream), rotation=rotation)
            self.metadata.update(
                bit_depth=bit_depth(self.pixel_format) if frame.dtype == np.uint16 else 8,
                lossless=codec_lossless(stream.codec_context.name, stream.profile))
            self.stated_rate = capture_fps_tag(container, stream, path)
        finally:
            container.close()
        self.shape = tuple(frame.shape[:2])
        self.bytes_per_pixel = frame.nbytes // max(frame.shape[0] * frame.shape[1], 1)
        self._pts = None
        self._indexed = False
        # Some containers (Matroska) store no frame count: count the packets.
        self.n_frames = announced if announced > 0 else self._index()[1]
        self._warned_short = False

    def _array(self, frame, reformatter) -> np.ndarray:
        if self.raw_grey and frame.format.name == self.pixel_format:
            array = frame.to_ndarray()  # uint8 or uint16 in native byte order
        elif self.deep_yuv and frame.format.name == self.pixel_format:
            array = luma_plane(frame)
        else:
            # One reformatter for all frames: frame.to_ndarray(format=...) would set up a
            # new conversion context per frame, which costs more than decoding H.264.
            array = reformatter.reformat(frame, format="bgr24").to_ndarray()
        return np.rot90(array, self._turns) if self._turns else array

    def _index(self) -> tuple[np.ndarray | None, int]:
        """Sorted presentation timestamps of the packets (None if some lack one), and
        their number; demuxed once, without decoding.

        Raises
        ------
        VmicError
            Decoding times that go backwards (a file spliced from two recordings?).
        """
        if not self._indexed:
            container, stream = _open_container(self.path)
            try:
                packets = [(packet.pts, packet.dts)
                           for packet in container.demux(stream) if packet.size]
            finally:
                container.close()
            stamps = [pts if pts is not None else dts for pts, dts in packets]
            decoding = np.array([dts for _, dts in packets if dts is not None], dtype=np.int64)
            if decoding.size > 1 and (np.diff(decoding) < 0).any():
                back = int(np.flatnonzero(np.diff(decoding) < 0)[0]) + 1
                tick = float(self.time_base)
                raise VmicError(f"{self.path}: timestamps go backwards at packet {back} "
                                f"({decoding[back - 1] * tick:.6g} s, then "
                                f"{decoding[back] * tick:.6g} s): frames cannot be placed in "
                                "time (a file joined from two recordings? re-mux each part)")
            self._n_packets = len(stamps)
            if stamps and all(t is not None for t in stamps):
                self._pts = np.sort(np.array(stamps, dtype=np.int64))
            self._indexed = True
        return self._pts, self._n_packets

    def _seek(self, container, stream, start: int):
        """Frames from ``start`` on, by seeking; None where seeking does not land on it."""
        pts = self._index()[0]
        if pts is None or start >= len(pts):
            return None
        target = int(pts[start])
        container.seek(target, stream=stream, backward=True, any_frame=False)
        frames = _decode(container, stream)
        for frame in frames:
            if frame.pts is None or frame.pts > target:
                return None
            if frame.pts == target:
                return itertools.chain([frame], frames)
        return None

    def _frames_from(self, start: int):
        """(container, iterator of frames from ``start`` on); the caller closes the container."""
        container, stream = _open_container(self.path)
        if start > 0:
            frames = self._seek(container, stream, start)
            if frames is not None:
                return container, frames
            container.close()
            container, stream = _open_container(self.path)
        frames = _decode(container, stream)
        for _ in itertools.islice(frames, start):  # decode and drop
            pass
        return container, frames

    def batches(self, start: int, count: int, batch_size: int) -> Iterator[np.ndarray]:
        from av.video.reformatter import VideoReformatter

        container, frames = self._frames_from(start)
        reformatter = VideoReformatter()
        try:
            remaining = count
            while remaining > 0:
                batch = [self._array(f, reformatter)
                         for f in itertools.islice(frames, min(batch_size, remaining))]
                if any(a.shape != batch[0].shape for a in batch) or (
                        batch and batch[0].shape[:2] != self.shape):
                    raise VmicError(f"{self.path}: frames change size within the video")
                remaining -= len(batch)
                if batch:
                    yield np.stack(batch)
                if remaining > 0 and len(batch) < batch_size:
                    self._warn_short(start + count - remaining)
                    return
        finally:
            container.close()

    def _warn_short(self, decoded_to: int) -> None:
        # The container promised more frames than decode: say so (once per file), since the
        # audio comes out shorter than the clip.
        if not self._warned_short and decoded_to < self.n_frames:
            self._warned_short = True
            warnings.warn(f"{self.path.name}: decoding stopped after {decoded_to} of the "
                          f"{self.n_frames} frames the container announces (a truncated or "
                          "damaged file?)", stacklevel=3)

    def timestamps(self, start: int, count: int) -> np.ndarray | None:
        pts = self._index()[0]
        if pts is None:
            return None
        out = np.full(count, np.nan)
        stored = pts[start : start + count]
        out[: len(stored)] = stored * float(self.time_base)
        return out

    def close(self) -> None:
        pass  # every batches() call opens and closes its own container
