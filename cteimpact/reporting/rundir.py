"""Read a run directory (``cteimpact run`` / ``cteimpact verify`` output) for the reports.

A report shows the numbers of ``results.json`` and ``certificate.json`` and nothing else; this module reads them,
checks that the directory is a run of this version of cteimpact, and gives the report builders plain access to
estimates, fits, figures and the manifest.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cteimpact.errors import OptionError, RunDirectoryError
from cteimpact.pipeline.certificate import CERTIFICATE_SCHEMA
from cteimpact.records import RecordError, RunRecords

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_TEXT_LENGTH",
    "NotARunDirectoryError",
    "RunContents",
    "UnsafeRunDirectoryError",
    "load_run",
]

MAX_JSON_BYTES = 64 * 1024 * 1024
"""Largest ``results.json``, ``manifest.json`` or ``certificate.json`` a report reads (a run writes a few MB)."""
MAX_JSON_DEPTH = 64
"""Deepest nesting of objects and arrays a report reads (a run's records nest about a dozen levels)."""
MAX_TEXT_LENGTH = 100_000
"""Longest text (a key or a string value) a report reads from the run's records."""


class NotARunDirectoryError(RunDirectoryError, OptionError):
    """The directory given to the report is not a run directory written by ``cteimpact run`` (or was written by an
    incompatible version): ``results.json`` or ``manifest.json`` is missing, unreadable or of another schema."""


class UnsafeRunDirectoryError(NotARunDirectoryError):
    """The run directory holds something a report refuses to read or write through: a symbolic link (which could
    point outside the directory), a file that is not a regular file, or records too large or too deeply nested to
    be a run's. A run directory may come from someone else, so it is read as untrusted input."""


def regular_file(path: Path, root: Path, what: str) -> bool:
    """Whether ``path`` (inside the run directory ``root``) is a regular file; False when it does not exist.

    Raises
    ------
    UnsafeRunDirectoryError
        ``path`` is a symbolic link, or exists but is not a regular file.
    """
    if path.is_symlink():
        raise UnsafeRunDirectoryError(
            f"{what} in '{root}' is a symbolic link; a report reads only the run directory's own files and does not "
            "follow links (which could point outside it): replace the link by the file")
    if not path.exists():
        return False
    if not path.is_file():
        raise UnsafeRunDirectoryError(f"{what} in '{root}' is not a regular file")
    return True


def _where(path: str) -> str:
    """A location in the records for a message: at most 200 characters, non-printable ones as ``?``."""
    return "".join(c if c.isprintable() else "?" for c in path[:200]) or "the top"


def _check_shape(data: Any, what: str, root: Path) -> None:
    """Refuse records nested deeper than :data:`MAX_JSON_DEPTH` or holding texts longer than
    :data:`MAX_TEXT_LENGTH` (iteratively, so that no record can exhaust the stack)."""
    # each entry's location is a chain (parent's chain, key), spelled out only for a message
    stack: list[tuple[Any, int, Any]] = [(data, 1, None)]
    while stack:
        value, depth, chain = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise UnsafeRunDirectoryError(
                    f"{what} in '{root}' nests objects and arrays deeper than {MAX_JSON_DEPTH} levels (at "
                    f"{_where(_spelled(chain))}); a run's records nest about a dozen: refusing to read it")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and len(key) > MAX_TEXT_LENGTH:
                    raise UnsafeRunDirectoryError(
                        f"{what} in '{root}' has a key of {len(key):,} characters (at {_where(_spelled(chain))}; "
                        f"at most {MAX_TEXT_LENGTH:,}): refusing to read it")
                stack.append((item, depth + 1, (chain, key)))
        elif isinstance(value, str) and len(value) > MAX_TEXT_LENGTH:
            raise UnsafeRunDirectoryError(
                f"{what} in '{root}' holds a text of {len(value):,} characters at {_where(_spelled(chain))} (at most "
                f"{MAX_TEXT_LENGTH:,}): refusing to read it")


def _spelled(chain: Any) -> str:
    """The location ``(parent chain, key)`` as text: ``a.b[2].c``."""
    keys: list[Any] = []
    while chain is not None:
        chain, key = chain
        keys.append(key)
    where = ""
    for key in reversed(keys):
        step = f"{where}.{key}" if isinstance(key, str) else f"{where}[{key}]"
        where = step.lstrip(".")
    return where


def _read_json(path: Path, what: str, root: Path) -> dict[str, Any]:
    if not regular_file(path, root, what):
        raise NotARunDirectoryError(
            f"'{root}' is not a cteimpact run directory: {what} is missing (write one with "
            "'cteimpact run SPEC --out DIR')")
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise UnsafeRunDirectoryError(
            f"{what} in '{root}' has {size:,} bytes, more than the {MAX_JSON_BYTES:,} a report reads: refusing to "
            "read it")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise NotARunDirectoryError(f"{what} in '{root}' is not valid JSON ({exc}); re-create the run") from None
    except RecursionError:
        raise UnsafeRunDirectoryError(
            f"{what} in '{root}' nests objects and arrays too deeply to be read (more than {MAX_JSON_DEPTH} levels): "
            "refusing to read it") from None
    if not isinstance(data, dict):
        raise NotARunDirectoryError(f"{what} in '{root}' is not a JSON object; re-create the run")
    _check_shape(data, what, root)
    return data


_OTHER_FIGURE_FOLDERS = ("equity",)
"""Folders of a run besides ``figures`` whose figures a report shows (``equity/subgroups-<outcome>.png``)."""


@dataclass(frozen=True)
class RunContents:
    """The records of one run directory.

    Attributes
    ----------
    root
        The run directory.
    results
        ``results.json`` (schema ``cteimpact.run/1``).
    manifest
        ``manifest.json`` (schema ``cteimpact.manifest/1``); its ``report`` entry (written by ``cteimpact
        report``) is never shown in a report, so a report does not depend on how it was rendered before.
    certificate
        ``certificate.json`` (schema ``cteimpact.certificate/1``) when ``cteimpact verify`` has run, else None.
    """

    root: Path
    results: Mapping[str, Any]
    manifest: Mapping[str, Any]
    certificate: Mapping[str, Any] | None = None
    records: RunRecords | None = None
    """The three records, typed (:mod:`cteimpact.records`)."""

    # -- files -----------------------------------------------------------------------------------------------
    def _figure_folder(self, name: str = "figures") -> Path | None:
        folder = self.root / name
        if folder.is_symlink():
            raise UnsafeRunDirectoryError(
                f"{name} in '{self.root}' is a symbolic link; a report reads only the run directory's own files and "
                "does not follow links (which could point outside it)")
        return folder if folder.is_dir() else None

    def figure(self, name: str) -> Path | None:
        """``figures/<name>`` of the run, if the run wrote it (``equity/<name>``: a figure of the equity analysis,
        which the run writes beside its tables).

        ``name`` is a file name, never a path: a name with a separator, ``..``, a leading dot or a control character
        (as a hostile record could build from an outcome's name) is no figure of the run.

        Raises
        ------
        UnsafeRunDirectoryError
            ``figures`` or ``figures/<name>`` is a symbolic link, or not a regular file.
        """
        sub = "figures"
        for other in _OTHER_FIGURE_FOLDERS:
            if name.startswith(other + "/"):
                sub, name = other, name[len(other) + 1:]
        if not _plain_file_name(name):
            return None
        folder = self._figure_folder(sub)
        if folder is None:
            return None
        path = folder / name
        return path if regular_file(path, self.root, f"{sub}/{name}") else None

    @property
    def figure_names(self) -> list[str]:
        """The figures (PNG and SVG files) in the run's ``figures`` folder.

        Raises
        ------
        UnsafeRunDirectoryError
            The folder or one of its figures is a symbolic link.
        """
        folder = self._figure_folder()
        if folder is None:
            return []
        names = []
        for p in folder.iterdir():
            if p.suffix.lower() in (".png", ".svg") and _plain_file_name(p.name) \
                    and regular_file(p, self.root, f"figures/{p.name}"):
                names.append(p.name)
        return sorted(names)


def _plain_file_name(name: object) -> bool:
    """Whether ``name`` is a plain file name: one path component, no leading dot, no control character."""
    return (isinstance(name, str) and 0 < len(name) <= 255 and not name.startswith(".")
            and not any(c in name for c in "/\\") and not any(ord(c) < 32 or ord(c) == 127 for c in name))


def load_run(run_dir: str | os.PathLike[str]) -> RunContents:
    """Read the run directory ``run_dir``.

    Raises
    ------
    NotARunDirectoryError
        The directory does not exist, or ``results.json``/``manifest.json`` are missing, unreadable or of a schema
        this version does not read; or ``certificate.json`` exists but is not a certificate.
    """
    from cteimpact.pipeline.run_directory import open_run

    root = Path(run_dir)
    try:
        open_run(root, check_outputs=True)  # complete, not being written, of this version's schemas
    except RunDirectoryError as exc:
        # the report's reader names a link, a size or a nesting depth more precisely
        for name in ("results.json", "manifest.json"):
            if (root / name).exists() or (root / name).is_symlink():
                _read_json(root / name, name, root)
        raise NotARunDirectoryError(str(exc)) from None
    # read under the report's stricter limits (no links, nesting depth, text lengths)
    results = _read_json(root / "results.json", "results.json", root)
    manifest = _read_json(root / "manifest.json", "manifest.json", root)
    if not isinstance(results.get("design"), dict) or not results["design"].get("estimates"):
        raise NotARunDirectoryError(f"results.json in '{root}' holds no estimates; re-create the run")
    certificate = None
    if (root / "certificate.json").exists() or (root / "certificate.json").is_symlink():
        certificate = _read_json(root / "certificate.json", "certificate.json", root)
        if certificate.get("schema") != CERTIFICATE_SCHEMA:
            raise NotARunDirectoryError(
                f"certificate.json in '{root}' has schema {certificate.get('schema')!r}, not {CERTIFICATE_SCHEMA!r}; "
                "re-create it with 'cteimpact verify'")
    try:
        records = RunRecords.from_dicts(results, manifest, certificate)
    except RecordError as exc:
        raise RecordError(f"cannot report '{root}': {exc}", path=exc.path) from None
    return RunContents(root=root, results=results, manifest=manifest, certificate=certificate, records=records)
