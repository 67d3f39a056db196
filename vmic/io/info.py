"""What vmic sees in a clip before a long run: :func:`clip_info` (``vmic info``)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from vmic.errors import VmicError
from vmic.io.clip import Clip
from vmic.io.formats import open_reader
from vmic.io.rate import resolve_capture_rate
from vmic.io.sidecar import read_sidecar

__all__ = ["clip_info", "LOSSY_NOTE"]

LOSSY_NOTE = ("lossy compression costs sub-pixel motion: the recovered sound is weaker and "
              "noisier than from a lossless file (docs/benchmarks.md, codecs)")


def _rate_known(fps, sidecar, reader) -> bool:
    return (fps is not None or (sidecar is not None and "fps" in sidecar)
            or getattr(reader, "stated_rate", None) is not None
            or reader.container_fps is not None)


def clip_info(path: str | os.PathLike, *, fps: float | None = None,
              roi: tuple[int, int, int, int] | None = None,
              segment: int | None = None) -> dict:
    """What vmic reads from a clip, without reading its frames (only the headers, and a
    video's packet timestamps).

    Parameters
    ----------
    path : str or path-like
        Any clip :func:`vmic.io.clip.open_clip` opens.
    fps : float, optional
        Capture rate (frames/s), as ``open_clip`` takes it.
    roi : (int, int, int, int), optional
        Crop ``(x, y, width, height)`` in px of the displayed (rotated) frame; checked
        against it and reported.
    segment : int, optional
        The segment of a variable-rate video to describe (default the longest at a
        constant rate).

    Returns
    -------
    dict
        ``frames`` (of the segment read), ``width`` and ``height`` (px, as displayed, after
        rotation), ``bit_depth``, ``pixel_format``, ``fps`` (capture rate, frames/s, None if
        unknown) and ``fps_source`` (:mod:`vmic.io.rate`), ``duration_s`` (frames / fps, s),
        ``codec``, ``lossless`` (True, False or None when unknown), ``rotation`` (degrees),
        ``segments`` (list of ``{"first", "frames", "fps"}``; ``fps`` None for a ramp),
        ``segment`` (the one read), ``format``, ``container_fps``, ``roi`` and ``notes``
        (what vmic would warn about).

    Raises
    ------
    VmicError
        What ``open_clip`` refuses, except an unknown capture rate (reported as None).
    """
    path = Path(path)
    if not path.exists():
        raise VmicError(f"no such file or folder: {path}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reader = open_reader(path, segment=segment)
        sidecar = read_sidecar(path)
        rate, source = None, None
        if _rate_known(fps, sidecar, reader):
            rate, source = resolve_capture_rate(fps, path, sidecar, reader)
        clip = Clip(reader, path=path, capture_fps=rate, fps_source=source, roi=roi,
                    downsample=1, start=0, n_frames=None)
    meta = clip.metadata
    notes = [str(w.message) for w in caught]
    if meta.get("lossless") is False:
        notes.append(LOSSY_NOTE)
    elif meta.get("lossless") is None and meta.get("codec"):
        notes.append(f"whether this {meta['codec']} stream is lossless cannot be told from it "
                     f"(phone videos are lossy); {LOSSY_NOTE}")
    if rate is None:
        notes.append("capture rate unknown: pass --fps or write a sidecar JSON")
    height, width = clip.source_shape
    segments = meta.get("segments") or [{"first": 0, "frames": clip.n_frames,
                                         "fps": meta.get("container_fps")}]
    return {
        "path": str(path), "frames": clip.n_frames, "width": width, "height": height,
        "bit_depth": meta.get("bit_depth"), "pixel_format": meta.get("pixel_format"),
        "fps": rate, "fps_source": source,
        "duration_s": clip.n_frames / rate if rate else None,
        "codec": meta.get("codec"), "lossless": meta.get("lossless"),
        "rotation": meta.get("rotation", 0), "segments": segments,
        "segment": meta.get("segment", 0), "format": meta.get("format"),
        "container_fps": meta.get("container_fps"), "roi": list(clip.roi), "notes": notes,
    }
