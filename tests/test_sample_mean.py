"""A loss evaluated chunk by chunk over its samples (`numerics.networks.SampleMean`):
the same value, gradient and modified-flow field as the full-batch loss.

The reference is the model's own full-batch `loss(params)`: the chunked mean must
equal it to rounding, and so must every elementary differential that `fast_field`
computes from the chunked gradient (they are linear in the per-sample terms), with
and without a remainder chunk. Bad chunks and data are named before any compute.
"""

import jax

jax.config.update("jax_enable_x64", True)

import functools  # noqa: E402

import jax.numpy as jnp  # noqa: E402
import pytest  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

import derive  # noqa: E402
from derive import DeriveError  # noqa: E402
from numerics.networks import (  # noqa: E402
    MODELS,
    Model,
    SampleMean,
    fast_field,
    get_model,
)


def flat(tree):
    return ravel_pytree(tree)[0]


def relative(a, b):
    a, b = flat(a), flat(b)
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


@functools.cache
def mlp():
    model = get_model("digits-mlp", hidden=(12,), n=150)
    return model, model.init(jax.random.PRNGKey(1))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_is_its_batch_loss_on_its_data(name):
    options = {"digits-mlp": {"hidden": (6,), "n": 40}, "digits-cnn": {"n": 20}}
    model = get_model(name, **options.get(name, {}))
    x = model.init(jax.random.PRNGKey(0))
    assert float(model.batch_loss(x, model.data)) == float(model.loss(x))
    n = jax.tree_util.tree_leaves(model.data)[0].shape[0]
    chunked = model.sample_mean(
        chunk=max(1, n // 3)
    )  # a remainder when 3 does not divide n
    assert abs(float(chunked(x)) - float(model.loss(x))) < 1e-13 * abs(
        float(model.loss(x))
    )


@pytest.mark.parametrize("chunk", [1, 7, 150])
def test_value_and_gradient_equal_the_full_batch(chunk):
    model, x = mlp()
    f = model.sample_mean(chunk)
    assert abs(float(f(x)) - float(model.loss(x))) < 1e-14
    g = f.negative_gradient()(x)
    assert (
        relative(g, jax.tree_util.tree_map(jnp.negative, jax.grad(model.loss)(x)))
        < 1e-13
    )
    # the whole-batch route (fast_field's linearisation) and jax.grad of the chunked
    # value (a scan) agree too
    assert relative(f.negative_gradient(chunked=False)(x), g) < 1e-13
    assert relative(jax.grad(f)(x), jax.grad(model.loss)(x)) < 1e-13


@pytest.mark.parametrize(
    "optimizer, chunk",  # 40: three chunks and a remainder of 30; 150: one chunk
    [(derive.heavy_ball, 40), (derive.nesterov, 150)],
)
def test_fast_field_on_chunks_equals_the_full_batch(optimizer, chunk):
    model, x = mlp()
    flow = derive.modified_flow(optimizer(), 3)
    args = {"h": 0.05, "beta": 0.8}
    full = fast_field(flow, model.loss, method="jvp")
    chunked = fast_field(flow, model.sample_mean(chunk), method="jvp")
    for p, (a, b) in enumerate(
        zip(chunked.terms_by_order(x, args), full.terms_by_order(x, args), strict=True)
    ):
        assert relative(a, b) < 1e-12, p
    assert relative(chunked(0.0, x, args), full(0.0, x, args)) < 1e-12
    dc, df = chunked.differentials(x), full.differentials(x)
    assert dc.keys() == df.keys()
    for tree in df:
        assert relative(dc[tree], df[tree]) < 1e-11, tree


def test_the_chunks_change_the_program_not_the_field():
    """The chunked gradient is one scan over the chunks (it is not the full batch
    again): its jaxpr holds a scan whose body sees `chunk` samples."""
    model, x = mlp()
    jaxpr = jax.make_jaxpr(model.sample_mean(50).negative_gradient())(x)
    scans = [e for e in jaxpr.eqns if e.primitive.name == "scan"]
    assert len(scans) == 1 and scans[0].params["length"] == 3


def test_taylor_mode_on_chunks_falls_back_or_agrees():
    model, x = mlp()
    flow = derive.modified_flow(derive.gd(), 2)
    jet = fast_field(flow, model.sample_mean(50), method="jet", y=x)
    ref = fast_field(flow, model.loss, method="jvp")
    assert jet.method in ("jet", "jvp")
    assert relative(jet(0.0, x, {"h": 0.1}), ref(0.0, x, {"h": 0.1})) < 1e-12


@pytest.mark.parametrize(
    "chunk, words",
    [
        (0, "from 1 to 150"),
        (151, "from 1 to 150"),
        (2.5, "whole number"),
        (True, "whole number"),
    ],
)
def test_bad_chunk_is_named(chunk, words):
    model, _ = mlp()
    with pytest.raises(DeriveError, match=words):
        model.sample_mean(chunk)


def test_bad_data_is_named():
    loss = lambda w, batch: jnp.mean(batch[0] * w - batch[1])  # noqa: E731
    with pytest.raises(DeriveError, match="common leading"):
        SampleMean(loss, (jnp.ones(5), jnp.ones(4)), 2)
    with pytest.raises(DeriveError, match="common leading"):
        SampleMean(loss, (jnp.ones(5), jnp.float64(1.0)), 2)


def test_a_model_without_samples_says_how_to_build_one():
    model = Model("mine", lambda w: jnp.sum(w**2), lambda key: jnp.ones(3))
    with pytest.raises(DeriveError, match="SampleMean"):
        model.sample_mean(4)
