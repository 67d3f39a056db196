"""``vmic map CLIP -o map.png``: where the clip vibrates, and at which frequency."""

from __future__ import annotations

import sys

import numpy as np

from vmic.cli.common import (
    add_clip_options,
    add_dask_option,
    check_distinct,
    check_output,
    clip_inputs,
    dask_client,
    positive_float,
    positive_int,
)
from vmic.io.atomic import atomic_path

PICTURE_SUFFIXES = (".png", ".pdf", ".svg")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "map",
        help="map vibration strength and dominant frequency over the frame",
        description="Cut the reference frame into tiles, measure each tile's local motion "
                    "(pyramid phase) over the clip, and draw where a spectral line stands "
                    "out of the noise (strength, dB) and at which frequency (Hz).",
    )
    add_clip_options(parser)
    parser.add_argument("-o", "--output", required=True,
                        help="output picture (.png, .pdf or .svg)")
    parser.add_argument("--tile", type=positive_int, default=8, metavar="PX",
                        help="tile side in px of the analysed frame (after --roi/--downsample)"
                             " (default %(default)s)")
    parser.add_argument("--scales", type=positive_int, default=1,
                        help="pyramid scales (default %(default)s)")
    parser.add_argument("--orientations", type=positive_int, default=2,
                        help="pyramid orientations (default %(default)s)")
    parser.add_argument("--highpass", type=positive_float, default=None, metavar="HZ",
                        help="high-pass cutoff and lowest frequency searched (default 0.05 "
                             "of Nyquist)")
    parser.add_argument("--max-freq", type=positive_float, default=None, metavar="HZ",
                        help="highest frequency searched (default the Nyquist rate)")
    parser.add_argument("--motion", choices=["auto", "off"], default="auto",
                        help="large motion of the camera: auto removes it where it reaches "
                             "0.2 px, as vmic recover does (default %(default)s)")
    parser.add_argument("--data", default=None, metavar="NPZ",
                        help="also save the maps (strength, frequency, rms, tile edges)")
    add_dask_option(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from vmic.vibmap import save_vibration_map, vibration_map

    check_output(args.output, PICTURE_SUFFIXES, "-o", clip_inputs(args.clip))
    if args.data:
        check_output(args.data, (".npz",), "--data", clip_inputs(args.clip))
    check_distinct({"-o": args.output, "--data": args.data})
    with dask_client(args.dask) as client:
        vmap = vibration_map(
            args.clip, fps=args.fps, scales=args.scales, orientations=args.orientations,
            tile_px=args.tile, roi=args.roi, downsample=args.downsample, start=args.start,
            n_frames=args.frames, reference_frame=args.reference_frame, motion=args.motion,
            highpass_hz=args.highpass, max_freq_hz=args.max_freq, quiet=args.quiet,
            segment=args.segment, client=client,
        )
    save_vibration_map(args.output, vmap)
    if args.data:
        with atomic_path(args.data) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, strength_db=vmap.strength, frequency_hz=vmap.frequency,
                     rms_rad=vmap.rms, tile_edges_y=vmap.tile_edges_y,
                     tile_edges_x=vmap.tile_edges_x, fps=vmap.fps,
                     band_hz=np.asarray(vmap.band_hz), origin=np.asarray(vmap.origin),
                     pixel_size=vmap.pixel_size)
    # The line saying what was written stays under --quiet (which silences progress only).
    ty, tx = vmap.tiles
    print(f"vmic: wrote {args.output}: {ty}x{tx} tiles, {vmap.n_frames} frames at "
          f"{vmap.fps:g} fps (bin {vmap.freq_resolution_hz:.3g} Hz)", file=sys.stderr)
    if not args.quiet:
        for row, col, strength, freq in vmap.strongest(5):
            y = vmap.origin[1] + vmap.tile_edges_y[row] * vmap.pixel_size
            x = vmap.origin[0] + vmap.tile_edges_x[col] * vmap.pixel_size
            print(f"vmic:   tile at x={x}, y={y} px: {freq:.1f} Hz, {strength:.1f} dB",
                  file=sys.stderr)
    return 0
