"""A throwaway PostgreSQL cluster for the tests: ``initdb`` into a temporary folder, a server listening only on a unix
socket in that folder (no TCP port), trust authentication, one database; stopped and deleted at the end, also when a
test fails or the server does not start.

The server binaries are found by ``pg_config --bindir`` or in Debian's ``/usr/lib/postgresql/<version>/bin``
(``apt-get install postgresql``; ``.ci/run`` installs it when absent). PostgreSQL refuses to run as root: run as
root, the cluster is created and run by the ``postgres`` account (``runuser``), which owns the temporary folder.
Where no binaries are found or the server cannot start, :func:`postgres_cluster` raises :class:`ServerUnavailable`
with the reason, and the fixture skips the tests with it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["DATABASE", "ServerUnavailable", "find_bindir", "postgres_cluster", "socket_url"]

DATABASE = "cteimpact"
"""The database the tests' tables are written to."""

_PORT = 5432
"""The number in the socket's file name (``.s.PGSQL.5432``); no TCP port is opened, so it cannot clash."""


class ServerUnavailable(RuntimeError):
    """No PostgreSQL server could be started here (the message says why)."""


def find_bindir() -> Path | None:
    """The folder of ``initdb``, ``pg_ctl`` and ``postgres``: ``pg_config --bindir``, else the newest Debian one."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=30, check=True)
            candidates.append(Path(out.stdout.strip()))
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = [p for p in debian.iterdir() if p.name.split(".")[0].isdigit()]
        candidates += [p / "bin" for p in sorted(versions, key=lambda p: float(p.name), reverse=True)]
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def socket_url(socket_dir: Path, *, database: str = DATABASE, user: str = "postgres", password: str | None = None,
               port: int = _PORT) -> str:
    """The Ibis URL of a server listening on a unix socket in ``socket_dir``."""
    credentials = user if password is None else f"{user}:{password}"
    return f"postgres://{credentials}@/{database}?host={socket_dir}&port={port}"


def _as_owner(owner: str | None, args: list[str]) -> list[str]:
    return args if owner is None else ["runuser", "-u", owner, "--", *args]


def _run(args: list[str], what: str, log: Path | None = None) -> None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ServerUnavailable(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        if log is not None and log.is_file():
            detail += log.read_text(errors="replace").strip().splitlines()[-5:]
        raise ServerUnavailable(f"{what} failed (exit {done.returncode}): {' | '.join(detail[-6:])}")


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """Start a throwaway cluster and yield the Ibis URL of its database; stop it and delete its folder afterwards.

    Raises
    ------
    ServerUnavailable
        No server binaries, no ``postgres`` account to run them as root, or initdb / the server / createdb failed.
    """
    bindir = find_bindir()
    if bindir is None:
        raise ServerUnavailable("no PostgreSQL server binaries (initdb, pg_ctl, postgres): neither pg_config --bindir "
                                "nor /usr/lib/postgresql/<version>/bin has them (apt-get install postgresql)")
    owner = None
    if os.geteuid() == 0:  # the server refuses to run as root
        if shutil.which("runuser") is None:
            raise ServerUnavailable("running as root and runuser is absent: cannot start PostgreSQL as another user")
        try:
            import pwd

            account = pwd.getpwnam("postgres")
        except KeyError:
            raise ServerUnavailable("running as root and there is no 'postgres' account to run the server") from None
        owner = "postgres"
    base = Path(tempfile.mkdtemp(prefix="cteimpact-pg-"))  # short: a socket path has at most ~100 characters
    data, log = base / "data", base / "server.log"
    started = False
    try:
        if owner is not None:
            os.chown(base, account.pw_uid, account.pw_gid)
        base.chmod(0o700)
        _run(_as_owner(owner, [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E",
                               "UTF8", "--no-sync", "--locale=C"]), "initdb")
        options = (f"-c listen_addresses='' -c unix_socket_directories='{base}' -p {_PORT} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        _run(_as_owner(owner, [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o",
                               options, "start"]), "starting the server", log)
        started = True
        createdb = bindir / "createdb"
        _run([str(createdb), "-h", str(base), "-p", str(_PORT), "-U", "postgres", DATABASE], "createdb", log)
        yield socket_url(base)
    finally:
        if started:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(_as_owner(owner, [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                                                 "stop"]), capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)
