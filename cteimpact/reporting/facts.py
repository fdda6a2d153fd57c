"""What the report templates are filled from: the typed records of a run, each outcome's estimates looked up by
label, the run's figures, and the small-cell rule for tables.

Nothing here computes a statistic: it finds records (the estimate labelled ``dropout[reduced_form]``, the fit
behind it, its checks), names outcomes for readers (``earnings_age19`` → "earnings at age 19", written in dollars)
and decides which figure and which table cell is shown.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from markupsafe import Markup

from cteimpact.data.roles import ROLES
from cteimpact.provenance.hashing import sha256_file
from cteimpact.provenance.suppression import small_cell_mask
from cteimpact.records import EstimateRow, Num, RDDetails, Results, RunRecords, Text
from cteimpact.records.did import DiDDetails, DiDExtra
from cteimpact.records.rd import HonestInterval, LocalRandomization, OutcomeDiagnostics, RDFit, SubgroupComparison
from cteimpact.reporting.markdown import Markdown, as_markdown, attributes, one_line, safe_text
from cteimpact.reporting.numbers import HIDDEN
from cteimpact.results.units import OutcomeKind, outcome_kind, role_of

__all__ = ["FIGURE_FOLDER", "Figures", "Outcome", "OutcomeKind", "other_outcomes", "outcomes_of", "report_figure_name",
           "slug", "suppress", "trusted"]

FIGURE_FOLDER = "figures"
"""Folder, beside the report source, that holds the copies of the run's figures the report shows."""

_ROLE_NAMES = {"dropout": "dropout", "graduation": "graduation", "earnings": "earnings", "employed": "employment",
               "pathway": "pathway participation", "award": "award", "concentrator": "CTE concentration",
               "pathway_completion": "pathway completion", "credential": "industry-recognised credential attainment",
               "postsecondary_enrollment": "postsecondary enrollment",
               "dual_enrollment_credits": "dual-enrollment credits"}

_INTERIM_KINDS: dict[str, OutcomeKind] = {"concentrator": "proportion", "pathway_completion": "proportion",
                                          "credential": "proportion", "postsecondary_enrollment": "proportion",
                                          "dual_enrollment_credits": "number"}
"""Units of the interim-outcome roles (a share of students; credits a count per student), used while the data
contract of an older cteimpact does not list the role."""

_INTERIM_COLUMNS = {"concentrator": "concentrator", "completer": "pathway_completion", "credential": "credential",
                    "postsecondary": "postsecondary_enrollment", "dual_credits": "dual_enrollment_credits"}
"""The synthetic data's usual column of each interim role (an unmapped column so named is read as that role)."""


def slug(*parts: Any) -> str:
    """Label-safe text: letters and digits joined by ``-`` (``"dropout[female=1]"`` → ``"dropout-female-1"``)."""
    text = "-".join(str(p) for p in parts if p is not None and str(p) != "")
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "x"


def trusted(value: Any) -> Markdown:
    """Markup a template produced (its own text, with every value it filled in escaped) as :class:`Markdown`;
    any other text is escaped."""
    if isinstance(value, Markup):
        return Markdown(str(value))
    return as_markdown(value)


