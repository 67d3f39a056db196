"""``vmic loudness``: loudness (dB) of each output frame of a clip.

Two methods:

``audio`` (default)
    Recover the sound from the (high-speed) clip with :func:`vmic.recovery.recover`, then take
    ``dB = 20 log10(sqrt(sum chunk^2))`` of each output frame's chunk (``--rate`` frames/s,
    default 30), floored at ``--floor-db``. The recovered audio is normalised to [-1, 1], so
    these dB are *relative*: compare their shape (correlation) with a truth, not their level.
``cnn-lstm``
    Predict each video frame's dB from the frames alone with the learned CNN-LSTM
    (:mod:`vmic.learn.loudness.model`, needs the ``learn`` extra), for ordinary-rate clips
    (15-30 frames/s, as trained); one row per video frame. Its dB are on the scale of the
    training sounds (:mod:`vmic.synth.impacts`).

The CSV holds ``frame, time_s, db`` (+ ``truth_db`` with ``--reference``, + ``impact`` for
the learned method: 1 where an impact is detected).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import math
import sys

import numpy as np

from vmic.cli.common import (
    add_clip_options,
    check_distinct,
    check_output,
    clip_inputs,
    finite_float,
    positive_float,
    positive_int,
)
from vmic.errors import VmicError
from vmic.io.atomic import atomic_path
from vmic.loudness import (
    DEFAULT_FLOOR_DB,
    correlation_above_floor,
    detect_impacts,
    loudness_at_rate,
)

DESCRIPTION = """\
Write the loudness (dB) of each output frame of a clip to a CSV file.

--method audio (default): recover the sound from the high-speed clip, as vmic recover does,
  then take 20 log10 of the root of the summed squares of each output frame's samples
  (--rate frames/s, default 30), floored at --floor-db. The recovered audio is scaled to a
  peak of 1, so these dB are relative: compare their shape with a truth, not their level.

--method cnn-lstm: predict each video frame's dB from the frames alone with the learned
  CNN-LSTM (needs the learn extra), for ordinary-rate clips (15-30 frames/s, as trained);
  one row per video frame, on the scale of the training sounds.

