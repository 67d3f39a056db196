"""``vmic calibrate CLIP --played REF.wav -o OBJECT.json``: an object's measured response."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from vmic.cli.common import (
    add_clip_options,
    check_distinct,
    check_output,
    clip_inputs,
    positive_float,
    positive_int,
)
from vmic.io.atomic import atomic_path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "calibrate",
        help="measure an object's response from a clip of it playing a known sound",
        description="Recover the clip, align it with the played sound (cross-correlation), "
                    "and estimate the object's response H(f) (H1: cross-spectrum over "
                    "auto-spectrum, Welch) with its coherence; the valid band is where the "
                    "coherence is at least 0.5. Later recoveries of the same object and view "
                    "are equalised by it: vmic recover CLIP --equalize OBJECT.json.",
    )
    add_clip_options(parser)
    parser.add_argument("--played", required=True, metavar="REF.wav",
                        help="the sound that was played (a sweep, white or pink noise, MLS), "
                             "any sample rate (resampled to the capture rate); stereo is "
                             "mixed to mono")
    parser.add_argument("-o", "--output", required=True, metavar="OBJECT.json",
                        help="the calibration file (JSON)")
    parser.add_argument("--plot", default=None, metavar="PNG",
                        help="also save magnitude, phase and coherence against frequency")
    parser.add_argument("--combine", default="auto", choices=["auto", "local", "bands", "align"],
                        help="combination method of the recovery (default %(default)s); use "
                             "the same in the recoveries to equalise")
    parser.add_argument("--scales", type=positive_int, default=None,
                        help="pyramid scales (default: the method's)")
    parser.add_argument("--orientations", type=positive_int, default=2,
                        help="pyramid orientations (default %(default)s)")
    parser.add_argument("--reference-average", type=positive_int, default=None, metavar="N",
                        help="frames averaged into the reference image (default: the "
                             "method's)")
    parser.add_argument("--highpass", type=positive_float, default=None, metavar="HZ",
                        help="zero-phase high-pass cutoff (default 20 Hz); the played sound "
                             "is filtered alike")
    parser.add_argument("--motion", choices=["auto", "off"], default=None,
                        help="large motion of the camera (as vmic recover)")
    parser.set_defaults(func=run)


def run(args) -> int:
    inputs = [*clip_inputs(args.clip), args.played]
    check_output(args.output, (".json",), "-o", inputs)
    if args.plot:
        check_output(args.plot, (".png", ".pdf", ".svg"), "--plot", inputs)
    check_distinct({"-o": args.output, "--plot": args.plot})

    from vmic.calibration import calibrate

    response = calibrate(
        args.clip, args.played, fps=args.fps, roi=args.roi, downsample=args.downsample,
        start=args.start, n_frames=args.frames, combine=args.combine, scales=args.scales,
        orientations=args.orientations, highpass_hz=args.highpass,
        reference_frame=args.reference_frame, reference_average=args.reference_average,
        motion=args.motion, quiet=args.quiet)
    with contextlib.ExitStack() as stack:
        # Both outputs complete before either is renamed into place.
        out = stack.enter_context(atomic_path(args.output))
        out.write_text(response.to_json())
        if args.plot:
            from vmic.response_figure import save_response_plot

            save_response_plot(stack.enter_context(atomic_path(args.plot)), response,
                               title=f"{Path(args.clip).name}: object response")
    lag = response.lag
    bands = ", ".join(f"{lo:.0f}-{hi:.0f}" for lo, hi in response.valid_band_hz)
    print(f"vmic: lag {lag.seconds * 1e3:+.2f} ms ({lag.samples:+d} samples, correlation "
          f"{lag.correlation:+.3f}, {lag.z:.0f} robust deviations)", file=sys.stderr)
    print(f"vmic: wrote {args.output}: valid band {bands} Hz (coherence >= 0.5), "
          f"{response.n_averages} averages, method {response.recovery.get('method')}",
          file=sys.stderr)
    return 0
