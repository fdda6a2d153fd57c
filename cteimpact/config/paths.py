"""Paths named inside configuration files: they stay inside the folder they are relative to."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from cteimpact.errors import SpecificationError

__all__ = ["resolve_inside"]


def resolve_inside(root: Path, relative: str, what: str) -> Path:
    """``root / relative`` for a path written in a specification, which must stay inside ``root``.

    A specification names its files relative to a folder the user chose (the data root, the specification's
    folder); an absolute path or one that climbs out with ``..`` is refused, so that a specification received from
    someone else cannot make cteimpact read files elsewhere. A path given explicitly on the command line is not
    subject to this rule.

    Raises
    ------
    SpecificationError
        ``relative`` is empty, absolute, or leaves ``root``.
    """
    text = str(relative)
    if not text.strip():
        raise SpecificationError(f"{what} is empty")
    posix = PurePosixPath(text.replace("\\", "/"))
    if posix.is_absolute() or Path(text).is_absolute() or (len(text) > 1 and text[1] == ":"):
        raise SpecificationError(
            f"{what} '{text}' is an absolute path; a specification names its files relative to {root.name or root} "
            "(pass an absolute path on the command line instead)")
    depth = 0
    for part in posix.parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            raise SpecificationError(
                f"{what} '{text}' leaves the folder it is relative to ('{root}'); a specification may only name "
                "files inside it (pass a path outside it explicitly on the command line)")
    return root / Path(*[p for p in posix.parts if p != "."])
