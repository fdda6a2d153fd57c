"""Read a run directory (``cteimpact run`` / ``cteimpact verify`` output) for the reports.

A report shows the numbers of ``results.json`` and ``certificate.json`` and nothing else; this module reads them,
checks that the directory is a run of this version of cteimpact, and gives the report builders plain access to
estimates, fits, figures and the manifest.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any

from cteimpact.errors import OptionError, RunDirectoryError
from cteimpact.pipeline.certificate import CERTIFICATE_SCHEMA

__all__ = ["NotARunDirectoryError", "RunContents", "load_run"]


class NotARunDirectoryError(RunDirectoryError, OptionError):
    """The directory given to the report is not a run directory written by ``cteimpact run`` (or was written by an
    incompatible version): ``results.json`` or ``manifest.json`` is missing, unreadable or of another schema."""


def _read_json(path: Path, what: str, root: Path) -> dict[str, Any]:
    if not path.is_file():
        raise NotARunDirectoryError(
            f"'{root}' is not a cteimpact run directory: {what} is missing (write one with "
            "'cteimpact run SPEC --out DIR')")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise NotARunDirectoryError(f"{what} in '{root}' is not valid JSON ({exc}); re-create the run") from None
    if not isinstance(data, dict):
        raise NotARunDirectoryError(f"{what} in '{root}' is not a JSON object; re-create the run")
    return data


def finite(x: Any) -> float | None:
    """``x`` as a finite float, or None (JSON null, NaN, text)."""
    if isinstance(x, bool) or not isinstance(x, Real):
        return None
    v = float(x)
    return v if math.isfinite(v) else None


@dataclass(frozen=True)
class RunContents:
    """The records of one run directory.

    Attributes
    ----------
    root
        The run directory.
    results
        ``results.json`` (schema ``cteimpact.run/1``).
    manifest
        ``manifest.json`` (schema ``cteimpact.manifest/1``); its ``report`` entry (written by ``cteimpact
        report``) is never shown in a report, so a report does not depend on how it was rendered before.
    certificate
        ``certificate.json`` (schema ``cteimpact.certificate/1``) when ``cteimpact verify`` has run, else None.
    """

    root: Path
    results: Mapping[str, Any]
    manifest: Mapping[str, Any]
    certificate: Mapping[str, Any] | None = None
    _estimates: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for e in self.design.get("estimates", []) or []:
            if isinstance(e, dict) and "label" in e:
                self._estimates.setdefault(str(e["label"]), e)

    # -- top-level records -----------------------------------------------------------------------------------
    @property
    def study(self) -> Mapping[str, Any]:
        return self.results.get("study") or {}

    @property
    def design(self) -> Mapping[str, Any]:
        return self.results.get("design") or {}

    @property
    def design_type(self) -> str:
        return str(self.design.get("type") or self.design.get("design") or "")

    @property
    def details(self) -> Mapping[str, Any]:
        return self.design.get("details") or {}

    @property
    def extra(self) -> Mapping[str, Any]:
        return self.design.get("extra") or {}

    @property
    def options(self) -> Mapping[str, Any]:
        return self.design.get("options") or {}

    @property
    def pricing(self) -> Mapping[str, Any] | None:
        p = self.results.get("pricing")
        return p if isinstance(p, Mapping) else None

    @property
    def spec(self) -> Mapping[str, Any]:
        """The fully resolved specification recorded in the manifest."""
        return self.manifest.get("specification") or {}

    @property
    def min_cell(self) -> int:
        """Smallest cell size a table may show (``results.json`` ``privacy.min_cell``; default 10)."""
        value = (self.results.get("privacy") or {}).get("min_cell")
        return int(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else 10

    @property
    def privacy_rule(self) -> str:
        return str((self.results.get("privacy") or {}).get("rule") or "")

    # -- estimates -------------------------------------------------------------------------------------------
    @property
    def estimates(self) -> list[dict[str, Any]]:
        return [e for e in self.design.get("estimates", []) or [] if isinstance(e, dict)]

    def estimate(self, label: str) -> dict[str, Any] | None:
        """The estimate row labelled ``label`` (None when the run has none)."""
        return self._estimates.get(label)

    def estimate_index(self, label: str) -> int | None:
        """Position of the row labelled ``label`` in ``design.estimates`` (paths of the re-computation table)."""
        for i, e in enumerate(self.estimates):
            if e.get("label") == label:
                return i
        return None

    @property
    def outcomes(self) -> list[str]:
        """The design's outcomes, in the specification's order."""
        found = self.details.get("outcomes") or self.options.get("outcomes")
        if isinstance(found, list) and found:
            return [str(o) for o in found]
        outcome = self.options.get("outcome")
        if isinstance(outcome, str):
            return [outcome]
        return list(dict.fromkeys(str(e.get("outcome")) for e in self.estimates if e.get("outcome")))

    @property
    def headline_label(self) -> str | None:
        """The label of the headline estimate: the primary estimate of the first outcome."""
        for outcome in self.outcomes:
            if outcome in self._estimates:
                return outcome
        return self.estimates[0]["label"] if self.estimates else None

    @property
    def level(self) -> float:
        """Confidence level of the intervals (0.95 unless the estimates say otherwise)."""
        label = self.headline_label
        row = self.estimate(label) if label else None
        value = finite(row.get("ci_level")) if row else None
        return value if value is not None and 0 < value < 1 else 0.95

    # -- files -----------------------------------------------------------------------------------------------
    def figure(self, name: str) -> Path | None:
        """``figures/<name>`` of the run, if the run wrote it."""
        path = self.root / "figures" / name
        return path if path.is_file() else None

    @property
    def figure_names(self) -> list[str]:
        folder = self.root / "figures"
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".png", ".svg"))


def load_run(run_dir: str | os.PathLike[str]) -> RunContents:
    """Read the run directory ``run_dir``.

    Raises
    ------
    NotARunDirectoryError
        The directory does not exist, or ``results.json``/``manifest.json`` are missing, unreadable or of a schema
        this version does not read; or ``certificate.json`` exists but is not a certificate.
    """
    from cteimpact.pipeline.run_directory import open_run

    root = Path(run_dir)
    try:
        opened = open_run(root, check_outputs=True)
    except RunDirectoryError as exc:
        raise NotARunDirectoryError(str(exc)) from None
    results, manifest = opened.results, opened.manifest
    if not isinstance(results.get("design"), dict) or not results["design"].get("estimates"):
        raise NotARunDirectoryError(f"results.json in '{root}' holds no estimates; re-create the run")
    certificate = None
    if (root / "certificate.json").exists():
        certificate = _read_json(root / "certificate.json", "certificate.json", root)
        if certificate.get("schema") != CERTIFICATE_SCHEMA:
            raise NotARunDirectoryError(
                f"certificate.json in '{root}' has schema {certificate.get('schema')!r}, not {CERTIFICATE_SCHEMA!r}; "
                "re-create it with 'cteimpact verify'")
    return RunContents(root=root, results=results, manifest=manifest, certificate=certificate)
