"""Speed and memory of ``vmic recover`` against the anchor, as whole processes.

1. Anchor vs vmic: 1100 frames of 192x192 (a ``.npy`` stack), 2 scales x 4 orientations.
   The anchor (bench/anchor.py) rebuilds pyrtools' SteerablePyramidFreq for every frame
   and computes the original's reductions; vmic runs ``vmic recover`` (``--combine align``,
   the same reductions; ``local``; and the defaults, ``auto``). Prints wall times and the ratio, and
   checks that both produce the same band signals.
2. Video: the same frames as lossless 8-bit FFV1 AVI; ``vmic recover`` (defaults) against
   merely decoding the file to grey frames with OpenCV (``read`` + ``cvtColor``).
   Also ``vmic recover`` on the file's first 40 frames: the fixed start-up of a run.
3. Memory: peak RSS of ``vmic recover`` (defaults) on a clip and on one 10x longer.

Usage: python bench/speed.py [--workdir DIR] [--frames 1100] [--size 192] [--repeat 1]
Clips are rendered into --workdir (default bench/.cache, git-ignored) once and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DECODE = """
import sys, cv2, numpy as np
cap = cv2.VideoCapture(sys.argv[1]); n = 0
while True:
    ok, frame = cap.read()
    if not ok:
        break
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY); n += 1
print(n)
"""


def timed(command: list[str]) -> tuple[float, float]:
    """Run a command to completion; return its wall time and CPU time (user + sys, s)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(command)}\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def peak_rss_mib(command: list[str]) -> float:
    """Peak resident memory (MiB) of one command, from wait4's rusage of that child."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}")
    return usage.ru_maxrss / 1024.0  # KiB on Linux


def render(workdir: Path, frames: int, size: int, avi: bool) -> Path:
    stack = workdir / f"stack_{frames}x{size}.npy"
    if not stack.exists() or (avi and not stack.with_suffix(".avi").exists()):
        command = [sys.executable, str(HERE / "render_stack.py"), str(stack), "--frames",
                   str(frames), "--size", str(size)]
        if avi:
            command += ["--avi", str(stack.with_suffix(".avi"))]
        subprocess.run(command, check=True)
    return stack


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default=str(HERE / ".cache"))
    parser.add_argument("--frames", type=int, default=1100)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--memory-size", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=1,
                        help="best of N runs per timing (taken round-robin over the runs)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--long-video", action="store_true",
                        help="also time a 4x longer FFV1 file")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    vmic = [sys.executable, "-m", "vmic", "recover"]
    results = {"cpus": os.cpu_count(), "load_before": os.getloadavg()[0]}

    stack = render(workdir, args.frames, args.size, avi=True)
    out = workdir / "out.wav"
    # A regular install compiles vmic's bytecode; with PYTHONDONTWRITEBYTECODE set (as in
    # some sandboxes) an editable install would recompile vmic's sources in every timed run
    # instead (about 35 ms of start-up). Compile them once, as an install does.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parent / "vmic")],
                   check=True)
    # Build the compiled kernels (vmic.native) and warm numba's on-disk cache, so that
    # compilation is not timed (a user pays it once).
    subprocess.run(vmic + [str(stack), "--frames", "40", "-o", str(out), "--quiet",
                           "--scales", "2", "--orientations", "4"], check=True)
    subprocess.run(vmic + [str(stack), "--frames", "40", "-o", str(out), "--quiet"], check=True)

    anchor_signals = workdir / "anchor_signals.npy"
    signals_npz = workdir / "vmic_signals.npz"
    avi = stack.with_suffix(".avi")
    runs = {
        "anchor": [sys.executable, str(HERE / "anchor.py"), str(stack), "--scales", "2",
                   "--orientations", "4", "--signals", str(anchor_signals)],
        "align": vmic + [str(stack), "-o", str(out), "--quiet", "--scales", "2",
                         "--orientations", "4", "--combine", "align", "--signals",
                         str(signals_npz)],
        "local": vmic + [str(stack), "-o", str(out), "--quiet", "--scales", "2",
                         "--orientations", "4", "--combine", "local"],
        "default": vmic + [str(stack), "-o", str(out), "--quiet"],
        "decode": [sys.executable, "-c", DECODE, str(avi)],
        "video_default": vmic + [str(avi), "-o", str(out), "--quiet"],
        "video_align": vmic + [str(avi), "-o", str(out), "--quiet", "--combine", "align"],
        # The fixed cost of a run (interpreter, imports, numba's set-up, the reference):
        # the same command on the file's first 40 frames.
        "video_start": vmic + [str(avi), "-o", str(out), "--quiet", "--frames", "40"],
    }
    if args.long_video:
        # A 4x longer file: the fixed start-up (imports, filters) weighs less.
        long_avi = render(workdir, 4 * args.frames, args.size, avi=True).with_suffix(".avi")
        runs["decode_long"] = [sys.executable, "-c", DECODE, str(long_avi)]
        runs["video_long"] = vmic + [str(long_avi), "-o", str(out), "--quiet"]
    # Round-robin over the runs, best of `repeat` each: on a shared machine whose speed
    # drifts by 10-20 % within minutes, every run then samples the same stretches of time.
    samples: dict = {name: [] for name in runs}
    for _ in range(args.repeat):
        for name, command in runs.items():
            samples[name].append(timed(command))
    times = {name: min(found, key=lambda r: r[0]) for name, found in samples.items()}
    results["times_s"] = {name: {"wall": w, "cpu": c} for name, (w, c) in times.items()}
    theirs = np.load(anchor_signals)
    with np.load(signals_npz) as saved:
        ours = saved["band_signals"]
    agreement = min(np.corrcoef(a, b)[0, 1] for a, b in zip(theirs.reshape(-1, theirs.shape[-1]),
                                                             ours.reshape(-1, ours.shape[-1]),
                                                             strict=True))
    results["band_signal_correlation_min"] = float(agreement)

    if not args.skip_memory:
        short = render(workdir, args.frames, args.memory_size, avi=False)
        long = render(workdir, 10 * args.frames, args.memory_size, avi=False)
        rss = {}
        for name, clip in (("short", short), ("long", long)):
            rss[name] = peak_rss_mib(vmic + [str(clip), "-o", str(out), "--quiet"])
        results["memory"] = {"frames": [args.frames, 10 * args.frames],
                             "size": args.memory_size, "peak_rss_mib": rss,
                             "ratio": rss["long"] / rss["short"]}
    results["load_after"] = os.getloadavg()[0]

    def row(label, name, base=None, word="faster"):
        wall, cpu = times[name]
        cells = f"| {label} | {wall:.2f} | {cpu:.2f} |"
        if base is None:
            return cells + " |"
        bw, bc = times[base]
        if word == "faster":
            return cells + f" {bw / wall:.1f}x faster (CPU {bc / cpu:.1f}x) |"
        return cells + f" {wall / bw:.2f}x decode (CPU {cpu / bc:.2f}x) |"

    print("| run | wall (s) | CPU (s) | ratio |\n|---|---|---|---|")
    print(row(f"anchor: pyrtools per frame, {args.frames} x {args.size}^2, 2 scales x 4",
              "anchor"))
    print(row("vmic recover --combine align, 2 scales x 4", "align", "anchor"))
    print(row("vmic recover --combine local, 2 scales x 4", "local", "anchor"))
    print(row("vmic recover, defaults (auto, 3 scales x 2)", "default", "anchor"))
    print(row("decode the FFV1 file to grey (OpenCV)", "decode"))
    print(row("vmic recover on the FFV1 file, defaults", "video_default", "decode", "decode"))
    print(row("vmic recover on the FFV1 file, --combine align", "video_align", "decode",
              "decode"))
    print(row("vmic recover on its first 40 frames, defaults (the fixed start-up)",
              "video_start", "decode", "decode"))
    if args.long_video:
        print(row(f"decode a {4 * args.frames}-frame FFV1 file to grey", "decode_long"))
        print(row("vmic recover on it, defaults", "video_long", "decode_long", "decode"))
    if "memory" in results:
        m = results["memory"]
        print(f"\npeak RSS of vmic recover (defaults), {m['frames'][0]} vs {m['frames'][1]} "
              f"frames of {m['size']}^2: {m['peak_rss_mib']['short']:.0f} / "
              f"{m['peak_rss_mib']['long']:.0f} MiB ({m['ratio']:.2f}x)")
    print(f"\nanchor and vmic band signals: min correlation {agreement:.6f}")
    print(f"load average before/after: {results['load_before']:.1f} / "
          f"{results['load_after']:.1f} on {results['cpus']} cores")
    (workdir / "speed.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
