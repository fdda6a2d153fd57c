"""DuckDB files of the synthetic study data (seed 7, scale 0.05), written once per session by DuckDB itself from the
files ``cteimpact synth`` writes (as an agency would load them), and never changed by a test; and a throwaway
PostgreSQL server for the session (``postgres_url``, :mod:`postgres_server`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from study_helpers import write_duckdb


@pytest.fixture(scope="session")
def duck(tmp_path_factory: pytest.TempPathFactory, synth_data: Path) -> dict[str, Path]:
    """``students``: students.parquet as the only table of students.duckdb; ``panel``: district_panel.csv as the
    only table of panel.duckdb; ``both``: both tables in one file (a table must then be named)."""
    folder = tmp_path_factory.mktemp("duck")
    students = f"SELECT * FROM read_parquet('{synth_data / 'students.parquet'}')"
    panel = f"SELECT * FROM read_csv('{synth_data / 'district_panel.csv'}')"
    return {
        "students": write_duckdb(folder / "students.duckdb", {"students": students}),
        "panel": write_duckdb(folder / "panel.duckdb", {"district_panel": panel}),
        "both": write_duckdb(folder / "both.duckdb", {"students": students, "district_panel": panel}),
    }


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The Ibis URL (``postgres://postgres@/cteimpact?host=<socket folder>&port=5432``) of a throwaway PostgreSQL
    cluster started for the session (:mod:`postgres_server`), stopped and deleted at its end; the tests that use it
    are skipped, with the reason, where Ibis's PostgreSQL driver is not installed or no server can start."""
    from postgres_server import ServerUnavailable, postgres_cluster

    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("Ibis's PostgreSQL driver (psycopg) is not installed: pip install 'ibis-framework[postgres]'")
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_cluster())
        except ServerUnavailable as exc:
            pytest.skip(f"no PostgreSQL server for the tests: {exc}")
        yield url
