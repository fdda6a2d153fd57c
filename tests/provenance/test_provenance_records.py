"""Hashes, record counts, record comparison, the identifier guard and seed derivation."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pandas as pd
import pytest

from cteimpact.errors import OptionError
from cteimpact.pipeline.seeds import derive_rng, derive_seed
from cteimpact.provenance import (
    TolerancePolicy,
    ToleranceRule,
    compare_records,
    count_records,
    describe_file,
    find_identifiers,
    sha256_file,
)
from cteimpact.provenance.compare import flatten


def test_sha256_matches_hashlib_on_a_file_larger_than_one_chunk(tmp_path) -> None:
    data = np.random.default_rng(1).bytes(3 * (1 << 20) + 17)
    p = tmp_path / "blob.bin"
    p.write_bytes(data)
    assert sha256_file(p) == hashlib.sha256(data).hexdigest()


def test_record_counts_for_csv_gzip_parquet(tmp_path) -> None:
    frame = pd.DataFrame({"a": range(1234), "b": ["x"] * 1234})
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    with gzip.open(tmp_path / "t.csv.gz", "wt") as f:
        frame.to_csv(f, index=False)
    (tmp_path / "noeol.csv").write_text("a,b\n1,2\n3,4")
    assert count_records(tmp_path / "t.csv") == 1234
    assert count_records(tmp_path / "t.csv.gz") == 1234
    assert count_records(tmp_path / "t.parquet") == 1234
    assert count_records(tmp_path / "noeol.csv") == 2
    (tmp_path / "readme.txt").write_text("x")
    assert count_records(tmp_path / "readme.txt") is None
    d = describe_file(tmp_path / "t.csv", relative_to=tmp_path)
    assert d["path"] == "t.csv"
    assert d["records"] == 1234
    assert d["bytes"] == (tmp_path / "t.csv").stat().st_size


def test_flatten_paths() -> None:
    assert dict(flatten({"a": {"b": [1, {"c": 2}]}, "d": []})) == {"a.b[0]": 1, "a.b[1].c": 2, "d": []}


def test_compare_detects_each_kind_of_difference() -> None:
    rec = {"x": 1.0, "y": [1, 2], "s": "text", "flag": True, "n": None, "gone": 3}
    new = {"x": 1.0 + 1e-12, "y": [1, 2.5], "s": "other", "flag": True, "n": None, "extra": 4}
    cmp = compare_records(rec, new)
    by_path = {r.path: r for r in cmp.rows}
    assert by_path["x"].match  # within the default tolerance (1e-8 relative)
    assert not by_path["y[1]"].match
    assert by_path["y[1]"].difference == pytest.approx(0.5)
    assert not by_path["s"].match
    assert by_path["flag"].match
    assert by_path["n"].match
    assert by_path["gone"].note == "missing in re-computation"
    assert by_path["extra"].note == "not in the record"
    assert not cmp.ok
    assert len(cmp.mismatches) == 4
    assert list(cmp.to_frame().columns) == ["path", "recorded", "recomputed", "difference", "rtol", "atol", "match",
                                            "note"]


def test_tolerance_rules_and_type_strictness() -> None:
    policy = TolerancePolicy(rules=(ToleranceRule("pricing.*", 1e-3, 0.0, "Monte Carlo"),))
    assert compare_records({"pricing": {"p": 1.0}}, {"pricing": {"p": 1.0005}}, policy).ok
    assert not compare_records({"other": {"p": 1.0}}, {"other": {"p": 1.0005}}, policy).ok
    assert not compare_records({"b": True}, {"b": 1}).ok  # a boolean is not the number 1
    assert compare_records({"i": 2}, {"i": 2.0}).ok  # integers and floats compare as numbers
    assert compare_records({"a": 1, "t": "x"}, {"a": 2, "t": "x"}, ignore=["a"]).n_compared == 1


def test_find_identifiers_counts_tokens_not_substrings(tmp_path) -> None:
    (tmp_path / "a.json").write_text('{"note": "S001000123 and S001000124x"}')
    (tmp_path / "b.csv").write_text("estimate\n0.5\n")
    (tmp_path / "c.bin").write_bytes(b"\x89PNG\x00S001000125\x00")
    hits = find_identifiers(sorted(tmp_path.iterdir()), {"S001000123", "S001000124", "S001000125"})
    assert hits == {(tmp_path / "a.json").as_posix(): 1, (tmp_path / "c.bin").as_posix(): 1}


def test_derived_seeds_are_stable_distinct_and_validated() -> None:
    assert derive_seed(7, "pricing") == derive_seed(7, "pricing")
    assert len({derive_seed(7, n) for n in ("pricing", "bootstrap", "rd", "did")}) == 4
    assert derive_seed(7, "pricing") != derive_seed(8, "pricing")
    assert 0 <= derive_seed(123, "x") < 2**63
    a = derive_rng(5, "s").standard_normal(3)
    b = derive_rng(5, "s").standard_normal(3)
    assert np.array_equal(a, b)
    with pytest.raises(OptionError, match="master seed"):
        derive_seed(-1, "x")
