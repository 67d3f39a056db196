"""``vmic compare CLIP --reference TRUTH.wav``: align vs the default classical vs learned.

Runs three recoveries of one clip and scores each against the truth with
:func:`vmic.metrics.score` (band-pass 20 Hz - 0.45 fs, best lag, least-squares gain with sign):

- ``align``: ``vmSoundFromVideo``'s combination (:func:`vmic.recovery.recover`, combine="align"),
- ``auto``: the default classical method (:data:`vmic.recovery.DEFAULT_COMBINE`),
- ``learned``: the Siamese regressor
  (:func:`vmic.learn.siamese.infer.recover_learned`), when torch is
  installed; otherwise the row says it needs the ``learn`` extra.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from vmic.cli.common import add_clip_options
from vmic.errors import VmicError

COLUMNS = (("snr_db", "SNR (dB)", "{:.2f}"), ("segsnr_db", "segSNR (dB)", "{:.2f}"),
           ("stoi", "STOI", "{:.3f}"), ("pearson", "r", "{:.3f}"),
           ("rmse01", "RMSE [0,1]", "{:.4f}"), ("seconds", "time (s)", "{:.2f}"))


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare align, the default classical method and the learned method on a clip",
        description="Recover a clip with align (vmSoundFromVideo), the default classical "
                    "combination and the learned Siamese regressor, and score each against a "
                    "truth WAV: SNR, segmental SNR, STOI, correlation, RMSE of [0,1]-scaled "
                    "signals, and time.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_clip_options(parser)
    parser.add_argument("--reference", required=True, metavar="WAV",
                        help="truth signal (e.g. the truth WAV of vmic synth)")
    parser.add_argument("--model", default=None, help="learned weights (default: shipped)")
    parser.add_argument("--plot", default=None, metavar="PNG",
                        help="waveforms and spectrograms side by side")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.set_defaults(func=run)


def read_reference(path, sr: float) -> np.ndarray:
    """Read a truth WAV (mono float64) and resample it to ``sr`` Hz if needed."""
    from vmic.io.audio import read_wav

    if not Path(path).is_file():
        raise VmicError(f"no such reference file: {path}")
    truth, truth_sr = read_wav(path)
    if abs(truth_sr - sr) > 0.5:
        from vmic.cli.score import resample_to

        truth = resample_to(truth, truth_sr, sr)
    return truth


def learned_unavailable() -> str | None:
    """Why the learned row cannot run (no torch), or None."""
    try:
        from vmic.learn import require_torch

        require_torch()
    except VmicError as exc:
        return str(exc)
    return None


def compare_methods(clip, truth: np.ndarray, *, fps=None, roi=None, downsample=1, start=0,
                    n_frames=None, reference_frame=0, model_path=None, model=None,
                    quiet=True) -> list[dict]:
    """Recover ``clip`` with each method and score it.

    Parameters
    ----------
    clip : path or ndarray (T, H, W)
    truth : ndarray of float64, shape (T,)
        Truth at the capture rate.
    fps, roi, downsample, start, n_frames, reference_frame
        As :func:`vmic.recovery.recover`.
    model_path : path-like, optional
        Learned weights.
    model : (SiameseRegressor, MapSpec), optional
        A loaded model (saves reloading in loops).
    quiet : bool

    Returns
    -------
    list of dict
        One per method: ``method``, ``audio`` (float32 (T,)), ``sr`` (Hz), ``seconds`` and
        the :func:`vmic.metrics.score` keys; the learned row holds ``error`` instead when
        torch is missing.
    """
    from vmic import metrics
    from vmic.recovery import DEFAULT_COMBINE, recover

    common = dict(fps=fps, roi=roi, downsample=downsample, start=start, n_frames=n_frames,
                  reference_frame=reference_frame, quiet=quiet)
    rows = []
    for name, combine in (("align", "align"), (DEFAULT_COMBINE, DEFAULT_COMBINE)):
        t0 = time.perf_counter()
        result = recover(clip, combine=combine, **common)
        rows.append({"method": name, "audio": result.audio, "sr": result.sr,
                     "seconds": time.perf_counter() - t0})
    reason = learned_unavailable()
    if reason is None:
        from vmic.learn.siamese.infer import recover_learned

        t0 = time.perf_counter()
        result = recover_learned(clip, model_path=model_path, model=model, **common)
        rows.append({"method": "learned", "audio": result.audio, "sr": result.sr,
                     "seconds": time.perf_counter() - t0})
    else:
        rows.append({"method": "learned", "error": reason})
    for row in rows:
        if "audio" in row:
            row.update(metrics.score(row["audio"], truth, row["sr"]))
    return rows


def format_table(rows: list[dict], markdown: bool = False) -> str:
    """One line per method with the :data:`COLUMNS` (plain text or markdown)."""
    header = ["method"] + [label for _, label, _ in COLUMNS]
    lines = []
    for row in rows:
        if "error" in row:
            cells = [row["method"]] + ["n/a"] * len(COLUMNS)
        else:
            cells = [row["method"]]
            for key, _, fmt in COLUMNS:
                value = row[key]
                cells.append("n/a" if isinstance(value, float) and math.isnan(value)
                             else fmt.format(value))
        lines.append(cells)
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(c) + " |" for c in lines]
    else:
        widths = [max(len(r[i]) for r in [header] + lines) for i in range(len(header))]
        out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
        out += ["  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
                for cells in lines]
    notes = [f"{r['method']}: {r['error']}" for r in rows if "error" in r]
    notes += sorted({r["stoi_note"] for r in rows if r.get("stoi_note")})
    return "\n".join(out + notes)


def plot_comparison(path, rows: list[dict], truth: np.ndarray, title: str = "") -> None:
    """Waveforms (left) and spectrograms (right) of the truth and each method, one row each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scipy.signal

    from vmic import metrics
    from vmic.io.atomic import atomic_path

    done = [r for r in rows if "audio" in r]
    sr = done[0]["sr"]
    signals = [("truth", metrics.bandpass(truth, sr))]
    for r in done:
        a = metrics.prepare(r["audio"], truth, sr)
        signals.append((f"{r['method']} (SNR {r['snr_db']:.1f} dB)", a.est))
    fig, axes = plt.subplots(len(signals), 2, figsize=(12, 2.2 * len(signals)), squeeze=False)
    peak = max(float(np.max(np.abs(signals[0][1]))), 1e-30)
    for (label, x), (ax_w, ax_s) in zip(signals, axes, strict=True):
        t = np.arange(x.size) / sr
        ax_w.plot(t, x / peak, lw=0.5)
        ax_w.set_ylim(-1.5, 1.5)
        ax_w.set_ylabel(label, fontsize=8)
        nper = int(min(256, max(16, 2 ** int(np.log2(max(x.size // 8, 16))))))
        f, tt, p = scipy.signal.spectrogram(x, fs=sr, nperseg=nper, noverlap=nper * 3 // 4)
        db = 10 * np.log10(p + 1e-30)
        ax_s.pcolormesh(tt, f, db, shading="auto", cmap="magma", vmin=db.max() - 70,
                        vmax=db.max())
        ax_s.set_ylabel("Hz", fontsize=8)
    axes[-1, 0].set_xlabel("time (s); waveforms aligned, on the truth's scale")
    axes[-1, 1].set_xlabel("time (s)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)


def run(args) -> int:
    from vmic.io.clip import open_clip

    if args.plot and Path(args.plot).suffix.lower() not in (".png", ".pdf", ".svg"):
        raise VmicError(f"--plot must end in .png, .pdf or .svg: {args.plot}")
    if not Path(args.reference).is_file():
        raise VmicError(f"no such reference file: {args.reference}")
    with open_clip(args.clip, fps=args.fps, roi=args.roi, downsample=args.downsample,
                   start=args.start, n_frames=args.frames) as clip:
        fps = clip.capture_fps
    truth = read_reference(args.reference, fps)  # the audio rate is the capture rate
    truth = truth[args.start:] if args.start else truth
    rows = compare_methods(args.clip, truth, fps=fps, roi=args.roi, downsample=args.downsample,
                           start=args.start, n_frames=args.frames,
                           reference_frame=args.reference_frame, model_path=args.model,
                           quiet=args.quiet)
    print(format_table(rows, markdown=args.markdown))
    if args.plot:
        plot_comparison(args.plot, rows, truth, title=Path(args.clip).name)
        if not args.quiet:
            print(f"vmic: wrote {args.plot}", file=sys.stderr)
    return 0
