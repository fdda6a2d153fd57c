"""The life of a run directory: claimed and locked, written in a staging folder, moved into place when complete.

Rules (README, "Run directories"):

* A run is written into a staging folder beside ``--out`` (``.NAME.partial-XXXX``) and renamed into place only when
  every output and the manifest are written, so ``--out`` never holds half a run.
* ``--out`` must be new, an empty folder, or a previous cteimpact run; a previous run is replaced only with
  ``overwrite=True`` (``--overwrite``). A folder holding anything else is never cleared.
* One process at a time writes a given run directory: a lock file beside it (``.NAME.lock``) is held while a run is
  written, and while ``verify`` or ``report`` write into it.
* Everything that can be checked before estimation is: the folder can be created and written, the lock is free,
  the target is not someone else's folder.
* ``verify`` and ``report`` open only complete runs (:func:`open_run`): a staging folder, a directory without its
  manifest (written last) or one whose listed outputs are missing is refused with one line.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from cteimpact.errors import RunDirectoryError

__all__ = [
    "MANIFEST_NAME",
    "MAX_RECORD_BYTES",
    "RESULTS_NAME",
    "OpenedRun",
    "StagedRun",
    "lock_run_directory",
    "open_run",
    "read_record",
]

MANIFEST_NAME = "manifest.json"
RESULTS_NAME = "results.json"
MAX_RECORD_BYTES = 512 * 2**20
"""Largest ``results.json``/``manifest.json``/``certificate.json`` read (a run of the shipped studies writes a few
megabytes; a larger file is not one of ours)."""

_HELD: set[Path] = set()
"""Lock files this process holds (a process that holds a run's lock may open the run)."""

_STAGING = ".partial-"
_ASIDE = ".replaced-"


def _lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}.lock"


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


