"""The ``[equity]`` section of an analysis specification: :class:`EquitySpec`.

Example::

    [equity]
    subgroups = ["race_ethnicity", "low_income", "english_learner", "special_ed", "female", "grade_at_entry"]
    outcomes = ["dropout"]                       # default: the design's outcomes
    access = ["pathway", "concentrator", "completer", "credential"]
    baseline = "cohort < award_year"             # restriction language (cteimpact.data.restriction_language)
    after = "cohort >= award_year"
    multiplicity = "holm"                        # or "bh"

    [equity.reference]
    race_ethnicity = "White"
    grade_at_entry = 9

Unknown keys are refused in one line naming the key, as everywhere in a specification.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from cteimpact.config.restriction_text import RestrictionText
from cteimpact.config.toml import ConfigModel

__all__ = ["EquitySpec"]


def _unique(values: list[str]) -> list[str]:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"repeated: {', '.join(repeated)}")
    return values


Restriction = RestrictionText


class EquitySpec(ConfigModel, BaseModel):
    """``[equity]``: subgroup effects, difference tests, multiplicity control and access gaps."""

    subgroups: Annotated[list[str], Field(min_length=1), AfterValidator(_unique)]
    """Subgroup columns (any categorical or binary column of the data)."""
    outcomes: Annotated[list[str], Field(min_length=1), AfterValidator(_unique)] | None = None
    """Outcomes whose subgroup effects are estimated (default: the design's outcomes; DiD: its one outcome)."""
    access: Annotated[list[str], AfterValidator(_unique)] = []
    """0/1 participation outcomes for the access gaps (``pathway``, ``concentrator``, ``completer``,
    ``credential``); empty: no access gaps."""
    baseline: Restriction | None = None
    """Rows of the baseline period of the access gaps (cohorts before the program)."""
    after: Restriction | None = None
    """Rows of the period after; with ``baseline`` the change of each gap is reported."""
    multiplicity: Literal["holm", "bh"] = "holm"
    """Adjustment of the p-values within each family of tests: Holm (family-wise error rate) or Benjamini-Hochberg
    (false discovery rate)."""
    reference: dict[str, int | str] = {}
    """Reference level by subgroup column (default: 0 of a 0/1 column, else the level with the most students)."""

    @model_validator(mode="after")
    def _v_reference(self) -> EquitySpec:
        stray = [c for c in self.reference if c not in self.subgroups]
        if stray:
            raise ValueError(f"reference names column(s) {', '.join(stray)} that are not among the subgroups "
                             f"({', '.join(self.subgroups)})")
        if (self.baseline is not None or self.after is not None) and not self.access:
            raise ValueError("'baseline' and 'after' define the periods of the access gaps: give 'access' too")
        return self

    def periods(self) -> dict[str, str] | None:
        """Period name → restriction (``None``: one period of every row)."""
        out = {name: expr for name, expr in (("baseline", self.baseline), ("after", self.after)) if expr is not None}
        return out or None

    def columns_used(self) -> list[str]:
        """Columns the equity analysis reads besides the design's (to load them)."""
        return list(dict.fromkeys([*self.subgroups, *self.access]))
