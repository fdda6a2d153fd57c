"""Student-data contract: column roles, loading, validation and the sample-flow record."""

from cteimpact.data.columns import ColumnMap
from cteimpact.data.io import read_columns, read_table
from cteimpact.data.restrictions import apply_restrictions, evaluate_restriction
from cteimpact.data.roles import ROLES, RoleSpec, roles_in_group
from cteimpact.data.sample_flow import FlowStep, SampleFlow
from cteimpact.data.student_data import StudentData, load_student_data
from cteimpact.data.validation import ValidationPolicy, coerce_kind, coerce_role, validate_frame

__all__ = [
    "ROLES",
    "ColumnMap",
    "FlowStep",
    "RoleSpec",
    "SampleFlow",
    "StudentData",
    "ValidationPolicy",
    "apply_restrictions",
    "coerce_kind",
    "coerce_role",
    "evaluate_restriction",
    "load_student_data",
    "read_columns",
    "read_table",
    "roles_in_group",
    "validate_frame",
]
