"""Argument types and helpers shared by subcommands."""

from __future__ import annotations

import argparse


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number: {text!r}")
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
    parser.add_argument("--fps", type=positive_float, default=None,
                        help="capture rate in frames/s (default: sidecar CLIP.json, else the "
                             "container's rate, which is usually a playback rate)")
    parser.add_argument("--roi", type=roi_type, default=None, metavar="X,Y,W,H",
                        help="crop to this region (px, in the original frame)")
    parser.add_argument("--downsample", type=positive_int, default=1, metavar="FACTOR",
                        help="reduce each frame by this integer factor (area average)")
    parser.add_argument("--start", type=nonnegative_int, default=0, help="first frame to use")
    parser.add_argument("--frames", type=positive_int, default=None, metavar="N",
                        help="number of frames to use (default: to the end)")
    parser.add_argument("--reference-frame", type=nonnegative_int, default=0, metavar="N",
                        help="reference frame, counted from --start (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def check_output(path: str, suffixes: tuple[str, ...], what: str,
                 clip: str | None = None) -> None:
    """Refuse an output path before any work: wrong suffix, missing folder, or the input.

    Parameters
    ----------
    path : str
        Output path.
    suffixes : tuple of str
        Accepted suffixes, lower case with the dot (".wav").
    what : str
        How the message names the output ("output", "--plot").
    clip : str, optional
        The input clip, which an output must never overwrite.
    """
    from pathlib import Path

    from vmic.errors import VmicError

    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise VmicError(f"{what} must end in {' or '.join(suffixes)}: {path}")
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise VmicError(f"output folder does not exist: {folder}")
    if clip is not None and out.resolve() == Path(clip).resolve():
        raise VmicError(f"{what} would overwrite the input clip")
