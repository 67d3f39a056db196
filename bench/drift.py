"""Drift grid: recovered SNR of clips with camera drift against the same clips held still.

For each cell (frame size x sound motion x camera noise x drift kind x drift px x drift Hz),
renders the clip twice with ``vmic.synth`` (in memory, same seed, same canvas, so the same
scene, sound and camera noise): once with the drift and once still. Recovers both with
``vmic.recover`` (or ``vmic.recovery.recover``) and the same options, scores each with
``vmic.metrics.snr_db`` against the truth, and prints a markdown table of SNR(still),
SNR(drift), their difference, the Cramér-Rao bound (of the undrifted frame) and the times,
then a summary: the median difference over the cells with drift <= 10 px, the worst cell, and
20 px on its own.

    python bench/drift.py --quick                  # 6 cells at 96x96, about a minute
    python bench/drift.py                          # 312 clips, about 80 min on one core
    python bench/drift.py --estimate               # the number of clips and a rough time
    python bench/drift.py --sizes 96 --kinds sine,walk --json drift.json --jobs 4

Drift kinds, for a cell of ``A`` px at ``f`` Hz (see ``vmic synth --help``):

- ``sine``: peak ``A`` px on each axis (sum of two sines at ``f`` and ``0.37 f`` Hz);
- ``pan``: ``A`` px over the clip along 30 degrees (speed ``A / duration``); one cell per ``A``;
- ``walk``: a random walk low-passed at ``--walk-cutoff`` Hz, its RMS speed set so that its
  peak on either axis is ``A`` px; one cell per ``A``.

With ``--regions``, two-region cells also translate each region (opposite, sine of ``A`` px at
``f`` Hz) on top of the camera's drift. Every clip of a (size, motion, noise) group is rendered
on the canvas that the group's largest drift needs, so the still clip is shared.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

import vmic
from vmic import metrics
from vmic.synth import SynthConfig, drift, iter_frames, synthesize

NOISE_PRESETS = {
    "8bit": dict(bits=8),
    "shot": dict(bits=8, full_well_e=10000.0, read_noise_e=5.0, shot_noise=True),
}

FULL_GRID = dict(
    sizes=[96, 192],
    motions=["global", "membrane", "two_regions"],
    noises=["8bit", "shot"],
    kinds=["sine", "pan", "walk"],
    drifts=[0.5, 2.0, 5.0, 10.0, 20.0],
    hz=[0.1, 1.0, 3.0],
)
QUICK_GRID = dict(
    sizes=[96],
    motions=["global"],
    noises=["shot"],
    kinds=["sine", "pan", "walk"],
    drifts=[2.0, 10.0],
    hz=[1.0],
)
PAN_DIRECTION_DEG = 30.0


def _recover_function():
    """``vmic.recover`` where the package exports it, else ``vmic.recovery.recover``."""
    rec = getattr(vmic, "recover", None)
    if rec is None:
        from vmic.recovery import recover as rec
    return rec


@dataclasses.dataclass(frozen=True)
class Cell:
    size: int
    motion: str
    noise: str
    kind: str  # sine | pan | walk | still
    drift_px: float = 0.0
    hz: float | None = None  # sine (and region) frequency; None for pan and walk

    def label(self) -> str:
        if self.kind == "still":
            return f"{self.size} {self.motion} {self.noise} still"
        hz = "" if self.hz is None else f" {self.hz:g} Hz"
        return f"{self.size} {self.motion} {self.noise} {self.kind} {self.drift_px:g} px{hz}"


def drift_params(cell: Cell, duration_s: float, walk_cutoff_hz: float, regions: bool,
                 fps: float, seed: int) -> dict:
    """SynthConfig drift fields of a cell (empty for the still clip)."""
    if cell.kind == "still":
        return {}
    out: dict = {"drift_kind": cell.kind}
    if cell.kind == "sine":
        out.update(drift_px=cell.drift_px, drift_hz=cell.hz)
    elif cell.kind == "pan":
        out.update(drift_speed_px_s=cell.drift_px / duration_s,
                   drift_direction_deg=PAN_DIRECTION_DEG)
    else:
        # the track is linear in the speed: scale a unit-speed walk to reach drift_px at most
        probe = SynthConfig(fps=fps, duration_s=duration_s, height=16, width=16,
                            drift_kind="walk", drift_speed_px_s=1.0,
                            drift_cutoff_hz=walk_cutoff_hz, seed=seed)
        unit = iter_frames(probe, tracks=True)[3]  # the track; no frame is rendered
        out.update(drift_speed_px_s=cell.drift_px / float(np.max(np.abs(unit))),
                   drift_cutoff_hz=walk_cutoff_hz)
    if regions and cell.motion == "two_regions":
        out.update(region_drift_px=cell.drift_px, region_drift_hz=cell.hz or 1.0)
    return out


def group_margin(drifts: list[float], regions: bool, motion: str) -> int:
    """Canvas margin (px) shared by a group: its largest drift (twice, with regions) + pad."""
    reach = max(drifts) * (2 if regions and motion == "two_regions" else 1)
    return int(math.ceil(reach)) + drift.PAD_PX + 1


def run_clip(cell: Cell, *, duration_s: float, seed: int, margin: int, walk_cutoff_hz: float,
             regions: bool, recover_kw: dict) -> dict:
    """Render and recover one clip; returns SNR (dB), bound, times (s) and the drift's stats."""
    fps = 2200.0
    cfg = SynthConfig(fps=fps, duration_s=duration_s, height=cell.size, width=cell.size,
                      motion=cell.motion, seed=seed, drift_margin_px=margin,
                      **NOISE_PRESETS[cell.noise],
                      **drift_params(cell, duration_s, walk_cutoff_hz, regions, fps, seed))
    started = time.perf_counter()
    clip = synthesize(cfg)
    rendered = time.perf_counter()
    rec = _recover_function()(clip.frames, fps=fps, **recover_kw)
    recovered = time.perf_counter()
    out = {
        "cell": dataclasses.asdict(cell),
        "snr_db": metrics.snr_db(rec.audio, clip.truth, fps),
        "bound_db": clip.sidecar["crb"]["snr_db"],
        "render_s": rendered - started,
        "recover_s": recovered - rendered,
    }
    side = clip.sidecar.get("drift", {})
    if clip.drift is not None:
        out["reach_px"] = float(np.max(np.hypot(clip.drift[:, 0], clip.drift[:, 1])))
        out["rms_speed_px_s"] = side["rms_speed_px_s"]
    return out


