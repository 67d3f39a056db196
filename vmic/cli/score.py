"""``vmic score EST.wav REF.wav``: score recovered audio against a truth (see vmic.metrics)."""

from __future__ import annotations

import argparse
import json
import warnings

from vmic.cli.common import json_safe, positive_float
from vmic.errors import VmicError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score recovered audio against a truth WAV",
        description="Score an estimate against a reference (truth) WAV: SNR, segmental SNR, "
                    "log-spectral distance, STOI (rates >= 10 kHz), Pearson r, RMSE of [0,1]-"
                    "scaled signals and loudness error, after a zero-phase band-pass "
                    "[LO, 0.45 sr], the best lag and the least-squares gain (sign allowed). "
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


def run(args: argparse.Namespace) -> int:
    from vmic import metrics
    from vmic.io.audio import read_wav, resample

    # Scores compare sample by sample: a stereo file is refused rather than mixed.
    est, est_sr = read_wav(args.estimate, mix_channels=False)
    ref, ref_sr = read_wav(args.reference, mix_channels=False)
    if est_sr != ref_sr:
        warnings.warn(f"resampling the estimate from {est_sr:g} Hz to the reference's "
                      f"{ref_sr:g} Hz", stacklevel=1)
        est = resample(est, est_sr, target_sr=ref_sr)
    lo = metrics.DEFAULT_LO_HZ if args.lo is None else args.lo
    if args.max_lag is not None and args.max_lag < 0:
        raise VmicError(f"--max-lag must be >= 0, got {args.max_lag}")
    result = metrics.score(est, ref, ref_sr, lo_hz=lo, max_lag=args.max_lag)
    if args.json:
        print(json.dumps(json_safe(result), indent=2))
    else:
        print(metrics.format_table(result, f"{args.estimate} against {args.reference}"))
    return 0
