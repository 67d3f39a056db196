"""Fidelity grid: recovered SNR of each combination method against the Cramér-Rao bound.

Over a grid of sources x motion shapes x amplitudes x camera noise, renders a clip with
``vmic.synth`` (in memory), recovers it with ``vmic.recovery.recover(..., combine=METHOD)`` for
each method, scores it with ``vmic.metrics.snr_db`` against the truth, and prints a markdown
table with the clip's Cramér-Rao SNR bound (``inf`` for noiseless float frames).

    python bench/fidelity.py --quick                # 16 cells, about a minute
    python bench/fidelity.py                        # the full grid
    python bench/fidelity.py --methods align,bands,local --json results.json

Add a method by adding its name to ``--methods`` (any ``combine=`` value ``recover`` accepts);
``NAME+DENOISE`` (e.g. ``local+wiener``) also denoises the recovered audio.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time

from vmic import metrics
from vmic.recovery import DEFAULT_COMBINE, recover
from vmic.synth import SynthConfig, synthesize

NOISE_PRESETS = {
    # name: camera parameters of SynthConfig
    "none": dict(bits=None),
    "8bit": dict(bits=8),
    "shot": dict(bits=8, full_well_e=10000.0, read_noise_e=5.0, shot_noise=True),
    "heavy": dict(bits=8, full_well_e=2000.0, read_noise_e=20.0, shot_noise=True),
}

FULL_GRID = dict(
    sources=["tones", "chirp", "speech", "pink"],
    motions=["global", "membrane", "two_regions"],
    amplitudes=[0.005, 0.02, 0.1],
    noises=["none", "8bit", "shot", "heavy"],
)
QUICK_GRID = dict(
    sources=["tones", "speech"],
    motions=["global", "membrane"],
    amplitudes=[0.02, 0.1],
    noises=["8bit", "shot"],
)


def run_cell(source: str, motion: str, amplitude: float, noise: str, methods: list[str], *,
             duration_s: float, size: int, seed: int, chance: bool = False) -> dict:
    """Render one clip and score every method; returns a row dict (SNRs in dB).

    With ``chance``, also the SNR that noise reaches against this clip's truth
    (``chance_db``, :func:`vmic.metrics.chance_snr_db`, 95th percentile)."""
    cfg = SynthConfig(duration_s=duration_s, height=size, width=size, source=source,
                      motion=motion, amplitude_px=amplitude, seed=seed,
                      **NOISE_PRESETS[noise])
    clip = synthesize(cfg)
    bound = clip.sidecar["crb"]["snr_db"]
    row = {"source": source, "motion": motion, "amplitude_px": amplitude, "noise": noise,
           "bound_db": math.inf if bound is None else bound,
           # The bound models quantisation as white noise, valid only when camera noise
           # dithers it; noiseless quantised clips can beat it.
           "bound_valid": bound is not None and clip.sidecar["crb"].get("dithered", True),
           "snr_db": {}, "seconds": {}, "fallback": {}}
    if chance:
        row["chance_db"] = metrics.chance_snr_db(clip.truth, cfg.fps, quantile=0.95)
    for method in methods:
        started = time.perf_counter()
        # "local+wiener" = combination `local`, then denoising `wiener`.
        combine, _, denoise = method.partition("+")
        rec = recover(clip.frames, fps=cfg.fps, combine=combine, denoise=denoise or "none")
        row["seconds"][method] = time.perf_counter() - started
        row["snr_db"][method] = metrics.snr_db(rec.audio, clip.truth, cfg.fps)
        row["fallback"][method] = rec.info.fallback
    return row


def markdown(rows: list[dict], methods: list[str]) -> str:
    """The rows as a markdown table: one SNR column per method, then the bound."""
    chance = all("chance_db" in r for r in rows)
    head = ["source", "motion", "amplitude (px)", "noise",
            *[f"SNR {m} (dB)" for m in methods], "bound (dB)"] + (["chance (dB)"] * chance)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["source"], r["motion"], f"{r['amplitude_px']:g}", r["noise"],
                 *[f"{r['snr_db'][m]:.1f}" for m in methods], f"{r['bound_db']:.1f}"]
        if chance:
            cells.append(f"{r['chance_db']:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(rows: list[dict], methods: list[str], default: str = DEFAULT_COMBINE) -> str:
    """Medians the fidelity targets are stated in, as markdown lines."""
    import numpy as np

    def median(values):
        return float(np.median(values)) if values else float("nan")

    lines = []
    for motion in sorted({r["motion"] for r in rows}):
        subset = [r for r in rows if r["motion"] == motion]
        valid = [r for r in subset if r["bound_valid"] and math.isfinite(r["bound_db"])]
        gap = median([r["bound_db"] - r["snr_db"][default] for r in valid])
        line = f"- {motion}: median gap of `{default}` to the bound {gap:.1f} dB ({len(valid)} " \
               f"clips with a valid bound)"
        if "align" in methods and default != "align":
            gain = median([r["snr_db"][default] - r["snr_db"]["align"] for r in subset])
            line += f"; median gain over `align` {gain:.1f} dB ({len(subset)} clips)"
        lines.append(line)
    if "align" in methods and default != "align":
        low = [r for r in rows if r["bound_valid"] and r["bound_db"] < 5]
        worse = [r for r in low if r["snr_db"][default] < r["snr_db"]["align"]]
        lines.append(f"- low-SNR clips (valid bound < 5 dB): `{default}` below `align` on "
                     f"{len(worse)} of {len(low)}")
        if worse and all("chance_db" in r for r in worse):
            # At or below the chance level an SNR says nothing about a method: white noise
            # scores that high against the truth 1 time in 20.
            above = [r for r in worse
                     if max(r["snr_db"][default], r["snr_db"]["align"]) > r["chance_db"]]
            line = (f"  - of those, {len(worse) - len(above)} with both `{default}` and "
                    "`align` at or below chance (the SNR white noise reaches against the "
                    "truth 1 time in 20)")
            if above:
                margins = ", ".join(f"{r['snr_db']['align'] - r['chance_db']:+.1f}"
                                    for r in above)
                line += f"; on the others `align` is {margins} dB from chance"
            lines.append(line)
        falls = [r for r in low if r.get("fallback", {}).get(default)]
        if falls:
            line = (f"  - `{default}` gave `align`'s output (no signal detected) on {len(falls)} "
                    f"of {len(low)}")
            if "local" in methods and default != "local":
                lost = [r["snr_db"]["local"] for r in falls
                        if r["snr_db"]["local"] > r["snr_db"]["align"] + 3]
                line += (f"; on {len(lost)} of those `local` had scored over 3 dB above "
                         "`align`" + (f" (at {min(lost):.1f} to {max(lost):.1f} dB)"
                                      if lost else ""))
            lines.append(line)
        ratio = median([r["seconds"][default] / r["seconds"]["align"] for r in rows])
        lines.append(f"- median run time of `{default}` / `align`: {ratio:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small grid (16 cells)")
    parser.add_argument("--methods", default=f"align,{DEFAULT_COMBINE}",
                        help=f"comma-separated combine methods (default align,{DEFAULT_COMBINE})")
    parser.add_argument("--sources", default=None, help="override the grid's sources")
    parser.add_argument("--motions", default=None, help="override the grid's motion shapes")
    parser.add_argument("--amplitudes", default=None, help="override the amplitudes (px)")
    parser.add_argument("--noises", default=None,
                        help=f"override the noise presets ({', '.join(NOISE_PRESETS)})")
    parser.add_argument("--duration", type=float, default=0.5, help="clip length (s)")
    parser.add_argument("--size", type=int, default=64, help="frame side (px)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, metavar="PATH", help="also save rows as JSON")
    parser.add_argument("--chance", action="store_true",
                        help="also score white noise against each truth (95th percentile of "
                             "100 draws): the SNR below which a result is indistinguishable "
                             "from noise")
    args = parser.parse_args(argv)

    grid = dict(QUICK_GRID if args.quick else FULL_GRID)
    for key in ("sources", "motions", "noises"):
        if getattr(args, key):
            grid[key] = getattr(args, key).split(",")
    if args.amplitudes:
        grid["amplitudes"] = [float(a) for a in args.amplitudes.split(",")]
    methods = [m for m in args.methods.split(",") if m]
    cells = list(itertools.product(grid["sources"], grid["motions"], grid["amplitudes"],
                                   grid["noises"]))
    rows = []
    started = time.perf_counter()
    for i, (source, motion, amplitude, noise) in enumerate(cells, 1):
        rows.append(run_cell(source, motion, amplitude, noise, methods,
                             duration_s=args.duration, size=args.size, seed=args.seed,
                             chance=args.chance))
        print(f"[{i}/{len(cells)}] {source} {motion} {amplitude:g} px {noise}: "
              + ", ".join(f"{m} {rows[-1]['snr_db'][m]:.1f} dB" for m in methods)
              + f", bound {rows[-1]['bound_db']:.1f} dB", file=sys.stderr, flush=True)
    print(f"# Fidelity grid: {args.size}x{args.size} px, {args.duration:g} s at 2200 fps, "
          f"seed {args.seed}, SNR in {metrics.DEFAULT_LO_HZ:g}-990 Hz "
          f"({time.perf_counter() - started:.0f} s)\n")
    print(markdown(rows, methods))
    print()
    print(summary(rows, methods))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
