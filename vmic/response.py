"""An object's response: from a played sound to the motion recovered from a clip of it.

:class:`Response` holds what :mod:`vmic.calibration` measures (the H1 estimate of ``H(f)``,
its coherence, the lag and the valid band: where the coherence is at least
:data:`COHERENCE_MIN`, and above what chance gives with that many averages, as one or
several intervals) and reads and writes the calibration JSON (``vmic calibrate``);
:mod:`vmic.equalize` turns it into the equaliser of later recoveries.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from vmic.errors import VmicError

__all__ = ["Response", "Lag", "load_response", "coherence_threshold", "valid_band",
           "COHERENCE_MIN", "FORMAT", "MIN_BAND_BINS"]

FORMAT = "vmic-response"
FORMAT_VERSION = 1
COHERENCE_MIN = 0.5
"""The valid band is where the coherence reaches this (the issue's and Davis's criterion)."""
CHANCE_LEVEL = 0.01
"""Coherence that unrelated signals exceed with this probability is not taken as valid."""
MIN_BAND_BINS = 3
# A run of fewer bins over the threshold is chance or the edge of a notch; the equaliser's
# finite filter would spread a boost there into a ringing tone.
@dataclass
class Lag:
    """The delay of the recovered motion after the played sound.

    Attributes
    ----------
    samples : int
        ``y[t]`` follows ``x[t - samples]`` (samples at the capture rate).
    seconds : float
        The same (s).
    correlation : float
        Normalised cross-correlation at the peak (-1..1; the sign is the object's).
    z : float
        The peak over the robust spread (1.4826 MAD) of the correlation over all lags.
    """

    samples: int
    seconds: float
    correlation: float
    z: float


@dataclass
class Response:
    """An object's measured response on a grid of frequencies.

    Attributes
    ----------
    rate_hz : float
        Capture rate of the calibration clip (Hz); only recoveries at this rate are equalised.
    frequencies_hz : ndarray of float64, shape (F,)
        Welch bins, 0 to ``rate_hz / 2`` (Hz).
    magnitude : ndarray of float64, shape (F,)
        ``|H|``, in :attr:`units`.
    phase_rad : ndarray of float64, shape (F,)
        Phase of ``H`` (rad, wrapped), relative to :attr:`lag` and :attr:`polarity`.
    coherence : ndarray of float64, shape (F,)
        Magnitude-squared coherence (0..1).
    valid_band_hz : list of (float, float)
        Intervals (Hz, edges included) where the coherence is valid.
    n_averages : int
        Welch segments averaged (sets the estimate's spread).
    units : str
        Of :attr:`magnitude`: "px per unit of the played sound", or the recovery's own units
        where its scale in px is unknown (``align``).
    lag : Lag or None
        The delay the played sound was shifted by.
    polarity : int
        +1 or -1, the sign of the correlation at the lag: the recovery's sign convention
        (its motion direction), not the object's; ``H`` is stored without it.
    recovery : dict
        Recovery settings of the calibration clip (``combine``, ``method``, ``scales``,
        ``orientations``, ``roi``, ``downsample``, ``highpass_hz``).
    sources : dict
        Names of the clip and the played file (for people; not checked).
    vmic_version : str
    """

    rate_hz: float
    frequencies_hz: np.ndarray
    magnitude: np.ndarray
    phase_rad: np.ndarray
    coherence: np.ndarray
    valid_band_hz: list
    n_averages: int
    units: str = "recovered units per unit of the played sound"
    lag: Lag | None = None
    polarity: int = 1
    recovery: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)
    vmic_version: str = ""

    @property
    def h(self) -> np.ndarray:
        """The complex response ``|H| exp(i phase)``, complex128 (F,)."""
        return self.magnitude * np.exp(1j * self.phase_rad)

    def valid_mask(self) -> np.ndarray:
        """bool (F,): the bins inside :attr:`valid_band_hz`."""
        f = self.frequencies_hz
        mask = np.zeros(f.shape, dtype=bool)
        for lo, hi in self.valid_band_hz:
            mask |= (f >= lo - 1e-9) & (f <= hi + 1e-9)
        return mask

    def reference_magnitude(self) -> float:
        """The object's sensitivity: the median ``|H|`` over the valid band (its units).

        The equaliser brings the valid band to this level, as a measurement microphone's
        calibration states its deviation from its nominal sensitivity.
        """
        mask = self.valid_mask() & (self.magnitude > 0)
        if not mask.any():
            raise VmicError("the response has no valid band (coherence under "
                            f"{COHERENCE_MIN:g} everywhere)")
        return float(np.median(self.magnitude[mask]))

    def phase_std_rad(self) -> np.ndarray:
        """Standard deviation of the H1 phase estimate (rad), float64 (F,).

        ``sqrt(1 - g^2) / (|g| sqrt(2 n))`` for coherence ``g^2`` and ``n`` averages
        (Bendat and Piersol); infinite where the coherence is zero.
        """
        g2 = np.clip(self.coherence, 0.0, 1.0)
        with np.errstate(divide="ignore"):
            return np.sqrt(1.0 - g2) / (np.sqrt(g2) * math.sqrt(2.0 * self.n_averages))

    def with_h(self, h: ArrayLike, *, units: str | None = None) -> Response:
        """The same response (coherence, band, lag, polarity, settings) with ``H`` replaced
        by ``h``.

        Parameters
        ----------
        h : array_like of complex, shape (F,)
            A response at :attr:`frequencies_hz`, e.g. a rendered object's true one
            (:func:`vmic.synth.true_response`).
        units : str, optional
            Of ``h`` (default: :attr:`units`).
        """
        h = np.asarray(h, dtype=np.complex128)
        if h.shape != self.frequencies_hz.shape:
            raise VmicError(f"h must have shape {self.frequencies_hz.shape}, got {h.shape}")
        return dataclasses.replace(self, magnitude=np.abs(h), phase_rad=np.angle(h),
                                   units=self.units if units is None else units)

    def to_dict(self) -> dict:
        """JSON-ready dict (the calibration file's content)."""
        from vmic import __version__

        lag = None if self.lag is None else dataclasses.asdict(self.lag)
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "vmic_version": self.vmic_version or __version__,
            "rate_hz": float(self.rate_hz),
            "estimator": {"name": "H1", "window": "hann", "overlap": 0.5,
                          "n_averages": int(self.n_averages),
                          "coherence_min": COHERENCE_MIN},
            "units": self.units,
            "lag": lag,
            "polarity": int(self.polarity),
            "recovery": self.recovery,
            "sources": self.sources,
            "valid_band_hz": [[float(lo), float(hi)] for lo, hi in self.valid_band_hz],
            "reference_magnitude": self.reference_magnitude(),
            "frequencies_hz": [round(float(v), 6) for v in self.frequencies_hz],
            "magnitude": [float(f"{v:.8g}") for v in self.magnitude],
            "phase_rad": [round(float(v), 6) for v in self.phase_rad],
            "coherence": [round(float(v), 6) for v in self.coherence],
        }

    def to_json(self) -> str:
        """The calibration file's text (indented; the per-bin lists on one line each)."""
        data = self.to_dict()
        arrays = {key: data.pop(key) for key in ("frequencies_hz", "magnitude", "phase_rad",
                                                 "coherence")}
        text = json.dumps(data, indent=2)[:-2]
        for key, values in arrays.items():
            text += f',\n  "{key}": {json.dumps(values)}'
        return text + "\n}\n"

    def save(self, path: str | os.PathLike) -> None:
        """Write the calibration JSON atomically."""
        from vmic.io.atomic import atomic_path

        with atomic_path(path) as tmp:
            tmp.write_text(self.to_json())

    @classmethod
    def from_dict(cls, data: dict, *, name: str = "calibration") -> Response:
        """Read a :meth:`to_dict` dict, checking it; a :class:`VmicError` names the fault."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise VmicError(f"{name} is not a vmic calibration (no \"format\": \"{FORMAT}\")")
        try:
            rate = float(data["rate_hz"])
            arrays = [np.asarray(data[key], dtype=np.float64) for key in
                      ("frequencies_hz", "magnitude", "phase_rad", "coherence")]
            band = [(float(lo), float(hi)) for lo, hi in data["valid_band_hz"]]
            n_averages = int(data["estimator"]["n_averages"])
            lag = None if data.get("lag") is None else Lag(**data["lag"])
            polarity = int(data.get("polarity", 1))
        except (KeyError, TypeError, ValueError) as exc:
            raise VmicError(f"{name} is malformed: {type(exc).__name__}: {exc}") from None
        freqs, magnitude, phase, coherence = arrays
        n = freqs.size
        if (not math.isfinite(rate) or rate <= 0 or n < 2
                or any(a.shape != (n,) for a in arrays)
                or not all(np.isfinite(a).all() for a in arrays)
                or np.any(np.diff(freqs) <= 0) or freqs[-1] > rate / 2 + 1e-6
                or np.any(magnitude < 0) or np.any((coherence < 0) | (coherence > 1))):
            raise VmicError(f"{name} is malformed: its rate, frequencies, magnitude, phase "
                            "and coherence must be finite lists of one length, frequencies "
                            "increasing to at most half the rate, coherence within 0..1")
        if not band or any(not lo <= hi for lo, hi in band):
            raise VmicError(f"{name} has no valid band (coherence under {COHERENCE_MIN:g} "
                            "everywhere)")
        return cls(rate_hz=rate, frequencies_hz=freqs, magnitude=magnitude, phase_rad=phase,
                   coherence=coherence, valid_band_hz=band, n_averages=max(n_averages, 1),
                   units=str(data.get("units", cls.units)), lag=lag,
                   polarity=-1 if polarity < 0 else 1,
                   recovery=dict(data.get("recovery") or {}),
                   sources=dict(data.get("sources") or {}),
                   vmic_version=str(data.get("vmic_version", "")))


def load_response(path: str | os.PathLike) -> Response:
    """Read a calibration JSON written by ``vmic calibrate`` (:meth:`Response.save`).

    Raises
    ------
    VmicError
        A missing, unreadable or malformed file, or one with no valid band.
    """
    path = Path(path)
    if not path.is_file():
        raise VmicError(f"no such calibration file: {path}")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise VmicError(f"calibration {path} is malformed: not JSON ({exc})") from None
    return Response.from_dict(data, name=f"calibration {path}")


def coherence_threshold(n_averages: int) -> float:
    """The coherence a valid bin needs: :data:`COHERENCE_MIN`, or what unrelated signals
    exceed with probability :data:`CHANCE_LEVEL` with ``n_averages`` averages, if higher."""
    chance = 1.0 - CHANCE_LEVEL ** (1.0 / max(n_averages - 1, 1))
    return max(COHERENCE_MIN, chance)


def valid_band(freqs: np.ndarray, coherence: np.ndarray,
               n_averages: int) -> list[tuple[float, float]]:
    """Intervals (Hz) of at least :data:`MIN_BAND_BINS` bins (DC excluded) where the
    coherence reaches :func:`coherence_threshold`."""
    ok = coherence >= coherence_threshold(n_averages)
    ok[0] = False
    band = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.astype(np.int8), [0]])))
    for first, stop in zip(edges[::2], edges[1::2], strict=True):
        if stop - first >= MIN_BAND_BINS:
            band.append((float(freqs[first]), float(freqs[stop - 1])))
    return band