The CSV holds the columns frame, time_s and db; truth_db is added with --reference, and
impact (1 where an impact is detected) with --method cnn-lstm."""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "loudness",
        help="loudness (dB) of each output frame, from recovered audio or a learned model",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_clip_options(parser)
    parser.add_argument("-o", "--output", required=True, metavar="CSV",
                        help="per-frame loudness table to write (CSV)")
    parser.add_argument("--method", choices=["audio", "cnn-lstm"], default="audio",
                        help="audio: from recovered sound (high-speed clips); cnn-lstm: "
                             "learned from the frames (ordinary-rate clips)")
    parser.add_argument("--rate", type=positive_float, default=None, metavar="HZ",
                        help="output frames per second for --method audio (default 30); "
                             "cnn-lstm gives one row per video frame")
    parser.add_argument("--floor-db", type=finite_float, default=DEFAULT_FLOOR_DB, metavar="DB",
                        help=f"dB given to silent chunks (default {DEFAULT_FLOOR_DB:g})")
    parser.add_argument("--reference", default=None, metavar="WAV",
                        help="true sound: its per-frame dB goes in the CSV and the plot, and "
                             "the correlation is printed")
    parser.add_argument("--plot", default=None, metavar="PNG", help="plot dB over frames")
    parser.add_argument("--combine", default=None,
                        help="--method audio: combination of the pyramid's signals (as in "
                             "vmic recover, and with the same default)")
    parser.add_argument("--scales", type=positive_int, default=None,
                        help="--method audio: pyramid scales (default: as in vmic recover)")
    parser.add_argument("--orientations", type=positive_int, default=2,
                        help="--method audio: pyramid orientations (default 2)")
    parser.add_argument("--highpass", type=positive_float, default=None, metavar="HZ",
                        help="--method audio: high-pass cutoff of the recovered sound, Hz")
    parser.add_argument("--weights", default=None,
                        help="CNN-LSTM weights (default: the shipped ones)")
    parser.set_defaults(func=run)


def _recovered_db(args, rate: float) -> tuple[np.ndarray, float]:
    from vmic.recovery import recover

    options = {"scales": args.scales, "orientations": args.orientations,
               "highpass_hz": args.highpass}
    if args.combine is not None:
        options["combine"] = args.combine
    result = recover(args.clip, fps=args.fps, roi=args.roi, downsample=args.downsample,
                     start=args.start, n_frames=args.frames,
                     reference_frame=args.reference_frame, quiet=args.quiet,
                     segment=args.segment, **options)
    sr = float(result.sr)
    if rate > sr:
        raise VmicError(f"--rate {rate:g} exceeds the capture rate {sr:g} fps")
    db = loudness_at_rate(result.audio, sr, fps=rate, floor_db=args.floor_db)
    if db.size == 0:
        raise VmicError(f"the clip is shorter than one output frame at --rate {rate:g}")
    return db, rate


def _read_frames(args) -> tuple[np.ndarray, float]:
    from tqdm import tqdm

    from vmic.io.clip import open_clip

    with open_clip(args.clip, fps=args.fps, roi=args.roi, downsample=args.downsample,
                   start=args.start, n_frames=args.frames, segment=args.segment) as clip:
        frames = np.empty((clip.n_frames, *clip.frame_shape), dtype=np.float32)
        with tqdm(total=clip.n_frames, desc="reading frames", disable=args.quiet,
                  file=sys.stderr, leave=False, unit="frame") as bar:
            for first, batch in clip.iter_batches(64):
                frames[first:first + batch.shape[0]] = batch
                bar.update(batch.shape[0])
        return frames, float(clip.capture_fps)


def _learned_db(args) -> tuple[np.ndarray, float, np.ndarray, float]:
    from vmic.learn import require_torch

    require_torch()
    from vmic.learn.loudness.model import MODEL_FRAME_RATE, load_weights, predict_db

    if args.weights is not None:
        load_weights(args.weights)  # a bad file is refused before the frames are read
    frames, fps = _read_frames(args)
    if args.rate is not None and not math.isclose(args.rate, fps, rel_tol=1e-6):
        raise VmicError("--method cnn-lstm gives one dB per video frame; omit --rate "
                        f"(the clip runs at {fps:g} fps)")
    # 8-bit footage is in [0, 255]; anything brighter is taken as 16-bit.
    intensity_max = 255.0 if float(frames.max(initial=0.0)) <= 255.0 else 65535.0
    db, meta = predict_db(frames, weights=args.weights, intensity_max=intensity_max, fps=fps)
    trained = [float(r) for r in str(meta.get("frame_rates", MODEL_FRAME_RATE)).split(",")]
    if not 0.95 * min(trained) <= fps <= 1.05 * max(trained):
        import warnings

        warnings.warn(f"the CNN-LSTM was trained on {meta.get('frame_rates', MODEL_FRAME_RATE)} "
                      f"fps clips; this clip runs at {fps:g} fps, so its dB scale and "
                      "detections may be off", stacklevel=2)
    db = np.maximum(db, args.floor_db)
    threshold = float(meta.get("threshold_db", -40.0))
    return db, fps, detect_impacts(db, threshold), threshold


def _reference_db(reference, rate: float, floor_db: float, n_frames: int) -> np.ndarray:
    path, audio, sr = reference
    if rate > sr:
        raise VmicError(f"--reference {path} is sampled at {sr} Hz, below {rate:g} frames/s")
    return loudness_at_rate(audio, sr, fps=rate, floor_db=floor_db)[:n_frames]


def _write_csv(path, db, rate, truth, impacts) -> None:
    impact_set = set(int(i) for i in impacts) if impacts is not None else None
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        header = ["frame", "time_s", "db"]
        header += ["truth_db"] if truth is not None else []
        header += ["impact"] if impact_set is not None else []
        writer.writerow(header)
        for i, value in enumerate(db):
            row = [i, f"{i / rate:.6f}", f"{value:.3f}"]
            if truth is not None:
                row.append(f"{truth[i]:.3f}" if i < truth.size else "")
            if impact_set is not None:
                row.append(int(i in impact_set))
            writer.writerow(row)


def _plot(path, db, truth, impacts, floor_db, title) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.2))
    frames = np.arange(db.size)
    ax.plot(frames, db, color="tab:blue", lw=1.2, label="vmic")
    if truth is not None:
        ax.plot(np.arange(truth.size), truth, color="black", lw=1.0, alpha=0.7, label="truth")
    if impacts is not None and len(impacts):
        ax.plot(impacts, db[impacts], "v", color="tab:red", ms=6, label="impacts")
    ax.axhline(floor_db, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("frame")
    ax.set_ylabel("loudness (dB)")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def run(args) -> int:
    inputs = [*clip_inputs(args.clip), args.reference, args.weights]
    check_output(args.output, (".csv",), "-o", inputs)
    if args.plot:
        check_output(args.plot, (".png", ".pdf", ".svg"), "--plot", inputs)
    check_distinct({"-o": args.output, "--plot": args.plot})
    reference = None
    if args.reference is not None:  # read before the work, so a bad file fails first
        from vmic.io.audio import read_wav

        reference = (args.reference, *read_wav(args.reference))
    impacts = None
    if args.method == "audio":
        db, rate = _recovered_db(args, args.rate if args.rate is not None else 30.0)
        title = f"loudness of recovered audio ({rate:g} frames/s, relative dB)"
    else:
        db, rate, impacts, _ = _learned_db(args)
        title = f"loudness predicted by the CNN-LSTM ({rate:g} frames/s)"
    truth = None
    if args.reference is not None:
        truth = _reference_db(reference, rate, args.floor_db, db.size)
    # Both outputs are complete before either is renamed into place (no CSV without its plot).
    with contextlib.ExitStack() as stack:
        _write_csv(stack.enter_context(atomic_path(args.output)), db, rate, truth, impacts)
        if args.plot:
            _plot(stack.enter_context(atomic_path(args.plot)), db, truth, impacts,
                  args.floor_db, title)
    line = f"{db.size} frames at {rate:g} frames/s: dB from {db.min():.1f} to {db.max():.1f}"
    if impacts is not None:
        line += f", {len(impacts)} impacts"
    if truth is not None:
        r = correlation_above_floor(db, truth, args.floor_db)
        line += f", correlation with reference {r:.3f}"
    print(line)
    print(f"vmic: wrote {args.output}" + (f" and {args.plot}" if args.plot else ""),
          file=sys.stderr)
    return 0
