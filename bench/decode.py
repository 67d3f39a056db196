"""Decoding speed: PyAV (vmic's reader) against OpenCV's VideoCapture, to grey float frames.

Each decoder reads the whole file and turns it into float32 grey frames (the mean of the
colour channels, or the stored grey), batch by batch as a recovery takes them:

- ``opencv-1thread``: ``cv2.VideoCapture`` with one decoding thread, grey streams read
  unconverted (``CAP_PROP_CONVERT_RGB`` off), then :func:`vmic.io.clip.to_grey`;
- ``pyav``: :meth:`vmic.io.clip.Clip.iter_batches` in the calling thread;
- ``pyav-thread``: the same, decoded ahead in a reader thread (what a recovery uses).

Each run is a fresh process, timed from after its imports to the last frame (the file is
in the page cache after the first run); the decoders alternate, ``--repeats`` times, after
one unmeasured warm-up run of each, which also checks that they give the same frames (a
checksum). Prints the largest difference between OpenCV's and PyAV's grey frames, and the
median wall time, its spread (min-max), frames/s at the median and the median CPU time (all
threads) per decoder and clip.

Usage: python bench/decode.py CLIP [CLIP ...] [--repeats 3] [--batch 32]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

DECODERS = ("opencv-1thread", "pyav", "pyav-thread")

RUN = """
import sys, time
import numpy as np
import av, cv2  # imported before the clock starts: only decoding is timed
from vmic.io.clip import open_clip
from vmic.io.convert import to_grey
path, decoder, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
n = 0
checksum = 0.0
wall, cpu = time.perf_counter(), time.process_time()
if decoder == "opencv-1thread":
    capture = cv2.VideoCapture(path, cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, 1])
    code = int(capture.get(cv2.CAP_PROP_CODEC_PIXEL_FORMAT) or 0).to_bytes(4, "little")
    if code in (b"Y800", b"GREY", b"Y1\\x00\\x10", b"\\x10\\x001Y"):
        capture.set(cv2.CAP_PROP_CONVERT_RGB, 0)
    done = False
    while not done:
        frames = []
        for _ in range(batch):
            ok, frame = capture.read()
            if not ok:
                done = True
                break
            frames.append(frame)
        if frames:
            grey = to_grey(np.stack(frames))
            n += len(grey)
            checksum += float(grey[:, 0, 0].sum())
else:
    clip = open_clip(path, fps=1000.0)
    for _, grey in clip.iter_batches(batch, background=decoder == "pyav-thread"):
        n += len(grey)
        checksum += float(grey[:, 0, 0].sum())
print(n, checksum, time.perf_counter() - wall, time.process_time() - cpu)
"""


DIFF = """
import sys
import numpy as np
import cv2
from vmic.io.clip import open_clip
from vmic.io.convert import to_grey
path, batch = sys.argv[1], int(sys.argv[2])
capture = cv2.VideoCapture(path, cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, 1])
code = int(capture.get(cv2.CAP_PROP_CODEC_PIXEL_FORMAT) or 0).to_bytes(4, "little")
if code in (b"Y800", b"GREY", b"Y1\\x00\\x10", b"\\x10\\x001Y"):
    capture.set(cv2.CAP_PROP_CONVERT_RGB, 0)
worst, n = 0.0, 0
for _, ours in open_clip(path, fps=1000.0).iter_batches(batch):
    theirs = to_grey(np.stack([capture.read()[1] for _ in range(len(ours))]))
    worst = max(worst, float(np.abs(ours - theirs).max()))
    n += len(ours)
print(n, worst, int(capture.read()[0]))
"""


def max_difference(path: str, batch: int) -> str:
    """Largest difference between the grey frames of the two decoders (grey levels)."""
    proc = subprocess.run([sys.executable, "-c", DIFF, path, str(batch)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise SystemExit(f"comparing the decoders failed on {path}:\n{proc.stderr}")
    n, worst, more = proc.stdout.split()
    return f"{worst} grey levels over {n} frames" + (" (OpenCV has more)" if int(more) else "")


def run_once(path: str, decoder: str, batch: int) -> tuple[int, float, float, float]:
    """Frames, checksum, decoding wall time and CPU time (s, all threads) of one process."""
    proc = subprocess.run([sys.executable, "-c", RUN, path, decoder, str(batch)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{decoder} failed on {path}:\n{proc.stderr}")
    n, checksum, wall, cpu = proc.stdout.split()
    return int(n), float(checksum), float(wall), float(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    print(f"{'clip':<24} {'decoder':<15} {'frames':>6} {'median s':>9} {'min-max s':>13} "
          f"{'frames/s':>9} {'CPU s':>6}")
    notes = []
    for path in args.clips:
        warm = {d: run_once(path, d, args.batch)[:2] for d in DECODERS}  # unmeasured
        if len(set(warm.values())) != 1:
            raise SystemExit(f"decoders disagree on the frames of {path}: {warm}")
        walls: dict[str, list[float]] = {d: [] for d in DECODERS}
        cpus: dict[str, list[float]] = {d: [] for d in DECODERS}
        for _ in range(args.repeats):
            for decoder in DECODERS:
                _, _, wall, cpu = run_once(path, decoder, args.batch)
                walls[decoder].append(wall)
                cpus[decoder].append(cpu)
        frames = warm[DECODERS[0]][0]
        name = path.rsplit("/", 1)[-1]
        notes.append(f"{name}: PyAV against OpenCV, largest difference "
                     f"{max_difference(path, args.batch)}")
        for decoder in DECODERS:
            median = statistics.median(walls[decoder])
            print(f"{name:<24} {decoder:<15} {frames:>6} {median:>9.3f} "
                  f"{min(walls[decoder]):>6.3f}-{max(walls[decoder]):<6.3f} "
                  f"{frames / median:>9.0f} {statistics.median(cpus[decoder]):>6.2f}",
                  flush=True)
    print("\n".join(notes))


if __name__ == "__main__":
    main()
