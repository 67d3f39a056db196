"""Speed of ``vmic recover`` as whole processes: on a long FFV1 clip against decoding alone,
and on 1100 frames against the pyrtools anchor.

Figures
-------
1. Long clip (``--long-frames``, default 5500 frames of ``--size`` 192 px square, 8-bit FFV1 at
   2200 fps, rendered by ``vmic synth``): ``vmic recover CLIP -o OUT --quiet`` with the defaults,
   and the decode-only script below (PyAV, as vmic reads video: ``av.open``,
   ``stream.thread_type = "AUTO"``, every frame to a grey ndarray).

   - *whole-process time*: wall time of the process on all ``--long-frames`` frames,
     interpreter start-up, imports, numba's cache load and writing the WAV included;
   - *steady-state frames/s*: ``(N2 - N1) / (t2 - t1)``, where ``t1`` and ``t2`` are the
     whole-process wall times of the same command on the clip's first ``N1 = --frames`` frames
     (``--frames N1``; the decode-only script takes the same limit) and on all ``N2 =
     --long-frames``. The fixed costs (start-up, filters, the reference frame) cancel, so this
     is the rate at which frames go through once everything is running. Each repeat runs the
     ``N1`` and ``N2`` commands back to back and gives one estimate; the median is reported.

   Both are reported for every vmic tree (``--pythonpath``) and for decoding alone, with the
   ratio of each tree's figures to decoding's.
2. Anchor (``bench/anchor.py``: pyrtools' ``SteerablePyramidFreq`` rebuilt per frame and the
   original's reductions, 2 scales x 4 orientations) against ``vmic recover`` with the defaults
   and with ``--combine align --scales 2 --orientations 4`` (the anchor's own computation), on a
   ``.npy`` stack of the first ``--frames`` (1100) frames: whole-process wall times and the
   ratio anchor / vmic. The band signals of the anchor and of ``align`` must agree (their lowest
   correlation is printed).

Trees
-----
``--pythonpath DIR`` (repeatable) runs the vmic processes with ``PYTHONPATH=DIR``, so one
invocation compares, e.g., an old checkout with the current one; without it, the tree that holds
this script. ``--alternate`` interleaves the trees run by run (tree A, tree B, decode, tree A,
...), so that on a machine whose speed drifts every tree samples the same stretches of time;
without it, all repeats of one tree run before the next. Before timing, each tree runs once on
a few frames, so that numba's cache is warm (compilation is not timed; a user pays it once).

Usage
-----
::

    python bench/speed.py                                   # this tree, 3 repeats
    python bench/speed.py --pythonpath /path/to/old --pythonpath . --alternate --repeat 5
    python bench/speed.py --frames 300 --long-frames 600 --repeat 1   # a quick smoke run

Clips are rendered into ``--workdir`` (default ``bench/.cache``, git-ignored) once and reused;
the rendering uses this tree's vmic. Results are printed as tables and written to
``WORKDIR/speed.json``. Run on a quiet machine: the figures are wall times.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FPS = 2200.0

DECODE = """
import sys
import av
limit = int(sys.argv[2])
n = 0
with av.open(sys.argv[1]) as container:
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    for frame in container.decode(stream):
        grey = frame.to_ndarray(format="gray")
        n += 1
        if n == limit:
            break
