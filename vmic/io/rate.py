"""Where a clip's capture rate comes from, and how sure that is.

High-speed footage is usually stored at a playback rate (say 30 fps) although it was captured
at 600-20 000 fps. The capture rate is therefore taken from the first of:

1. ``"argument"``: the ``fps`` argument (``--fps``);
2. ``"sidecar"``: a sidecar JSON holding ``{"fps": ...}`` (:func:`vmic.io.sidecar.sidecar_path`);
3. ``"header"``: a camera's header (Photron CIH/CIHX record rate divided by its save step,
   Phantom CINE frame rate);
4. ``"metadata"``: a phone's slow-motion tag in the container (Android's
   ``com.android.capture.fps``);
5. ``"container"``: the container's frame rate, with a warning, since it is usually a
   playback rate.

A reader states 3 or 4 through its optional ``stated_rate`` attribute (:class:`StatedRate`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from vmic.errors import VmicError
from vmic.io.sidecar import capture_rate, sidecar_path
from vmic.validate import check_fps

__all__ = ["StatedRate", "FPS_SOURCES", "resolve_capture_rate"]

FPS_SOURCES = ("argument", "sidecar", "header", "metadata", "container")


@dataclass(frozen=True)
class StatedRate:
    """A capture rate a file states itself.

    Attributes
    ----------
    fps : float
        Rate of the stored frames (frames/s); 0 where the header holds 0 (refused when used).
    source : {"header", "metadata"}
        A camera header, or a phone's slow-motion tag in the container.
    where : str
        The field it was read from, for messages (``"clip.cih: Record Rate(fps)"``).
    note : str or None
        Said (as a warning) when the rate is used: a save step above 1 gives an effective
        rate below the recording rate.
    """

    fps: float
    source: str
    where: str
    note: str | None = None


def _hint(path: Path | None) -> str:
    where = f"a sidecar {sidecar_path(path).name} with " if path is not None else "a sidecar "
    return f'pass --fps or write {where}{{"fps": ...}}'


def resolve_capture_rate(fps, path: Path | None, sidecar: dict | None,
                         reader) -> tuple[float, str]:
    """The capture rate (frames/s) and its source (one of :data:`FPS_SOURCES`).

    Parameters
    ----------
    fps : float or None
        The rate given as an argument.
    path : Path or None
        The clip's path (None for an array).
    sidecar : dict or None
        The clip's sidecar JSON, read.
    reader : FrameReader
        Its ``stated_rate`` (optional attribute, :class:`StatedRate` or None) and
        ``container_fps`` are consulted.

    Raises
    ------
    VmicError
        An invalid rate (a header's rate of 0 among them), or none known.
    """
    if fps is not None:
        return check_fps(fps, name="fps"), "argument"
    if sidecar is not None and "fps" in sidecar:
        return check_fps(sidecar["fps"], name=f"{sidecar_path(path)}: fps"), "sidecar"
    stated = getattr(reader, "stated_rate", None)
    if stated is not None:
        if not stated.fps > 0:
            raise VmicError(f"{stated.where} is {stated.fps:g}, not a capture rate (a damaged "
                            f"header?); {_hint(path)}")
        rate = check_fps(stated.fps, name=stated.where)
        if stated.note:
            warnings.warn(stated.note, stacklevel=3)
        return rate, stated.source
    # The container's rate (with a warning), or the refusal when none is known.
    return capture_rate(None, path, None, reader.container_fps)