def build_cells(grid: dict) -> list[Cell]:
    """Every cell of the grid, stills first (one per size x motion x noise)."""
    cells = []
    for size, motion, noise in itertools.product(grid["sizes"], grid["motions"], grid["noises"]):
        cells.append(Cell(size, motion, noise, "still"))
        for kind, px in itertools.product(grid["kinds"], grid["drifts"]):
            for hz in (grid["hz"] if kind == "sine" else [None]):
                cells.append(Cell(size, motion, noise, kind, px, hz))
    return cells


def estimate_s(cells: list[Cell], duration_s: float) -> float:
    """Rough single-core time (s) of the cells: rendering on the group's canvas, recovery.

    Per-frame rendering times measured on a shared 2-core machine, on a 25 px margin.
    """
    ms_per_frame = {(96, "global"): 3.0, (96, "membrane"): 12.0, (96, "two_regions"): 12.0,
                    (192, "global"): 15.0, (192, "membrane"): 18.0, (192, "two_regions"): 19.0}
    frames = duration_s * 2200
    total = 0.0
    for c in cells:
        scale = (c.size / 192) ** 2 if c.size not in (96, 192) else 1.0
        ms = ms_per_frame.get((c.size, c.motion), ms_per_frame[(192, c.motion)] * scale)
        total += frames * ms / 1000 + frames / 1100  # recovery about 1 s per 1100 frames
    return total


def _pair_rows(results: dict) -> list[dict]:
    rows = []
    for cell, res in results.items():
        if cell.kind == "still":
            continue
        still = results[Cell(cell.size, cell.motion, cell.noise, "still")]
        rows.append({**res, "snr_still_db": still["snr_db"],
                     "diff_db": res["snr_db"] - still["snr_db"],
                     "recover_still_s": still["recover_s"]})
    return rows


