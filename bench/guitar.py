"""Real footage: the guitar clip of ../shared (600 fps), every combination method.

Prints, for each method, the dominant frequency of the recovered sound between 50 and
250 Hz (Hann-windowed periodogram; the low E string is 82.4 Hz), the run time of the
whole ``vmic recover`` process (best of --repeat) and its ratio to ``align``, and any
warning the command printed (``auto`` warns when it found no signal and gave ``align``'s
output).

Usage: python bench/guitar.py [--clip ../shared/real/guitar.mp4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.signal

from vmic.io.audio import read_wav

SHARED = Path(__file__).resolve().parents[2] / "shared"


def dominant_hz(path: Path, lo: float = 50.0, hi: float = 250.0) -> float:
    audio, sr = read_wav(path)
    freqs, power = scipy.signal.periodogram(audio, sr, window="hann")
    band = (freqs >= lo) & (freqs <= hi)
    return float(freqs[band][np.argmax(power[band])])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", default=str(SHARED / "real" / "guitar.mp4"))
    parser.add_argument("--fps", default="600")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not Path(args.clip).is_file():
        print(f"no clip at {args.clip}", file=sys.stderr)
        return 2
    rows = {}
    with tempfile.TemporaryDirectory() as scratch:
        for method in ("align", "bands", "local", "auto"):
            out = Path(scratch) / f"{method}.wav"
            command = [sys.executable, "-m", "vmic", "recover", args.clip, "--fps", args.fps,
                       "-o", str(out), "--quiet", "--combine", method]
            best = np.inf
            for _ in range(args.repeat):
                started = time.perf_counter()
                done = subprocess.run(command, check=True, capture_output=True, text=True)
                best = min(best, time.perf_counter() - started)
            rows[method] = (dominant_hz(out), best, done.stderr.strip() or "none")
    print("| method | dominant 50-250 Hz | time (s) | time / align | warning |\n"
          "|---|---|---|---|---|")
    for method, (hz, seconds, warning) in rows.items():
        print(f"| {method} | {hz:.1f} Hz | {seconds:.2f} | {seconds / rows['align'][1]:.2f} "
              f"| {warning} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
