"""The shipped sample clips: how each is made (the single source of truth).

``samples/make_samples.py`` renders them into the repository's ``samples/`` folder and
``vmic demo`` renders one into a temporary folder when ``samples/`` is absent (e.g. a wheel
install), both through the ``vmic synth`` command. Each entry is the argument list of
``vmic synth`` after the output name (so that the sidecar records the command that makes the
clip); ``{shared}`` stands for the ``../shared`` folder (samples that need it cannot be
rendered without it). This module holds data only: it imports nothing from the command line.
"""

from __future__ import annotations

import os
from pathlib import Path

from vmic.errors import VmicError

SAMPLES: dict[str, list[str]] = {
    # a speech-like source on a membrane mode: parts of the object move by different amounts
    "speech_membrane": [
        "--source", "speech", "--motion", "membrane", "--amplitude", "0.1", "--size", "64x64",
        "--duration", "1", "--shot-noise", "--read-noise", "5", "--full-well", "40000",
    ],
    # a chord on two halves moving with opposite signs, print-like texture
    "chord_two_regions": [
        "--motion", "two_regions", "--amplitude", "0.08", "--size", "64x64", "--duration", "1",
        "--shot-noise", "--read-noise", "5", "--full-well", "40000", "--texture", "print",
    ],
    # real music (needs ../shared), global translation, exposure integration and slow drift
    "melody_global": [
        "--wav", "{shared}/audio/melody_2200hz.wav", "--wav-offset", "1", "--duration", "1.5",
        "--amplitude", "0.05", "--size", "64x64", "--shot-noise", "--read-noise", "5",
        "--full-well", "40000", "--exposure", "0.5", "--drift", "0.3",
    ],
}

DEMO_SAMPLE = "speech_membrane"
"""The sample ``vmic demo`` recovers by default (procedural: renders anywhere)."""


def repo_samples_dir() -> Path:
    """``samples/`` at the repository root (exists for a source checkout / editable install)."""
    return Path(__file__).resolve().parents[2] / "samples"


def sample_args(name: str, out_dir: str | os.PathLike, *,
                shared: str | os.PathLike = "../shared") -> list[str]:
    """``vmic synth`` arguments (without ``synth``) that render sample ``name`` into ``out_dir``.

    Writes ``<out_dir>/<name>.avi``, ``<name>_truth.wav`` and ``<name>.json``.
    """
    if name not in SAMPLES:
        raise VmicError(f"unknown sample {name!r}; choose from {', '.join(SAMPLES)}")
    out_dir = Path(out_dir)
    args = [a.replace("{shared}", str(shared)) for a in SAMPLES[name]]
    return [str(out_dir / f"{name}.avi"), "--truth", str(out_dir / f"{name}_truth.wav"), *args]


def needs_shared(name: str) -> bool:
    """Whether sample ``name`` reads a file from ``../shared``."""
    return any("{shared}" in a for a in SAMPLES[name])
