"""Shared test helpers: small clips with known sub-pixel motion, rendered exactly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def run_python(code: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -c code`` in a fresh interpreter; text output captured."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout)


def smooth_texture(shape, seed=0, cutoff=0.25):
    """Random texture, band-limited to `cutoff` cycles/px, periodic (values ~0..255)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    spectrum = np.fft.fft2(rng.standard_normal(shape))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    spectrum *= np.exp(-((fy**2 + fx**2) / (2 * (cutoff / 2) ** 2)))
    texture = np.fft.ifft2(spectrum).real
    texture = (texture - texture.min()) / np.ptp(texture)
    return 40 + 170 * texture


def shifted_frames(texture, dx, dy=None):
    """Frames of `texture` translated by (dx[t], dy[t]) px, by an exact Fourier shift."""
    h, w = texture.shape
    dy = np.zeros_like(dx) if dy is None else dy
    spectrum = np.fft.fft2(texture)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    frames = np.empty((len(dx), h, w), dtype=np.float64)
    for t, (sx, sy) in enumerate(zip(dx, dy, strict=True)):
        frames[t] = np.fft.ifft2(spectrum * np.exp(-2j * np.pi * (fx * sx + fy * sy))).real
    return frames


@pytest.fixture
def sine_clip():
    """(frames float64 (T, H, W), displacement px (T,), fps, frequency Hz)."""
    fps, freq, n = 2200.0, 220.0, 440
    t = np.arange(n) / fps
    displacement = 0.05 * np.sin(2 * np.pi * freq * t)
    frames = shifted_frames(smooth_texture((48, 64), seed=3), displacement)
    return frames, displacement, fps, freq


def snr_db(estimate, truth, max_lag=0):
    """SNR (dB) after least-squares gain (sign allowed) and the best lag within ±max_lag."""
    best = -np.inf
    n = len(truth)
    for lag in range(-max_lag, max_lag + 1):
        e = estimate[max(lag, 0) : n + min(lag, 0)]
        r = truth[max(-lag, 0) : n + min(-lag, 0)]
        e = e - e.mean()
        r = r - r.mean()
        gain = (e @ r) / (e @ e)
        residual = r - gain * e
        best = max(best, 10 * np.log10((r @ r) / (residual @ residual)))
    return best


requires_shared = pytest.mark.skipif(not (SHARED / "real" / "guitar.mp4").is_file(),
                                     reason="../shared real footage not present")


@pytest.fixture
def torch_one_thread():
    """Run a test with one torch thread (the machine's cores are shared), then restore."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
