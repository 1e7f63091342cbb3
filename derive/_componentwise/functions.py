"""Elementwise functions of the gradient, with exact coefficients and canonical forms.

(Over 500 lines: one algebra, whose canonical form, arithmetic and derivative rules
must change together.)

On the slow manifold every componentwise nonlinearity of an adaptive optimizer acts,
at $h = 0$, on a function of $g = -\\nabla f$ alone (the second moment is $g \\odot g$,
the first $\\mp g$), so its Taylor coefficients in $h$ are functions of $g$ applied
componentwise: $|g|^{-1}$, $(|g| + \\varepsilon)^{-2}$, $(g^2 + \\varepsilon)^{-3/2}$, ...
This module is their algebra. With $a = |g|$ and $s = \\operatorname{sign} g$ (so
$g = s a$, and $s$ is locally constant away from zero components) an element is

$$c = \\sum_{\\text{key}} R_{\\text{key}}(a)\\, t_1^{e_1} \\cdots t_n^{e_n},$$

with $R$ an exact rational function of $a$ and the symbolic hyper-parameters (FLINT),
and $t_j$ generators: $s$, square roots $r = \\sqrt{P}$ ($r^2$ folds back into $P$),
signs $\\sigma = \\operatorname{sign} P$, $\\exp P$ and $\\log P$. Keys are kept
reduced ($s^2 = \\sigma^2 = 1$, $r^2 = P$), so two equal elements built by different
paths have the same representation (canonical form), and the field operations
(inverses by conjugates) stay exact. The derivative is $dc/dg = s\\, dc/da$.

Symbolic hyper-parameters are taken positive when deciding the sign of a quantity
(for $|\\cdot|$ and square roots); a quantity whose sign is not manifest gets a sign
generator instead, and every denominator that may vanish is recorded as a condition.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TypeAlias

import flint

from .._coefficients import (
    Coefficient,
    ExactNumber,
    RationalFunction,
    RationalFunctionField,
    rational_function_field,
)
from .._errors import DeriveError

__all__ = ["FunctionAlgebra", "Function", "Generator", "ABS_G", "Key"]

ABS_G = "_a"
"""The name of $a = |g|$ in the coefficient field (names starting with `_` are
reserved, so no hyper-parameter can take it)."""

Key: TypeAlias = tuple[tuple[int, int], ...]
"""Sparse exponents of the generators: `((index, exponent), ...)`, sorted."""

_PARITY = ("sign_g", "sign")
_KINDS = ("sign_g", "radical", "sign", "exp", "log")


@dataclass(eq=False)
class Generator:
    """One generator $t$ of the algebra: its kind and argument.

    `sign_g` is $s = \\operatorname{sign} g$; `radical` is $\\sqrt{P}$, `sign` is
    $\\operatorname{sign} P$, `exp` is $e^P$ and `log` is $\\log P$ for the argument
    $P$ (an element built from earlier generators only).
    """

    kind: str
    argument: Function | None
    index: int
    _da: Function | None = field(default=None, repr=False)


class FunctionAlgebra:
    """The elementwise functions of $g$ met in one derivation (one set of generators).

    **Arguments:**

    - `params`: the names of the symbolic hyper-parameters (taken positive).
    """

    def __init__(self, params: tuple[str, ...]):
        self.params = tuple(params)
        self.field: RationalFunctionField = rational_function_field(
            (*self.params, ABS_G)
        )
        self._ai = len(self.params)
        self.generators: list[Generator] = [Generator("sign_g", None, 0)]
        self._registry: dict[tuple[str, tuple[object, ...]], int] = {}
        self.conditions: list[Function] = []
        self._condition_keys: set[tuple[object, ...]] = set()
        self._monomials: dict[
            tuple[object, ...], list[tuple[RationalFunction, Function]]
        ] = {}
        self.zero = Function(self, {})
        self.one = self.constant(1)

    # ------------------------------------------------------------------ elements
    def constant(self, value: Coefficient | ExactNumber) -> Function:
        """A constant function (a number or a rational function of the parameters)."""
        rf = self.field.convert(value)
        return Function(self, {(): rf} if rf else {})

    def abs_g(self) -> Function:
        """$a = |g|$."""
        return Function(self, {(): self.field.gen(ABS_G)})

    def sign_g(self) -> Function:
        """$s = \\operatorname{sign} g$."""
        return Function(self, {((0, 1),): self.field.one})

    def g(self) -> Function:
        """$g = s\\,a$."""
        return Function(self, {((0, 1),): self.field.gen(ABS_G)})

    def generator(self, index: int) -> Function:
        return Function(self, {((index, 1),): self.field.one})

    def _generator(self, kind: str, argument: Function) -> Function:
        token = (kind, argument.key)
        index = self._registry.get(token)
        if index is None:
            index = len(self.generators)
            self.generators.append(Generator(kind, argument, index))
            self._registry[token] = index
        return self.generator(index)

    def require_nonzero(self, value: Function) -> None:
        """Record that `value` must not vanish (a denominator), unless it is
        manifestly nonzero."""
        if value.is_zero():
            raise DeriveError(
                "a denominator of the expansion vanishes identically at h = 0 on the "
                "slow manifold.",
                "Keep every quotient away from zero at h = 0, e.g. add eps > 0 to the "
                "denominator.",
            )
        if value.strictly_positive() or value.negated().strictly_positive():
            return
        if value.is_constant():
            return
        zeros = self._zero_set(value)
        if zeros is None:
            return
        key = zeros.abs_key()
        if key not in self._condition_keys:
            self._condition_keys.add(key)
            self.conditions.append(zeros)

    def _zero_set(self, value: Function) -> Function | None:
        """A simplest function with the same zeros as `value` (factors that are
        manifestly positive, or depend on the parameters alone, removed; powers
        reduced), or None if it has none."""
        if len(value.terms) != 1:
            return value
        ((key, r),) = value.terms.items()
        for i, _ in key:
            gen = self.generators[i]
            if gen.kind in ("radical", "log"):
                return value
        _, factors = r.num.factor()
        kept = self.field.one
        for f, _m in factors:
            rf = RationalFunction(f, self.field.poly_one, self.field, reduce=False)
            piece = Function(self, {(): rf})
            if piece.is_constant() or piece.strictly_positive():
                continue
            if piece.negated().strictly_positive():
                continue
            kept = kept * rf
        if kept == self.field.one:
            return None
        return Function(self, {(): kept})

    # ------------------------------------------------------------------ keys
    def multiply_keys(self, k1: Key, k2: Key) -> tuple[Key, list[Function]]:
        """The reduced product of two keys, and the radicands folded out of it."""
        if not k1:
            return k2, []
        if not k2:
            return k1, []
        exps = dict(k1)
        for i, e in k2:
            exps[i] = exps.get(i, 0) + e
        out: list[tuple[int, int]] = []
        folds: list[Function] = []
        for i in sorted(exps):
            e = exps[i]
            kind = self.generators[i].kind
            if kind in _PARITY:
                e %= 2
            elif kind == "radical":
                arg = self.generators[i].argument
                assert arg is not None
                for _ in range(e // 2):
                    folds.append(arg)
                e %= 2
            if e:
                out.append((i, e))
        return tuple(out), folds


class Function:
    """An elementwise function of $g$: an element of a
    [`FunctionAlgebra`][derive._componentwise.functions.FunctionAlgebra]."""

    __slots__ = ("algebra", "terms", "_key")

    def __init__(self, algebra: FunctionAlgebra, terms: dict[Key, RationalFunction]):
        self.algebra = algebra
        self.terms = terms
        self._key: tuple[object, ...] | None = None

    # ------------------------------------------------------------------ basics
    @property
    def key(self) -> tuple[object, ...]:
        """A hashable canonical form (equal functions have equal keys)."""
        if self._key is None:
            self._key = tuple(
                (k, str(r.num), str(r.den)) for k, r in sorted(self.terms.items())
            )
        return self._key

    def abs_key(self) -> tuple[object, ...]:
        """The key of $\\pm$ this function (the same for $c$ and $-c$)."""
        return min(self.key, self.negated().key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Function) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"Function({self.terms})"

    def is_zero(self) -> bool:
        return not self.terms

    def is_constant(self) -> bool:
        """Free of $a$ and of every generator (a function of the parameters alone)."""
        if not self.terms:
            return True
        if set(self.terms) != {()}:
            return False
        r = self.terms[()]
        ai = self.algebra._ai
        return all(m[ai] == 0 for m in r.num.monoms()) and all(
            m[ai] == 0 for m in r.den.monoms()
        )

    def constant_value(self) -> RationalFunction:
        """The value of a constant function, in $\\mathbb{Q}(\\text{params}, a)$."""
        if not self.terms:
            return self.algebra.field.zero
        return self.terms[()]

    def generators_used(self) -> set[int]:
        return {i for k in self.terms for i, _ in k}

    def items(self) -> Iterator[tuple[Key, RationalFunction]]:
        return iter(self.terms.items())

    # ------------------------------------------------------------------ arithmetic
    def _new(self, terms: dict[Key, RationalFunction]) -> Function:
        return Function(self.algebra, {k: v for k, v in terms.items() if v})

    def __add__(self, other: Function) -> Function:
        out = dict(self.terms)
        for k, v in other.terms.items():
            out[k] = out[k] + v if k in out else v
        return self._new(out)

    def __sub__(self, other: Function) -> Function:
        return self + other.negated()

    def negated(self) -> Function:
        return Function(self.algebra, {k: -v for k, v in self.terms.items()})

    def __neg__(self) -> Function:
        return self.negated()

    def scaled(self, c: Coefficient | ExactNumber) -> Function:
        """`c * self` for a number or a rational function of the parameters."""
        rf = self.algebra.field.convert(c)
        if not rf:
            return self.algebra.zero
        return self._new({k: v * rf for k, v in self.terms.items()})

    def __mul__(self, other: Function) -> Function:
        if not self.terms or not other.terms:
            return self.algebra.zero
        alg = self.algebra
        out: dict[Key, RationalFunction] = {}
        extra: list[Function] = []
        for k1, r1 in self.terms.items():
            for k2, r2 in other.terms.items():
                key, folds = alg.multiply_keys(k1, k2)
                r = r1 * r2
                if not folds:
                    out[key] = out[key] + r if key in out else r
                    continue
                term = Function(alg, {key: r})
                for p in folds:
                    term = term * p
                extra.append(term)
        result = self._new(out)
        for e in extra:
            result = result + e
        return result

    def power(self, n: int) -> Function:
        """`self**n` for an integer `n` (negative: of the inverse)."""
        if n < 0:
            return self.inverse().power(-n)
        result = self.algebra.one
        base = self
        while n:
            if n & 1:
                result = result * base
            n >>= 1
            if n:
                base = base * base
        return result

    def conjugate(self, index: int) -> Function:
        """The image under $t_{index} \\to -t_{index}$."""
        out: dict[Key, RationalFunction] = {}
        for k, v in self.terms.items():
            odd = any(i == index and e % 2 for i, e in k)
            out[k] = -v if odd else v
        return Function(self.algebra, out)

    def inverse(self) -> Function:
        """The multiplicative inverse (by conjugates; exact)."""
        if not self.terms:
            raise ZeroDivisionError("inverse of the zero function")
        alg = self.algebra
        if len(self.terms) == 1:
            ((k, r),) = self.terms.items()
            out = Function(alg, {(): alg.field.one / r})
            for i, e in k:
                kind = alg.generators[i].kind
                if kind in _PARITY:
                    out = out * alg.generator(i)
                elif kind == "radical":
                    arg = alg.generators[i].argument
                    assert arg is not None
                    out = out * alg.generator(i) * arg.inverse()
                elif kind == "exp":
                    out = out * Function(alg, {((i, -e),): alg.field.one})
                else:
                    raise DeriveError(
                        "a logarithm appears in a denominator of the expansion.",
                        "Avoid dividing by log(...) of a state, or use the "
                        "automatic-differentiation route (numerics.modified_field).",
                    )
            return out
        multiplier = alg.one
        norm = self
        while True:
            algebraic = [
                i
                for i in norm.generators_used()
                if alg.generators[i].kind in _PARITY + ("radical",)
            ]
            if not algebraic:
                break
            conj = norm.conjugate(max(algebraic))
            multiplier = multiplier * conj
            norm = norm * conj
        if len(norm.terms) != 1:
            raise DeriveError(
                "a sum of exponentials or logarithms appears in a denominator of the "
                "expansion, which the symbolic engine cannot invert exactly.",
                "Use the automatic-differentiation route (numerics.modified_field) "
                "for this optimizer.",
            )
        return multiplier * norm.inverse()

    def __truediv__(self, other: Function) -> Function:
        return self * other.inverse()

    # ------------------------------------------------------------------ signs
    def _term_sign(self, key: Key, r: RationalFunction) -> int:
        """+1 (manifestly >= 0), -1 (<= 0) or 0 (unknown) for one term."""
        alg = self.algebra
        for i, _ in key:
            if alg.generators[i].kind not in ("radical", "exp"):
                return 0
        sn = _poly_sign(r.num)
        sd = _poly_sign(r.den)
        return sn * sd

    def manifest_sign(self) -> int:
        """+1 if manifestly nonnegative, -1 if nonpositive, 0 if not manifest
        (hyper-parameters and $|g|$ taken nonnegative, roots and exponentials
        positive)."""
        signs = {self._term_sign(k, r) for k, r in self.terms.items()}
        if signs == {1}:
            return 1
        if signs == {-1}:
            return -1
        return 0

    def strictly_positive(self) -> bool:
        """Manifestly > 0: nonnegative, with a term that stays positive at $a = 0$
        (its numerator and denominator have terms free of $a$; parameters > 0)."""
        if self.manifest_sign() != 1:
            return False
        alg = self.algebra
        for k, r in self.terms.items():
            if (
                _free_term(r.num, alg._ai)
                and _free_term(r.den, alg._ai)
                and all(
                    alg.generators[i].kind == "exp"
                    or _strict_radical(alg, alg.generators[i])
                    for i, _ in k
                )
            ):
                return True
        return False

    # ------------------------------------------------------------------ functions
    def absolute(self) -> Function:
        """$|c|$, smooth away from the zeros of $c$ (recorded as a condition)."""
        alg = self.algebra
        if not self.terms:
            raise _nonsmooth("abs")
        if len(self.terms) == 1:
            ((k, r),) = self.terms.items()
            kept = tuple((i, e) for i, e in k if alg.generators[i].kind not in _PARITY)
            base = Function(alg, {kept: r})
            sign = base.manifest_sign()
            if sign:
                return base if sign > 0 else base.negated()
            n = base.normalized_sign()
            return alg._generator("sign", n) * n
        sign = self.manifest_sign()
        if sign:
            return self if sign > 0 else self.negated()
        n = self.normalized_sign()
        return alg._generator("sign", n) * n

    def normalized_sign(self) -> Function:
        """$\\pm$ this function, with a fixed choice of sign (the key of a sign
        generator, so that sign(c) and sign(-c) share one)."""
        return self if self.key <= self.negated().key else self.negated()

    def sqrt(self) -> Function:
        """$\\sqrt{c}$ for $c \\ge 0$ (exact where $c$ is a square, else a generator)."""
        alg = self.algebra
        if not self.terms:
            raise DeriveError(
                "a square root is taken of a quantity that vanishes at h = 0 on the "
                "slow manifold, where it is not smooth.",
                "Add eps > 0 under the square root (e.g. sqrt(v + eps)).",
            )
        if len(self.terms) == 1:
            ((k, r),) = self.terms.items()
            kinds = {alg.generators[i].kind for i, _ in k}
            if kinds & set(_PARITY):
                raise DeriveError(
                    "a square root is taken of a quantity whose sign changes with the "
                    "sign of a gradient component.",
                    "Take square roots of nonnegative quantities only (e.g. of the "
                    "second moment v ~ g*g).",
                )
            if not kinds:
                return _sqrt_rational(alg, r)
        if self.manifest_sign() < 0:
            raise DeriveError(
                "a square root is taken of a quantity that is negative at h = 0.",
                "Take square roots of nonnegative quantities only.",
            )
        return alg._generator("radical", self)

    def rational_power(self, exponent: Fraction) -> Function:
        """`self**exponent` for an integer or half-integer exponent."""
        if exponent.denominator == 1:
            return self.power(exponent.numerator)
        if exponent.denominator == 2:
            return self.sqrt().power(exponent.numerator)
        raise DeriveError(
            f"the power {exponent} is neither an integer nor a half-integer; the "
            "symbolic engine supports only these (and square roots).",
            "Use sqrt and integer powers, or the automatic-differentiation route "
            "(numerics.modified_field) for other powers.",
        )

    def _single_generator(self, kind: str) -> Function | None:
        """The argument of `self` if it is exactly one generator of `kind`."""
        if len(self.terms) != 1:
            return None
        ((key, r),) = self.terms.items()
        if len(key) != 1 or key[0][1] != 1 or r != self.algebra.field.one:
            return None
        gen = self.algebra.generators[key[0][0]]
        return gen.argument if gen.kind == kind else None

    def exp(self) -> Function:
        if not self.terms:
            return self.algebra.one
        inner = self._single_generator("log")
        if inner is not None:  # exp(log(c)) = c
            return inner
        return self.algebra._generator("exp", self)

    def log(self) -> Function:
        if self == self.algebra.one:
            return self.algebra.zero
        inner = self._single_generator("exp")
        if inner is not None:  # log(exp(c)) = c
            return inner
        self.algebra.require_nonzero(self)
        return self.algebra._generator("log", self)

    # ------------------------------------------------------------------ calculus
    def d_da(self) -> Function:
        """The total derivative $dc/da$ with respect to $a = |g|$."""
        alg = self.algebra
        out = alg.zero
        for k, r in self.terms.items():
            dr = _d_da(r, alg.field)
            if dr:
                out = out + Function(alg, {k: dr})
            for pos, (i, e) in enumerate(k):
                dg = _generator_d_da(alg, i)
                if dg.is_zero():
                    continue
                rest = (
                    k[:pos] + ((i, e - 1),) + k[pos + 1 :]
                    if e != 1
                    else k[:pos] + k[pos + 1 :]
                )
                term = Function(alg, {rest: r.field.convert(e) * r})
                out = out + term * dg
        return out

    def d_dg(self) -> Function:
        """$dc/dg = s\\, dc/da$ (away from zero gradient components)."""
        d = self.d_da()
        return d * self.algebra.sign_g() if d.terms else d

    # ------------------------------------------------------------------ monomials
    def monomials(self) -> list[tuple[RationalFunction, Function]]:
        """`[(lambda, phi), ...]` with $c = \\sum \\lambda \\phi$: $\\lambda$ a
        rational function of the parameters, $\\phi = a^i t^{\\text{key}} / \\hat D$
        one monomial of a numerator in $a$ over its denominator $\\hat D$ (monic in
        $a$).

        The canonical split of a direction of a derivative (by linearity) and of a
        coefficient into displayed terms."""
        alg = self.algebra
        got = alg._monomials.get(self.key)
        if got is not None:
            return got
        field = alg.field
        ai = alg._ai
        out: list[tuple[RationalFunction, Function]] = []
        for key, r in sorted(self.terms.items()):
            lead = _leading_in(r.den, ai, field).num
            groups: dict[int, dict[tuple[int, ...], flint.fmpq]] = {}
            for mono, coef in r.num.to_dict().items():
                zeroed = tuple(0 if j == ai else e for j, e in enumerate(mono))
                groups.setdefault(mono[ai], {})[zeroed] = coef
            gen_a = field.ctx.gens()[ai]
            for i in sorted(groups, reverse=True):
                lam = RationalFunction(field.ctx.from_dict(groups[i]), lead, field)
                phi = RationalFunction(gen_a**i * lead, r.den, field)
                out.append((lam, Function(alg, {key: phi})))
        alg._monomials[self.key] = out
        return out

    def content(self) -> RationalFunction:
        """The scalar content $\\lambda$ (a rational function of the parameters) with
        $c = \\lambda \\hat c$ and $\\hat c$ normalised: in the largest key, the
        leading coefficients in $a$ of numerator and denominator are equal."""
        if not self.terms:
            return self.algebra.field.zero
        k = max(self.terms)
        r = self.terms[k]
        ai = self.algebra._ai
        return _leading_in(r.num, ai, r.field) / _leading_in(r.den, ai, r.field)


def _nonsmooth(name: str) -> DeriveError:
    return DeriveError(
        f"{name} is applied to a quantity that vanishes at h = 0 on the slow manifold, "
        f"where {name} is not smooth.",
        "Apply abs only to quantities that stay away from zero (e.g. of the gradient).",
    )


def _leading_in(
    poly: flint.fmpq_mpoly, ai: int, field: RationalFunctionField
) -> RationalFunction:
    """The coefficient (a polynomial in the parameters) of the highest power of $a$."""
    top = max(m[ai] for m in poly.monoms())
    d = {m: c for m, c in poly.to_dict().items() if m[ai] == top}
    lead = field.ctx.from_dict(
        {tuple(e if j != ai else 0 for j, e in enumerate(m)): c for m, c in d.items()}
    )
    return RationalFunction(lead, field.poly_one, field, reduce=False)


def _free_term(poly: flint.fmpq_mpoly, ai: int) -> bool:
    """Whether `poly` has a term free of $a$."""
    return any(m[ai] == 0 for m in poly.monoms())


def _strict_radical(alg: FunctionAlgebra, gen: Generator) -> bool:
    return (
        gen.kind == "radical"
        and gen.argument is not None
        and gen.argument.strictly_positive()
    )


def _poly_sign(poly: flint.fmpq_mpoly) -> int:
    coeffs = [c for c in poly.coeffs()]
    if not coeffs:
        return 0
    if all(c > 0 for c in coeffs):
        return 1
    if all(c < 0 for c in coeffs):
        return -1
    return 0


def _d_da(r: RationalFunction, field: RationalFunctionField) -> RationalFunction:
    dn = r.num.derivative(ABS_G)
    dd = r.den.derivative(ABS_G)
    if dd.is_zero():
        if dn.is_zero():
            return field.zero
        return RationalFunction(dn, r.den, field)
    return RationalFunction(dn * r.den - r.num * dd, r.den * r.den, field)


def _generator_d_da(alg: FunctionAlgebra, index: int) -> Function:
    gen = alg.generators[index]
    if gen._da is not None:
        return gen._da
    if gen.kind in _PARITY:
        out = alg.zero
    else:
        arg = gen.argument
        assert arg is not None
        darg = arg.d_da()
        t = alg.generator(index)
        if gen.kind == "radical":  # d sqrt(P) = P'/(2 sqrt(P)) = P' sqrt(P)/(2P)
            out = darg * t * arg.inverse() if darg.terms else darg
            out = out.scaled(Fraction(1, 2))
        elif gen.kind == "exp":
            out = darg * t
        else:  # log
            out = darg * arg.inverse() if darg.terms else darg
    gen._da = out
    return out


def _sqrt_rational(alg: FunctionAlgebra, r: RationalFunction) -> Function:
    """$\\sqrt{R}$ for a rational function $R$ of $a$ and the parameters."""
    field = alg.field
    ai = alg._ai
    value = alg.one
    radicand_param = field.one
    radicand_a = field.one
    for poly, sign in ((r.num, 1), (r.den, -1)):
        c, factors = poly.factor()
        radicand_param = radicand_param * (
            field.convert(c) if sign > 0 else field.one / field.convert(c)
        )
        for f, m in factors:
            m = int(m)
            f_rf = RationalFunction(f, field.poly_one, field, reduce=False)
            depends = any(mono[ai] for mono in f.monoms())
            if not depends:
                piece = f_rf**m
                radicand_param = (
                    radicand_param * piece if sign > 0 else radicand_param / piece
                )
                continue
            half = m // 2
            if half:
                base = Function(alg, {(): f_rf})
                s = base.manifest_sign()
                if half % 2 and s == 0:
                    base = base.absolute()
                elif half % 2 and s < 0:
                    base = base.negated()
                value = value * (base.power(half) if sign > 0 else base.power(-half))
            if m % 2:
                radicand_a = radicand_a * f_rf
                if sign < 0:  # sqrt(1/f) = sqrt(f)/f
                    value = value * Function(alg, {(): field.one / f_rf})
    # the parameter part: exact when it is a square, else a generator
    param = Function(alg, {(): radicand_param})
    root = _exact_root(radicand_param, field)
    if root is not None:
        root_f = Function(alg, {(): root})
        s = root_f.manifest_sign()
        value = value * (root_f if s >= 0 else root_f.negated())
    elif param.manifest_sign() < 0:
        raise DeriveError(
            "a square root is taken of a quantity that is negative at h = 0.",
            "Take square roots of nonnegative quantities only.",
        )
    else:
        value = value * alg._generator("radical", param)
    if radicand_a != field.one:
        value = value * alg._generator("radical", Function(alg, {(): radicand_a}))
    return value


def _exact_root(
    r: RationalFunction, field: RationalFunctionField
) -> RationalFunction | None:
    try:
        n = r.num.sqrt()
        d = r.den.sqrt()
    except Exception:  # flint raises DomainError for a non-square
        return None
    return RationalFunction(n, d, field)
