"""Render the shipped sample clips into this folder (run from anywhere; needs ../shared for the
melody sample). The commands are those of samples/README.md, defined in vmic/synth/samples.py.

    python samples/make_samples.py [NAME ...]
"""

import os
import shlex
import sys
from pathlib import Path

from vmic.cli import main
from vmic.synth.samples import SAMPLES, sample_args

ROOT = Path(__file__).resolve().parents[1]


def make(names: list[str]) -> int:
    os.chdir(ROOT)  # relative paths in the commands: samples/..., ../shared/...
    for name in names:
        argv = ["synth", *sample_args(name, "samples", shared="../shared"), "--quiet"]
        print("vmic " + shlex.join(argv[:-1]), flush=True)
        status = main(argv)
        if status:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(make(sys.argv[1:] or list(SAMPLES)))
