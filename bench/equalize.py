"""Equalisation by a measured response: SNR and log-spectral distance against the played sound.

For each rendered object (modes within 100-1000 Hz at 2200 fps, Q 5-30, and a flat one) and
camera noise, renders with ``vmic.synth`` (in memory, one seed, so one scene and view)
calibration clips of broadband sound (white noise of 0.5, 1, 2 and 5 s;
pink noise and a logarithmic chirp of 2 s) and two test clips of 2 s (speech-like and
a chord). Calibrates with :func:`vmic.calibration.calibrate`, recovers each test clip once
with :func:`vmic.recover` (defaults) and equalises that recovery with
:func:`vmic.post.equalize`:

- ``plain``: the recovery;
- ``eq``: equalised by the 2 s white-noise calibration (``eq_pink``, ``eq_chirp``: by the
  pink and chirp ones; ``eq_0.5s``...: by the other lengths);
- ``true``: the same filter, regulariser (the calibration's coherence), gain bound and band,
  with the sidecar's true response in place of the estimate
  (:meth:`vmic.response.Response.with_h`);
- ``plain+wiener``, ``eq+wiener``: then denoised (``denoise="wiener"``), as ``recover``
  denoises after equalising.

Every score is :func:`vmic.metrics.score` against the played sound (one lag and gain
alignment, 20-990 Hz): ``snr_db`` and ``lsd_db``, and :func:`active_lsd_db`, the same
log-spectral distance on the bins the played sound fills. Prints the tables and the
targets.

    python bench/equalize.py                 # 4 objects x 2 noises, about 10 min on 2 cores
    python bench/equalize.py --quick         # one resonant object and the flat one, 8-bit
    python bench/equalize.py --json eq.json --jobs 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

import vmic
from vmic import metrics
from vmic.calibration import calibrate
from vmic.post import band_and_denoise, equalize
from vmic.synth import SynthConfig, synthesize, true_response

FPS = 2200.0
OBJECTS = {
    "three modes": dict(resonance_hz=(180.0, 420.0, 760.0), resonance_q=(8.0, 15.0, 6.0)),
    "sharp low": dict(resonance_hz=(110.0, 520.0), resonance_q=(30.0, 10.0)),
    "three high": dict(resonance_hz=(300.0, 650.0, 900.0), resonance_q=(5.0, 20.0, 12.0),
                       resonance_gain=(1.0, 0.7, 1.0)),
    "flat": dict(),
}
NOISES = {
    "8bit": dict(bits=8),
    "shot": dict(bits=8, read_noise_e=5.0, shot_noise=True),
}
LENGTHS_S = (0.5, 1.0, 2.0, 5.0)
TESTS = {"speech": dict(source="speech"), "chord": dict(source="tones")}
SEED = 1


def _config(obj: str, noise: str, size: int, duration: float, source: str):
    # One seed for every clip of an object: the scene (texture, outline, reference point) is
    # drawn from it, so all keep one view; the sounds differ by their kind.
    return SynthConfig(fps=FPS, duration_s=duration, height=size, width=size, source=source,
                       amplitude_px=0.05, seed=SEED, **OBJECTS[obj], **NOISES[noise])


ACTIVE_DB = 30.0


def active_lsd_db(est: np.ndarray, ref: np.ndarray, sr: float) -> float:
    """Log-spectral distance (dB) on the time-frequency bins where the played sound is.

    The same aligned pair, frames and band as :func:`vmic.metrics.score`'s ``lsd_db``, but
    only over the STFT bins where the reference is within :data:`ACTIVE_DB` of its largest
    bin: ``lsd_db`` also counts bins the played sound leaves empty (the pauses of speech,
    the gaps between a chord's notes), where any noise at all is tens of dB off.
    """
    import scipy.signal

    from vmic.metrics.alignment import HI_FRACTION, frame_len, prepare

    a = prepare(est, ref, sr)
    nper = frame_len(sr, 0.03, a.ref.size)
    stft = dict(fs=sr, nperseg=nper, noverlap=nper // 2, boundary=None, padded=False)
    f, _, spec_r = scipy.signal.stft(a.ref, **stft)
    _, _, spec_e = scipy.signal.stft(a.est, **stft)
    band = (f >= metrics.DEFAULT_LO_HZ) & (f <= HI_FRACTION * sr)
    pr, pe = np.abs(spec_r[band]) ** 2, np.abs(spec_e[band]) ** 2
    active = pr >= pr.max() * 10 ** (-ACTIVE_DB / 10)
    d = np.where(active, 10 * np.log10(pr / np.maximum(pe, 1e-300)), 0.0)
    count = active.sum(axis=0)
    frames = count > 0
    return float(np.mean(np.sqrt((d ** 2).sum(axis=0)[frames] / count[frames])))


def run_object(job: tuple) -> dict:
    """Calibrate one object under one noise and score the equalised test recoveries."""
    obj, noise, size = job
    started = time.perf_counter()
    calibrations = {}
    for length in LENGTHS_S:
        clip = synthesize(_config(obj, noise, size, length, "white"))
        calibrations[f"{length:g}s"] = calibrate(clip.frames, clip.played, fps=FPS)
        if length == 2.0:
            truth_sidecar = clip.sidecar
    for source in ("pink", "chirp"):
        clip = synthesize(_config(obj, noise, size, 2.0, source))
        calibrations[source] = calibrate(clip.frames, clip.played, fps=FPS)
    main = calibrations["2s"]
    true = main.with_h(true_response(truth_sidecar, main.frequencies_hz))
    rows = []
    for test, options in TESTS.items():
        clip = synthesize(_config(obj, noise, size, 2.0, options["source"]))
        plain = vmic.recover(clip.frames, fps=FPS).audio
        outputs = {"plain": plain, "eq": equalize(plain, FPS, main),
                   "true": equalize(plain, FPS, true)}
        for name, response in calibrations.items():
            if name != "2s":
                outputs[f"eq_{name}"] = equalize(plain, FPS, response)
        # Denoising after equalising, as recover orders them, against denoising alone.
        outputs["plain+wiener"] = band_and_denoise(plain, FPS, denoise="wiener")
        outputs["eq+wiener"] = band_and_denoise(outputs["eq"], FPS, denoise="wiener")
        scores = {name: metrics.score(audio, clip.played, FPS)
                  for name, audio in outputs.items()}
        rows.append({"object": obj, "noise": noise, "test": test,
                     "valid_band_hz": main.valid_band_hz,
                     "snr_db": {k: v["snr_db"] for k, v in scores.items()},
                     "lsd_db": {k: v["lsd_db"] for k, v in scores.items()},
                     "active_lsd_db": {k: active_lsd_db(audio, clip.played, FPS)
                                       for k, audio in outputs.items()},
                     "truth_snr_db": metrics.snr_db(plain, clip.truth, FPS)})
    for row in rows:
        row["seconds"] = time.perf_counter() - started
    return {"rows": rows}


def _table(rows: list[dict]) -> str:
    lines = ["| object | noise | test | plain vs truth | plain | eq (2 s white) | true | "
             "eq - plain | eq - true | LSD plain / eq | drop | active LSD plain / eq | drop |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        s, d, a = r["snr_db"], r["lsd_db"], r["active_lsd_db"]
        drop = 100 * (1 - d["eq"] / d["plain"])
        active_drop = 100 * (1 - a["eq"] / a["plain"])
        lines.append(f"| {r['object']} | {r['noise']} | {r['test']} | {r['truth_snr_db']:.1f} "
                     f"| {s['plain']:.1f} | {s['eq']:.1f} | {s['true']:.1f} | "
                     f"{s['eq'] - s['plain']:+.1f} | {s['eq'] - s['true']:+.1f} | "
                     f"{d['plain']:.1f} / {d['eq']:.1f} | {drop:.0f} % | "
                     f"{a['plain']:.1f} / {a['eq']:.1f} | {active_drop:.0f} % |")
    return "\n".join(lines)


def _length_table(rows: list[dict]) -> str:
    names = [f"eq_{length:g}s" if length != 2.0 else "eq" for length in LENGTHS_S]
    names += ["eq_pink", "eq_chirp"]
    heads = [f"{length:g} s" for length in LENGTHS_S] + ["pink 2 s", "chirp 2 s"]
    lines = ["| object | noise | test | " + " | ".join(heads) + " |",
             "|---|---|---|" + "---:|" * len(heads)]
    for r in rows:
        s = r["snr_db"]
        gains = [f"{s[n] - s['plain']:+.1f}" for n in names]
        lines.append(f"| {r['object']} | {r['noise']} | {r['test']} | " + " | ".join(gains)
                     + " |")
    return "\n".join(lines)


def _denoise_table(rows: list[dict]) -> str:
    lines = ["| object | noise | test | plain | eq | plain + wiener | eq + wiener | "
             "eq + wiener - plain |", "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        s = r["snr_db"]
        lines.append(f"| {r['object']} | {r['noise']} | {r['test']} | {s['plain']:.1f} | "
                     f"{s['eq']:.1f} | {s['plain+wiener']:.1f} | {s['eq+wiener']:.1f} | "
                     f"{s['eq+wiener'] - s['plain']:+.1f} |")
    return "\n".join(lines)


def _targets(rows: list[dict]) -> str:
    resonant = [r for r in rows if r["object"] != "flat"]
    flat = [r for r in rows if r["object"] == "flat"]
    out = []
    if resonant:
        gains = [r["snr_db"]["eq"] - r["snr_db"]["plain"] for r in resonant]
        gaps = [abs(r["snr_db"]["eq"] - r["snr_db"]["true"]) for r in resonant]
        drops = [1 - r["lsd_db"]["eq"] / r["lsd_db"]["plain"] for r in resonant]
        active = [1 - r["active_lsd_db"]["eq"] / r["active_lsd_db"]["plain"] for r in resonant]
        out.append(f"resonant: eq - plain >= 6 dB in {sum(g >= 6 for g in gains)}/{len(gains)}"
                   f" (min {min(gains):+.1f}, median {statistics.median(gains):+.1f} dB)")
        out.append(f"resonant: |eq - true| <= 2 dB in {sum(g <= 2 for g in gaps)}/{len(gaps)}"
                   f" (max {max(gaps):.1f} dB)")
        out.append(f"resonant: LSD drop >= 30 % in {sum(d >= 0.3 for d in drops)}/{len(drops)}"
                   f" (min {100 * min(drops):.0f} %, median "
                   f"{100 * statistics.median(drops):.0f} %)")
        out.append(f"resonant: active LSD drop >= 30 % in {sum(d >= 0.3 for d in active)}/"
                   f"{len(active)} (min {100 * min(active):.0f} %, median "
                   f"{100 * statistics.median(active):.0f} %)")
    if flat:
        costs = [r["snr_db"]["eq"] - r["snr_db"]["plain"] for r in flat]
        out.append(f"flat: eq - plain >= -0.5 dB in {sum(c >= -0.5 for c in costs)}/{len(costs)}"
                   f" (min {min(costs):+.2f} dB)")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="one resonant object and the flat one, 8-bit noise only")
    parser.add_argument("--objects", default=None, help="comma-separated names of OBJECTS")
    parser.add_argument("--noises", default=None, help="comma-separated: 8bit,shot")
    parser.add_argument("--size", type=int, default=64, help="frame size in px (default 64)")
    parser.add_argument("--jobs", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--json", default=None, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    objects = list(OBJECTS) if args.objects is None else args.objects.split(",")
    noises = list(NOISES) if args.noises is None else args.noises.split(",")
    if args.quick:
        objects, noises = ["three modes", "flat"], ["8bit"]
    jobs = [(obj, noise, args.size) for noise in noises for obj in objects]
    started = time.perf_counter()
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            results = list(pool.map(run_object, jobs))
    else:
        results = [run_object(job) for job in jobs]
    rows = [row for result in results for row in result["rows"]]
    print(f"{len(jobs)} objects x noises, {args.size} px, {FPS:g} fps, "
          f"{time.perf_counter() - started:.0f} s\n")
    print("SNR (dB) against the played sound\n")
    print(_table(rows))
    print("\nSNR gain over plain (dB) by calibration (white noise of each length; pink, "
          "chirp of 2 s)\n")
    print(_length_table(rows))
    print("\nSNR (dB) with the Wiener denoiser of vmic.denoise after equalising\n")
    print(_denoise_table(rows))
    print("\nTargets\n")
    print(_targets(rows))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1, default=float)
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
