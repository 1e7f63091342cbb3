"""Fast matrix-free correction fields against dense derivatives on a tiny network.

Reference: F(t) from its definition, F([]) = g, F([t1..tk]) = g^(k)[F(t1)..F(tk)]
(Hairer, Lubich & Wanner, *Geometric Numerical Integration*, III.1), with g^(k) the
dense derivative tensors of g = -grad f from `jax.jacfwd` (feasible for ~20
parameters), contracted with `einsum`; the coefficients are the exact ones of
`derive.modified_flow` ("symbolic instantiation"). Agreement to 1e-10 relative in
float64.
"""

import jax

jax.config.update("jax_enable_x64", True)

import doctest  # noqa: E402
import functools  # noqa: E402

import jax.numpy as jnp  # noqa: E402
import pytest  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

import derive  # noqa: E402
import numerics._fast_field  # noqa: E402
import numerics._models  # noqa: E402
from derive import DeriveError, evaluate  # noqa: E402
from numerics.networks import fast_field, get_model  # noqa: E402

PARAMS = {"beta": 0.7}
OPTIMIZERS = {
    "gd": derive.gd,
    "heavy-ball": derive.heavy_ball,
    "nesterov": derive.nesterov,
}


@functools.cache
def tiny():
    """A 2-3-2... tiny tanh MLP (teacher-student, d=2, hidden=4: 17 parameters)."""
    model = get_model("teacher-student", d=2, hidden=4, n=12)
    return model.loss, model.init(jax.random.PRNGKey(3))


@functools.cache
def dense_tensors():
    """g and its dense derivative tensors g', g'', g''' at the tiny model's point (a
    flat vector), each from one compiled `jax.jacfwd` of the previous."""
    loss, x = tiny()
    flat, unravel = ravel_pytree(x)

    def g(z):
        return -jax.grad(lambda w: loss(unravel(w)))(z)

    tensors = [g]
    for _ in range(3):
        tensors.append(jax.jacfwd(tensors[-1]))
    return [jax.jit(T)(flat) for T in tensors]


def dense_differentials(trees):
    """F(t) by dense derivative tensors of g at the tiny model's point, for the
    bracket `trees`."""
    tensors = dense_tensors()
    letters = "bcd"
    memo = {}

    def F(nested):
        key = repr(nested)
        if key not in memo:
            if not nested:
                memo[key] = tensors[0]
            else:
                k = len(nested)
                spec = "a" + letters[:k] + "," + ",".join(letters[:k]) + "->a"
                memo[key] = jnp.einsum(spec, tensors[k], *[F(c) for c in nested])
        return memo[key]

    return {t: F(derive.parse_tree(t)) for t in trees}


def dense_field(flow, args, order):
    trees = [t.tree for t in flow.terms if t.power <= order]
    F = dense_differentials(trees)
    names = getattr(flow.field, "names", ())
    env = {n: args[n] for n in names}
    total = 0.0
    for t in flow.terms:
        if t.power <= order:
            c = evaluate(t.coefficient, env)
            total = total + c * args["h"] ** t.power * F[t.tree]
    return total


def rel(a, b):
    a, b = ravel_pytree(a)[0], ravel_pytree(b)[0]
    return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


@pytest.mark.parametrize(
    "name, method",
    [("gd", "jvp"), ("heavy-ball", "jvp"), ("nesterov", "jvp"), ("heavy-ball", "jet")],
)
def test_fast_field_equals_dense_and_generated(name, method):
    loss, x = tiny()
    flow = derive.modified_flow(OPTIMIZERS[name](), 3)
    module = derive.codegen(OPTIMIZERS[name](), 3).load()
    args = {"h": 0.05, **{k: v for k, v in PARAMS.items() if k in flow.parameters}}
    for order in (1, 3):  # order 3 holds every tree of orders 0..3
        expected = dense_field(flow, args, order)
        from_flow = fast_field(flow, loss, order, method=method)(0.0, x, args)
        from_module = fast_field(module, loss, order, method=method)(0.0, x, args)
        generated = module.make_vector_field(loss, order)(0.0, x, args)
        assert rel(from_flow, expected) < 1e-10
        assert rel(from_module, expected) < 1e-10
        assert rel(from_module, generated) < 1e-10
        assert ravel_pytree(from_flow)[0].shape == ravel_pytree(x)[0].shape


def test_every_differential_matches_dense():
    loss, x = tiny()
    ff = fast_field(derive.modified_flow(derive.heavy_ball(), 4), loss)
    F = ff.differentials(x)
    assert len(F) == 1 + 1 + 2 + 4 + 9  # every tree with up to 5 nodes
    dense = dense_differentials([t for t in F if t.count("[") <= 4])
    for t, v in dense.items():
        assert rel(F[t], v) < 1e-10, t


@pytest.mark.slow
def test_jit_and_pytree_shapes():
    model = get_model("digits-cnn", channels=(2,), n=20)
    x = model.init(jax.random.PRNGKey(0))
    ff = fast_field(derive.codegen(derive.heavy_ball(), 2), model.loss)
    out = jax.jit(ff)(0.0, x, {"h": 0.01, "beta": 0.5})
    assert jax.tree_util.tree_structure(out) == jax.tree_util.tree_structure(x)
    ref = derive.codegen(derive.heavy_ball(), 2).load().make_vector_field(model.loss, 2)
    assert rel(out, ref(0.0, x, {"h": 0.01, "beta": 0.5})) < 1e-10


def test_jet_falls_back_on_relu():
    def loss(p):
        return jnp.sum(jax.nn.relu(p["w"] - 0.3) ** 3) + jnp.sum(p["w"] ** 2)

    x = {"w": jnp.linspace(-1.0, 1.0, 5)}
    assert fast_field(derive.gd(), loss, method="jet", y=x).method == "jvp"
    flow = derive.modified_flow(derive.gd(), 2)
    ff = fast_field(flow, loss, method="jet")
    out = ff(0.0, x, {"h": 0.1})  # the check runs at the first call
    assert ff.method == "jvp"
    assert rel(out, fast_field(flow, loss, method="jvp")(0.0, x, {"h": 0.1})) < 1e-14
    tanh = fast_field(flow, lambda p: jnp.sum(jnp.tanh(p["w"]) ** 2), method="jet", y=x)
    assert tanh.method == "jet"


def test_errors():
    with pytest.raises(DeriveError):
        fast_field(derive.gd(), lambda x: x, method="taylor")
    with pytest.raises(DeriveError):
        fast_field(derive.modified_flow(derive.gd(), 1), lambda x: x, order=2)
    with pytest.raises(DeriveError):
        fast_field(42, lambda x: x)


@pytest.mark.parametrize("module", [numerics._fast_field])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
