"""``vmic info CLIP [--json]``: what vmic sees in a clip before a long run."""

from __future__ import annotations

import argparse
import json

from vmic.cli.common import capture_rate, json_safe, nonnegative_int, roi_type


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "info",
        help="describe a clip: frames, size, bit depth, capture rate and its source, codec",
        description="Describe a clip as vmic reads it, like ffprobe: frames, width, height, "
                    "bit depth, pixel format, the capture rate and where it comes from, "
                    "duration, codec and whether it is lossy, rotation and a variable-rate "
                    "video's segments. Reads headers (and a video's packet times), no pixels.",
    )
    parser.add_argument("clip", help="video, camera file (.cih/.cihx/.mraw, .cine), TIFF "
                                     "stack, folder of PNG/TIFF frames or .npy stack")
    parser.add_argument("--fps", type=capture_rate, default=None,
                        help="capture rate in frames/s (default: sidecar, header, phone "
                             "metadata, container)")
    parser.add_argument("--roi", type=roi_type, default=None, metavar="X,Y,W,H",
                        help="check this crop (px, in the displayed, rotated frame)")
    parser.add_argument("--segment", type=nonnegative_int, default=None, metavar="N",
                        help="segment of a variable-rate video (default the longest at a "
                             "constant rate)")
    parser.add_argument("--json", action="store_true", help="print the description as JSON")
    parser.set_defaults(func=run)


def _number(value, unit: str = "", digits: int = 6) -> str:
    return "unknown" if value is None else f"{value:.{digits}g}{unit}"


def format_info(info: dict) -> str:
    """The description as aligned lines of text."""
    lossless = {True: "lossless", False: "lossy", None: "lossless or not: unknown"}
    seg = info["segments"][info["segment"]]
    rows = [
        ("frames", f"{info['frames']}"
                   + (f" (segment {info['segment']}: frames {seg['first']}-"
                      f"{seg['first'] + seg['frames'] - 1} of the file)"
                      if len(info["segments"]) > 1 else "")),
        ("size", f"{info['width']} x {info['height']} px (width x height, as displayed)"),
        ("bit depth", f"{_number(info['bit_depth'])} ({info['pixel_format'] or 'unknown'})"),
        ("capture rate", f"{_number(info['fps'], ' fps')}"
                         + (f" (from the {info['fps_source']})" if info["fps_source"] else "")),
        ("duration", _number(info["duration_s"], " s")),
        ("codec", f"{info['codec'] or 'none'} ({lossless[info['lossless']]})"),
        ("rotation", f"{info['rotation']} degrees"),
        ("format", str(info["format"])),
    ]
    if len(info["segments"]) > 1:
        rows.append(("segments", "; ".join(
            f"{k}: frames {s['first']}-{s['first'] + s['frames'] - 1} at "
            + (_number(s["fps"], " fps", 4) if s["fps"] else "varying rate")
            for k, s in enumerate(info["segments"]))))
    lines = [info["path"]] + [f"  {name:<13}{value}" for name, value in rows]
    return "\n".join(lines + [f"note: {note}" for note in info["notes"]])


def run(args: argparse.Namespace) -> int:
    from vmic.io.info import clip_info

    info = clip_info(args.clip, fps=args.fps, roi=args.roi, segment=args.segment)
    if args.json:
        print(json.dumps(json_safe(info), indent=2))
    else:
        print(format_info(info))
    return 0
