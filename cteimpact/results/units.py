"""The unit an outcome's effects are written in, from the role its column fills.

A binary role (``dropout``, ``graduation``...) is a proportion: effects in percentage points, levels in percent;
``earnings`` is money; anything else a plain number. A column the specification does not map to a role but that is
named like a role's usual column (``earnings_age19``, ``graduated``) is treated as that role. The pipeline records
the headline's unit with this rule and the reports name every outcome with it, so the console, the reports and the
certificate write the same value the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from cteimpact.data.roles import ROLES

__all__ = ["OutcomeKind", "currency_symbol", "outcome_kind", "role_of"]

OutcomeKind = Literal["proportion", "money", "number"]

_PREFIXES = (("earnings", "earnings"), ("employed", "employed"), ("dropout", "dropout"), ("graduat", "graduation"),
             ("pathway", "pathway"))


def role_of(column: str, columns: Mapping[str, Any] | None) -> str | None:
    """The role the column map gives ``column`` (``{"dropout": "dropout_4yr"}`` → ``"dropout"``), or None."""
    if not isinstance(columns, Mapping):
        return None
    return next((str(role) for role, col in columns.items() if col == column), None)


def outcome_kind(column: str, role: str | None = None) -> OutcomeKind:
    """``proportion``, ``money`` or ``number`` for outcome ``column`` mapped to ``role`` (None: unmapped)."""
    if role is None:
        stem = column.lower()
        role = next((r for prefix, r in _PREFIXES if stem.startswith(prefix)), None)
    if role is not None and role in ROLES and ROLES[role].kind == "binary":
        return "proportion"
    return "money" if role == "earnings" else "number"


def currency_symbol(code: str | None) -> str:
    """The symbol money is written with: ``$`` for ``USD`` (the default), ``£``, ``€``; else the code and a space."""
    code = str(code or "USD")
    return {"USD": "$", "GBP": "£", "EUR": "€"}.get(code, code + " ")
