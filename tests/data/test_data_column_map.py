"""ColumnMap: the user's mapping from contract roles to column names."""

from __future__ import annotations

import pytest

from cteimpact.data import ROLES, ColumnMap, roles_in_group
from cteimpact.errors import CteImpactError, OptionError, SpecificationError


def test_lookup_and_role_of():
    cmap = ColumnMap({"student_id": "sid", "dropout": "drop_4yr"})
    assert cmap["dropout"] == "drop_4yr"
    assert cmap.role_of("drop_4yr") == "dropout"
    assert cmap.role_of("not_a_column") is None
    assert len(cmap) == 2
    assert cmap.columns() == ["sid", "drop_4yr"]
    assert cmap.columns(["dropout"]) == ["drop_4yr"]


def test_keyword_roles_are_merged_and_override_the_mapping():
    cmap = ColumnMap({"student_id": "sid", "cohort": "c1"}, cohort="c2", year="yr")
    assert cmap.to_dict() == {"student_id": "sid", "cohort": "c2", "year": "yr"}


@pytest.mark.parametrize(
    ("role", "suggestion"),
    [("dropuot", "dropout"), ("studentid", "student_id"), ("earning", "earnings"), ("first_treat", "first_treated")],
)
def test_unknown_role_suggests_the_closest_role(role, suggestion):
    with pytest.raises(SpecificationError) as info:
        ColumnMap({role: "x"})
    assert str(info.value) == f"unknown column role '{role}'; did you mean '{suggestion}'?"


def test_unknown_role_without_a_close_match_lists_every_role():
    with pytest.raises(SpecificationError) as info:
        ColumnMap({"zzzzzz": "x"})
    msg = str(info.value)
    assert msg.startswith("unknown column role 'zzzzzz'; known roles: ")
    for role in ROLES:
        assert role in msg


def test_a_column_mapped_to_two_roles_is_refused():
    with pytest.raises(SpecificationError) as info:
        ColumnMap({"dropout": "y", "graduation": "y"})
    assert str(info.value) == "column 'y' is mapped to two roles, 'dropout' and 'graduation'"


@pytest.mark.parametrize("bad", ["", "   ", None, 3])
def test_empty_or_non_text_column_name_is_refused(bad):
    with pytest.raises(SpecificationError) as info:
        ColumnMap({"cohort": bad})
    assert str(info.value) == f"column role 'cohort' must name a column, got {bad!r}"


def test_order_independent_equality_hash_and_contract_order():
    a = ColumnMap({"earnings": "e", "student_id": "sid", "cohort": "c"})
    b = ColumnMap({"cohort": "c", "earnings": "e", "student_id": "sid"})
    assert a == b
    assert hash(a) == hash(b)
    assert repr(a) == repr(b)
    # contract order, whatever the order given
    order = list(ROLES)
    assert list(a) == sorted(a, key=order.index) == ["student_id", "cohort", "earnings"]
    assert a != ColumnMap({"earnings": "e", "student_id": "sid", "cohort": "c2"})
    assert a != {"earnings": "e", "student_id": "sid", "cohort": "c"}  # a plain dict is not a ColumnMap


def test_to_dict_round_trip_is_a_plain_dict_in_contract_order():
    cmap = ColumnMap({"year": "yr", "student_id": "sid"})
    d = cmap.to_dict()
    assert type(d) is dict
    assert list(d.items()) == [("student_id", "sid"), ("year", "yr")]
    assert ColumnMap(d) == cmap
    d["year"] = "changed"  # the map does not share its state
    assert cmap["year"] == "yr"


def test_unmapped_and_unknown_roles_raise_option_errors_on_lookup():
    cmap = ColumnMap({"cohort": "c"})
    with pytest.raises(OptionError, match=r"^role 'year' is not mapped to a column; add it to the column mapping$"):
        cmap["year"]
    with pytest.raises(OptionError, match=r"^unknown column role 'yaer'$"):
        cmap["yaer"]
    with pytest.raises(OptionError, match="'year' is not mapped"):
        cmap.columns(["cohort", "year"])


def test_membership_and_get_follow_the_mapping_protocol():
    # regression: Mapping.__contains__/get catch only KeyError, so `in` used to raise OptionError
    cmap = ColumnMap({"cohort": "c"})
    assert "cohort" in cmap
    assert "year" not in cmap
    assert "not a role" not in cmap
    assert cmap.get("cohort") == "c"
    assert cmap.get("year") is None
    assert cmap.get("year", "fallback") == "fallback"
    assert dict(cmap.items()) == {"cohort": "c"}


def test_every_role_group_is_covered_and_roles_are_documented():
    groups = ("identity", "time", "demographic", "participation", "outcome", "rd", "did", "design")
    assert {r for g in groups for r in roles_in_group(g)} == set(ROLES)
    for spec in ROLES.values():
        assert spec.description.endswith(".")
    # the student identifier is the personal identifier of the contract
    assert [r for r, s in ROLES.items() if s.personal_identifier] == ["student_id"]


def test_errors_are_cteimpact_errors():
    with pytest.raises(CteImpactError):
        ColumnMap({"bogus": "x"})


def test_role_names_must_be_text():
    # regression: a non-text key (an integer read from YAML) failed inside difflib with a TypeError
    with pytest.raises(SpecificationError, match=r"^column role names must be text, got 2014; known roles: student_id"):
        ColumnMap({2014: "cohort"})  # type: ignore[dict-item]
