"""``vmic train --out model.pt``: train the learned recovery's Siamese regressor."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from vmic.cli.common import (
    check_distinct,
    check_output,
    nonnegative_int,
    positive_float,
    positive_int,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train the learned recovery model (needs the learn extra)",
        description="Render synthetic clips (vmic synth), turn them into pyramid phase maps "
                    "and train the Siamese regressor used by `vmic recover --method learned`. "
                    "Train and validation clips use disjoint seeds.",
    )
    parser.add_argument("--out", required=True, help="weights file to write (.pt)")
    parser.add_argument("--seed", type=nonnegative_int, default=0,
                        help="seed of the initialisation and window sampling (default %(default)s)")
    parser.add_argument("--clips", type=positive_int, default=32,
                        help="training clips (default %(default)s)")
    parser.add_argument("--val-clips", type=positive_int, default=8,
                        help="validation clips (default %(default)s)")
    parser.add_argument("--duration", type=positive_float, default=0.5,
                        help="length of each clip (s) (default %(default)s)")
    parser.add_argument("--steps", type=positive_int, default=800,
                        help="largest number of training steps per design (default %(default)s)")
    parser.add_argument("--batch", type=positive_int, default=16,
                        help="windows of frames per training step (default %(default)s)")
    parser.add_argument("--eval-every", type=positive_int, default=100,
                        help="steps between validations (default %(default)s)")
    parser.add_argument("--patience", type=positive_int, default=4,
                        help="validations without improvement before stopping early"
                             " (default %(default)s)")
    parser.add_argument("--design", choices=["frame", "context", "auto"], default="auto",
                        help="per-frame model, temporal-context model, or train both and keep "
                             "the better on validation (default %(default)s)")
    parser.add_argument("--taps", type=positive_int, default=4,
                        help="half-length of the context design's temporal filter (frames)"
                             " (default %(default)s)")
    parser.add_argument("--width", type=positive_int, default=8,
                        help="encoder channels (default %(default)s)")
    parser.add_argument("--inputs", choices=["phase", "flow"], default="flow",
                        help="per-band A^2-weighted tile phases, or each tile's "
                             "maximum-likelihood displacement from the flow-weighted phase "
                             "sums of all bands (default %(default)s)")
    parser.add_argument("--scales", type=positive_int, default=3,
                        help="pyramid scales (default %(default)s)")
    parser.add_argument("--grid", type=positive_int, default=16,
                        help="largest tile grid side of the maps (default %(default)s)")
    parser.add_argument("--lr", type=positive_float, default=3e-3,
                        help="learning rate (default %(default)s)")
    parser.add_argument("--threads", type=positive_int, default=2,
                        help="torch threads (default %(default)s)")
    parser.add_argument("--plot", default=None, metavar="PNG", help="loss curves picture")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or log lines")
    parser.set_defaults(func=run)


def run(args) -> int:
    out = Path(args.out)
    check_output(args.out, None, "--out")
    if args.plot:
        check_output(args.plot, (".png", ".pdf", ".svg"), "--plot")
    check_distinct({"--out": args.out, "--plot": args.plot})
    from vmic.learn import require_torch

    require_torch()
    from vmic.learn.siamese.maps import MapSpec
    from vmic.learn.siamese.train import TrainConfig, train_and_select

    cfg = TrainConfig(n_train=args.clips, n_val=args.val_clips, duration_s=args.duration,
                      batch=args.batch, max_steps=args.steps, eval_every=args.eval_every,
                      patience=args.patience,
                      design=args.design, taps=args.taps, width=args.width, lr=args.lr,
                      seed=args.seed, threads=args.threads)

    def log(line: str) -> None:
        if not args.quiet:
            print(f"vmic: {line}", file=sys.stderr, flush=True)

    spec = MapSpec(scales=args.scales, orientations=2, grid=args.grid, inputs=args.inputs)
    summary = train_and_select(cfg, out, spec=spec, plot=args.plot, quiet=args.quiet, log=log)
    if not args.quiet:
        print(json.dumps(summary, indent=2), file=sys.stderr)
    # The line saying what was written stays under --quiet (which silences progress only).
    print(f"vmic: wrote {out} (design {summary['chosen']}, "
          f"{summary['total_seconds']:.0f} s)", file=sys.stderr)
    return 0