# -- outcomes -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    """An outcome as a report writes it, and its estimates.

    Attributes
    ----------
    column
        The outcome's column (as recorded).
    name
        Reader's name (``dropout``, ``earnings at age 19``), with the column's path.
    kind
        ``proportion`` (effects in percentage points, levels in percent), ``money`` or ``number``.
    """

    column: Text
    name: Text
    kind: OutcomeKind
    currency: str
    results: Results = field(repr=False)
    role: str | None = None
    """The data-contract role the column fills (mapped, or read from its usual name), or None."""

    @property
    def interim(self) -> bool:
        """Whether the outcome is an interim outcome (pathway completion, credential, postsecondary enrollment,
        dual-enrollment credits): observed by the end of high school or soon after."""
        return self.role in _INTERIM_KINDS and self.role != "concentrator"

    @property
    def unit_text(self) -> str:
        """The outcome's unit in words (``share of students; effects in percentage points``)."""
        if self.kind == "proportion":
            return "share of students; effects in percentage points"
        if self.kind == "money":
            return "dollars per student"
        return "credits per student" if self.role == "dual_enrollment_credits" else "per student"

    @property
    def title(self) -> Text:
        return Text(self.name[:1].upper() + self.name[1:], self.name.path)

    @property
    def slug(self) -> str:
        return slug(self.column)

    def row(self, suffix: str = "") -> EstimateRow | None:
        """The estimate labelled with the outcome and ``suffix`` (``"reduced_form"`` → ``dropout[reduced_form]``)."""
        return self.results.estimate(f"{self.column}[{suffix}]" if suffix else str(self.column))

    # -- regression discontinuity
    @property
    def rd(self) -> RDDetails | None:
        return self.results.rd

    @property
    def fit(self) -> RDFit | None:
        return self.rd.fit_for(str(self.column)) if self.rd else None

    @property
    def jump(self) -> EstimateRow | None:
        """The jump in the outcome at the cutoff: the intention-to-treat effect of a fuzzy design, else the primary
        estimate."""
        return self.row("reduced_form") or self.row()

    @property
    def first_stage_f(self) -> Num | None:
        fit = self.fit
        stats = fit.fit if fit is not None else None
        return stats.first_stage.f_statistic if stats is not None and stats.first_stage is not None else None

    @property
    def diagnostics(self) -> OutcomeDiagnostics | None:
        return self.rd.diagnostics_for(str(self.column)) if self.rd else None

    @property
    def local_randomization(self) -> LocalRandomization | None:
        return self.rd.local_randomization.get(str(self.column)) if self.rd else None

    @property
    def honest(self) -> HonestInterval | None:
        """The outcome's bias-aware interval (None unless the run asked for it)."""
        return self.rd.honest.get(str(self.column)) if self.rd else None

    def fits(self, kind: str) -> list[tuple[RDFit, EstimateRow]]:
        """The outcome's subgroup (``kind="subgroup"``) or cutoff-specific fits with their estimate rows."""
        out = []
        for f in self.rd.fits_of(kind) if self.rd else []:
            row = self.results.estimate(str(f.label))
            if f.outcome == self.column and row is not None:
                out.append((f, row))
        return out

    @property
    def comparisons(self) -> list[SubgroupComparison]:
        return [c for c in (self.rd.subgroup_comparisons if self.rd else ()) if c.outcome == self.column]

    # -- difference-in-differences
    @property
    def did(self) -> DiDDetails | None:
        return self.results.did

    @property
    def extra(self) -> DiDExtra | None:
        design = self.results.design
        return design.extra if design is not None else None


def _role_of(column: str, spec: Mapping[str, Any]) -> str | None:
    data = spec.get("data")
    return role_of(column, data.get("columns") if isinstance(data, Mapping) else None)


def outcome(column: Text, records: RunRecords) -> Outcome:
    """How to name and write the outcome ``column``: the unit follows the role the column fills in the
    specification's column map (a binary role such as ``dropout`` is a proportion, ``earnings`` money); an unmapped
    column named like a role's usual column (``earnings_age19``) is treated as that role."""
    spec = records.manifest.specification
    mapped = _role_of(str(column), spec) or _INTERIM_COLUMNS.get(str(column))
    kind: OutcomeKind = (_INTERIM_KINDS[mapped] if mapped in _INTERIM_KINDS and mapped not in ROLES
                         else outcome_kind(str(column), mapped if mapped in ROLES else None))
    if mapped is not None and mapped in _ROLE_NAMES:
        name = _ROLE_NAMES[mapped]
    else:
        name = re.sub(r"_age_?(\d+)$", r" at age \1", str(column)).replace("_", " ")
    pricing = records.results.pricing
    return Outcome(column=column, name=Text(name, column.path), kind=kind,
                   currency=pricing.currency_symbol if pricing is not None else "$", results=records.results,
                   role=mapped)


def outcomes_of(records: RunRecords) -> list[Outcome]:
    """The design's outcomes, in the specification's order."""
    return [outcome(c, records) for c in records.results.outcomes]


def other_outcomes(records: RunRecords) -> list[Outcome]:
    """Outcomes a run estimates besides the design's: the long-run outcome a surrogate index projects
    (``earnings_age26``, whose projected label ``earnings_age26[surrogate]`` a contract may pay on), the surrogates
    and the outcome of the surrogacy check, and the outcomes of the equity analysis (effects and access), in that order,
    each once."""
    results = records.results
    seen = {str(c) for c in results.outcomes}
    columns: list[Text] = []
    surrogate = results.surrogate
    if surrogate is not None:
        columns += [c for c in (surrogate.outcome,) if c is not None]
        columns += list(surrogate.surrogates)
        columns += [c.outcome for c in surrogate.validation if c.outcome is not None]
    if results.equity is not None:
        columns += results.equity.outcomes
        access = results.equity.access
        columns += access.outcomes if access is not None else []
    out = []
    for c in columns:
        if str(c) not in seen:
            seen.add(str(c))
            out.append(outcome(c, records))
    return out


