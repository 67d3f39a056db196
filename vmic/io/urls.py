"""Videos at a URL, read through fsspec (``s3://``, ``gs://``, ``https://``, ``file://`` ...).

A cluster's workers often read footage from object storage rather than a shared disk. A
video at a URL is opened through fsspec as a seekable file that PyAV reads; its sidecar is
looked for beside it. Camera files, TIFF stacks, ``.npy`` stacks and image folders are read
from local paths only (their readers map the file into memory).
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from vmic.errors import VmicError

__all__ = ["is_url", "RemotePath", "LOCAL_ONLY_SUFFIXES"]

LOCAL_ONLY_SUFFIXES = (".npy", ".cih", ".cihx", ".mraw", ".cine", ".tif", ".tiff", ".png")
"""Suffixes whose readers need a local path (a memory map, or a folder)."""

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(source) -> bool:
    """Whether ``source`` is a URL string (``scheme://...``) rather than a local path."""
    return isinstance(source, str) and bool(_SCHEME.match(source))


class RemotePath:
    """A video's URL, with what vmic asks of a path: ``name``, ``suffix``, ``with_suffix``.

    Parameters
    ----------
    url : str
        An fsspec URL.

    Raises
    ------
    VmicError
        fsspec missing, a suffix read from local paths only, or no such file.
    """

    def __init__(self, url: str):
        self.url = url
        parts = urlsplit(url)
        self._path = PurePosixPath(parts.path or "/")
        self.name = self._path.name
        self.suffix = self._path.suffix
        if self.suffix.lower() in LOCAL_ONLY_SUFFIXES or not self.suffix:
            raise VmicError(f"{url}: only videos are read from a URL; copy camera files, "
                            "TIFF stacks, .npy stacks and image folders to a local path")

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"RemotePath({self.url!r})"

    def with_suffix(self, suffix: str) -> RemotePath:
        head = self.url[: len(self.url) - len(self.suffix)]
        out = object.__new__(RemotePath)
        out.url, out._path = head + suffix, self._path.with_suffix(suffix)
        out.name, out.suffix = out._path.name, suffix
        return out

    def _filesystem(self):
        try:
            import fsspec
        except ImportError:
            raise VmicError(f"{self.url}: reading a URL needs fsspec "
                            '(pip install "vmic[dask]" or fsspec)') from None
        try:
            return fsspec.core.url_to_fs(self.url)
        except (ImportError, ValueError) as exc:  # an unknown protocol, or its package
            raise VmicError(f"{self.url}: {exc}") from None

    def exists(self) -> bool:
        fs, path = self._filesystem()
        return bool(fs.exists(path))

    def open_binary(self):
        """A seekable binary file object of the URL's bytes (closed by the caller)."""
        fs, path = self._filesystem()
        try:
            return fs.open(path, "rb")
        except (OSError, ValueError) as exc:
            raise VmicError(f"cannot open {self.url}: {exc}") from None

    def read_json(self) -> dict | None:
        """The JSON object in the file at this URL, or None where there is none."""
        if not self.exists():
            return None
        with self.open_binary() as handle:
            try:
                data = json.load(handle)
            except ValueError as exc:
                raise VmicError(f"{self.url}: not a JSON sidecar ({exc})") from None
        if not isinstance(data, dict):
            raise VmicError(f"{self.url}: a sidecar must hold a JSON object")
        return data
