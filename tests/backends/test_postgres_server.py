"""The throwaway PostgreSQL cluster of the tests (:mod:`postgres_server`): where it cannot start, the reason is given
(the fixture skips with it) and nothing is left behind."""

from __future__ import annotations

import glob
import tempfile
from pathlib import Path

import postgres_server
import pytest
from postgres_server import ServerUnavailable, postgres_cluster, socket_url


def _leftovers() -> set[str]:
    return set(glob.glob(str(Path(tempfile.gettempdir()) / "cteimpact-pg-*")))


def test_no_binaries_is_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres_server, "find_bindir", lambda: None)
    with pytest.raises(ServerUnavailable, match=r"no PostgreSQL server binaries .*apt-get install postgresql"), \
            postgres_cluster():
        pass


def test_failed_initdb_is_a_reason_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Binaries that fail: the message says which step failed, and the temporary folder is deleted."""
    for name in ("initdb", "pg_ctl", "postgres"):
        script = tmp_path / name
        script.write_text("#!/bin/sh\necho 'initdb: cannot create the cluster' >&2\nexit 1\n", encoding="utf-8")
        script.chmod(0o755)
    monkeypatch.setattr(postgres_server, "find_bindir", lambda: tmp_path)
    before = _leftovers()
    with pytest.raises(ServerUnavailable, match=r"^initdb failed"), postgres_cluster():
        pass
    assert _leftovers() == before


def test_a_failing_test_stops_the_server_and_deletes_its_folder() -> None:
    if postgres_server.find_bindir() is None:
        pytest.skip("no PostgreSQL server binaries (apt-get install postgresql)")
    before = _leftovers()
    socket = None
    try:
        with postgres_cluster() as url:
            socket = Path(url.split("host=", 1)[1].split("&", 1)[0]) / ".s.PGSQL.5432"
            assert socket.exists()  # the server listens
            raise KeyError("a test failed")
    except ServerUnavailable as exc:
        pytest.skip(f"no PostgreSQL server: {exc}")
    except KeyError:
        pass
    assert socket is not None and not socket.exists()
    assert _leftovers() == before


def test_socket_url() -> None:
    assert socket_url(Path("/tmp/x")) == "postgres://postgres@/cteimpact?host=/tmp/x&port=5432"
    assert socket_url(Path("/tmp/x"), password="pw", port=5499) == \
        "postgres://postgres:pw@/cteimpact?host=/tmp/x&port=5499"
