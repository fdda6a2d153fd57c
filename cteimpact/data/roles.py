"""The student-data contract: the roles a column can play and what each role requires of its values.

An evaluation data set holds student-level longitudinal records. cteimpact never hard-codes column names: the user
maps each role below to a column of their data with a :class:`~cteimpact.data.columns.ColumnMap`. The role decides
what a valid value is.

Value kinds
-----------
``identifier``
    Any hashable value; never written to an output (student identifiers), or used as a cluster (school, district,
    consortium).
``year``
    A whole number within the policy's year range (default 1970–2040).
``grade``
    A whole number from 0 to 13 (13 = a fifth year of high school).
``age``
    A whole number from 10 to 80.
``binary``
    0 or 1 (booleans are accepted); missing values allowed unless the role is required by the analysis.
``category``
    Any value; compared as text.
``numeric``
    A real number.
``nonnegative``
    A real number that is not negative (earnings, weights).
``first_treated``
    The year a unit was first treated; 0 or missing means never treated.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

__all__ = ["ROLES", "RoleSpec", "ValueKind", "roles_in_group"]

ValueKind = Literal[
    "identifier", "year", "grade", "age", "binary", "category", "numeric", "nonnegative", "first_treated"
]
RoleGroup = Literal["identity", "time", "demographic", "participation", "outcome", "rd", "did", "design"]


@dataclass(frozen=True, slots=True)
class RoleSpec:
    """What a role means and which values it accepts."""

    name: str
    kind: ValueKind
    group: RoleGroup
    description: str
    personal_identifier: bool = False


_ROLE_LIST: tuple[RoleSpec, ...] = (
    RoleSpec("student_id", "identifier", "identity", "Student identifier (never written to any output).", True),
    RoleSpec("school", "identifier", "identity", "High school attended (a cluster)."),
    RoleSpec("district", "identifier", "identity", "School district (the unit of staggered pathway launches)."),
    RoleSpec("consortium", "identifier", "identity",
             "Grant consortium of districts and schools (the usual cluster; the unit of grant awards)."),
    RoleSpec("cohort", "year", "time", "Cohort: the year the student entered 9th grade."),
    RoleSpec("year", "year", "time", "Year of the record (school year or calendar year of wage records)."),
    RoleSpec("grade", "grade", "time", "Grade level in the year of the record."),
    RoleSpec("age", "age", "time", "Age in the year of the record (wage records)."),
    RoleSpec("female", "binary", "demographic", "1 if the student is female."),
    RoleSpec("race_ethnicity", "category", "demographic", "Race/ethnicity category."),
    RoleSpec("low_income", "binary", "demographic",
             "1 if socio-economically disadvantaged (free/reduced-price meals)."),
    RoleSpec("english_learner", "binary", "demographic", "1 if an English learner."),
    RoleSpec("special_education", "binary", "demographic", "1 if the student has an individualised education program."),
    RoleSpec("prior_achievement", "numeric", "demographic", "Prior (8th-grade) achievement, standardised score."),
    RoleSpec("grade_at_entry", "grade", "demographic",
             "Grade in which the student entered the district's high school (pre-treatment; later entrants have "
             "less exposure to a pathway)."),
    RoleSpec("pathway", "binary", "participation", "1 if the student participated in a CTE pathway."),
    RoleSpec("concentrator", "binary", "participation",
             "1 if a CTE concentrator (Perkins V: at least two courses in a single program of study)."),
    RoleSpec("dropout", "binary", "outcome", "1 if the student dropped out (four-year cohort definition)."),
    RoleSpec("graduation", "binary", "outcome", "1 if the student graduated within four years."),
    RoleSpec("earnings", "nonnegative", "outcome", "Annual earnings from wage records (0 when no covered earnings)."),
    RoleSpec("employed", "binary", "outcome", "1 if any covered employment in the year."),
    RoleSpec("pathway_completion", "binary", "outcome",
             "1 if the student completed the pathway's course sequence (an interim outcome)."),
    RoleSpec("credential", "binary", "outcome",
             "1 if the student earned an industry-recognised credential in high school (an interim outcome)."),
    RoleSpec("postsecondary_enrollment", "binary", "outcome",
             "1 if enrolled in postsecondary education within a year of expected high-school graduation."),
    RoleSpec("dual_enrollment_credits", "nonnegative", "outcome",
             "College credits earned through dual enrollment in high school."),
    RoleSpec("score", "numeric", "rd",
             "Assignment score (grant rubric score or admission score): the running variable."),
    RoleSpec("cutoff", "numeric", "rd", "The cutoff that applies to the unit (for multi-cutoff designs)."),
    RoleSpec("award", "binary", "rd", "1 if the unit was awarded (grant funded or admitted)."),
    RoleSpec("first_treated", "first_treated", "did",
             "First year the unit (district or consortium) was treated (pathway launched); 0 or missing = never."),
    RoleSpec("weight", "nonnegative", "design", "Sampling weight."),
)

ROLES: MappingProxyType[str, RoleSpec] = MappingProxyType({r.name: r for r in _ROLE_LIST})
"""Every role of the student-data contract, by name."""


def roles_in_group(group: RoleGroup) -> tuple[str, ...]:
    """Names of the roles in ``group``, in contract order."""
    return tuple(r.name for r in _ROLE_LIST if r.group == group)