class _Lock:
    """An exclusive, non-blocking lock on ``path`` (POSIX ``flock``; elsewhere an exclusively created file)."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what
        self._fd: int | None = None

    def _busy(self) -> RunDirectoryError:
        return RunDirectoryError(
            f"another cteimpact process is writing {self.what} (lock file '{self.path}'); wait for it to finish")

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                raise RunDirectoryError(
                    f"lock file '{self.path}' exists: another cteimpact process is writing {self.what}, or one "
                    "stopped without removing it (delete it if no run is in progress)") from None
            except OSError as exc:
                raise RunDirectoryError(f"cannot write in folder '{self.path.parent}' ({_why(exc)})") from None
            return
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise RunDirectoryError(f"cannot write in folder '{self.path.parent}' ({_why(exc)})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise self._busy() from None
            # the holder before us may have removed the file after we opened it: hold the lock on the live file only
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                return
            os.close(fd)

    def release(self) -> None:
        if self._fd is None:
            return
        with suppress(OSError):
            self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None


@contextmanager
def lock_run_directory(root: Path) -> Iterator[None]:
    """Hold the lock of the run directory ``root`` (for ``verify`` and ``report``, which write into it).

    Raises
    ------
    RunDirectoryError
        Another process holds it.
    """
    if not Path(root).is_dir():
        raise RunDirectoryError(f"run directory '{root}' does not exist or is not a folder")
    path = _lock_path(Path(root).absolute())
    lock = _Lock(path, f"run directory '{root}'")
    lock.acquire()
    _HELD.add(path)
    try:
        yield
    finally:
        _HELD.discard(path)
        lock.release()


def _is_locked(root: Path) -> bool:
    path = _lock_path(root.absolute())
    if path in _HELD or not path.exists():
        return False
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: the file's existence is the lock
        return True
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def read_record(path: Path, what: str, root: Path, *, follow_links: bool = False) -> dict[str, Any]:
    """A JSON object of a run directory, read defensively (size bound, nesting depth, object at the top); a
    symbolic link is refused unless ``follow_links`` (a file named on the command line).

    Raises
    ------
    RunDirectoryError
        Missing, too large, not UTF-8 JSON, too deeply nested, or not an object.
    """
    if path.is_symlink() and not follow_links:
        raise RunDirectoryError(f"{what} in '{root}' is a symbolic link; a run directory holds regular files only")
    if not path.is_file():
        raise RunDirectoryError(f"'{root}' is not a complete cteimpact run: {what} is missing")
    size = path.stat().st_size
    if size > MAX_RECORD_BYTES:
        raise RunDirectoryError(f"{what} in '{root}' has {size:,} bytes, more than a run writes "
                                f"({MAX_RECORD_BYTES:,}); it is not a cteimpact record")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirectoryError(f"{what} in '{root}' is not valid JSON ({exc})") from None
    except RecursionError:
        raise RunDirectoryError(f"{what} in '{root}' is nested too deeply to be a cteimpact record") from None
    if not isinstance(data, dict):
        raise RunDirectoryError(f"{what} in '{root}' is not a JSON object")
    return data


@dataclass(frozen=True)
class OpenedRun:
    """A complete run directory: its root and its two records."""

    root: Path
    manifest: dict[str, Any]
    results: dict[str, Any]


def _listed_outputs(manifest: dict[str, Any]) -> list[str]:
    outputs = manifest.get("outputs")
    if not isinstance(outputs, list):
        return []
    return [str(o["path"]) for o in outputs if isinstance(o, dict) and isinstance(o.get("path"), str)]


def open_run(root: str | os.PathLike[str], *, check_outputs: bool = True) -> OpenedRun:
    """Open the complete run directory ``root`` for ``verify`` or ``report``.

    Parameters
    ----------
    root
        The run directory.
    check_outputs
        Also require every output listed in the manifest to be present (``report``); ``verify`` regenerates the
        outputs and reports a missing one as a finding instead.

    Raises
    ------
    RunDirectoryError
        Not a directory, a staging folder, being written by a run, the manifest (written last) or results missing,
        records of another schema, or listed outputs missing.
    """
    from cteimpact.pipeline.run import MANIFEST_SCHEMA, RUN_SCHEMA

    root = Path(root)
    if not root.is_dir():
        raise RunDirectoryError(f"run directory '{root}' does not exist or is not a folder")
    if _STAGING in root.name or _ASIDE in root.name:
        raise RunDirectoryError(
            f"'{root}' is the staging folder of a run that has not completed (it stopped, or is still running); "
            "use the run directory it was writing")
    if _is_locked(root):
        raise RunDirectoryError(f"a cteimpact process is writing '{root}' now; wait for it to finish")
    if not (root / MANIFEST_NAME).exists():
        what = "results.json is there but " if (root / RESULTS_NAME).exists() else ""
        raise RunDirectoryError(
            f"'{root}' is not a complete cteimpact run: {what}manifest.json (written last) is missing; re-create it "
            "with 'cteimpact run SPEC --out DIR'")
    manifest = read_record(root / MANIFEST_NAME, MANIFEST_NAME, root)
    results = read_record(root / RESULTS_NAME, RESULTS_NAME, root)
    if manifest.get("schema") != MANIFEST_SCHEMA or results.get("schema") != RUN_SCHEMA:
        raise RunDirectoryError(
            f"'{root}' was written by an incompatible cteimpact (manifest {str(manifest.get('schema'))[:60]!r}, "
            f"results {str(results.get('schema'))[:60]!r}; this version reads {MANIFEST_SCHEMA!r} and "
            f"{RUN_SCHEMA!r}); re-create it with 'cteimpact run'")
    if check_outputs:
        problems = [(p, why) for p in _listed_outputs(manifest) if (why := _output_problem(root, p))]
        if problems:
            linked = [p for p, why in problems if why == "symbolic link"]
            if linked:
                raise RunDirectoryError(
                    f"'{root}' holds a symbolic link where the run wrote a file ({linked[0][:120]}); a run directory "
                    "holds regular files only")
            raise RunDirectoryError(
                f"'{root}' is not a complete cteimpact run: {len(problems)} output(s) listed in manifest.json are "
                f"missing (first: {problems[0][0][:120]}); re-create it with 'cteimpact run' or check it with "
                "'cteimpact verify'")
    return OpenedRun(root, manifest, results)


def _output_problem(root: Path, relative: str) -> str | None:
    """What is wrong with the listed output ``relative``: ``"missing"`` (absent, not a file, or named with an
    absolute path or ``..``), ``"symbolic link"`` (it or a folder on its way is a link), or None."""
    parts = Path(relative).parts
    if not parts or Path(relative).is_absolute() or ".." in parts:
        return "missing"
    current = root
    for part in parts:
        current = current / part
        if current.is_symlink():
            return "symbolic link"
    return None if current.is_file() else "missing"


def _is_run(folder: Path) -> bool:
    from cteimpact.pipeline.run import MANIFEST_SCHEMA

    try:
        return read_record(folder / MANIFEST_NAME, MANIFEST_NAME, folder).get("schema") == MANIFEST_SCHEMA
    except RunDirectoryError:
        return False


def _new_sibling(parent: Path, prefix: str) -> Path:
    """A new folder ``parent/prefix<random>`` created with the usual permissions (umask applies)."""
    for _ in range(100):
        path = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise RunDirectoryError(f"cannot create a staging folder in '{parent}'")  # pragma: no cover


class StagedRun:
    """Claim ``target`` for a new run, write it in a staging folder, and move it into place with :meth:`commit`.

    Use as a context manager: on entry every check that can fail before estimation is made (the target is new,
    empty or a previous run to overwrite; its folder can be written; no other process holds it); on an exception the
    staging folder is removed and ``target`` is untouched.

    Parameters
    ----------
    target
        The run directory to write (``--out``).
    overwrite
        Replace a previous cteimpact run at ``target`` (never a folder holding anything else).
    """

    def __init__(self, target: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        self.target = Path(target)
        self.overwrite = overwrite
        self._lock: _Lock | None = None
        self._staging: Path | None = None
        self._committed = False

    @property
    def staging(self) -> Path:
        """The folder to write the run into."""
        if self._staging is None:
            raise RuntimeError("StagedRun is not entered")
        return self._staging

    def _check_target(self) -> None:
        target = self.target
        if target.is_symlink():
            raise RunDirectoryError(f"--out '{target}' is a symbolic link; give the folder itself")
        if not target.exists():
            return
        if not target.is_dir():
            raise RunDirectoryError(f"--out '{target}' exists and is not a folder")
        try:
            entries = [p.name for p in target.iterdir()]
        except OSError as exc:
            raise RunDirectoryError(f"cannot read folder '{target}' ({_why(exc)})") from None
        if not entries:
            return
        if not _is_run(target):
            raise RunDirectoryError(
                f"--out '{target}' is not empty ({len(entries)} entries) and is not a cteimpact run directory; "
                "choose a new or empty folder")
        if not self.overwrite:
            raise RunDirectoryError(
                f"--out '{target}' already holds a cteimpact run; pass --overwrite to replace it, or choose a new "
                "folder")
        if not os.access(target, os.W_OK | os.X_OK):
            raise RunDirectoryError(f"cannot replace the run in '{target}': the folder is read-only")

    def __enter__(self) -> StagedRun:
        parent = self.target.absolute().parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunDirectoryError(f"cannot create folder '{parent}' for --out ({_why(exc)})") from None
        self._check_target()
        if not os.access(parent, os.W_OK | os.X_OK):
            raise RunDirectoryError(f"cannot write the run directory: folder '{parent}' is read-only")
        lock = _Lock(_lock_path(self.target.absolute()), f"'{self.target}'")
        lock.acquire()
        self._lock = lock
        try:
            self._check_target()  # again, now that no other run can change it
            self._staging = _new_sibling(parent, f".{self.target.name}{_STAGING}")
        except BaseException:
            self._release()
            raise
        return self

    def commit(self) -> Path:
        """Move the complete run into place (replacing the previous run when overwriting); return ``target``."""
        staging = self.staging
        target = self.target.absolute()
        aside: Path | None = None
        try:
            if target.exists():
                if any(target.iterdir()):
                    aside = _new_sibling(target.parent, f".{target.name}{_ASIDE}")
                    aside.rmdir()
                    os.rename(target, aside)
                else:
                    target.rmdir()
            os.rename(staging, target)
        except OSError as exc:
            if aside is not None and not target.exists():
                os.rename(aside, target)  # put the previous run back
            raise RunDirectoryError(f"cannot move the run into '{self.target}' ({_why(exc)})") from None
        self._committed = True
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
        return target

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if not self._committed and self._staging is not None:
                shutil.rmtree(self._staging, ignore_errors=True)
        finally:
            self._release()
