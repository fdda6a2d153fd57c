"""Multiplier bootstrap of influence functions, chunked, without an ``n × B`` matrix.

Callaway & Sant'Anna (2021, section 4.1) perturb the influence function with i.i.d. mean-zero, unit-variance
multipliers ``V_ib`` (one per unit, or per cluster when clustering): a draw of an estimand is
``(1/n) Σ_i V_ib ψ_i``. Standard errors are the bootstrap interquartile range divided by that of the standard
normal, and the simultaneous (sup-t) critical value of a family is the ``1 − α`` quantile of
``max_k |draw_k / se_k|`` over the family (R ``did``'s ``mboot``).

Implementation
--------------
All draws of all estimands are linear in the draws of the extended influence base (cells, cohort-weight columns,
constant; see :mod:`cteimpact.did.influence`), so the bootstrap runs once, on the base, and estimand draws are
``draws_base @ L / n``.

The multipliers are two-point (Rademacher ±1, or Mammen's ``(1 ∓ √5)/2``), so ``V = a + (b − a) U`` with
``U ∈ {0, 1}`` and ``Σ_i V_ib x_i = a Σ_i x_i + (b − a) Σ_{i: U_ib = 1} x_i``. The kernel groups rows eight at a
time, tabulates the 256 subset sums of the eight rows, and adds one table row per draw: the work per draw is one
addition per eight rows, with no multiplier matrix ever stored. The base is read in place from the column-major
influence-function blocks (the weight and constant columns are not stored; a weight column equal to the constant,
as when unweighted, is not summed twice). The table's columns are padded with zeros to a multiple of four and its
rows added four columns at a time (LLVM vector additions: each lane is rounded as the scalar sum, so the results
are those of the scalar loop, bit for bit); four row groups' table rows are added per pass over the draws, in group
order. The constant's subset sums are counts of set bits: a padding column of the table when there is one,
otherwise counted in integers. The bytes of all draws of a row group are generated in vectorised loops (Mammen's
alias table read eight draws at a time by one vector gather). At ten million unit-years (two million units, 999
draws) the 250 million Mammen bytes take 125 million generator words, and the whole kernel about 0.5 s of CPU
time on this project's benchmark machine (about 1.25 s with four words per byte and scalar additions).

Bits
----
The bits ``U`` come from a counter-based generator: word ``i`` is SplitMix64's mixing function of
``key + γ (i + 1)``, with ``γ = 0x9E3779B97F4A7C15`` and the key derived from the seed
(:class:`numpy.random.SeedSequence`). Bit ``k`` of byte ``(g, b)`` is ``U`` of row ``8g + k`` in draw ``b``; the
word index is a function of the row group ``g``, the draw ``b`` and the number of draws only. Each bit therefore
depends only on the seed, the row and the draw, so results do not depend on chunk sizes or on the number of threads,
and the partial sums are combined in a fixed order: same seed, same draws, byte for byte.

* Rademacher (fair bits): byte ``(g, b)`` is byte ``b mod 8`` (least significant first) of word
  ``g ⌈B/8⌉ + ⌊b/8⌋``, for ``B`` draws.
* Mammen: byte ``(g, b)`` is drawn whole, from one 32-bit uniform ``u``, the low (``b`` even) or high (``b`` odd)
  half of word ``g ⌈B/2⌉ + ⌊b/2⌋``, through a 256-column alias table (Walker 1977; built by Vose's method in
  integer arithmetic, :data:`MAMMEN_ALIAS`): the top 8 bits of ``u`` pick column ``c``, its low 24 bits below the
  column's ``t_c`` give the byte ``c``, otherwise the column's alias. Each column holds 2^24 units of 2^-32, so
  byte ``j`` has probability exactly ``m_j / 2^32``, the integer masses :data:`MAMMEN_MASSES`. They depend only on
  the number of set bits ``k`` (the eight bits are exchangeable): ``m_k`` for ``k ≥ 1`` is ``⌊p_k 2^32⌋`` or that
  plus one, ``p_k = q^k (1 − q)^(8 − k)`` with Mammen's ``q = (√5 − 1) / (2√5)``, chosen (of the 2^8 ways)
  so that the bits' probability is nearest to ``q``, then so that the largest deviation from ``p_k`` is smallest,
  and ``m_0`` takes the rest so that the masses sum to exactly 2^32
  (:data:`MAMMEN_CLASS_MASSES`: 322835263, 123312098, 47101030, 17990992, 6871948, 2624851, 1002603, 382960,
  146277 for ``k = 0 … 8``).

  The realised distribution: each bit is 1 with probability ``q' = Σ_k C(7, k − 1) m_k / 2^32 =
  1187099765 / 2^32 = 0.27639320236630…`` (``q' − q = 1.16e-10``; ``q'`` is the multiple of 2^-32 nearest to
  ``q``, the probability of the previous scheme's 32-bit threshold, so the two points are the same). Every
  pattern's probability is within 2.1e-10 of the product ``q^k (1 − q)^(8 − k)`` (and of ``q'^k (1 − q')^(8 − k)``),
  and the total variation distance between a byte and eight independent bits of probability ``q'`` is 1.35e-8.
  The bits of a byte are not exactly independent: ``P(U_i = U_j = 1) − q'^2 = −3.67e-10`` for every pair of bits
  ``i ≠ j`` of a byte (a correlation of −1.8e-9); bits of different bytes come from different uniforms. The two
  points ``a = −√(q'/(1 − q'))``, ``b = √((1 − q')/q')`` give mean exactly 0 and variance exactly 1 at ``q'`` (up to
  rounding, 1e-16), and third moment 1 to within 1e-9. One 64-bit word gives two bytes (Mammen bits used to take
  one 32-bit comparison each, four words per byte).
"""