# -- figures --------------------------------------------------------------------------------------------------------

_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def report_figure_name(name: str) -> str:
    """The name under which the report's folder holds a copy of the run's figure ``name``: the name itself when it
    is letters, digits, ``.``, ``_`` and ``-``, else a slug of it with a short hash (so that the markdown never
    carries a file name that needs quoting, and two names never share a copy)."""
    if _PLAIN_NAME.fullmatch(name) and ".." not in name:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or not re.fullmatch(r"[A-Za-z0-9]{1,8}", suffix):
        stem, suffix = name, "bin"
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{slug(stem)[:60]}-{digest}.{suffix.lower()}"


@dataclass
class Figures:
    """The run figures a report shows: ``figure(name, ...)`` writes the markdown of one and remembers the copy to
    make (``copies``: report-relative path → the run's file). A figure whose bytes equal one already shown is not
    repeated (``label_of`` gives the label it is shown under)."""

    finder: Any
    """Gives the path of the run's ``figures/<name>`` or None (:meth:`RunContents.figure`)."""
    copies: dict[str, Path] = field(default_factory=dict)
    _by_hash: dict[str, str] = field(default_factory=dict)
    _labels: dict[str, str] = field(default_factory=dict)

    def exists(self, name: str) -> bool:
        return self.finder(str(name)) is not None

    def label_of(self, name: str) -> str | None:
        """The label under which the figure ``name`` (or one with the same bytes) is shown; None if not shown."""
        source = self.finder(str(name))
        return None if source is None else self._by_hash.get(sha256_file(source))

    def figure(self, name: str, caption: Any, label: str, width: str | None = "85%", alt: Any = None) -> Markdown:
        """The markdown of the run's ``figures/<name>`` as figure ``label`` (nothing when the run has no such
        figure or it is shown already)."""
        source = self.finder(str(name))
        if source is None:
            return Markdown("")
        digest = sha256_file(source)
        if digest in self._by_hash:
            return Markdown("")
        if not re.fullmatch(r"fig-[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*", label) or label in self._labels.values():
            raise ValueError(f"figure label {label!r} is not a new 'fig-…' label")
        target = f"{FIGURE_FOLDER}/{report_figure_name(str(name))}"
        self.copies[target] = source
        self._by_hash[digest] = label
        self._labels[target] = label
        plain_alt = one_line(safe_text(alt)).replace("{{", "{ {") if alt else None
        attr = attributes(label, width=width, fig_alt=plain_alt)
        caption_md = " ".join(trusted(caption).split())
        return Markdown(f"![{caption_md}]({target}){attr}")


# -- small cells ----------------------------------------------------------------------------------------------------

def suppress(rows: Sequence[Mapping[str, Any]], *, min_cell: Num | int, n: str, counts: Sequence[str] = (),
             values: Sequence[str] = (), by: str | None = None, complementary: bool = True,
             flag: str | None = None) -> list[dict[str, Any]]:
    """``rows`` with the cells the small-cell rule hides replaced by :data:`HIDDEN`.

    A row whose size (``n``) is below ``min_cell`` loses its ``values`` and size; each count in ``counts`` below
    ``min_cell`` is hidden with the row's values; with ``complementary``, the next smallest row of a group (``by``)
    is hidden too when a group would have exactly one hidden row (a total would reveal it). ``flag`` names a field
    that, when true, marks a row the run itself suppressed.
    """
    if not rows:
        return []
    limit = int(min_cell)
    sizes = np.array([np.nan if r.get(n) is None else float(r[n]) for r in rows], dtype=float)
    keys = [str(r.get(by)) if by else "" for r in rows]
    groups = [[i for i, k in enumerate(keys) if k == g] for g in dict.fromkeys(keys)]
    flagged = np.array([bool(r.get(flag)) for r in rows]) if flag else None
    small = small_cell_mask(sizes, min_cell=limit, groups=groups, complementary=complementary, hidden=flagged)
    out = []
    for i, r in enumerate(rows):
        row = dict(r)
        small_count = any(r.get(c) is not None and float(r[c]) < limit for c in counts)
        if small[i] or small_count:
            for c in values:
                row[c] = HIDDEN
            row[n] = HIDDEN
        for c in counts:
            if small[i] or (r.get(c) is not None and float(r[c]) < limit):
                row[c] = HIDDEN
        out.append(row)
    return out
