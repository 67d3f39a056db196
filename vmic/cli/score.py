"""``vmic score EST.wav REF.wav``: score recovered audio against a truth (see vmic.metrics)."""

from __future__ import annotations

import argparse
import json
import math
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np

from vmic.cli.common import positive_float
from vmic.errors import VmicError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score recovered audio against a truth WAV",
        description="Score an estimate against a reference (truth) WAV: SNR, segmental SNR, "
                    "log-spectral distance, STOI (rates >= 10 kHz), Pearson r, RMSE of [0,1]-"
                    "scaled signals and loudness error, after a zero-phase band-pass "
                    "[LO, 0.45 fs], the best lag and the least-squares gain (sign allowed). "
                    "An estimate at another rate is resampled to the reference's rate.",
    )
    parser.add_argument("estimate", help="recovered audio (WAV or any soundfile format)")
    parser.add_argument("reference", help="truth audio, e.g. the --truth WAV of vmic synth")
    parser.add_argument("--lo", type=positive_float, default=None, metavar="HZ",
                        help="low edge of the scoring band in Hz (default 20)")
    parser.add_argument("--max-lag", type=int, default=None, metavar="SAMPLES",
                        help="largest lag searched, in samples (default 20 ms)")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")
    parser.set_defaults(func=run)


def read_mono(path: str | Path) -> tuple[np.ndarray, float]:
    """Read an audio file as float64 mono (channel mean) and its rate (Hz)."""
    from vmic.io.audio import read_wav

    audio, rate = read_wav(path)
    return audio, float(rate)


def resample_to(audio: np.ndarray, rate: float, target_rate: float) -> np.ndarray:
    """Resample ``audio`` from ``rate`` to ``target_rate`` (Hz), polyphase, float64."""
    from scipy.signal import resample_poly

    ratio = Fraction(target_rate / rate).limit_denominator(1000)
    return resample_poly(audio, ratio.numerator, ratio.denominator)


def json_safe(result: dict) -> dict:
    """Replace NaN by None and infinities by the strings ``"inf"``/``"-inf"`` (strict JSON)."""
    out = {}
    for key, value in result.items():
        if isinstance(value, float) and math.isnan(value):
            value = None
        elif isinstance(value, float) and math.isinf(value):
            value = "inf" if value > 0 else "-inf"
        out[key] = value
    return out


def run(args: argparse.Namespace) -> int:
    from vmic import metrics

    est, est_rate = read_mono(args.estimate)
    ref, ref_rate = read_mono(args.reference)
    if est_rate != ref_rate:
        warnings.warn(f"resampling the estimate from {est_rate:g} Hz to the reference's "
                      f"{ref_rate:g} Hz", stacklevel=1)
        est = resample_to(est, est_rate, ref_rate)
    lo = metrics.DEFAULT_LO_HZ if args.lo is None else args.lo
    if args.max_lag is not None and args.max_lag < 0:
        raise VmicError(f"--max-lag must be >= 0, got {args.max_lag}")
    result = metrics.score(est, ref, ref_rate, lo_hz=lo, max_lag=args.max_lag)
    if args.json:
        print(json.dumps(json_safe(result), indent=2))
    else:
        print(metrics.format_table(result, f"{args.estimate} against {args.reference}"))
    return 0
