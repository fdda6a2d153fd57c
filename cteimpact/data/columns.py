"""Mapping from contract roles to the user's column names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from cteimpact.data.roles import ROLES
from cteimpact.errors import OptionError, SpecificationError

__all__ = ["ColumnMap"]


class ColumnMap(Mapping[str, str]):
    """Which column of the user's data fills which role of the student-data contract.

    Parameters
    ----------
    mapping
        ``{role: column}``. Roles are the names in :data:`cteimpact.data.roles.ROLES`; a role that is not mapped is
        simply absent from the data. Two roles cannot share a column.

    Raises
    ------
    SpecificationError
        An unknown role (with the closest known role suggested), an empty column name, or a column used twice.

    Examples
    --------
    >>> cmap = ColumnMap({"student_id": "sid", "dropout": "drop_4yr"})
    >>> cmap["dropout"]
    'drop_4yr'
    """

    __slots__ = ("_map",)

    def __init__(self, mapping: Mapping[str, str] | None = None, /, **roles: str) -> None:
        merged: dict[str, str] = dict(mapping or {})
        merged.update(roles)
        for role, column in merged.items():
            if not isinstance(role, str):
                raise SpecificationError(
                    f"column role names must be text, got {role!r}; known roles: {', '.join(ROLES)}"
                )
            if role not in ROLES:
                close = difflib.get_close_matches(role, list(ROLES), n=1, cutoff=0.5)
                hint = f"; did you mean '{close[0]}'?" if close else f"; known roles: {', '.join(ROLES)}"
                raise SpecificationError(f"unknown column role '{role}'{hint}")
            if not isinstance(column, str) or not column.strip():
                raise SpecificationError(f"column role '{role}' must name a column, got {column!r}")
        seen: dict[str, str] = {}
        for role, column in merged.items():
            if column in seen:
                raise SpecificationError(
                    f"column '{column}' is mapped to two roles, '{seen[column]}' and '{role}'"
                )
            seen[column] = role
        # contract order, so that the map prints and hashes the same whatever order it was given in
        self._map = {r: merged[r] for r in ROLES if r in merged}

    def __getitem__(self, role: str) -> str:
        try:
            return self._map[role]
        except KeyError:
            if role not in ROLES:
                raise OptionError(f"unknown column role '{role}'") from None
            raise OptionError(
                f"role '{role}' is not mapped to a column; add it to the column mapping"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    # ``Mapping`` implements ``in`` and ``get`` by catching KeyError from ``__getitem__``, which raises OptionError
    # here; without these, ``"year" in cmap`` would raise instead of returning False for an unmapped role.
    def __contains__(self, role: object) -> bool:
        return role in self._map

    def get(self, role: str, default: Any = None) -> Any:
        """The column of ``role``, or ``default`` when the role is not mapped."""
        return self._map.get(role, default)

    def __len__(self) -> int:
        return len(self._map)

    def __repr__(self) -> str:
        return f"ColumnMap({self._map!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ColumnMap) and self._map == other._map

    def __hash__(self) -> int:
        return hash(tuple(self._map.items()))

    def role_of(self, column: str) -> str | None:
        """The role a column fills, or ``None``."""
        for role, col in self._map.items():
            if col == column:
                return role
        return None

    def columns(self, roles: Iterable[str] | None = None) -> list[str]:
        """Column names of ``roles`` (all mapped roles by default)."""
        return [self[r] for r in (self._map if roles is None else roles)]

    def to_dict(self) -> dict[str, Any]:
        """``{role: column}`` in contract order."""
        return dict(self._map)
