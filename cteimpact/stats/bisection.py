"""Bisection for the boundary of a condition that holds on one side of a point and not on the other."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["bisect_boundary"]


def bisect_boundary(holds: Callable[[float], bool], outside: float, inside: float, *, steps: int,
                    tol: Callable[[float], float] | None = None) -> float:
    """The point nearest ``outside`` where ``holds`` is still true, between ``outside`` (false) and ``inside``
    (true), in either order on the line.

    Halves the bracket ``steps`` times at most, stopping early when its width is within ``tol(inside)``; returns
    the end where the condition holds.
    """
    for _ in range(steps):
        mid = 0.5 * (outside + inside)
        if holds(mid):
            inside = mid
        else:
            outside = mid
        if tol is not None and abs(inside - outside) <= tol(inside):
            break
    return inside
