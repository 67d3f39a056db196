"""Recovery of a long clip in process and on Dask clusters of 1 and 2 workers.

Usage::

    PYTHONPATH=. python bench/scale.py [--clip /tmp/vmic-scale/long.avi] [--frames 22000]

The clip (192x192 px FFV1 at 2200 fps, ``--frames`` long) is rendered once with
``vmic synth`` and reused. Every run is limited to one core: the in-process run and each
worker are pinned to their own core with ``taskset`` (which also leaves libavcodec one
decoder thread) under ``NUMBA_NUM_THREADS=1`` and ``OMP_NUM_THREADS=1``; each worker has
one thread, and its Dask configuration clears ``MALLOC_TRIM_THRESHOLD_`` (as ``--dask
local:N`` does; docs/cluster.md). The scheduler and the client are not pinned (they do no
frame work).

Printed: seconds of each run (after a warm-up on the clip's first 1000 frames, so that
imports and numba's compilation are not counted), frames/s, the speed-ups against the
targets (2 workers over 1 >= 1.6; the 1-worker cluster within 15 % of the in-process run),
the CPU time of the run's process or workers (less sensitive to other jobs on the machine
than the wall time), each worker's peak resident memory after runs on 1/4, 1/2 and all of
the clip (flat as the clip grows), and the correlation of each cluster's audio with the
in-process audio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ONE_CORE = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1"}
IN_PROCESS = """
import json, os, sys, time, numpy as np, vmic
vmic.recover(sys.argv[1], n_frames=1000)
cpu = sum(os.times()[:2])
started = time.perf_counter()
result = vmic.recover(sys.argv[1])
elapsed = time.perf_counter() - started
cpu = sum(os.times()[:2]) - cpu
np.save(sys.argv[2], result.audio)
print(json.dumps({"seconds": elapsed, "cpu_s": cpu, "samples": len(result.audio)}))
"""


def render(path: Path, frames: int) -> None:
    if path.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "vmic", "synth", str(path), "--fps", "2200",
                    "--duration", str(frames / 2200), "--size", "192x192", "--quiet"],
                   check=True)


def in_process(clip: Path, env: dict, out: Path) -> dict:
    done = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", IN_PROCESS, str(clip),
                           str(out)], env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_cluster(n_workers: int, env: dict, folder: Path):
    dask = str(Path(sys.executable).parent / "dask")
    # The workers' Dask configuration clears MALLOC_TRIM_THRESHOLD_, as `--dask local:N` does
    # (docs/cluster.md).
    (folder / "dask.yaml").write_text(
        "distributed:\n  nanny:\n    pre-spawn-environ:\n      MALLOC_TRIM_THRESHOLD_: null\n")
    env = {**env, "DASK_CONFIG": str(folder)}
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    scheduler_file = folder / f"scheduler-{n_workers}.json"
    procs = [subprocess.Popen([dask, "scheduler", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(scheduler_file)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    for _ in range(100):
        if scheduler_file.is_file():
            break
        time.sleep(0.1)
    for core in range(n_workers):
        procs.append(subprocess.Popen(
            ["taskset", "-c", str(core), dask, "worker", "--scheduler-file",
             str(scheduler_file), "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
             "--memory-limit", "0"], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL))
    return scheduler_file, procs


def cpu_s() -> float:
    return sum(os.times()[:2])


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def on_cluster(clip: Path, n_workers: int, env: dict, folder: Path, n_frames: int,
               memory_steps: bool) -> dict:
    from distributed import Client

    import vmic

    scheduler_file, procs = start_cluster(n_workers, env, folder)
    try:
        client = Client(scheduler_file=str(scheduler_file), timeout=60)
        client.wait_for_workers(n_workers, timeout=120)
        vmic.recover(clip, n_frames=1000, client=client)  # warm-up: imports, numba
        peaks = {}
        if memory_steps:
            for count in (n_frames // 4, n_frames // 2):
                vmic.recover(clip, n_frames=count, client=client)
                peaks[count] = sorted(client.run(peak_rss_mb).values())
        cpu = client.run(cpu_s)
        started = time.perf_counter()
        result = vmic.recover(clip, client=client)
        elapsed = time.perf_counter() - started
        cpu = sum(after - cpu[worker] for worker, after in client.run(cpu_s).items())
        peaks[n_frames] = sorted(client.run(peak_rss_mb).values())
        client.close()
    finally:
        for proc in procs[::-1]:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
    return {"seconds": elapsed, "cpu_s": cpu, "audio": result.audio, "peak_rss_mb": peaks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default="/tmp/vmic-scale/long.avi")
    parser.add_argument("--frames", type=int, default=22000,
                        help="frames to render when the clip is missing (default 22000)")
    args = parser.parse_args()
    clip = Path(args.clip)
    render(clip, args.frames)
    import vmic

    with vmic.open_clip(clip) as opened:
        n_frames = opened.n_frames
    env = {**os.environ, **ONE_CORE}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        local = in_process(clip, env, folder / "audio.npy")
        reference = np.load(folder / "audio.npy")
        one = on_cluster(clip, 1, env, folder, n_frames, memory_steps=True)
        two = on_cluster(clip, 2, env, folder, n_frames, memory_steps=False)
    print(f"clip {clip}: {n_frames} frames of 192x192 px")
    for name, run in (("in process", local), ("1 worker", one), ("2 workers", two)):
        print(f"{name:>11}: {run['seconds']:7.1f} s  {n_frames / run['seconds']:6.0f} frames/s"
              f"  CPU {run['cpu_s']:6.1f} s ({1e3 * run['cpu_s'] / n_frames:.2f} ms a frame)")
    for name, run in (("1 worker", one), ("2 workers", two)):
        corr = np.corrcoef(run["audio"], reference)[0, 1]
        same = len(run["audio"]) == len(reference)
        equal = same and np.array_equal(run["audio"], reference)
        print(f"{name}: correlation with the in-process audio {corr:.7f}, same length "
              f"{same}, equal {equal}")
    speedup = one["seconds"] / two["seconds"]
    overhead = one["seconds"] / local["seconds"] - 1
    print(f"2 workers over 1: x{speedup:.2f} (target >= 1.6: "
          f"{'met' if speedup >= 1.6 else 'MISSED'})")
    print(f"1 worker against in process: {100 * overhead:+.1f} % (target within 15 %: "
          f"{'met' if abs(overhead) <= 0.15 else 'MISSED'})")
    for count, peaks in one["peak_rss_mb"].items():
        print(f"1-worker peak RSS after a {count}-frame run: {peaks[0]:.0f} MB")
    print(f"2-worker peak RSS: {', '.join(f'{p:.0f} MB' for p in two['peak_rss_mb'][n_frames])}")


if __name__ == "__main__":
    main()
