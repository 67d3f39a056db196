"""User-facing errors.

Anything the user can cause (a missing file, a bad option, a clip too small for the
pyramid) raises :class:`VmicError`. The command line prints its message as one line on
stderr and exits with status 2; it never shows a traceback for these.
"""


class VmicError(ValueError):
    """An error caused by the input or options, with a message meant for the user.

    A ``ValueError``, so code that calls vmic's functions from scripts can treat bad
    arguments the usual Python way.
    """
