"""Leafwise arithmetic on pytrees: the few operations an optimizer's update needs.

Optimizers are straight-line programs of affine combinations and gradient calls, so on
pytrees (a network's parameters) everything reduces to `sum_k c_k v_k` leaf by leaf.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jax
import jax.numpy as jnp

from ._typing import Array, PyTree

__all__ = ["combine", "scale", "add", "norm", "zeros_like", "TreeVector"]


def combine(coefficients: Iterable[Any], trees: Iterable[PyTree]) -> PyTree:
    """$\\sum_k c_k v_k$ leafwise, for scalars $c_k$ and pytrees $v_k$ alike."""
    coefficients = list(coefficients)
    trees = list(trees)

    def leaf(*leaves: Any) -> Any:
        total = coefficients[0] * leaves[0]
        for c, v in zip(coefficients[1:], leaves[1:], strict=True):
            total = total + c * v
        return total

    return jax.tree_util.tree_map(leaf, *trees)


def scale(c: Any, tree: PyTree) -> PyTree:
    """`c * tree` leafwise."""
    return jax.tree_util.tree_map(lambda v: c * v, tree)


def add(a: PyTree, b: PyTree) -> PyTree:
    """`a + b` leafwise."""
    return jax.tree_util.tree_map(jnp.add, a, b)


def zeros_like(tree: PyTree) -> PyTree:
    return jax.tree_util.tree_map(jnp.zeros_like, tree)


def norm(tree: PyTree, batch_dims: int = 0) -> Array:
    """The Euclidean norm over all leaves; the first `batch_dims` axes are kept."""
    leaves = jax.tree_util.tree_leaves(tree)
    total: Array | float = 0.0
    for v in leaves:
        axes = tuple(range(batch_dims, v.ndim))
        total = total + jnp.sum(jnp.abs(v) ** 2, axis=axes)
    return jnp.sqrt(total)


class TreeVector:
    """A pytree that supports `+`, `-`, unary `-` and multiplication or division by
    scalars, leaf by leaf, so that a plain Python update rule runs on it unchanged."""

    __slots__ = ("tree",)
    __array_priority__ = 1000

    def __init__(self, tree: PyTree):
        self.tree = tree

    @staticmethod
    def _scalar(c: object) -> Any:
        from fractions import Fraction

        return float(c) if isinstance(c, Fraction) else c

    def __add__(self, other: object) -> TreeVector:
        if isinstance(other, TreeVector):
            return TreeVector(add(self.tree, other.tree))
        if isinstance(other, int | float) and other == 0:
            return self
        return NotImplemented

    __radd__ = __add__

    def __sub__(self, other: object) -> TreeVector:
        if isinstance(other, TreeVector):
            return TreeVector(
                jax.tree_util.tree_map(jnp.subtract, self.tree, other.tree)
            )
        if isinstance(other, int | float) and other == 0:
            return self
        return NotImplemented

    def __rsub__(self, other: object) -> TreeVector:
        return (-self).__add__(other)

    def __neg__(self) -> TreeVector:
        return TreeVector(scale(-1.0, self.tree))

    def __pos__(self) -> TreeVector:
        return self

    def __mul__(self, c: object) -> TreeVector:
        if isinstance(c, TreeVector):
            return NotImplemented
        return TreeVector(scale(self._scalar(c), self.tree))

    __rmul__ = __mul__

    def __truediv__(self, c: object) -> TreeVector:
        if isinstance(c, TreeVector):
            return NotImplemented
        return TreeVector(scale(1.0 / self._scalar(c), self.tree))