def markdown(rows: list[dict]) -> str:
    head = ["size", "motion", "noise", "kind", "drift (px)", "Hz", "reach (px)",
            "RMS speed (px/s)", "SNR still (dB)", "SNR drift (dB)", "diff (dB)", "bound (dB)",
            "render (s)", "recover still/drift (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        c = r["cell"]
        bound = "n/a" if r["bound_db"] is None else f"{r['bound_db']:.1f}"
        lines.append("| " + " | ".join([
            str(c["size"]), c["motion"], c["noise"], c["kind"], f"{c['drift_px']:g}",
            "-" if c["hz"] is None else f"{c['hz']:g}", f"{r.get('reach_px', 0):.1f}",
            f"{r.get('rms_speed_px_s', 0):.1f}", f"{r['snr_still_db']:.1f}",
            f"{r['snr_db']:.1f}", f"{r['diff_db']:+.1f}", bound, f"{r['render_s']:.1f}",
            f"{r['recover_still_s']:.2f}/{r['recover_s']:.2f}"]) + " |")
    return "\n".join(lines)


def summary(rows: list[dict]) -> str:
    """The targets' numbers: median difference (<= 10 px), worst cell, 20 px on its own."""
    def describe(subset, what):
        if not subset:
            return f"- {what}: no cells"
        diffs = [r["diff_db"] for r in subset]
        worst = min(subset, key=lambda r: r["diff_db"])
        c = worst["cell"]
        hz = "" if c["hz"] is None else f" {c['hz']:g} Hz"
        return (f"- {what}: median SNR(drift) - SNR(still) {statistics.median(diffs):+.1f} dB "
                f"over {len(subset)} cells; worst {worst['diff_db']:+.1f} dB ({c['size']} "
                f"{c['motion']} {c['noise']} {c['kind']} {c['drift_px']:g} px{hz})")

    lines = [describe([r for r in rows if r["cell"]["drift_px"] <= 10], "drift <= 10 px"),
             describe([r for r in rows if r["cell"]["drift_px"] > 10], "drift 20 px")]
    for kind in sorted({r["cell"]["kind"] for r in rows}):
        lines.append(describe([r for r in rows if r["cell"]["kind"] == kind
                               and r["cell"]["drift_px"] <= 10], f"{kind}, <= 10 px"))
    ratios = [r["recover_s"] / r["recover_still_s"] for r in rows if r["recover_still_s"] > 0]
    if ratios:
        lines.append(f"- median recovery time drift / still: {statistics.median(ratios):.2f}")
    return "\n".join(lines)


def _run(args_cell):
    cell, kw = args_cell
    return cell, run_clip(cell, **kw)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a small subset: 96x96, global, shot noise, 2 and 10 px, 1 Hz")
    for key, text in (("sizes", "frame sides (px)"), ("motions", "sound motions"),
                      ("noises", f"camera noise presets ({', '.join(NOISE_PRESETS)})"),
                      ("kinds", "drift kinds (sine, pan, walk)"), ("drifts", "drift px"),
                      ("hz", "sine (and region) drift frequencies (Hz)")):
        parser.add_argument(f"--{key}", default=None, help=f"comma-separated {text}")
    parser.add_argument("--duration", type=float, default=0.5, help="clip length (s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--walk-cutoff", type=float, default=10.0,
                        help="walk's velocity low-pass (Hz, <= 20; default 10)")
    parser.add_argument("--regions", action="store_true",
                        help="two-region cells also translate each region (opposite)")
    parser.add_argument("--combine", default=None, help="recover's combine= (default its own)")
    parser.add_argument("--motion", default=None, choices=("auto", "off"),
                        help="recover's motion= (default its own): off measures what following "
                             "the motion gains")
    parser.add_argument("--jobs", type=int, default=1, help="clips rendered in parallel")
    parser.add_argument("--json", default=None, metavar="PATH", help="also save rows as JSON")
    parser.add_argument("--estimate", action="store_true",
                        help="print the number of clips and a rough time, run nothing")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    grid = dict(QUICK_GRID if args.quick else FULL_GRID)
    for key in ("sizes", "motions", "noises", "kinds", "drifts", "hz"):
        value = getattr(args, key)
        if value:
            cast = {"sizes": int, "drifts": float, "hz": float}.get(key, str)
            grid[key] = [cast(v) for v in value.split(",") if v]
    cells = build_cells(grid)
    print(f"{len(cells)} clips ({sum(c.kind == 'still' for c in cells)} still); rough time on "
          f"one core {estimate_s(cells, args.duration) / 60:.0f} min", file=sys.stderr)
    if args.estimate:
        return 0
    recover_kw = {"combine": args.combine} if args.combine else {}
    if args.motion:
        recover_kw["motion"] = args.motion
    jobs = []
    for cell in cells:
        margin = group_margin(grid["drifts"], args.regions, cell.motion)
        jobs.append((cell, dict(duration_s=args.duration, seed=args.seed, margin=margin,
                                walk_cutoff_hz=args.walk_cutoff, regions=args.regions,
                                recover_kw=recover_kw)))
    started = time.perf_counter()
    results = {}
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            for i, (cell, res) in enumerate(pool.map(_run, jobs), 1):
                results[cell] = res
                print(f"[{i}/{len(jobs)}] {cell.label()}: {res['snr_db']:.1f} dB",
                      file=sys.stderr, flush=True)
    else:
        for i, job in enumerate(jobs, 1):
            cell, res = _run(job)
            results[cell] = res
            print(f"[{i}/{len(jobs)}] {cell.label()}: {res['snr_db']:.1f} dB "
                  f"({res['render_s'] + res['recover_s']:.1f} s)", file=sys.stderr, flush=True)
    rows = _pair_rows(results)
    print(f"# Drift grid: {args.duration:g} s at 2200 fps, seed {args.seed}, SNR in "
          f"{metrics.DEFAULT_LO_HZ:g}-990 Hz, walk low-passed at {args.walk_cutoff:g} Hz, "
          f"pans along {PAN_DIRECTION_DEG:g} deg ({time.perf_counter() - started:.0f} s)\n")
    print(markdown(rows))
    print()
    print(summary(rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
