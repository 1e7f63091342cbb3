"""Neural networks: models and data, fast correction fields, verification, sweeps.

A public sub-package-style module of `numerics` (import it as `numerics.networks`):

- Models ([`get_model`][numerics.networks.get_model], [`MODELS`][numerics.networks.MODELS],
  [`Model`][numerics.networks.Model], [`digits`][numerics.networks.digits]):
  `digits-mlp`, `deep-linear`, `digits-cnn`, `teacher-student`, each a full-batch
  `loss(params)` on a pytree with `init(key)`.
- Fast fields ([`fast_field`][numerics.networks.fast_field],
  [`FastField`][numerics.networks.FastField]): the truncated modified flow at the cost
  of a few gradients, matrix-free; on a
  [`SampleMean`][numerics.networks.SampleMean] loss (`Model.sample_mean(chunk)`),
  chunk by chunk over the samples.
- Verification ([`verify_model`][numerics.networks.verify_model]): `numerics.verify`
  on a network.
- Sweeps ([`sweep`][numerics.networks.sweep],
  [`SweepResult`][numerics.networks.SweepResult],
  [`grid_mesh`][numerics.networks.grid_mesh]): grids over step size, hyper-parameters,
  seeds and initial points as one `jit(vmap(...))`, sharded over all devices.

See docs/networks.md for an example end to end.
"""

from ._fast_field import FastField as FastField
from ._fast_field import fast_field as fast_field
from ._models import MODELS as MODELS
from ._models import Model as Model
from ._models import digits as digits
from ._models import get_model as get_model
from ._sample_mean import SampleMean as SampleMean
from ._sweep import SweepResult as SweepResult
from ._sweep import grid_mesh as grid_mesh
from ._sweep import sweep as sweep
from ._verify_model import verify_model as verify_model

__all__ = [
    "FastField",
    "MODELS",
    "Model",
    "SampleMean",
    "SweepResult",
    "digits",
    "fast_field",
    "get_model",
    "grid_mesh",
    "sweep",
    "verify_model",
]
