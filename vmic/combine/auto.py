"""``auto``, the default: ``local`` where it detects a common motion signal, else ``align``.

One pass over the clip serves both: the extraction keeps ``local``'s sums and, from the
same bands, ``align``'s whole-frame band sums (against ``align``'s own reference frame and
scales; a pyramid's first scales are the same whatever its number of scales). Where
:func:`vmic.combine.local_combine` detects no signal, the output is exactly what
``combine="align"`` returns with the same arguments, so that ``auto`` is never worse than
the original where neither holds more than noise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmic.combine.align import align_combine
from vmic.combine.local import LOCAL
from vmic.combine.registry import Combined, CombineMethod, default_tiles, register_method

if TYPE_CHECKING:
    from vmic.extraction import Extraction
    from vmic.ranges import RangeSums


class AutoMethod(CombineMethod):
    """``auto``: ``local``, falling back to ``align``'s output where nothing is detected.

    With ``units="px"`` there is no fallback (``align``'s output has no gain in px): the
    output is ``local``'s, whether detected or not.
    """

    def tiles(self, band_shapes: list[tuple[int, int]]) -> tuple[int, int]:
        return default_tiles(band_shapes)

    def combine(self, extraction: Extraction, sums: RangeSums, *,
                highpass_hz: float | None = None, units: str = "scaled") -> Combined:
        local = LOCAL.combine(extraction, sums, highpass_hz=highpass_hz, units=units)
        if local.details.get("detected") is not False or units == "px":
            local.details["fallback"] = False
            return local
        from vmic.extraction import check_reference

        check_reference(extraction.align_bands)
        fallback = align_combine(sums.align)
        # The extraction that made the output is align's; local's choice and test are kept.
        fallback.details = {**local.details, "fallback": True,
                            "scales": extraction.align_scales,
                            "reference_average": extraction.align_reference_average,
                            "tiles": (1, 1)}
        return fallback


AUTO = register_method(AutoMethod("auto", flow=True, align_sums=True, px_output=True))
