"""Argument types and helpers shared by subcommands."""

from __future__ import annotations

import argparse
import contextlib
import errno
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from vmic.errors import VmicError


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number: {text!r}")
    return value


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number: {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


def roi_type(text: str) -> tuple[int, int, int, int]:
    parts = text.split(",")
    try:
        x, y, w, h = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"ROI must be X,Y,W,H integers: {text!r}") from None
    if x < 0 or y < 0 or w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"ROI needs X,Y >= 0 and W,H >= 1: {text!r}")
    return x, y, w, h


def add_clip_options(parser: argparse.ArgumentParser) -> None:
    """Options every command that reads a clip shares."""
    parser.add_argument("clip", help="video file, folder of PNG/TIFF frames, or .npy stack")
    parser.add_argument("--fps", type=capture_rate, default=None,
                        help="capture rate in frames/s (default: sidecar CLIP.json, else the "
                             "container's rate, which is usually a playback rate)")
    parser.add_argument("--roi", type=roi_type, default=None, metavar="X,Y,W,H",
                        help="crop to this region (px, in the original frame)")
    parser.add_argument("--downsample", type=positive_int, default=1, metavar="FACTOR",
                        help="reduce each frame by this integer factor (area average)"
                             " (default %(default)s)")
    parser.add_argument("--start", type=nonnegative_int, default=0,
                        help="first frame to use (default %(default)s)")
    parser.add_argument("--frames", type=positive_int, default=None, metavar="N",
                        help="number of frames to use (default: to the end)")
    parser.add_argument("--reference-frame", type=nonnegative_int, default=0, metavar="N",
                        help="reference frame, counted from --start (default 0)")
    parser.add_argument("--segment", type=nonnegative_int, default=None, metavar="N",
                        help="segment of a variable-rate video (phone slow motion) to read; "
                             "default the longest at a constant rate (see vmic info)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def json_safe(result: dict) -> dict:
    """Replace NaN by None and infinities by the strings ``"inf"``/``"-inf"`` (strict JSON)."""
    out = {}
    for key, value in result.items():
        if isinstance(value, float) and math.isnan(value):
            value = None
        elif isinstance(value, float) and math.isinf(value):
            value = "inf" if value > 0 else "-inf"
        out[key] = value
    return out


def capture_rate(text: str) -> float:
    """A capture rate in frames/s, in [MIN_FPS, MAX_FPS] (:mod:`vmic.validate`)."""
    from vmic.validate import MAX_FPS, MIN_FPS, check_fps

    try:
        return check_fps(text)
    except VmicError:
        raise argparse.ArgumentTypeError(
            f"must be a capture rate between {MIN_FPS:,.0f} and {MAX_FPS:,.0f} frames/s, "
            f"got {text!r}") from None


def clip_inputs(clip: str | None) -> list[str]:
    """The files a command reads for ``clip``: the clip and its sidecar JSON."""
    if clip is None:
        return []
    from vmic.io.clip import sidecar_path

    return [clip, str(sidecar_path(clip))]


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_writable_folder(folder: str | os.PathLike, what: str) -> None:
    """Refuse a folder that is missing or where no file can be created, before any work.

    A file is created and removed there: permissions, read-only and virtual file systems
    (``/proc``) all answer the same question that way.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise VmicError(f"{what}: folder does not exist: {folder}")
    try:
        fd, probe = tempfile.mkstemp(prefix=".vmic-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        # ENOENT here means a virtual file system that takes no new files (/proc).
        reason = "" if exc.errno == errno.ENOENT else f" ({exc.strerror or exc})"
        raise VmicError(f"{what}: cannot write in folder {folder}{reason}") from None


def check_output(path: str, suffixes: tuple[str, ...] | None, what: str,
                 inputs: Iterable[str | os.PathLike | None] = ()) -> None:
    """Refuse an output path before any work is done.

    Refused: a wrong suffix, a folder, a folder that is missing or not writable, and any of
    the command's inputs (compared as resolved paths, so ``./a.avi`` and ``a.avi`` are one
    file).

    Parameters
    ----------
    path : str
        Output path.
    suffixes : tuple of str, optional
        Accepted suffixes, lower case with the dot (".wav"); None accepts any.
    what : str
        How the message names the output ("-o", "--plot").
    inputs : iterable of path-like
        Every file the command reads (the clip, its sidecar, --reference, --model...);
        None entries are skipped.
    """
    out = Path(path)
    for source in inputs:
        if source is None:
            continue
        if _same_file(out, Path(source)):
            raise VmicError(f"{what} {path} would overwrite the input {source}")
        if Path(source).is_dir() and out.resolve().is_relative_to(Path(source).resolve()):
            # a file added to a folder of frames would be read as a frame next time
            raise VmicError(f"{what} {path} lies inside the input folder {source}")
    if out.is_dir():
        raise VmicError(f"{what} is a folder, not a file: {path}")
    if suffixes is not None and out.suffix.lower() not in suffixes:
        raise VmicError(f"{what} must end in {' or '.join(suffixes)}: {path}")
    check_writable_folder(out.parent if str(out.parent) else Path("."), what)


def check_distinct(outputs: dict[str, str | None]) -> None:
    """Refuse two outputs of one command that are the same file (flag -> path)."""
    seen: dict[Path, str] = {}
    for what, path in outputs.items():
        if path is None:
            continue
        key = Path(path).resolve()
        if key in seen:
            raise VmicError(f"{what} and {seen[key]} are the same file: {path}")
        seen[key] = what


def add_dask_option(parser: argparse.ArgumentParser) -> None:
    """``--dask ADDRESS``: the clip's frame ranges as tasks on a Dask cluster."""
    parser.add_argument("--dask", default=None, metavar="ADDRESS",
                        help="run the clip's frame ranges as tasks on a Dask cluster: a "
                             "scheduler (tcp://host:8786) or local:N (N worker processes "
                             "here); the workers read CLIP themselves; needs the dask extra")


def dask_client(address: str | None):
    """Context manager: a Dask client of ``--dask ADDRESS``, or None without the flag."""
    if address is None:
        return contextlib.nullcontext()
    from vmic.distributed import dask_client as connect

    return connect(address)