print(n)
"""


def run_timed(command: list[str], env: dict | None = None) -> float:
    """Run a command to completion and return its wall time (s); stop on failure."""
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(command)}\n{proc.stderr}")
    return wall


def tree_env(pythonpath: str) -> dict:
    """The environment of a vmic process run from the tree at ``pythonpath``."""
    return {**os.environ, "PYTHONPATH": pythonpath}


def render(workdir: Path, frames: int, size: int, suffix: str) -> Path:
    """A clip of ``frames`` frames of ``size`` px square by ``vmic synth`` (this tree's vmic):
    global motion of a textured object by a chord, 8-bit, at 2200 fps. Reused when present."""
    out = workdir / f"clip_{frames}x{size}{suffix}"
    if not out.exists():
        command = [sys.executable, "-m", "vmic", "synth", str(out), "--quiet",
                   "--size", f"{size}x{size}", "--fps", f"{FPS:g}",
                   "--duration", repr(frames / FPS), "--motion", "global", "--seed", "0"]
        subprocess.run(command, check=True, env=tree_env(str(ROOT)), stdout=subprocess.DEVNULL)
    return out


def interleave(jobs: dict, repeat: int, alternate: bool) -> dict:
    """Run ``jobs`` (name -> callable returning a result) ``repeat`` times each, round-robin
    when ``alternate`` else job by job; return name -> list of results."""
    results: dict = {name: [] for name in jobs}
    if alternate:
        order = [name for _ in range(repeat) for name in jobs]
    else:
        order = [name for name in jobs for _ in range(repeat)]
    for name in order:
        results[name].append(jobs[name]())
    return results


def long_clip_jobs(avi: Path, n1: int, n2: int, trees: list[str], out: Path) -> dict:
    """Jobs timing the short and the long run of every tree and of decoding, back to back."""
    jobs = {}

    def pair(command_for, env):
        def job():
            return run_timed(command_for(n1), env), run_timed(command_for(n2), env)
        return job

    for tree in trees:
        def recover(n, tree=tree):
            return [sys.executable, "-m", "vmic", "recover", str(avi), "-o", str(out),
                    "--quiet", "--frames", str(n)]
        jobs[tree] = pair(recover, tree_env(tree))
    jobs["decode"] = pair(lambda n: [sys.executable, "-c", DECODE, str(avi), str(n)], None)
    return jobs


def summarise_long(samples: dict, n1: int, n2: int) -> dict:
    """Median whole-process time on N2 frames and median steady-state frames/s per job."""
    summary = {}
    for name, pairs in samples.items():
        # A repeat whose long run was not slower than its short one (possible only when the
        # clips are too short for the machine's noise) gives no estimate.
        rates = [(n2 - n1) / (t2 - t1) for t1, t2 in pairs if t2 > t1]
        summary[name] = {"whole_s": statistics.median(t2 for _, t2 in pairs),
                         "whole_s_all": [t2 for _, t2 in pairs],
                         "short_s_all": [t1 for t1, _ in pairs],
                         "steady_fps": statistics.median(rates) if rates else float("nan"),
                         "steady_fps_all": rates}
    return summary


def print_long(summary: dict, n1: int, n2: int, size: int) -> None:
    decode = summary["decode"]
    print(f"\nLong clip: {n2} frames of {size}x{size} px, FFV1; steady state from "
          f"{n1} -> {n2} frames (medians)\n")
    print("| run | whole process (s) | x decode | steady state (frames/s) | x decode |")
    print("|---|---|---|---|---|")
    for name, row in summary.items():
        label = "decode only (PyAV, grey)" if name == "decode" else f"vmic recover ({name})"
        steady = "n/a" if np.isnan(row["steady_fps"]) else f"{row['steady_fps']:.0f}"
        ratio = decode["steady_fps"] / row["steady_fps"]
        print(f"| {label} | {row['whole_s']:.2f} | {row['whole_s'] / decode['whole_s']:.2f} | "
              f"{steady} | {'n/a' if np.isnan(ratio) else f'{ratio:.2f}'} |")


def anchor_jobs(stack: Path, trees: list[str], workdir: Path) -> dict:
    """Jobs timing the anchor, and vmic's defaults and align (2 x 4) of every tree."""
    out = workdir / "anchor_out.wav"
    jobs = {"anchor": lambda: run_timed(
        [sys.executable, str(HERE / "anchor.py"), str(stack), "--scales", "2",
         "--orientations", "4", "--signals", str(workdir / "anchor_signals.npy")])}
    for i, tree in enumerate(trees):
        base = [sys.executable, "-m", "vmic", "recover", str(stack), "-o", str(out), "--quiet"]
        align = base + ["--combine", "align", "--scales", "2", "--orientations", "4",
                        "--signals", str(workdir / f"align_signals_{i}.npz")]
        jobs[f"default {tree}"] = lambda base=base, tree=tree: run_timed(base, tree_env(tree))
        jobs[f"align {tree}"] = lambda align=align, tree=tree: run_timed(align, tree_env(tree))
    return jobs


def band_agreement(workdir: Path, trees: list[str]) -> dict:
    """Lowest correlation between the anchor's and each tree's align band signals."""
    theirs = np.load(workdir / "anchor_signals.npy")
    out = {}
    for i, tree in enumerate(trees):
        with np.load(workdir / f"align_signals_{i}.npz") as saved:
            ours = saved["band_signals"]
        pairs = zip(theirs.reshape(-1, theirs.shape[-1]), ours.reshape(-1, ours.shape[-1]),
                    strict=True)
        out[tree] = min(float(np.corrcoef(a, b)[0, 1]) for a, b in pairs)
    return out


def print_anchor(walls: dict, agreement: dict, trees: list[str], frames: int, size: int) -> None:
    anchor = walls["anchor"]
    print(f"\nAnchor: {frames} frames of {size}x{size} px (.npy), medians\n")
    print("| run | whole process (s) | anchor / it |")
    print("|---|---|---|")
    print(f"| anchor: pyrtools per frame, 2 scales x 4 | {anchor:.2f} | |")
    for tree in trees:
        for kind, label in (("default", "defaults"), ("align", "--combine align, 2 x 4")):
            wall = walls[f"{kind} {tree}"]
            print(f"| vmic recover {label} ({tree}) | {wall:.2f} | {anchor / wall:.1f} |")
    for tree, corr in agreement.items():
        print(f"\nanchor and align band signals ({tree}): lowest correlation {corr:.6f}")


def warm_up(avi: Path, trees: list[str], workdir: Path) -> None:
    """Run each tree once on a few frames (defaults, and align 2 x 4) so that numba's cache is
    warm and bytecode is compiled before anything is timed."""
    out = workdir / "warm.wav"
    for tree in trees:
        # Editable trees run with PYTHONDONTWRITEBYTECODE set would recompile their sources
        # in every timed run; compile them once, as an install does (where writable).
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(tree) / "vmic")],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = [sys.executable, "-m", "vmic", "recover", str(avi), "-o", str(out), "--quiet",
                "--frames", "40"]
        for extra in ([], ["--combine", "align", "--scales", "2", "--orientations", "4"]):
            run_timed(base + extra, tree_env(tree))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=str(HERE / ".cache"),
                        help="where clips are rendered and results written")
    parser.add_argument("--size", type=int, default=192, help="frame side, px")
    parser.add_argument("--frames", type=int, default=1100,
                        help="frames of the anchor clip, and N1 of the steady state")
    parser.add_argument("--long-frames", type=int, default=5500,
                        help="frames of the long FFV1 clip (N2 of the steady state)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of every timing")
    parser.add_argument("--pythonpath", action="append", default=None, metavar="DIR",
                        help="run vmic with PYTHONPATH=DIR (repeatable; default: this tree)")
    parser.add_argument("--alternate", action="store_true",
                        help="interleave the trees run by run")
    parser.add_argument("--skip-anchor", action="store_true")
    parser.add_argument("--skip-long", action="store_true")
    args = parser.parse_args(argv)
    if not 0 < args.frames < args.long_frames:
        parser.error("need 0 < --frames < --long-frames")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    trees = [str(Path(p).resolve()) for p in (args.pythonpath or [str(ROOT)])]
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict = {"trees": trees, "cpus": os.cpu_count(), "size": args.size,
                     "frames": args.frames, "long_frames": args.long_frames,
                     "repeat": args.repeat, "alternate": args.alternate,
                     "load_before": os.getloadavg()[0]}
    avi = render(workdir, args.long_frames, args.size, ".avi")
    warm_up(avi, trees, workdir)
    if not args.skip_long:
        jobs = long_clip_jobs(avi, args.frames, args.long_frames, trees, workdir / "out.wav")
        samples = interleave(jobs, args.repeat, args.alternate)
        results["long"] = summarise_long(samples, args.frames, args.long_frames)
        print_long(results["long"], args.frames, args.long_frames, args.size)
    if not args.skip_anchor:
        stack = render(workdir, args.frames, args.size, ".npy")
        samples = interleave(anchor_jobs(stack, trees, workdir), args.repeat, args.alternate)
        walls = {name: statistics.median(found) for name, found in samples.items()}
        agreement = band_agreement(workdir, trees)
        results["anchor"] = {"median_s": walls, "all_s": samples,
                             "band_correlation_min": agreement}
        print_anchor(walls, agreement, trees, args.frames, args.size)
    results["load_after"] = os.getloadavg()[0]
    print(f"\nload average before/after: {results['load_before']:.1f} / "
          f"{results['load_after']:.1f} on {results['cpus']} cores")
    (workdir / "speed.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
