"""``vmic compare CLIP --reference TRUTH.wav``: align vs the default classical vs learned.

Parses the options, calls :func:`vmic.compare.compare_methods` and prints its table.
"""

from __future__ import annotations

import sys
from pathlib import Path

from vmic.cli.common import add_clip_options, check_output, clip_inputs
from vmic.errors import VmicError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare align, the default classical method and the learned method on a clip",
        description="Recover a clip with align (vmSoundFromVideo), the default classical "
                    "combination and the learned Siamese regressor, and score each against a "
                    "truth WAV: SNR, segmental SNR, STOI, correlation, RMSE of [0,1]-scaled "
                    "signals, and time.",
    )
    add_clip_options(parser)
    parser.add_argument("--reference", required=True, metavar="WAV",
                        help="truth signal (e.g. the truth WAV of vmic synth)")
    parser.add_argument("--model", default=None, help="learned weights (default: shipped)")
    parser.add_argument("--plot", default=None, metavar="PNG",
                        help="waveforms and spectrograms side by side")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.set_defaults(func=run)


def run(args) -> int:
    from vmic.compare import compare_methods, format_comparison, plot_comparison, read_truth
    from vmic.io.clip import open_clip

    if args.plot:
        check_output(args.plot, (".png", ".pdf", ".svg"), "--plot",
                     [*clip_inputs(args.clip), args.reference, args.model])
    if not Path(args.reference).is_file():
        raise VmicError(f"no such reference file: {args.reference}")
    with open_clip(args.clip, fps=args.fps, roi=args.roi, downsample=args.downsample,
                   start=args.start, n_frames=args.frames, segment=args.segment) as clip:
        fps = clip.capture_fps
    truth = read_truth(args.reference, sr=fps)  # the audio rate is the capture rate
    truth = truth[args.start:] if args.start else truth
    rows = compare_methods(args.clip, truth, fps=fps, roi=args.roi, downsample=args.downsample,
                           start=args.start, n_frames=args.frames,
                           reference_frame=args.reference_frame, model_path=args.model,
                           quiet=args.quiet, segment=args.segment)
    print(format_comparison(rows, markdown=args.markdown))
    if args.plot:
        plot_comparison(args.plot, rows, truth, title=Path(args.clip).name)
        print(f"vmic: wrote {args.plot}", file=sys.stderr)
    return 0