from __future__ import annotations

import itertools
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from cteimpact.did.influence import InfluenceFunctions
from cteimpact.errors import OptionError
from cteimpact.limits import check_memory

__all__ = [
    "MAMMEN_ALIAS",
    "MAMMEN_CLASS_MASSES",
    "MAMMEN_MASSES",
    "MultiplierWeights",
    "TwoPoint",
    "bootstrap_se_and_crit",
    "multiplier_draws",
    "quantile_type1",
    "sup_t_p_values",
    "two_point",
]

MultiplierWeights = Literal["mammen", "rademacher"]

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_N_PARTS = 8  # fixed number of partial sums (independent of the thread count, for determinism)


_COLUMNS = 256  # alias-table columns: the uniform's top 8 bits
_CAPACITY = 1 << 24  # units of 2^-32 per column: the uniform's low 24 bits


def _mammen_q() -> Fraction:
    """Mammen's ``q = (√5 − 1) / (2√5) = (5 − √5) / 10`` as a fraction, with √5 to within 2^-128."""
    scale = 128
    return Fraction(5 * (1 << scale) - math.isqrt(5 << (2 * scale)), 10 << scale)


def _mammen_class_masses() -> tuple[int, ...]:
    """Integer masses (units of 2^-32) of a byte of eight Mammen bits by its number of set bits ``k = 0 … 8``.

    A pattern with ``k`` set bits has probability ``p_k = q^k (1 − q)^(8 − k)``. For ``k ≥ 1`` the mass is
    ``⌊p_k 2^32⌋`` or that plus one, the 2^8 combinations searched for the one whose bits' probability
    ``q' = Σ_k C(7, k − 1) m_k / 2^32`` is nearest to ``q`` and, among those, whose largest ``|m_k 2^-32 − p_k|`` is
    smallest (then the first in lexicographic order of the choices); ``m_0`` takes the rest, so that the 256
    patterns' masses sum to exactly 2^32. Exact rational arithmetic throughout."""
    q = _mammen_q()
    x = [q ** k * (1 - q) ** (8 - k) * 2 ** 32 for k in range(9)]  # the exact masses
    floors = [math.floor(xk) for xk in x]
    off = [(abs(floors[k] - x[k]), abs(floors[k] + 1 - x[k])) for k in range(9)]  # |m_k - x_k| either way
    q_units = q * 2 ** 32
    best: tuple[Fraction, Fraction, tuple[int, ...]] | None = None
    masses: tuple[int, ...] = ()
    for choice in itertools.product((0, 1), repeat=8):
        m = [0] + [floors[k] + choice[k - 1] for k in range(1, 9)]
        m[0] = 2 ** 32 - sum(math.comb(8, k) * m[k] for k in range(1, 9))
        q_off = abs(sum(math.comb(7, k - 1) * m[k] for k in range(1, 9)) - q_units)
        key = (q_off, max(abs(m[0] - x[0]), *(off[k][choice[k - 1]] for k in range(1, 9))), choice)
        if best is None or key < best:
            best, masses = key, tuple(m)
    return masses


def _alias_table(masses: np.ndarray) -> np.ndarray:
    """Walker's alias table of the 256 integer ``masses`` (summing to 2^32), built by Vose's method in integers.

    Column ``c`` (the uniform's top 8 bits) holds 2^24 units: ``t_c`` of them (the low 24 bits below ``t_c``) give
    outcome ``c``, the others outcome ``alias_c``; every outcome's units over all columns add up to its mass exactly.
    Packed as ``t_c << 8 | alias_c`` in a ``uint32``; a column kept whole is stored as ``t_c = 0`` with
    ``alias_c = c`` (the same outcome for all its units)."""
    rest = [int(x) for x in masses]
    if len(rest) != _COLUMNS or sum(rest) != _COLUMNS * _CAPACITY or min(rest) < 0:
        raise ValueError("the alias table needs 256 non-negative masses summing to 2^32")
    small = [j for j in range(_COLUMNS) if rest[j] < _CAPACITY]
    large = [j for j in range(_COLUMNS) if rest[j] >= _CAPACITY]
    own = [_CAPACITY] * _COLUMNS
    alias = list(range(_COLUMNS))
    while small and large:
        s, g = small.pop(), large.pop()
        own[s], alias[s] = rest[s], g
        rest[g] -= _CAPACITY - rest[s]
        (small if rest[g] < _CAPACITY else large).append(g)
    # the columns left hold exactly 2^24 units each: their masses sum to 2^24 times their number, and none is below
    if small or any(rest[j] != _CAPACITY for j in large):
        raise ValueError("alias table construction left a column unbalanced")
    packed = [((t % _CAPACITY) << 8) | a for t, a in zip(own, alias, strict=True)]
    return np.array(packed, dtype=np.uint32)


def _popcounts() -> np.ndarray:
    return np.array([bin(j).count("1") for j in range(_COLUMNS)], dtype=np.int64)


