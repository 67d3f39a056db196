"""Real high-speed footage from ../shared (skipped when it is absent)."""

import numpy as np
import scipy.signal
import soundfile
from conftest import SHARED, requires_shared

from vmic.cli import main


def dominant_hz(path, lo, hi):
    audio, rate = soundfile.read(path)
    freqs, power = scipy.signal.periodogram(audio, rate, window="hann")
    band = (freqs >= lo) & (freqs <= hi)
    return freqs[band][np.argmax(power[band])]


@requires_shared
def test_guitar_low_e_string_is_found(tmp_path):
    out = tmp_path / "g.wav"
    clip = SHARED / "real" / "guitar.mp4"
    assert main(["recover", str(clip), "--fps", "600", "-o", str(out), "--quiet"]) == 0
    assert 77.0 <= dominant_hz(out, 50, 250) <= 87.0
    assert soundfile.info(str(out)).samplerate == 600
