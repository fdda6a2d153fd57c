"""Load the RD reference packages now, as the adapters load them (:func:`~cteimpact.rd.adapters._capture.
import_quietly`: the caller's warning filters kept, their plotting modules deferred).

Imported by processes that start many fits later: the fork server of ``cteimpact demo`` imports it once, so that
every worker forked from it starts with the packages loaded instead of each loading them at its first fit.
"""

from __future__ import annotations

from cteimpact.rd.adapters._capture import import_quietly

PACKAGES: tuple[str, ...] = ("rdrobust", "rddensity", "rdhonest", "rdpower")
"""The reference packages the shipped RD studies call."""

for _package in PACKAGES:
    import_quietly(_package)