MAMMEN_CLASS_MASSES = _mammen_class_masses()
"""Mass (units of 2^-32) of each byte pattern of eight Mammen bits by its number of set bits (see the module)."""
MAMMEN_MASSES = np.array(MAMMEN_CLASS_MASSES, dtype=np.int64)[_popcounts()]
"""Mass (units of 2^-32) of each of the 256 byte patterns of eight Mammen bits (bit ``i`` for row ``8g + i``)."""
MAMMEN_MASSES.flags.writeable = False
MAMMEN_ALIAS = _alias_table(MAMMEN_MASSES)
"""The alias table of :data:`MAMMEN_MASSES` the kernels draw Mammen bytes from (``t_c << 8 | alias_c``)."""
MAMMEN_ALIAS.flags.writeable = False
_MAMMEN_Q_UNITS = sum(math.comb(7, k - 1) * MAMMEN_CLASS_MASSES[k] for k in range(1, 9))
"""``q' 2^32``: the realised probability of each bit (an integer: ``q'`` is a multiple of 2^-32)."""
_FAIR = np.zeros(0, dtype=np.uint32)
_FAIR.flags.writeable = False


@dataclass(frozen=True)
class TwoPoint:
    """A two-point multiplier: ``a`` with probability ``1 − q``, ``b`` with probability ``q``.

    ``alias`` is the alias table the kernels draw a byte of eight bits from (one 32-bit uniform per byte), or empty
    for fair bits (one byte of a 64-bit word per byte)."""

    a: float
    b: float
    q: float
    alias: np.ndarray = field(compare=False, repr=False)


def two_point(kind: MultiplierWeights) -> TwoPoint:
    """Rademacher (±1 with probability 1/2) or Mammen (1993) multipliers, with the probability ``q`` the kernels
    realise (Mammen: ``q' = Σ_j m_j popcount(j) / (8 · 2^32)``, a multiple of 2^-32) and two points that give mean
    exactly 0 and variance exactly 1 at that probability."""
    if kind == "rademacher":
        return TwoPoint(-1.0, 1.0, 0.5, _FAIR)
    if kind == "mammen":
        qq = _MAMMEN_Q_UNITS / 2 ** 32
        return TwoPoint(-math.sqrt(qq / (1 - qq)), math.sqrt((1 - qq) / qq), qq, MAMMEN_ALIAS)
    raise OptionError(f"multiplier weights must be 'mammen' or 'rademacher', got {kind!r}")


@numba.njit(cache=True, inline="always")
def _mix64(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, inline="always")
def _alias_byte(u: Any, alias: np.ndarray) -> Any:
    """The byte of a 32-bit uniform ``u`` (held in a ``uint64``) through the alias table: its top 8 bits pick column
    ``c``, its low 24 bits below the column's ``t_c`` give ``c``, otherwise ``alias_c``."""
    c = u >> np.uint64(24)
    e = np.uint64(alias[c])
    return c if (u & np.uint64(0xFFFFFF)) < (e >> np.uint64(8)) else e & np.uint64(0xFF)


