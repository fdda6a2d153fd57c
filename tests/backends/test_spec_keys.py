"""The ``[data]`` keys of the backend layer: validated with the specification, and absent from the resolved
specification (so its hash does not change) when not set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cteimpact.config.toml import read_toml
from cteimpact.errors import SpecificationError
from cteimpact.pipeline.spec import parse_spec

REPO = Path(__file__).resolve().parents[2]
DID_SPEC = REPO / "analyses" / "pathways-earnings-did.toml"


def _spec(**data: Any) -> dict[str, Any]:
    raw = read_toml(DID_SPEC, what="analysis specification")
    raw.pop("pricing", None)
    raw["data"] = {k: v for k, v in {**raw["data"], **data}.items() if v is not None}
    return raw


def test_backend_keys_are_left_out_of_the_resolved_specification_when_not_set() -> None:
    resolved = parse_spec(_spec()).resolved()
    assert set(resolved["data"]) == {"path", "columns", "extra_columns", "key"}
    with_keys = parse_spec(_spec(path="panel.duckdb", table="district_panel", max_rows_pulled=1000)).resolved()
    assert with_keys["data"]["table"] == "district_panel"
    assert with_keys["data"]["max_rows_pulled"] == 1000
    assert "backend" not in with_keys["data"]


def test_server_backend_takes_a_variable_not_a_path() -> None:
    spec = parse_spec(_spec(path=None, backend="postgres", table="panel", connection_env="CTEIMPACT_DB_URL"))
    assert spec.data.backend == "postgres"
    assert spec.data.path is None


@pytest.mark.parametrize(("data", "message"), [
    ({"path": None}, "give 'path'"),
    ({"backend": "postgres", "connection_env": "X"}, "backend 'postgres' reads a table on a server"),
    ({"path": None, "backend": "postgres", "connection": "postgres://a@h/db", "connection_env": "X"},
     "give 'connection' or 'connection_env', not both"),
    ({"connection_env": "X"}, "'connection' and 'connection_env' name a server"),
    ({"path": None, "backend": "postgres", "connection": "postgres://analyst:s3cret@h/db"},
     "must not store credentials"),
    ({"backend": "oracle"}, "backend"),
    ({"max_rows_pulled": 0}, "max_rows_pulled"),
    ({"duckdb_above_mb": -1.0}, "duckdb_above_mb"),
])
def test_bad_backend_keys(data: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecificationError, match=message) as err:
        parse_spec(_spec(**data))
    assert "s3cret" not in str(err.value)
    assert "\n" not in str(err.value)
