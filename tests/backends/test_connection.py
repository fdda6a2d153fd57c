"""Connections: DuckDB files read-only, connection strings from environment variables, passwords kept out of
specifications and messages, typed errors for engines that cannot be reached."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cteimpact.backends import BackendConnectionError, connect, open_table, redact
from cteimpact.backends.connection import check_no_password, connection_string
from cteimpact.errors import OptionError


def test_duckdb_file_is_opened_read_only_and_unchanged(duck: dict[str, Path]) -> None:
    path = duck["students"]
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    source = open_table("duckdb", str(path))
    assert source.count_rows() > 0
    import duckdb

    with pytest.raises(duckdb.Error, match="read-only"):
        source.table.get_backend().raw_sql("CREATE TABLE t AS SELECT 1 AS a")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_in_memory_default() -> None:
    con = connect()
    assert con.name == "duckdb"
    assert con.list_tables() == []


def test_connection_from_environment(monkeypatch: pytest.MonkeyPatch, duck: dict[str, Path]) -> None:
    monkeypatch.setenv("CTEIMPACT_TEST_DB", str(duck["panel"]))
    assert connection_string("env:CTEIMPACT_TEST_DB") == str(duck["panel"])
    assert connection_string(None, env="CTEIMPACT_TEST_DB") == str(duck["panel"])
    assert open_table("duckdb", "env:CTEIMPACT_TEST_DB").name == "district_panel"
    monkeypatch.delenv("CTEIMPACT_TEST_DB")
    with pytest.raises(BackendConnectionError, match=r"^postgres: the connection string is to come from the "
                                                     r"environment variable CTEIMPACT_TEST_DB, which is not set"):
        connect("postgres", "env:CTEIMPACT_TEST_DB")
    with pytest.raises(OptionError, match="is not an environment variable name"):
        connection_string("env:1-bad")


@pytest.mark.parametrize(("text", "shown"), [
    ("postgres://analyst:s3cret@db.example.org:5432/slds", "postgres://analyst:***@db.example.org:5432/slds"),
    ("postgres://analyst@db.example.org/slds", "postgres://analyst@db.example.org/slds"),
    ("trino://db.example.org/hive?password=s3cret&x=1", "trino://db.example.org/hive?password=***&x=1"),
])
def test_redact(text: str, shown: str) -> None:
    assert redact(text) == shown
    if shown != text:
        with pytest.raises(OptionError, match=r"^\[data\] connection: the connection string holds a password"):
            check_no_password(text, where="[data] connection")
    else:
        check_no_password(text, where="[data] connection")


def test_server_errors_are_typed_and_hide_the_password() -> None:
    with pytest.raises(BackendConnectionError) as err:
        connect("postgres", "postgres://analyst:s3cret@127.0.0.1:1/slds")
    assert "s3cret" not in str(err.value)
    assert err.value.backend == "postgres"
    with pytest.raises(BackendConnectionError, match=r"must start with postgres://"):
        connect("postgres", "mysql://analyst@127.0.0.1/slds")
    with pytest.raises(BackendConnectionError, match=r"backend 'postgres' needs a connection string"):
        connect("postgres")
    with pytest.raises(OptionError, match=r"backend must be one of duckdb, postgres"):
        connect("oracle")  # type: ignore[arg-type]


def test_spark_without_pyspark_is_a_typed_error() -> None:
    pytest.importorskip("duckdb")
    try:
        import pyspark  # noqa: F401
    except ImportError:
        with pytest.raises(BackendConnectionError, match=r"backend 'spark' needs PySpark, which is not installed"):
            connect("spark")
    else:
        pytest.skip("PySpark is installed: the Spark tests cover the connection")
