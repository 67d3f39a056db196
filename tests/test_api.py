"""The top-level API: a handful of names, imported lazily."""

import json
import pkgutil

from conftest import run_python

import vmic

PUBLIC = {"recover", "prepare_extraction", "extract_range", "recover_from_ranges", "Recovery",
          "RecoveryInfo", "open_clip", "Clip", "SteerablePyramid", "score", "VmicError",
          "read_wav", "write_wav", "track_motion", "clip_info"}


def test_all_holds_the_public_names_and_none_is_a_submodule():
    assert set(vmic.__all__) == PUBLIC
    submodules = {m.name for m in pkgutil.iter_modules(vmic.__path__)}
    assert not PUBLIC & submodules
    for name in PUBLIC:
        assert getattr(vmic, name) is not None


def test_import_vmic_is_light_and_recover_works_from_the_top():
    code = (
        "import sys, json, vmic\n"
        "heavy = [m for m in ('numba', 'scipy', 'torch', 'cv2', 'av', 'tqdm')\n"
        "         if m in sys.modules]\n"
        "import numpy as np\n"
        "from vmic import recover\n"
        "rng = np.random.default_rng(0)\n"
        "frames = rng.normal(100, 20, (40, 32, 32)).astype(np.float32)\n"
        "r = vmic.recover(frames, fps=1000.0, combine='align')\n"
        "same = recover is vmic.recover\n"
        "print(json.dumps({'heavy': heavy, 'n': int(r.audio.size), 'same': same}))\n"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out == {"heavy": [], "n": 40, "same": True}
