"""Reading weights files: tensors and numbers only, never code.

Both learned models save a dict of tensors and plain values with :func:`torch.save` (a zip
archive). :func:`load_state` reads one back with ``torch.load(..., weights_only=True)``, which
refuses anything but tensors, containers and numbers, so loading a file never runs code
from it. A file that is not such an archive (a text file, an old pickle, an empty file) is
refused up front with one clear line instead of torch's own messages, and torch's warnings
about the file's format stay inside: the refusal says everything the user needs.
"""

from __future__ import annotations

import os
import pickle
import warnings
import zipfile
from pathlib import Path

from vmic.errors import VmicError

__all__ = ["load_state"]


def load_state(path: str | os.PathLike, *, what: str) -> dict:
    """The dict saved in the weights file ``path``, on the CPU.

    Parameters
    ----------
    path : path-like
        A file written by ``vmic train`` or the loudness model's training.
    what : str
        How messages name the file ("model", "loudness weights").

    Returns
    -------
    dict
        Tensors and plain values.

    Raises
    ------
    VmicError
        Missing file, not a torch weights archive, or one that holds anything but tensors,
        containers and numbers.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise VmicError(f"{what} file not found: {path}")
    expected = "expected a weights file saved by vmic (a torch zip archive)"
    if not zipfile.is_zipfile(path):
        raise VmicError(f"{what} {path} is not a weights file: {expected}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise VmicError(f"{what} {path} holds objects other than tensors and numbers, which "
                        f"vmic does not load ({expected})") from None
    except Exception as exc:  # torch raises many kinds for a damaged archive
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise VmicError(f"cannot load {what} {path}: {first}") from None
    if not isinstance(state, dict):
        raise VmicError(f"{what} {path} does not hold a dict of weights ({expected})")
    return state
