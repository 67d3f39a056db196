"""Speed and memory of ``vmic recover`` against the anchor, as whole processes.

1. Anchor vs vmic: 1100 frames of 192x192 (a ``.npy`` stack), 2 scales x 4 orientations.
   The anchor (bench/anchor.py) rebuilds pyrtools' SteerablePyramidFreq for every frame
   and computes the original's reductions; vmic runs ``vmic recover`` (``--combine align``,
   the same reductions, and the default ``local``). Prints wall times and the ratio, and
   checks that both produce the same band signals.
2. Video: the same frames as lossless 8-bit FFV1 AVI; ``vmic recover`` (defaults) against
   merely decoding the file to grey frames with OpenCV (``read`` + ``cvtColor``).
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


def timed(command: list[str]) -> float:
    """Run a command to completion; return its wall time (s)."""
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(command)}\n{proc.stderr}")
    return wall


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


def best_of(repeat: int, command: list[str]) -> float:
    return min(timed(command) for _ in range(repeat))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default=str(HERE / ".cache"))
    parser.add_argument("--frames", type=int, default=1100)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--memory-size", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs per timing")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    vmic = [sys.executable, "-m", "vmic", "recover"]
    results = {"cpus": os.cpu_count(), "load_before": os.getloadavg()[0]}

    stack = render(workdir, args.frames, args.size, avi=True)
    out = workdir / "out.wav"
    # Warm numba's on-disk cache so compilation is not timed (a user pays it once).
    subprocess.run(vmic + [str(stack), "--frames", "40", "-o", str(out), "--quiet",
                           "--scales", "2", "--orientations", "4"], check=True)
    subprocess.run(vmic + [str(stack), "--frames", "40", "-o", str(out), "--quiet"], check=True)

    anchor_signals = workdir / "anchor_signals.npy"
    anchor = best_of(args.repeat, [sys.executable, str(HERE / "anchor.py"), str(stack),
                                   "--scales", "2", "--orientations", "4",
                                   "--signals", str(anchor_signals)])
    signals_npz = workdir / "vmic_signals.npz"
    align = best_of(args.repeat, vmic + [str(stack), "-o", str(out), "--quiet", "--scales", "2",
                                         "--orientations", "4", "--combine", "align",
                                         "--signals", str(signals_npz)])
    local = best_of(args.repeat, vmic + [str(stack), "-o", str(out), "--quiet", "--scales", "2",
                                         "--orientations", "4"])
    local_default = best_of(args.repeat, vmic + [str(stack), "-o", str(out), "--quiet"])
    theirs = np.load(anchor_signals)
    with np.load(signals_npz) as saved:
        ours = saved["band_signals"]
    agreement = min(np.corrcoef(a, b)[0, 1] for a, b in zip(theirs.reshape(-1, theirs.shape[-1]),
                                                             ours.reshape(-1, ours.shape[-1]),
                                                             strict=True))
    results["anchor"] = {"frames": args.frames, "size": args.size, "anchor_s": anchor,
                         "vmic_align_s": align, "vmic_local_s": local,
                         "vmic_default_s": local_default,
                         "ratio_align": anchor / align, "ratio_local": anchor / local,
                         "band_signal_correlation_min": float(agreement)}

    avi = stack.with_suffix(".avi")
    decode = best_of(args.repeat, [sys.executable, "-c", DECODE, str(avi)])
    video_default = best_of(args.repeat, vmic + [str(avi), "-o", str(out), "--quiet"])
    video_align = best_of(args.repeat, vmic + [str(avi), "-o", str(out), "--quiet",
                                               "--combine", "align"])
    results["video"] = {"decode_s": decode, "vmic_default_s": video_default,
                        "vmic_align_s": video_align, "ratio_default": video_default / decode,
                        "ratio_align": video_align / decode}

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

    a, v = results["anchor"], results["video"]
    print("| measurement | seconds | ratio |\n|---|---|---|")
    print(f"| anchor (pyrtools per frame), {a['frames']} x {a['size']}^2, 2x4 bands | "
          f"{a['anchor_s']:.1f} | 1 |")
    print(f"| vmic recover --combine align (same bands) | {a['vmic_align_s']:.1f} | "
          f"{a['ratio_align']:.1f}x faster |")
    print(f"| vmic recover (local, same bands) | {a['vmic_local_s']:.1f} | "
          f"{a['ratio_local']:.1f}x faster |")
    print(f"| vmic recover (defaults: local, 3 scales x 2) | {a['vmic_default_s']:.1f} | |")
    print(f"| decode FFV1 to grey only | {v['decode_s']:.1f} | 1 |")
    print(f"| vmic recover on the FFV1 file (defaults) | {v['vmic_default_s']:.1f} | "
          f"{v['ratio_default']:.2f}x decode |")
    print(f"| vmic recover on the FFV1 file (align) | {v['vmic_align_s']:.1f} | "
          f"{v['ratio_align']:.2f}x decode |")
    if "memory" in results:
        m = results["memory"]
        print(f"| peak RSS, {m['frames'][0]} vs {m['frames'][1]} frames of {m['size']}^2 | "
              f"{m['peak_rss_mib']['short']:.0f} / {m['peak_rss_mib']['long']:.0f} MiB | "
              f"{m['ratio']:.2f}x |")
    print(f"\nanchor and vmic band signals: min correlation {a['band_signal_correlation_min']:.6f}")
    print(f"load average before/after: {results['load_before']:.1f} / {results['load_after']:.1f}")
    (workdir / "speed.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
