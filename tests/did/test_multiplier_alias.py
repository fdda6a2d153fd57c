"""Mammen bits drawn a byte at a time through an integer alias table (cteimpact.did.multiplier).

* the table realises the integer masses of the 256 byte patterns exactly, and the masses are those the module
  documents (sum 2^32, equal within a number of set bits, each within one unit of the exact product);
* the realised probability q' and the two points (mean 0, variance 1 at q');
* the bytes equal a plain-Python reimplementation of the documented scheme, element by element, and their bit and
  pair frequencies agree with independent bits of probability q' within a few binomial standard errors;
* the draws do not depend on the number of threads or the column chunks.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext
from fractions import Fraction

import numba
import numpy as np
import pytest

from cteimpact.did import CallawaySantAnna, simulate_staggered
from cteimpact.did.multiplier import (
    MAMMEN_ALIAS,
    MAMMEN_CLASS_MASSES,
    MAMMEN_MASSES,
    _alias_table,
    _draw_byte,
    _draw_bytes,
    _group_bytes,
    _key,
    multiplier_draws,
    two_point,
)

UNITS = 2 ** 32
CAPACITY = 2 ** 24
POPCOUNT = [bin(j).count("1") for j in range(256)]


def _mammen_q_exact() -> Fraction:
    """q = (5 − √5) / 10 to 50 digits (independently of the module's integer square root)."""
    with localcontext() as ctx:
        ctx.prec = 60
        q = (Decimal(5) - Decimal(5).sqrt()) / Decimal(10)
    return Fraction(q)


def _realised(table: np.ndarray) -> list[int]:
    """Each pattern's units over all columns of a packed alias table (``t_c << 8 | alias_c``)."""
    mass = [0] * 256
    for c, entry in enumerate(int(e) for e in table):
        t, alias = entry >> 8, entry & 0xFF
        assert 0 <= t < CAPACITY
        mass[c] += t
        mass[alias] += CAPACITY - t
    return mass


def test_alias_table_realises_the_masses_exactly() -> None:
    assert MAMMEN_ALIAS.dtype == np.uint32 and MAMMEN_ALIAS.shape == (256,)
    assert _realised(MAMMEN_ALIAS) == [int(m) for m in MAMMEN_MASSES]


@pytest.mark.parametrize("case", ["random", "one_pattern", "zeros", "uniform"])
def test_alias_table_of_other_masses(case: str) -> None:
    """Vose's construction in integers is exact for any 256 masses summing to 2^32."""
    rng = np.random.default_rng(3)
    if case == "random":
        cuts = np.sort(rng.choice(UNITS, size=255, replace=False))
        masses = np.diff(np.concatenate([[0], cuts, [UNITS]]))
    elif case == "one_pattern":
        masses = np.zeros(256, dtype=np.int64)
        masses[77] = UNITS
    elif case == "zeros":
        masses = np.zeros(256, dtype=np.int64)
        masses[::3] = rng.integers(1, 2 ** 25, size=masses[::3].size)
        masses[0] += UNITS - masses.sum()
    else:
        masses = np.full(256, CAPACITY, dtype=np.int64)
    assert int(masses.sum()) == UNITS
    assert _realised(_alias_table(masses)) == [int(m) for m in masses]


def test_alias_table_refuses_masses_not_summing_to_2_32() -> None:
    masses = np.full(256, CAPACITY, dtype=np.int64)
    masses[0] += 1
    with pytest.raises(ValueError, match="summing to 2\\^32"):
        _alias_table(masses)


def test_masses_sum_exchangeable_and_q_prime() -> None:
    masses = [int(m) for m in MAMMEN_MASSES]
    assert sum(masses) == UNITS
    for j in range(256):
        assert masses[j] == MAMMEN_CLASS_MASSES[POPCOUNT[j]]
    q = _mammen_q_exact()
    for k in range(1, 9):  # floor or ceiling of the exact mass
        exact = q ** k * (1 - q) ** (8 - k) * UNITS
        assert math.floor(exact) <= MAMMEN_CLASS_MASSES[k] <= math.floor(exact) + 1, k
    q_units = sum(masses[j] * POPCOUNT[j] for j in range(256))
    assert q_units % 8 == 0
    q_prime = Fraction(q_units // 8, UNITS)
    assert abs(q_prime - q) <= Fraction(1, 10 ** 9)
    assert q_prime == Fraction(round(q * UNITS), UNITS)  # the multiple of 2^-32 nearest to q
    assert two_point("mammen").q == float(q_prime)
    # every bit of the byte has probability q' (not only on average)
    for i in range(8):
        assert Fraction(sum(masses[j] for j in range(256) if j >> i & 1), UNITS) == q_prime


def test_documented_facts_of_the_realised_distribution() -> None:
    """The figures the module docstring states: pattern deviations, total variation, pairwise dependence."""
    masses = [int(m) for m in MAMMEN_MASSES]
    q = _mammen_q_exact()
    q_prime = Fraction(sum(masses[j] * POPCOUNT[j] for j in range(256)), 8 * UNITS)
    dev_q = max(abs(Fraction(masses[j], UNITS) - q ** POPCOUNT[j] * (1 - q) ** (8 - POPCOUNT[j]))
                for j in range(256))
    dev_qp = [Fraction(masses[j], UNITS) - q_prime ** POPCOUNT[j] * (1 - q_prime) ** (8 - POPCOUNT[j])
              for j in range(256)]
    assert 2.0e-10 < dev_q < 2.1e-10 and 2.0e-10 < max(abs(d) for d in dev_qp) < 2.11e-10
    assert 1.34e-8 < sum(abs(d) for d in dev_qp) / 2 < 1.35e-8
    pairs = set()
    for i in range(8):
        for k in range(i + 1, 8):
            both = Fraction(sum(masses[j] for j in range(256) if j >> i & 1 and j >> k & 1), UNITS)
            pairs.add(both - q_prime ** 2)
    assert len(pairs) == 1  # exchangeable: the same for every pair
    (cov,) = pairs
    assert -3.68e-10 < cov < -3.66e-10
    assert -1.84e-9 < cov / (q_prime * (1 - q_prime)) < -1.83e-9


def test_two_points_mean_zero_variance_one_at_q_prime() -> None:
    tp = two_point("mammen")
    q = Fraction(tp.q)
    a, b = Fraction(tp.a), Fraction(tp.b)
    assert abs((1 - q) * a + q * b) <= Fraction(1, 10 ** 15)
    assert abs((1 - q) * a ** 2 + q * b ** 2 - 1) <= Fraction(1, 10 ** 15)
    assert abs((1 - q) * a ** 3 + q * b ** 3 - 1) <= Fraction(1, 10 ** 9)


# ---------------------------------------------------------------------------------------------------------------
# the bytes: a plain-Python reimplementation of the documented scheme
# ---------------------------------------------------------------------------------------------------------------

MASK64 = 2 ** 64 - 1
GAMMA = 0x9E3779B97F4A7C15


def _py_mix64(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def _py_word(key: int, i: int) -> int:
    return _py_mix64((key + GAMMA * (i + 1)) & MASK64)


def _py_byte(key: int, group: int, b: int, n_draws: int, kind: str) -> int:
    if kind == "rademacher":
        word = _py_word(key, group * ((n_draws + 7) // 8) + b // 8)
        return (word >> (8 * (b % 8))) & 0xFF
    word = _py_word(key, group * ((n_draws + 1) // 2) + b // 2)
    u = (word >> (32 * (b % 2))) & 0xFFFFFFFF
    c = u >> 24
    entry = int(MAMMEN_ALIAS[c])
    return c if (u & 0xFFFFFF) < (entry >> 8) else entry & 0xFF


@pytest.mark.parametrize("kind", ["mammen", "rademacher"])
@pytest.mark.parametrize("n_draws", [1, 2, 7, 64, 101])
def test_bytes_equal_plain_python(kind: str, n_draws: int) -> None:
    key = _key(2024)
    alias = two_point(kind).alias  # type: ignore[arg-type]
    words = np.empty((n_draws + 1) // 2, dtype=np.uint64)
    fast = np.empty(n_draws, dtype=np.uint8)
    each = np.empty(n_draws, dtype=np.int64)
    for group in (0, 1, 2, 3, 12345, 2 ** 40 + 3):
        expected = [_py_byte(int(key), group, b, n_draws, kind) for b in range(n_draws)]
        _group_bytes(key, np.int64(group), np.int64(n_draws), alias, words, fast)
        _draw_bytes(key, np.int64(group), np.int64(n_draws), alias, each)
        single = [_draw_byte(key, np.int64(group), np.int64(b), np.int64(n_draws), alias) for b in range(n_draws)]
        np.testing.assert_array_equal(fast, expected)
        np.testing.assert_array_equal(each, expected)
        np.testing.assert_array_equal(single, expected)


def test_bit_and_pair_frequencies() -> None:
    """32M bits: every bit position's frequency within 4 binomial SEs of q', every pair's within 4 SEs of q'²,
    and the counts of set bits per byte against the binomial (chi-square, 8 degrees of freedom, 0.1% level)."""
    tp = two_point("mammen")
    key = _key(77)
    n_groups, n_draws = 4000, 999
    words = np.empty((n_draws + 1) // 2, dtype=np.uint64)
    out = np.empty((n_groups, n_draws), dtype=np.uint8)
    for g in range(n_groups):
        _group_bytes(key, np.int64(g), np.int64(n_draws), tp.alias, words, out[g])
    bits = np.unpackbits(out.reshape(-1, 1), axis=1, bitorder="little").astype(bool)
    n = bits.shape[0]
    q = tp.q
    freq = bits.mean(axis=0)
    np.testing.assert_array_less(np.abs(freq - q), 4 * math.sqrt(q * (1 - q) / n))
    q2 = q * q
    for i in range(8):
        for j in range(i + 1, 8):
            both = np.count_nonzero(bits[:, i] & bits[:, j]) / n
            assert abs(both - q2) < 4 * math.sqrt(q2 * (1 - q2) / n), (i, j, both, q2)
    counts = np.bincount(bits.sum(axis=1), minlength=9)
    expected = np.array([math.comb(8, k) * q ** k * (1 - q) ** (8 - k) for k in range(9)]) * n
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 26.12  # 0.999 quantile of chi-square with 8 degrees of freedom


def test_rademacher_bytes_unchanged() -> None:
    """Fair bits are what they were: byte b mod 8 of word group ⌈B/8⌉ + ⌊b/8⌋ (pinned for seed 5, 3 draws)."""
    key = _key(5)
    out = np.empty(3, dtype=np.int64)
    _draw_bytes(key, np.int64(4), np.int64(3), two_point("rademacher").alias, out)
    word = _py_word(int(key), 4)
    assert list(out) == [word & 0xFF, (word >> 8) & 0xFF, (word >> 16) & 0xFF]


# ---------------------------------------------------------------------------------------------------------------
# determinism
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["mammen", "rademacher"])
def test_draws_do_not_depend_on_threads_or_chunks(kind: str) -> None:
    """Enough units for the parts to run on threads: 1 or 2 threads, column chunks of 2 or 48, the same bytes;
    another seed, other draws."""
    df, _ = simulate_staggered(seed=3, n_clusters=400, n_never_clusters=150, units_per_cluster=100,
                               periods=range(2010, 2014), cohorts={2011: 100, 2013: 150})
    infl = CallawaySantAnna(df, outcome="y", unit="unit", time="time", cohort="cohort").fit().influence
    assert infl.n > 8 * 4096
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = multiplier_draws(infl, n_draws=33, weights=kind, seed=8)  # type: ignore[arg-type]
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
        two = multiplier_draws(infl, n_draws=33, weights=kind, seed=8)  # type: ignore[arg-type]
        chunked = multiplier_draws(infl, n_draws=33, weights=kind, seed=8, column_chunk=2)  # type: ignore[arg-type]
    finally:
        numba.set_num_threads(before)
    assert one.tobytes() == two.tobytes() == chunked.tobytes()
    other = multiplier_draws(infl, n_draws=33, weights=kind, seed=9)  # type: ignore[arg-type]
    assert not np.array_equal(one, other)


# ---------------------------------------------------------------------------------------------------------------
# the kernel's sums: bit for bit those of a plain loop adding one row group after the other
# ---------------------------------------------------------------------------------------------------------------


def _plain_subset_sums(x: np.ndarray, row0: int, key: np.uint64, n_draws: int, kind: str) -> np.ndarray:
    """Σ_{r: U_rb = 1} x[r, c] the plain way, in the kernel's order of additions: the row groups split into the
    kernel's 8 parts; in each part, from zero, each group's subset-sum row added in group order (the table built by
    ``table[2^k + s] = table[s] + x[row k]``); the parts added in order. Bytes from the plain-Python generator."""
    from cteimpact.did.multiplier import _N_PARTS

    rows, m = x.shape
    g0, g1 = row0 // 8, (row0 + rows - 1) // 8 + 1
    per = (g1 - g0 + _N_PARTS - 1) // _N_PARTS
    total = np.zeros((n_draws, m))
    for p in range(_N_PARTS):
        acc = np.zeros((n_draws, m))
        for g in range(g0 + p * per, min(g1, g0 + (p + 1) * per)):
            table = np.zeros((256, m))
            for bit in range(8):
                r = 8 * g + bit - row0
                row = x[r] if 0 <= r < rows else np.zeros(m)
                table[1 << bit: 2 << bit] = table[: 1 << bit] + row
            byte = [_py_byte(int(key), g, b, n_draws, kind) for b in range(n_draws)]
            acc = acc + table[byte]
        total = total + acc
    return total


@pytest.mark.parametrize("kind", ["mammen", "rademacher"])
@pytest.mark.parametrize(("rows", "row0", "n_cols"), [(2003, 0, 4), (613, 5, 5), (129, 3, 9), (64, 0, 1)])
def test_kernel_sums_equal_plain_loop_bit_for_bit(kind: str, rows: int, row0: int, n_cols: int) -> None:
    """Vector additions four columns at a time (columns padded to a multiple of four), four groups per pass, and
    the constant as a padding column or as integer bit counts: the same bits as the plain loop."""
    from cteimpact.did.multiplier import _column_subset_sums

    rng = np.random.default_rng(rows + n_cols)
    vals = np.asfortranarray(rng.normal(size=(rows, n_cols)) * 10.0 ** rng.integers(-3, 4, size=n_cols))
    key = _key(31)
    n_draws = 37
    alias = two_point(kind).alias  # type: ignore[arg-type]
    expected = _plain_subset_sums(vals, row0, key, n_draws, kind)
    got = _column_subset_sums(vals, np.arange(n_cols, dtype=np.int64), np.empty(0), np.int64(row0), key,
                              np.int64(n_draws), alias)
    assert got.tobytes() == expected.tobytes()
    # with the constant (-2) and weights (-1) among the columns
    w = rng.uniform(0.5, 2.0, size=rows)
    src = np.array([*range(n_cols), -1, -2], dtype=np.int64)
    x = np.column_stack([vals, w, np.ones(rows)])
    got = _column_subset_sums(vals, src, w, np.int64(row0), key, np.int64(n_draws), alias)
    assert got.tobytes() == _plain_subset_sums(x, row0, key, n_draws, kind).tobytes()


@pytest.mark.parametrize("kind", ["mammen", "rademacher"])
def test_constant_counts_over_many_passes(kind: str) -> None:
    """The constant's subset sums are exact counts also when a part's counts overflow the 16-bit pass counters
    (more than 2047 passes of four groups in each of the 8 parts)."""
    from cteimpact.did.multiplier import _PASSES16, _column_subset_sums

    rows, row0, n_draws = 600_003, 5, 3
    assert rows // 8 // 8 // 4 > _PASSES16
    key = _key(12)
    alias = two_point(kind).alias  # type: ignore[arg-type]
    vals = np.asfortranarray(np.zeros((rows, 4)))  # four columns: the constant counted in integers
    got = _column_subset_sums(vals, np.array([0, 1, 2, 3, -2], dtype=np.int64), np.empty(0), np.int64(row0), key,
                              np.int64(n_draws), alias)
    groups = np.arange(row0 // 8, (row0 + rows - 1) // 8 + 1)
    byte = np.empty((groups.size, n_draws), dtype=np.int64)
    for i, g in enumerate(groups):
        _draw_bytes(key, np.int64(g), np.int64(n_draws), alias, byte[i])
    bits = np.unpackbits(byte.astype(np.uint8)[:, :, None], axis=2, bitorder="little")  # groups × draws × 8
    r = np.arange(rows) + row0
    expected = bits[r // 8 - groups[0], :, r % 8].sum(axis=0)
    np.testing.assert_array_equal(got[:, 4], expected)
    np.testing.assert_array_equal(got[:, :4], 0.0)
