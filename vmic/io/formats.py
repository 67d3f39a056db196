"""Which reader opens a path: by what it is (a folder) and by its suffix.

=====================================  =====================================================
Path                                   Reader
=====================================  =====================================================
a folder of PNG/TIFF frames            :class:`vmic.io.readers.ImageFolderReader`
``.npy``                               :class:`vmic.io.readers.NpyFileReader`
``.cih``, ``.cihx``, ``.mraw``         :class:`vmic.io.mraw.MrawReader` (Photron; pyMRAW)
``.cine``                              :class:`vmic.io.cine.CineReader` (Phantom)
``.tif``, ``.tiff``                    :class:`vmic.io.tiffstack.TiffStackReader` (tifffile)
anything else                          :class:`vmic.io.readers.VideoReader` (PyAV)
=====================================  =====================================================

A video's stored timestamps are checked (they may not go backwards) and split into
constant-rate segments (:mod:`vmic.io.segments`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vmic.errors import VmicError
from vmic.io.readers import ImageFolderReader, NpyFileReader, VideoReader
from vmic.io.segments import Segment, find_segments, select_segment

__all__ = ["open_path", "open_reader", "open_video", "video_segments"]


def video_segments(reader: VideoReader) -> list[Segment]:
    """The constant-rate segments of a video (one where it stores no usable timestamps).

    Raises
    ------
    VmicError
        Timestamps that go backwards.
    """
    times = reader.timestamps(0, reader.n_frames)
    if times is not None:
        times = times[: _finite_prefix(times)]
    if times is None or len(times) < 2:
        return [Segment(0, reader.n_frames, reader.container_fps)]
    segments = find_segments(times, tick_s=float(reader.time_base))
    # Frames the container announces past the last stored time join the last segment.
    last = segments[-1]
    extra = reader.n_frames - (last.first + last.n_frames)
    if extra > 0:
        segments[-1] = Segment(last.first, last.n_frames + extra, last.fps)
    return segments


def _finite_prefix(times: np.ndarray) -> int:
    """Length of the leading run of finite times (a truncated file ends in NaN)."""
    bad = np.flatnonzero(~np.isfinite(times))
    return int(bad[0]) if bad.size else len(times)


def open_video(path, *, segment: int | None = None):
    """A reader of the video at ``path`` (a Path, or a :class:`vmic.io.urls.RemotePath`):
    its segments found, the chosen one read (see :func:`open_reader`)."""
    reader = VideoReader(path)
    segments = video_segments(reader)
    reader.metadata["segments"] = [s.as_dict() for s in segments]
    return select_segment(reader, segments, segment=segment, name=path.name)


def open_reader(path: Path, *, segment: int | None = None):
    """A reader of the frames at ``path`` (which exists), see the table above.

    Parameters
    ----------
    path : Path
    segment : int, optional
        For a video with segments at different rates: the one to read (counted from 0);
        default the longest at a constant rate.

    Raises
    ------
    VmicError
        What the reader refuses, an unreadable file, or ``segment`` with a source that
        has no such segment.
    """
    suffix = path.suffix.lower()
    if path.is_dir():
        reader = ImageFolderReader(path)
    elif suffix == ".npy":
        reader = NpyFileReader(path)
    else:
        try:
            with open(path, "rb") as handle:
                handle.read(1)
        except OSError as exc:
            raise VmicError(f"cannot read {path}: {exc.strerror}") from None
        if suffix in (".cih", ".cihx", ".mraw"):
            from vmic.io.mraw import MrawReader

            reader = MrawReader(path)
        elif suffix == ".cine":
            from vmic.io.cine import CineReader

            reader = CineReader(path)
        elif suffix in (".tif", ".tiff"):
            from vmic.io.tiffstack import TiffStackReader

            reader = TiffStackReader(path)
        else:
            return open_video(path, segment=segment)
    if segment not in (None, 0):
        raise VmicError(f"--segment {segment}: {path.name} is one constant-rate segment "
                        "(segments are found in videos only)")
    return reader


def open_path(source: str | os.PathLike, *, segment: int | None = None):
    """A local path or a video's URL (:mod:`vmic.io.urls`), opened: ``(path, reader,
    sidecar)``, the sidecar a dict or None.

    Raises
    ------
    VmicError
        No such file or folder, and what :func:`open_reader` or :func:`open_video` refuse.
    """
    from vmic.io.sidecar import read_sidecar
    from vmic.io.urls import RemotePath, is_url

    if is_url(source):
        path = RemotePath(source)
        if not path.exists():
            raise VmicError(f"no such file: {path}")
        return path, open_video(path, segment=segment), path.with_suffix(".json").read_json()
    path = Path(source)
    if not path.exists():
        raise VmicError(f"no such file or folder: {path}")
    return path, open_reader(path, segment=segment), read_sidecar(path)
