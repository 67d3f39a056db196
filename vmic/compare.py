"""Compare the recovery methods on one clip with a known truth.

Three recoveries of one clip, each scored against the truth with :func:`vmic.metrics.score`
(scoring band 20 Hz - 0.45 sr, best lag, least-squares gain with sign):

- ``align``: ``vmSoundFromVideo``'s combination (:func:`vmic.recovery.recover`, combine="align"),
- the default classical method (:data:`vmic.recovery.DEFAULT_COMBINE`),
- ``learned``: the Siamese regressor (:func:`vmic.learn.siamese.infer.recover_learned`), when
  torch is installed; otherwise the row says it needs the ``learn`` extra.

``vmic compare`` prints :func:`format_comparison` of :func:`compare_methods`; ``bench/`` uses
the same functions.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np

from vmic.errors import VmicError

__all__ = ["COLUMNS", "read_truth", "learned_unavailable", "compare_methods",
           "format_comparison", "plot_comparison"]

COLUMNS = (("snr_db", "SNR (dB)", "{:.2f}"), ("segsnr_db", "segSNR (dB)", "{:.2f}"),
           ("stoi", "STOI", "{:.3f}"), ("pearson", "r", "{:.3f}"),
           ("rmse01", "RMSE [0,1]", "{:.4f}"), ("seconds", "time (s)", "{:.2f}"))
"""The table's columns: result key, header, format."""


def read_truth(path: str | os.PathLike, *, sr: float) -> np.ndarray:
    """Read a mono truth file as float64, resampled to ``sr`` Hz if its rate differs.

    Parameters
    ----------
    path : path-like
        A mono sound file (a multi-channel file is refused).
    sr : float
        Rate (Hz) of the recovered audio it will be compared with: the capture rate.

    Returns
    -------
    ndarray of float64, shape (T,)
    """
    from vmic.io.audio import read_wav, resample

    if not Path(path).is_file():
        raise VmicError(f"no such reference file: {path}")
    truth, truth_sr = read_wav(path, mix_channels=False)
    if abs(truth_sr - sr) > 0.5:
        truth = resample(truth, truth_sr, target_sr=sr)
    return truth


def learned_unavailable() -> str | None:
    """Why the learned row cannot run (no torch), or None."""
    try:
        from vmic.learn import require_torch

        require_torch()
    except VmicError as exc:
        return str(exc)
    return None


def compare_methods(clip: str | os.PathLike | np.ndarray, truth: np.ndarray, *,
                    fps: float | None = None, roi: tuple[int, int, int, int] | None = None,
                    downsample: int = 1, start: int = 0, n_frames: int | None = None,
                    reference_frame: int = 0, model_path: str | os.PathLike | None = None,
                    model: tuple | None = None, quiet: bool = True,
                    segment: int | None = None) -> list[dict]:
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
    segment : int, optional
        The segment of a variable-rate video (:func:`vmic.io.clip.open_clip`).

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
                  reference_frame=reference_frame, quiet=quiet, segment=segment)
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


def format_comparison(rows: list[dict], *, markdown: bool = False) -> str:
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


def plot_comparison(path: str | os.PathLike, rows: list[dict], truth: np.ndarray, *,
                    title: str = "") -> None:
    """Waveforms (left) and spectrograms (right) of the truth and each method, one row each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scipy.signal

    from vmic import metrics
    from vmic.io.atomic import atomic_path

    done = [r for r in rows if "audio" in r]
    sr = done[0]["sr"]
    signals = [("truth", metrics.scoring_band(truth, sr))]
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


