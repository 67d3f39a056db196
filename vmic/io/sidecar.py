"""Sidecar JSON files (``{"fps": ...}`` and more) and where a clip's capture rate comes from."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from vmic.errors import VmicError
from vmic.validate import check_fps

__all__ = ["sidecar_path", "read_sidecar", "capture_rate"]


def sidecar_path(clip_path: str | Path) -> Path:
    """The sidecar JSON of a clip: ``clip.avi`` -> ``clip.json``, folder ``x/`` -> ``x.json``
    (a video at a URL: the same URL ending in ``.json``)."""
    from vmic.io.urls import RemotePath

    if isinstance(clip_path, RemotePath):
        return clip_path.with_suffix(".json")
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


def capture_rate(fps, path: Path | None, sidecar: dict | None,
                 container_fps: float | None) -> tuple[float, str]:
    """The capture rate (frames/s) and where it came from: "argument", "sidecar" or
    "container" (with a warning: containers usually hold a playback rate).

    Raises
    ------
    VmicError
        An invalid rate, or none known.
    """
    if fps is not None:
        return check_fps(fps, name="fps"), "argument"
    if sidecar is not None and "fps" in sidecar:
        return check_fps(sidecar["fps"], name=f"{sidecar_path(path)}: fps"), "sidecar"
    if container_fps is not None:
        warnings.warn(
            f"capture rate taken from the container ({container_fps:g} fps), which usually "
            "holds a playback rate for high-speed footage; pass --fps or write a sidecar "
            f"{sidecar_path(path).name} with {{\"fps\": ...}}",
            stacklevel=3,
        )
        return check_fps(container_fps, name=f"{path}: the container's fps"), "container"
    raise VmicError(
        "capture rate unknown: pass --fps (or fps=...) or write a sidecar JSON "
        + (f"{sidecar_path(path)} " if path is not None else "")
        + 'with {"fps": ...}'
    )
