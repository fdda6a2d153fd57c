"""Equity analysis for both designs: who benefits, and who takes part.

Subgroup effects
    :func:`rd_equity` (regression discontinuity, :class:`cteimpact.rd.RegressionDiscontinuity` with ``subgroups=``)
    and :func:`did_equity` (Callaway–Sant'Anna fit on each subgroup's student rows) give the effect at every level of
    each subgroup column (race/ethnicity, low income, English learner, special education, gender, grade at entry,
    or any categorical column), each level's difference from a reference level with a standard error that accounts
    for shared clusters, an omnibus Wald test of equal effects per column, and multiplicity-adjusted p-values
    (Holm or Benjamini–Hochberg, :mod:`cteimpact.equity.multiplicity`).

Access gaps
    :func:`access_gaps`: participation, concentration, completion and credential rates by subgroup, at baseline and
    after, with gaps against the reference level, their change, and cluster-robust standard errors.

Privacy
    Every estimate, rate or count describing fewer than ``min_cell`` students is suppressed with a stated reason
    (complementary suppression included); a group named by the user that does not exist is a
    :class:`UnknownGroupError`.

Pipeline
    :class:`EquitySpec` (the ``[equity]`` section) and :func:`run_equity`.
"""

from cteimpact.equity.access import AccessGaps, access_gaps
from cteimpact.equity.analysis import did_equity, rd_equity
from cteimpact.equity.contrasts import EqualityTest, LevelEffects
from cteimpact.equity.errors import UnknownGroupError
from cteimpact.equity.groups import SubgroupColumn, require_group, subgroup_column, subgroup_columns
from cteimpact.equity.multiplicity import adjust_pvalues, bh_adjust
from cteimpact.equity.results import EquityResults
from cteimpact.equity.run import EquityRun, run_equity
from cteimpact.equity.spec import EquitySpec

__all__ = [
    "AccessGaps",
    "EqualityTest",
    "EquityResults",
    "EquityRun",
    "EquitySpec",
    "LevelEffects",
    "SubgroupColumn",
    "UnknownGroupError",
    "access_gaps",
    "adjust_pvalues",
    "bh_adjust",
    "did_equity",
    "rd_equity",
    "require_group",
    "run_equity",
    "subgroup_column",
    "subgroup_columns",
]