@numba.njit(cache=True, inline="always")
def _draw_byte(key: Any, group: Any, b: Any, n_draws: Any, alias: np.ndarray) -> Any:
    """The byte of eight bits (rows ``8 group … 8 group + 7``) of draw ``b``: fair bits are byte ``b % 8`` of word
    ``group ⌈n_draws / 8⌉ + ⌊b / 8⌋``; with an alias table, half ``b % 2`` (low 32 bits first) of word
    ``group ⌈n_draws / 2⌉ + ⌊b / 2⌋`` through the table. Word ``i`` is ``mix64(key + γ (i + 1))``."""
    if alias.size == 0:
        nwords = (n_draws + 7) // 8
        ctr = np.uint64(group * nwords + b // 8)
        word = _mix64(key + _GAMMA * (ctr + np.uint64(1)))
        return np.int64((word >> np.uint64(8 * (b % 8))) & np.uint64(0xFF))
    nwords = (n_draws + 1) // 2
    ctr = np.uint64(group * nwords + b // 2)
    word = _mix64(key + _GAMMA * (ctr + np.uint64(1)))
    u = (word >> np.uint64(32 * (b % 2))) & np.uint64(0xFFFFFFFF)
    return np.int64(_alias_byte(u, alias))


@numba.njit(cache=True, nogil=True)
def _fair_bytes(key: Any, group: Any, n_draws: Any, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """The fair bits' bytes of :func:`_draw_bytes` (empty alias table): one word per eight draws, its bytes in order,
    stored in ``out``'s integer type (the values are 0 … 255 whatever it is)."""
    nwords = (n_draws + 7) // 8
    for wi in range(nwords):
        ctr = np.uint64(group * nwords + wi)
        word = _mix64(key + _GAMMA * (ctr + np.uint64(1)))
        for k in range(8):
            b = wi * 8 + k
            if b < n_draws:
                out[b] = (word >> np.uint64(8 * k)) & np.uint64(0xFF)


@numba.njit(cache=True)
def _draw_bytes(key: Any, group: Any, n_draws: Any, alias: np.ndarray, out: np.ndarray) -> None:
    """``out[b] = _draw_byte(key, group, b, ...)`` for every draw ``b``: fair bits take one word per eight draws."""
    if alias.size == 0:
        _fair_bytes(key, group, n_draws, out)
        return
    for b in range(n_draws):
        out[b] = _draw_byte(key, group, b, n_draws, alias)


def _contiguous(*arrays: Any) -> bool:
    """Whether numba types are all one-dimensional C-contiguous arrays (what the vector intrinsics read and write
    through their data pointers); otherwise an intrinsic does not type, and numba says so."""
    return all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" for a in arrays)


def _alias_eight_typed(typingctx: Any, words: Any, i: Any, alias: Any, out: Any, j: Any
                       ) -> Any:  # pragma: no cover - compiled
    """``out[j + k] = _alias_byte(u_k, alias)`` for ``k < 8`` at once, ``u_{2l}`` and ``u_{2l+1}`` the low and high
    halves of ``words[i + l]`` (``l < 4``): the uniforms split by shifts (not by the memory's byte order), the
    table read by one vector gather (``llvm.masked.gather``, which LLVM lowers to scalar loads where the machine has
    no gather), the comparison and choice in vectors. The same bytes as :func:`_alias_byte`. ``words`` (uint64),
    ``alias`` (uint32, 256 entries) and ``out`` (uint8) are contiguous; indices are in range (not checked)."""
    if not _contiguous(words, alias, out):
        return None
    sig = types.void(words, i, alias, out, j)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ts = signature.args
        i1, i8, i32, i64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
        v4w, v4, v8, v8w = ir.VectorType(i64, 4), ir.VectorType(i32, 4), ir.VectorType(i32, 8), ir.VectorType(i64, 8)

        def data(k: int) -> Any:
            return context.make_array(ts[k])(context, builder, args[k]).data

        w = builder.load(builder.bitcast(builder.gep(data(0), [args[1]]), v4w.as_pointer()), align=8)
        low = builder.trunc(w, v4)
        high = builder.trunc(builder.lshr(w, ir.Constant(v4w, [32] * 4)), v4)
        u = builder.shuffle_vector(low, high, ir.Constant(v8, [0, 4, 1, 5, 2, 6, 3, 7]))
        column = builder.lshr(u, ir.Constant(v8, [24] * 8))
        base = builder.insert_element(ir.Constant(v8w, ir.Undefined), builder.ptrtoint(data(2), i64),
                                      ir.Constant(i32, 0))
        base = builder.shuffle_vector(base, ir.Constant(v8w, ir.Undefined), ir.Constant(v8, [0] * 8))
        offset = builder.shl(builder.zext(column, v8w), ir.Constant(v8w, [2] * 8))  # 4 bytes an entry
        pointer = i32.as_pointer()
        pointers = builder.inttoptr(builder.add(base, offset), ir.VectorType(pointer, 8))
        gather = builder.module.declare_intrinsic(
            f"llvm.masked.gather.v8i32.v8{pointer.intrinsic_name}",
            fnty=ir.FunctionType(v8, [ir.VectorType(pointer, 8), i32, ir.VectorType(i1, 8), v8]))
        entry = builder.call(gather, [pointers, ir.Constant(i32, 4), ir.Constant(ir.VectorType(i1, 8), [1] * 8),
                                      ir.Constant(v8, ir.Undefined)])
        own = builder.icmp_unsigned("<", builder.and_(u, ir.Constant(v8, [0xFFFFFF] * 8)),
                                    builder.lshr(entry, ir.Constant(v8, [8] * 8)))
        byte = builder.select(own, column, builder.and_(entry, ir.Constant(v8, [0xFF] * 8)))
        target = builder.bitcast(builder.gep(data(3), [args[4]]), ir.VectorType(i8, 8).as_pointer())
        builder.store(builder.trunc(byte, ir.VectorType(i8, 8)), target, align=1)
        return context.get_dummy_value()

    return sig, codegen


_alias_eight: Any = intrinsic(_alias_eight_typed)


@numba.njit(cache=True, nogil=True)
def _group_bytes(key: Any, group: Any, n_draws: Any, alias: np.ndarray, words: np.ndarray,
                 out: np.ndarray) -> None:  # pragma: no cover - compiled
    """:func:`_draw_bytes` into ``uint8`` bytes (``out``, contiguous): the words in a loop the compiler vectorises
    (``words``, scratch of at least ``⌈n_draws / 2⌉`` ``uint64``), then each draw's half word through the alias
    table, eight draws at a time by :func:`_alias_eight` (the last ``n_draws mod 8`` one by one). The same
    bytes."""
    if alias.size == 0:
        _fair_bytes(key, group, n_draws, out)
        return
    nwords = (n_draws + 1) // 2
    base = key + _GAMMA * (np.uint64(group * nwords) + np.uint64(1))
    for i in range(nwords):
        words[i] = _mix64(base + _GAMMA * np.uint64(i))
    n_eights = n_draws // 8
    for k in range(n_eights):
        _alias_eight(words, 4 * k, alias, out, 8 * k)
    for b in range(8 * n_eights, n_draws):
        u = (words[b >> 1] >> np.uint64(32 * (b & 1))) & np.uint64(0xFFFFFFFF)
        out[b] = np.uint8(_alias_byte(u, alias))


_LANES = 4
"""Doubles added at once (one vector): the table columns are padded to a multiple of it."""


def _lanes_pointer(context: Any, builder: Any, aryty: Any, ary: Any, index: Any) -> Any:
    """A pointer to ``_LANES`` doubles of a contiguous array from ``index`` on (LLVM IR of :func:`_add_lanes`)."""
    data = context.make_array(aryty)(context, builder, ary).data
    return builder.bitcast(builder.gep(data, [index]), ir.VectorType(ir.DoubleType(), _LANES).as_pointer())


def _add_lanes_typed(typingctx: Any, dst: Any, i_dst: Any, x: Any, i_x: Any, t0: Any, i0: Any, t1: Any, i1: Any,
                     t2: Any, i2: Any, t3: Any, i3: Any) -> Any:  # pragma: no cover - compiled
    """``dst[i_dst + l] = (((x[i_x + l] + t0[i0 + l]) + t1[i1 + l]) + t2[i2 + l]) + t3[i3 + l]`` for the lanes
    ``l < _LANES`` at once: one vector per operand (plain LLVM vector additions, each lane rounded as the scalar
    sum, so the same bits as the loop over ``l``). The arrays are contiguous float64 arrays and every index is in
    range (not checked). Pass a zero array for a missing operand only where adding 0.0 leaves the sum unchanged."""
    if not _contiguous(dst, x, t0, t1, t2, t3):
        return None
    sig = types.void(dst, i_dst, x, i_x, t0, i0, t1, i1, t2, i2, t3, i3)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ts = signature.args
        total = builder.load(_lanes_pointer(context, builder, ts[2], args[2], args[3]), align=8)
        for k in range(4, 12, 2):
            term = builder.load(_lanes_pointer(context, builder, ts[k], args[k], args[k + 1]), align=8)
            total = builder.fadd(total, term)
        builder.store(total, _lanes_pointer(context, builder, ts[0], args[0], args[1]), align=8)
        return context.get_dummy_value()

    return sig, codegen


_add_lanes: Any = intrinsic(_add_lanes_typed)


def _add_two_typed(typingctx: Any, dst: Any, i_dst: Any, x: Any, i_x: Any, y: Any, i_y: Any
                   ) -> Any:  # pragma: no cover - compiled
    """``dst[i_dst + l] = x[i_x + l] + y[i_y + l]`` for the lanes ``l < _LANES`` at once (as :func:`_add_lanes`)."""
    if not _contiguous(dst, x, y):
        return None
    sig = types.void(dst, i_dst, x, i_x, y, i_y)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ts = signature.args
        a = builder.load(_lanes_pointer(context, builder, ts[2], args[2], args[3]), align=8)
        b = builder.load(_lanes_pointer(context, builder, ts[4], args[4], args[5]), align=8)
        builder.store(builder.fadd(a, b), _lanes_pointer(context, builder, ts[0], args[0], args[1]), align=8)
        return context.get_dummy_value()

    return sig, codegen


_add_two: Any = intrinsic(_add_two_typed)


@numba.njit(cache=True, inline="always")
def _bit_count(x: Any) -> Any:
    """The set bits of a ``uint8`` (byte arithmetic, vectorised in loops)."""
    x = x - ((x >> np.uint8(1)) & np.uint8(0x55))
    x = (x & np.uint8(0x33)) + ((x >> np.uint8(2)) & np.uint8(0x33))
    return (x + (x >> np.uint8(4))) & np.uint8(0x0F)


_PASSES16 = 2047
"""Passes of four groups whose bit counts (at most 32 a pass) are added in 16 bits before they are added to the
64-bit counts (2047 · 32 < 2^16)."""

_GROUPS_AT_ONCE = 4
"""Row groups whose table rows are added to a draw's partial sums in one pass (in group order, so the sums are
those of one group at a time, bit for bit; the partial sums are read and written once per four groups)."""


@numba.njit(cache=True, nogil=True)
def _part_sums(vals: np.ndarray, src: np.ndarray, w: np.ndarray, row0: Any, key: Any, n_draws: Any, alias: np.ndarray,
               start: Any, stop: Any, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """``out[b, c] = Σ U_rb x_c[r]`` over the rows of row groups ``start … stop − 1``, added group after group.

    Column ``c`` is ``vals[:, src[c]]`` (``src[c] >= 0``), the weights ``w`` (``-1``) or the constant 1 (``-2``), read
    in place (``vals`` column-major: each column's eight rows of a group are adjacent). For each group: the 256
    subset sums of its eight rows (a table of ``m`` columns, padded with zeros to a multiple of :data:`_LANES`) and
    the bytes of all draws; then, four groups at a time, each draw's four table rows added to its partial sums in
    group order, :data:`_LANES` columns at once (so the additions into ``out[b, c]`` are those of one group after
    the other). The constant's subset sums are counts of set bits: a padding column of ones in the table when there
    is one, otherwise counted in integers (exact either way, so equal to each other). ``out`` holds zeros on entry.
    Runs without the GIL.
    """
    r = vals.shape[0]
    n_cols = src.size
    const = -1
    m_real = 0
    for c in range(n_cols):
        if src[c] == -2 and const < 0:
            const = c
        else:
            m_real += 1
    in_table = const >= 0 and m_real % _LANES != 0  # the constant in a padding column of the table
    n_summed = m_real + 1 if in_table else m_real
    cols = np.empty(n_summed, dtype=np.int64)  # the columns summed through the tables
    k = 0
    for c in range(n_cols):
        if c != const:
            cols[k] = c
            k += 1
    if in_table:
        cols[k] = const
    m = (n_summed + _LANES - 1) // _LANES * _LANES
    n_at_once = _GROUPS_AT_ONCE
    tables = np.zeros((n_at_once, 256 * m))
    draws = np.empty((n_at_once, n_draws), dtype=np.uint8)
    inside = np.zeros(n_at_once, dtype=np.uint8)  # the rows of each group inside the block (bits)
    words = np.empty((n_draws + 1) // 2, dtype=np.uint64)
    row_values = np.zeros(m)  # a row's values (zeros in the padding)
    zeros = np.zeros(m)
    acc = np.zeros(n_draws * m)
    counts = np.zeros(n_draws, dtype=np.int64)
    counts16 = np.zeros(n_draws, dtype=np.uint16)  # the last passes' counts (at most 32 a pass)
    passes16 = 0
    j = start
    while j < stop:
        n_groups = min(n_at_once, stop - j)
        for gi in range(n_groups):
            table = tables[gi]  # table[s * m + c]: the sum of column c over the rows of subset s; s = 0 stays 0
            rows_in = 0
            for bit in range(8):
                row = (j + gi) * 8 + bit - row0
                size = 1 << bit
                if 0 <= row < r:
                    rows_in |= size
                    for c in range(n_summed):
                        kk = src[cols[c]]
                        row_values[c] = vals[row, kk] if kk >= 0 else (w[row] if kk == -1 else 1.0)
                    for s in range(size):  # table[size + s] = table[s] + the row, for every s < size
                        for c in range(0, m, _LANES):
                            _add_two(table, (size + s) * m + c, table, s * m + c, row_values, c)
                else:
                    for i in range(size * m):
                        table[size * m + i] = table[i]
            inside[gi] = rows_in
            _group_bytes(key, j + gi, n_draws, alias, words, draws[gi])
        d0, d1, d2, d3 = draws[0], draws[1], draws[2], draws[3]
        if n_groups == n_at_once:
            t0, t1, t2, t3 = tables[0], tables[1], tables[2], tables[3]
            for b in range(n_draws):
                at = b * m
                r0 = np.int64(d0[b]) * m
                r1 = np.int64(d1[b]) * m
                r2 = np.int64(d2[b]) * m
                r3 = np.int64(d3[b]) * m
                for c in range(0, m, _LANES):
                    _add_lanes(acc, at + c, acc, at + c, t0, r0 + c, t1, r1 + c, t2, r2 + c, t3, r3 + c)
            if const >= 0 and not in_table:
                k0, k1, k2, k3 = inside[0], inside[1], inside[2], inside[3]
                for b in range(n_draws):  # bits set among the rows inside (byte arithmetic, vectorised)
                    counts16[b] += np.uint16(_bit_count(d0[b] & k0) + _bit_count(d1[b] & k1)
                                             + _bit_count(d2[b] & k2) + _bit_count(d3[b] & k3))
                passes16 += 1
                if passes16 == _PASSES16:
                    for b in range(n_draws):
                        counts[b] += counts16[b]
                        counts16[b] = 0
                    passes16 = 0
        else:
            for gi in range(n_groups):
                table = tables[gi]
                group_draws = draws[gi]
                for b in range(n_draws):
                    at = b * m
                    row_at = np.int64(group_draws[b]) * m
                    for c in range(0, m, _LANES):
                        _add_lanes(acc, at + c, acc, at + c, table, row_at + c, zeros, 0, zeros, 0, zeros, 0)
                if const >= 0 and not in_table:
                    mask = inside[gi]
                    for b in range(n_draws):
                        counts[b] += _bit_count(group_draws[b] & mask)
        j += n_groups
    for b in range(n_draws):
        counts[b] += counts16[b]
        for c in range(n_summed):
            out[b, cols[c]] = acc[b * m + c]
        if const >= 0 and not in_table:
            out[b, const] = float(counts[b])


@numba.njit(cache=True, nogil=True)
def _column_sums(vals: np.ndarray, src: np.ndarray, w: np.ndarray, out: np.ndarray
                 ) -> None:  # pragma: no cover - compiled
    """``out[c]`` = the sum of column ``c`` (as in :func:`_part_sums`) from its first row to its last, one after
    the other: the order, and so the bits, of ``block.sum(axis=0)`` of a row-major block holding the columns."""
    r = vals.shape[0]
    for c in range(src.size):
        k = src[c]
        if r == 0:
            out[c] = 0.0
            continue
        total = vals[0, k] if k >= 0 else (w[0] if k == -1 else 1.0)
        for i in range(1, r):
            total += vals[i, k] if k >= 0 else (w[i] if k == -1 else 1.0)
        out[c] = total


def _subset_sums(block: np.ndarray, row0: Any, key: Any, n_draws: Any, alias: np.ndarray) -> np.ndarray:
    """``out[b, c] = Σ_{rows r with U_rb = 1} block[r, c]`` (rows are global rows ``row0 …``)."""
    vals = np.asfortranarray(block, dtype=np.float64)
    return _column_subset_sums(vals, np.arange(vals.shape[1], dtype=np.int64), np.empty(0), row0, key, n_draws,
                               alias)


def _column_subset_sums(vals: np.ndarray, src: np.ndarray, w: np.ndarray, row0: Any, key: Any, n_draws: Any,
                        alias: np.ndarray) -> np.ndarray:
    """``out[b, c] = Σ_{rows r with U_rb = 1} x_c[r]`` for the columns ``x_c`` that ``src`` picks (see
    :func:`_part_sums`; rows are global rows ``row0 …``)."""
    return _batch_subset_sums([(vals, src, w, int(row0))], key, n_draws, alias)[0]


_Job = tuple[np.ndarray, np.ndarray, np.ndarray, int]
"""Columns of one segment for :func:`_part_sums`: values, sources, weights, first row."""


def _batch_subset_sums(jobs: list[_Job], key: Any, n_draws: Any, alias: np.ndarray) -> list[np.ndarray]:
    """:func:`_column_subset_sums` of several column sets (segments) at once.

    Each set's row groups are split into a fixed number of parts (:data:`_N_PARTS`); the parts' partial sums are
    computed by :func:`_part_sums`, all parts of all sets sharing one pool of threads (at most
    :func:`numba.get_num_threads`; one wait for all, so that a thread slowed by another process holds up the others
    once), and each set's parts are added in a fixed order, so the result does not depend on the number of
    threads. Python threads running a kernel that releases the GIL are used rather than a numba parallel loop,
    whose OpenMP threading layer spins and slows down many times over when the cores are shared with other
    processes.
    """
    n_draws = int(n_draws)
    args = (np.uint64(key), np.int64(n_draws), np.ascontiguousarray(alias, dtype=np.uint32))
    tasks: list[tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int, np.ndarray]] = []
    all_parts = []
    n_rows = 0
    for vals, src, w, row0 in jobs:
        r = vals.shape[0]
        parts = np.zeros((_N_PARTS, n_draws, src.size))
        all_parts.append(parts)
        if r == 0:
            continue
        n_rows += r
        g0 = row0 // 8
        g1 = (row0 + r - 1) // 8
        per = (g1 - g0 + 1 + _N_PARTS - 1) // _N_PARTS
        for p in range(_N_PARTS):
            start, stop = g0 + p * per, min(g1 + 1, g0 + (p + 1) * per)
            if start < stop:
                tasks.append((vals, src, w, row0, start, stop, parts[p]))

    def run(task: tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int, np.ndarray]) -> None:
        vals, src, w, row0, start, stop, part = task
        _part_sums(vals, src, w, np.int64(row0), *args, np.int64(start), np.int64(stop), part)

    n_threads = max(1, min(int(numba.get_num_threads()), len(tasks)))
    if n_threads == 1 or n_rows < 8 * 4096:
        for task in tasks:
            run(task)
    else:
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            list(pool.map(run, tasks))
    outs = []
    for parts in all_parts:
        out = np.zeros(parts.shape[1:])
        for p in range(_N_PARTS):
            out += parts[p]
        outs.append(out)
    return outs


def _key(seed: int | None) -> np.uint64:
    ss = np.random.SeedSequence(seed)
    return np.uint64(ss.generate_state(1, dtype=np.uint64)[0])


def multiplier_draws(
    infl: InfluenceFunctions,
    *,
    n_draws: int,
    weights: MultiplierWeights = "mammen",
    seed: int | None = None,
    row_cluster: np.ndarray | None = None,
    n_clusters: int | None = None,
    column_chunk: int = 48,
) -> np.ndarray:
    """Bootstrap draws ``Σ_i V_ib B_i`` of the extended influence base (``n_draws × n_base``; not yet divided by n).

    With ``row_cluster``, the base is first summed within clusters and one multiplier is drawn per cluster
    (Callaway & Sant'Anna 2021, Remark 10).
    """
    if n_draws < 1:
        raise OptionError(f"the number of bootstrap draws must be positive, got {n_draws}")
    tp = two_point(weights)
    key = _key(seed)
    nb = infl.n_base
    # the draws of the base with the kernel's partial sums of one column chunk, then the draws rescaled
    per = max(nb + (_N_PARTS + 1) * min(column_chunk, nb), 3 * nb)
    check_memory(int(n_draws), 8 * per, items="draws", breakdown=f"{per:,} values × 8 bytes",
                 what=f"the multiplier bootstrap ({nb:,} influence-function columns)",
                 option="--bootstrap, [design.inference] bootstrap")
    out = np.zeros((n_draws, nb))
    colsum = np.zeros(nb)
    # the column sets of every segment (split in chunks of at most column_chunk distinct columns), run in batches of
    # at most min(column_chunk, nb) columns: one pool of threads per batch (the partial sums of a batch are what the
    # memory check counts)
    limit = min(column_chunk, nb)
    plans: list[tuple[np.ndarray, np.ndarray, np.ndarray, int, _Job]] = []
    for row0, cols, vals, src, w in _base_columns(infl, row_cluster, n_clusters):
        sums = np.empty(src.size)
        _column_sums(vals, src, w, sums)
        colsum[cols] += sums
        # equal columns (the comparison units' influence functions of cells with the same periods, a cohort's
        # weight column and the constant when unweighted) have equal subset sums: compute them once, the constant
        # first (its sums are counts of set bits, not a column of the tables)
        order = np.argsort(src != -2, kind="stable")
        first_in_order = _first_equal_column([_column(vals, k, w) for k in src[order]], sums[order])
        first = order[first_in_order[np.argsort(order)]]
        distinct = np.flatnonzero(first == np.arange(first.size))
        where = np.empty(first.size, dtype=np.int64)
        where[distinct] = np.arange(distinct.size)
        for c0 in range(0, distinct.size, column_chunk):
            plans.append((cols, first, where, c0, (vals, src[distinct[c0:c0 + column_chunk]], w, int(row0))))
    batch: list[tuple[np.ndarray, np.ndarray, np.ndarray, int, _Job]] = []
    width = 0
    for i, plan in enumerate(plans):
        batch.append(plan)
        width += plan[4][1].size
        if i + 1 == len(plans) or width + plans[i + 1][4][1].size > limit:
            results = _batch_subset_sums([job for *_, job in batch], key, n_draws, tp.alias)
            # added in segment order, chunk after chunk (the order of the additions into ``out`` is fixed)
            for (cols, first, where, c0, _), res in zip(batch, results, strict=True):
                for j in np.flatnonzero((where[first] >= c0) & (where[first] < c0 + column_chunk)):
                    out[:, cols[j]] += res[:, where[first[j]] - c0]
            batch, width = [], 0
    return tp.a * colsum[None, :] + (tp.b - tp.a) * out


def _base_columns(infl: InfluenceFunctions, row_cluster: np.ndarray | None, n_clusters: int | None
                  ) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The extended base by segment, as :meth:`InfluenceFunctions.base_blocks` orders its columns but read in
    place: ``(first row, base columns, values, sources, weights)``, where column ``c`` of the segment is
    ``values[:, sources[c]]`` (``>= 0``), the weights (``-1``) or the constant (``-2``; see :func:`_part_sums`).
    With clusters, one block of the cluster sums."""
    if row_cluster is not None:
        if n_clusters is None:
            raise OptionError("n_clusters is needed with row_cluster")
        sums = np.asfortranarray(infl.cluster_sums(row_cluster, n_clusters))
        return [(0, np.arange(infl.n_base), sums, np.arange(infl.n_base, dtype=np.int64), np.empty(0))]
    k = infl.n_cells
    const_col = k + infl.groups.size
    out = []
    for s, (cols, vals) in enumerate(zip(infl.seg_cols, infl.seg_vals, strict=True)):
        a, b = int(infl.seg_bounds[s]), int(infl.seg_bounds[s + 1])
        gi = np.flatnonzero(infl.groups == infl.seg_cohort[s])
        src = list(range(vals.shape[1]))
        base = [int(c) for c in cols]
        if gi.size:
            src.append(-1)
            base.append(k + int(gi[0]))
        src.append(-2)
        base.append(const_col)
        out.append((a, np.asarray(base, dtype=np.int64), np.asfortranarray(vals, dtype=np.float64),
                    np.asarray(src, dtype=np.int64), np.ascontiguousarray(infl.row_weight[a:b], dtype=np.float64)))
    return out


def _column(vals: np.ndarray, k: int, w: np.ndarray) -> np.ndarray:
    """Column ``k`` of :func:`_base_columns`'s segment (a view; the constant as an array of ones)."""
    if k >= 0:
        return vals[:, k]
    return w if k == -1 else np.ones(vals.shape[0])


def _first_equal_column(block: np.ndarray | list[np.ndarray], sums: np.ndarray) -> np.ndarray:
    """For each column of ``block`` (a matrix, or a list of its columns), the first column equal to it element for
    element (itself if none)."""
    columns = [block[:, j] for j in range(block.shape[1])] if isinstance(block, np.ndarray) else block
    m = len(columns)
    first = np.arange(m)
    for j in range(1, m):
        for i in range(j):
            if first[i] == i and sums[i] == sums[j] and np.array_equal(columns[i], columns[j]):
                first[j] = i
                break
    return first


def quantile_type1(x: np.ndarray, p: float, axis: int = 0) -> np.ndarray:
    """R's ``quantile(type = 1)``: the order statistic ``x_(ceil(n p))`` (inverse of the empirical CDF)."""
    xs = np.sort(x, axis=axis)
    n = xs.shape[axis]
    k = max(math.ceil(n * p) - 1, 0)
    return np.take(xs, k, axis=axis)


_IQR_NORMAL = 1.3489795003921634  # qnorm(.75) - qnorm(.25)


def bootstrap_se_and_crit(draws: np.ndarray, families: dict[str, np.ndarray], *, alpha: float = 0.05
                          ) -> tuple[np.ndarray, dict[str, float]]:
    """Bootstrap standard errors (IQR / 1.349) of each column of ``draws`` (``B × m``), and the sup-t critical
    value of each family (column index arrays), as in R ``did``'s ``mboot``. Columns with a zero bootstrap scale
    get a missing standard error and are left out of the sup-t maximum."""
    q75 = quantile_type1(draws, 0.75, axis=0)
    q25 = quantile_type1(draws, 0.25, axis=0)
    se = (q75 - q25) / _IQR_NORMAL
    se = np.where(se > 0, se, np.nan)
    crits: dict[str, float] = {}
    for name, idx in families.items():
        idx = np.asarray(idx, dtype=np.int64)
        idx = idx[np.isfinite(se[idx])]
        if idx.size == 0:
            crits[name] = math.nan
            continue
        tstat = np.abs(draws[:, idx] / se[idx]).max(axis=1)
        crits[name] = float(quantile_type1(tstat, 1 - alpha))
    return se, crits


def sup_t_p_values(draws: np.ndarray, families: dict[str, np.ndarray], se: np.ndarray,
                   estimates: np.ndarray) -> np.ndarray:
    """Simultaneous (sup-t) p-values of the estimates of each family: the share of bootstrap draws whose largest
    studentised deviation over the family, ``max_k |draws_k / se_k|``, reaches the estimate's ``|θ̂_j / se_j|``.
    An estimate lies outside its family's simultaneous band exactly when this p-value is below α (the band's
    critical value is the 1 − α quantile of the same maximum). Columns outside every family, or without a standard
    error, get NaN."""
    out = np.full(draws.shape[1], np.nan)
    for idx in families.values():
        idx = np.asarray(idx, dtype=np.int64)
        idx = idx[np.isfinite(se[idx])]
        if idx.size == 0:
            continue
        tmax = np.sort(np.abs(draws[:, idx] / se[idx]).max(axis=1))
        t_obs = np.abs(estimates[idx] / se[idx])
        # share of draws with tmax >= t_obs (a small tolerance so that a draw equal to the estimate counts)
        below = np.searchsorted(tmax, t_obs * (1 - 1e-12), side="left")
        out[idx] = (tmax.size - below) / tmax.size
    return out
