"""Estimate rows (``results.json`` ``design.estimates``): one row per labelled estimate of a run, and the headline
estimate (as recorded, and as re-computed by the verifier) that share its fields."""

from __future__ import annotations

from dataclasses import dataclass

from cteimpact.records._base import Num, Record, Text

__all__ = ["EstimateRow", "Headline", "LabelledEstimate"]


@dataclass(frozen=True)
class LabelledEstimate(Record):
    """The fields every labelled estimate carries: the value, its standard error, test and interval.

    Base of :class:`EstimateRow`, :class:`Headline` and the certificate's re-computed headline rows.
    """

    label: Text
    estimate: Num | None = None
    std_error: Num | None = None
    p_value: Num | None = None
    ci_lower: Num | None = None
    ci_upper: Num | None = None
    ci_level: Num | None = None
    ci_type: Text | None = None
    """``robust_bias_corrected``, ``wild_cluster_bootstrap``, ``simultaneous``, ``pointwise``..."""
    n_effective: Num | None = None

    @property
    def interval_includes_zero(self) -> bool | None:
        """Whether the interval contains zero (None without an interval)."""
        if self.ci_lower is None or self.ci_upper is None:
            return None
        return self.ci_lower <= 0 <= self.ci_upper


@dataclass(frozen=True)
class EstimateRow(LabelledEstimate):
    """One estimate: the value, its standard error and interval, and what it describes.

    ``label`` names it: the outcome for the primary estimate (``dropout``), with a suffix for the others
    (``dropout[reduced_form]``, ``dropout[female=1]``, ``earnings_age19[event=2]``).
    """

    outcome: Text | None = None
    term: Text | None = None
    """What the estimate means, in words."""
    statistic: Num | None = None
    suppressed: bool = False
    suppression: Text | None = None

    @property
    def suffix(self) -> str:
        """The part of the label in brackets (``reduced_form`` for ``dropout[reduced_form]``), or ``""``."""
        _, _, rest = str(self.label).partition("[")
        return rest[:-1] if rest.endswith("]") else ""


@dataclass(frozen=True)
class Headline(LabelledEstimate):
    """``headline``: the one estimate of a run every output shows, named once.

    ``estimate`` is the centre of its sampling distribution and interval (for RD the bias-corrected estimate, see
    ``estimate_basis``); ``point_estimate`` is the estimate row's value; ``source`` the row's path.
    """

    name: Text | None = None
    outcome: Text | None = None
    unit: Text | None = None
    estimate_basis: Text | None = None
    point_estimate: Num | None = None
    suppressed: bool = False
    priced_as: tuple[Text, ...] = ()
    source: Text | None = None
