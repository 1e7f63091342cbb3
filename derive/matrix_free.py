"""Matrix-free derivatives of $g = -\\nabla f$ on pytrees, in JAX: the one copy.

A JAX-only module. `derive` itself never imports it (it imports no JAX); `numerics`
imports it, and [`codegen`][derive.codegen] embeds everything below the marker line
verbatim in each matrix-free module it writes, so that generated code and the numerics
compute elementary differentials with the same lines.

$g'(y)[v]$ is a forward-over-reverse Hessian-vector product from one `jax.linearize` of
$g$ at $y$ (the forward pass shared by all directions); $g^{(k)}(y)[v_1, \\dots, v_k]$
for $k \\ge 2$ nests $k$ `jax.jvp`s. No derivative tensor is formed.
"""

from __future__ import annotations

# ---- embedded in generated modules from here on (derive.matrix_free) ----
import jax
import jax.numpy as jnp


def tree_add(*trees):
    """Leafwise sum of pytrees with the same structure."""
    return jax.tree_util.tree_map(lambda *leaves: sum(leaves[1:], leaves[0]), *trees)


def tree_scale(c, tree):
    """`c * tree` for a scalar `c`, leafwise."""
    return jax.tree_util.tree_map(lambda leaf: c * leaf, tree)


def tree_zeros_like(tree):
    """Zeros shaped like `tree`."""
    return jax.tree_util.tree_map(jnp.zeros_like, tree)


def tree_multiply(*trees):
    """Leafwise (componentwise, Hadamard) product of pytrees of one structure."""
    return jax.tree_util.tree_map(
        lambda *leaves: _product(leaves[1:], leaves[0]), *trees
    )


def _product(leaves, first):
    for leaf in leaves:
        first = first * leaf
    return first


def leafwise(fn, tree):
    """`[f_1(tree), ..., f_n(tree)]` for `fn(leaf) = [f_1(leaf), ..., f_n(leaf)]`:
    elementwise functions of a pytree, computed leaf by leaf."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    columns = [fn(leaf) for leaf in leaves]
    return [
        jax.tree_util.tree_unflatten(treedef, [column[i] for column in columns])
        for i in range(len(columns[0]))
    ]


def negative_gradient(loss):
    """`g = -grad(loss)` as a function of a pytree."""
    grad = jax.grad(loss)

    def g(z):
        return jax.tree_util.tree_map(jnp.negative, grad(z))

    return g


def along(fn, v):
    """`z -> fn'(z)[v]`: one forward-mode `jax.jvp`."""

    def derivative(z):
        return jax.jvp(fn, (z,), (v,))[1]

    return derivative


def directional_derivative(fn, y, directions):
    """`fn^(k)(y)[v_1, ..., v_k]` for any field `fn`: k nested `jax.jvp`s."""
    for v in directions:
        fn = along(fn, v)
    return fn(y)


def derivatives(loss, y):
    """`g(y)` and `dg`, with `dg(v_1, ..., v_k)` = g^(k)(y)[v_1, ..., v_k].

    g = -grad(loss) is built once. g'(y)[v] applies one `jax.linearize` of g at y
    (a forward-over-reverse Hessian-vector product, the forward pass shared by all
    calls); g^(k) for k >= 2 nests k `jax.jvp`s. No derivative tensor is formed.
    """
    g = negative_gradient(loss)
    g_y, g_prime = jax.linearize(g, y)

    def dg(*directions):
        if len(directions) == 1:
            return g_prime(directions[0])
        fn = g
        for v in directions:
            fn = along(fn, v)
        return fn(y)

    return g_y, dg


def derivative_chain(g, y, directions):
    """[g'(y)[v_1], g''(y)[v_1, v_2], ..., g^(k)(y)[v_1, ..., v_k]] in one pass.

    A nested `jax.jvp` along v_1, ..., v_k returns every prefix at the cost of the
    top one.
    """

    def level(j):
        if j == 0:
            return lambda z: (g(z),)
        inner = level(j - 1)

        def f(z):
            primal, tangent = jax.jvp(inner, (z,), (directions[j - 1],))
            return (*primal, tangent[-1])

        return f

    return list(level(len(directions))(y)[1:])


def apply_many(linear, vectors):
    """`[linear(v) for v in vectors]` as one `jax.vmap` over the stacked vectors."""
    if len(vectors) == 1:
        return [linear(vectors[0])]
    stacked = jax.tree_util.tree_map(lambda *v: jnp.stack(v), *vectors)
    out = jax.vmap(linear)(stacked)
    return [
        jax.tree_util.tree_map(lambda v, i=i: v[i], out) for i in range(len(vectors))
    ]
