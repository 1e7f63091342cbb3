"""The numerical side of the toolkit, in JAX.

Discrete iterates of an optimizer (from the same definition that `derive` traces),
integration of its modified flows with diffrax, and their verification: global error
against $h$, observed order, certificates and plots. This package imports `derive`;
`derive` never imports this package or JAX.

Everything runs in float64: each entry point computes inside JAX's 64-bit mode,
scoped to the call ([`float64`][numerics.float64]), so importing `numerics` changes
no global setting. Importing it is also cheap: names load on first use.

- Losses ([`get_loss`][numerics.get_loss], [`LOSSES`][numerics.LOSSES],
  [`quadratic`][numerics.quadratic],
  [`loss_from_expression`][numerics.loss_from_expression]):
  eight non-convex 2-D test functions and quadratics, each defined once and evaluated
  both as a SymPy expression and as a JAX function, with documented critical points,
  a recommended start and a horizon for order tests.
- Iterates ([`iterates`][numerics.iterates]): the optimizer's traced program run in
  `jax.lax.scan` on pytrees, started on the slow manifold
  ([`ManifoldStart`][numerics.ManifoldStart], matrix-free B-series of the manifold),
  with divergence detection.
- Flows ([`integrate`][numerics.integrate]): diffrax, Dopri8, PID control at
  `rtol = atol = 1e-12`, vmapped over step sizes.
- Stability ([`stability_limit`][numerics.stability_limit]): the linear stability
  limit of any recurrence ($2/L$ for gradient descent, $2(1+\\beta)/L$ for heavy ball).
- Kovachki & Stuart's results: [`attraction`][numerics.attraction] (the measured
  decay towards the slow manifold against the parasitic roots),
  [`equation_errors`][numerics.equation_errors] (modified flows and second-order
  high-resolution equations against the iterates, with
  [`flow_field`][numerics.flow_field] and
  [`second_order_field`][numerics.second_order_field]) and
  [`reproduce_kovachki_stuart`][numerics.reproduce_kovachki_stuart].
- Mini-batch optimizers: iterates over batch sequences
  ([`minibatch_iterates`][numerics.minibatch_iterates],
  [`batch_sequence`][numerics.batch_sequence]), the order test of epoch flows
  ([`epoch_flow_order`][numerics.epoch_flow_order]), stochastic modified equations and
  their weak order ([`stochastic_modified_equation`][numerics.stochastic_modified_equation],
  [`sme_weak_error`][numerics.sme_weak_error]), SGD against SGDM at equal effective
  learning rates ([`momentum_sweep`][numerics.momentum_sweep],
  [`abrupt_sharpening`][numerics.abrupt_sharpening],
  [`reproduce_fu_momentum`][numerics.reproduce_fu_momentum]).
- Adaptive optimizers: the modified field of any smooth update step (a `derive`
  definition, an optax transformation, a JAX step function) by automatic
  differentiation ([`modified_field`][numerics.modified_field]), and the moments of a
  componentwise recurrence on their slow manifold
  ([`ComponentwiseStart`][numerics.ComponentwiseStart]).
- Verification ([`verify`][numerics.verify] -> [`Certificate`][numerics.Certificate]):
  the error of every truncation order against $h$, fitted slopes, pass/fail, a JSON
  certificate and a log-log plot; on the command line, `derive verify`.

!!! example
    ```python
    >>> import derive, numerics
    >>> cert = numerics.verify(derive.heavy_ball(0.5), order=2, loss="double-well",
    ...                        quick=True)
    >>> cert.passed
    True

    ```
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "MeasuredAttraction": "._attraction",
    "attraction": "._attraction",
    "CERTIFICATE_KEYS": "._certificate",
    "Certificate": "._certificate",
    "Comparison": "._compare",
    "StepSizeComparison": "._compare",
    "compare": "._compare",
    "CentralFlowSolution": "._central_flow",
    "central_flow": "._central_flow",
    "elementary_differentials": "._differentials",
    "EpochFlowOrder": "._minibatch",
    "batch_sequence": "._minibatch",
    "epoch_flow_order": "._minibatch",
    "minibatch_iterates": "._minibatch",
    "MomentumSweep": "._momentum_sweep",
    "momentum_sweep": "._momentum_sweep",
    "abrupt_sharpening": "._sharpening",
    "stability_threshold": "._sharpening",
    "StochasticModifiedEquation": "._sme",
    "WeakError": "._sme",
    "sme_weak_error": "._sme",
    "stochastic_modified_equation": "._sme",
    "FuMomentumReport": ".reproductions._fu_momentum",
    "reproduce_fu_momentum": ".reproductions._fu_momentum",
    "directional_sharpness": "._hessian",
    "hessian_vector_product": "._hessian",
    "Eigenpairs": "._spectrum",
    "eigenvalue_gradient": "._spectrum",
    "hessian_eigenpairs": "._spectrum",
    "min_hessian_eigenvalue": "._spectrum",
    "preconditioned_sharpness": "._spectrum",
    "sharpness": "._spectrum",
    "ExtremeEigenvalues": "._spectrum_along",
    "extreme_eigenvalues_along": "._spectrum_along",
    "EquationErrors": "._high_resolution",
    "equation_errors": "._high_resolution",
    "flow_field": "._high_resolution",
    "second_order_field": "._high_resolution",
    "slow_velocity": "._high_resolution",
    "integrate": "._integrate",
    "BasinMap": "._basins",
    "basin_map": "._basins",
    "LocalMinimum": "._narrow_wells",
    "FlowBasins": "._flow_basins",
    "flow_basins": "._flow_basins",
    "flow_velocity": "._flow_basins",
    "NarrowWells": "._narrow_wells",
    "GDVersusFlow": "._gd_versus_flow",
    "StepSizeRun": "._gd_versus_flow",
    "elkabetz_cohen_bound": "._gd_versus_flow",
    "gd_versus_flow": "._gd_versus_flow",
    "Iterates": "._iterates",
    "iterates": "._iterates",
    "CentralFlowsReport": ".reproductions._central_flows",
    "reproduce_central_flows": ".reproductions._central_flows",
    "ElkabetzCohenReport": ".reproductions._elkabetz_cohen",
    "reproduce_elkabetz_cohen": ".reproductions._elkabetz_cohen",
    "LargeStepReport": ".reproductions._large_step",
    "reproduce_large_step": ".reproductions._large_step",
    "KovachkiStuartReport": ".reproductions._kovachki_stuart",
    "reproduce_kovachki_stuart": ".reproductions._kovachki_stuart",
    "LOSSES": "._losses",
    "CriticalPoint": "._losses",
    "Loss": "._losses",
    "get_loss": "._losses",
    "loss_from_expression": "._losses",
    "quadratic": "._losses",
    "ManifoldStart": "._manifold_start",
    "ComponentwiseStart": "._componentwise_start",
    "FieldFunctions": "._modified_field",
    "ModifiedField": "._modified_field",
    "field_functions": "._modified_field",
    "modified_field": "._modified_field",
    "UpdateStep": "._update_step",
    "update_step": "._update_step",
    "observed_order": "._order",
    "enable_x64": "._precision",
    "float64": "._precision",
    "semidefinite_complementarity": "._sdcp",
    "ModelTrack": "._side_by_side",
    "SideBySide": "._side_by_side",
    "TRACKING": "._side_by_side",
    "side_by_side": "._side_by_side",
    "gaussian_average": "._time_average",
    "midpoint_average": "._time_average",
    "PrincipalFlowSolution": "._principal_flow",
    "principal_flow": "._principal_flow",
    "hessian_eigenvalues": "._stability",
    "spectral_radius": "._stability",
    "stability_limit": "._stability",
    "transition_matrix": "._stability",
    "DEFAULT_LOSS": "._verify",
    "verify": "._verify",
}
"""Public name -> the private module that defines it (loaded on first use)."""

__all__ = sorted([*_EXPORTS, "networks", "reproductions"])


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        if name in ("networks", "reproductions"):
            return importlib.import_module(f".{name}", __name__)
        raise AttributeError(f"module 'numerics' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # static names for type checkers and editors
    from . import networks as networks
    from . import reproductions as reproductions
    from ._attraction import MeasuredAttraction as MeasuredAttraction
    from ._attraction import attraction as attraction
    from ._basins import BasinMap as BasinMap
    from ._basins import basin_map as basin_map
    from ._central_flow import CentralFlowSolution as CentralFlowSolution
    from ._central_flow import central_flow as central_flow
    from ._certificate import CERTIFICATE_KEYS as CERTIFICATE_KEYS
    from ._certificate import Certificate as Certificate
    from ._compare import Comparison as Comparison
    from ._compare import StepSizeComparison as StepSizeComparison
    from ._compare import compare as compare
    from ._componentwise_start import ComponentwiseStart as ComponentwiseStart
    from ._differentials import elementary_differentials as elementary_differentials
    from ._flow_basins import FlowBasins as FlowBasins
    from ._flow_basins import flow_basins as flow_basins
    from ._flow_basins import flow_velocity as flow_velocity
    from ._gd_versus_flow import GDVersusFlow as GDVersusFlow
    from ._gd_versus_flow import StepSizeRun as StepSizeRun
    from ._gd_versus_flow import elkabetz_cohen_bound as elkabetz_cohen_bound
    from ._gd_versus_flow import gd_versus_flow as gd_versus_flow
    from ._hessian import directional_sharpness as directional_sharpness
    from ._hessian import hessian_vector_product as hessian_vector_product
    from ._high_resolution import EquationErrors as EquationErrors
    from ._high_resolution import equation_errors as equation_errors
    from ._high_resolution import flow_field as flow_field
    from ._high_resolution import second_order_field as second_order_field
    from ._high_resolution import slow_velocity as slow_velocity
    from ._integrate import integrate as integrate
    from ._iterates import Iterates as Iterates
    from ._iterates import iterates as iterates
    from ._losses import LOSSES as LOSSES
    from ._losses import CriticalPoint as CriticalPoint
    from ._losses import Loss as Loss
    from ._losses import get_loss as get_loss
    from ._losses import loss_from_expression as loss_from_expression
    from ._losses import quadratic as quadratic
    from ._manifold_start import ManifoldStart as ManifoldStart
    from ._minibatch import EpochFlowOrder as EpochFlowOrder
    from ._minibatch import batch_sequence as batch_sequence
    from ._minibatch import epoch_flow_order as epoch_flow_order
    from ._minibatch import minibatch_iterates as minibatch_iterates
    from ._modified_field import FieldFunctions as FieldFunctions
    from ._modified_field import ModifiedField as ModifiedField
    from ._modified_field import field_functions as field_functions
    from ._modified_field import modified_field as modified_field
    from ._momentum_sweep import MomentumSweep as MomentumSweep
    from ._momentum_sweep import momentum_sweep as momentum_sweep
    from ._narrow_wells import LocalMinimum as LocalMinimum
    from ._narrow_wells import NarrowWells as NarrowWells
    from ._order import observed_order as observed_order
    from ._precision import enable_x64 as enable_x64
    from ._precision import float64 as float64
    from ._principal_flow import PrincipalFlowSolution as PrincipalFlowSolution
    from ._principal_flow import principal_flow as principal_flow
    from ._sdcp import semidefinite_complementarity as semidefinite_complementarity
    from ._sharpening import abrupt_sharpening as abrupt_sharpening
    from ._sharpening import stability_threshold as stability_threshold
    from ._side_by_side import TRACKING as TRACKING
    from ._side_by_side import ModelTrack as ModelTrack
    from ._side_by_side import SideBySide as SideBySide
    from ._side_by_side import side_by_side as side_by_side
    from ._sme import StochasticModifiedEquation as StochasticModifiedEquation
    from ._sme import WeakError as WeakError
    from ._sme import sme_weak_error as sme_weak_error
    from ._sme import stochastic_modified_equation as stochastic_modified_equation
    from ._spectrum import Eigenpairs as Eigenpairs
    from ._spectrum import eigenvalue_gradient as eigenvalue_gradient
    from ._spectrum import hessian_eigenpairs as hessian_eigenpairs
    from ._spectrum import min_hessian_eigenvalue as min_hessian_eigenvalue
    from ._spectrum import preconditioned_sharpness as preconditioned_sharpness
    from ._spectrum import sharpness as sharpness
    from ._spectrum_along import ExtremeEigenvalues as ExtremeEigenvalues
    from ._spectrum_along import (
        extreme_eigenvalues_along as extreme_eigenvalues_along,
    )
    from ._stability import hessian_eigenvalues as hessian_eigenvalues
    from ._stability import spectral_radius as spectral_radius
    from ._stability import stability_limit as stability_limit
    from ._stability import transition_matrix as transition_matrix
    from ._time_average import gaussian_average as gaussian_average
    from ._time_average import midpoint_average as midpoint_average
    from ._update_step import UpdateStep as UpdateStep
    from ._update_step import update_step as update_step
    from ._verify import DEFAULT_LOSS as DEFAULT_LOSS
    from ._verify import verify as verify
    from .reproductions._central_flows import (
        CentralFlowsReport as CentralFlowsReport,
    )
    from .reproductions._central_flows import (
        reproduce_central_flows as reproduce_central_flows,
    )
    from .reproductions._elkabetz_cohen import (
        ElkabetzCohenReport as ElkabetzCohenReport,
    )
    from .reproductions._elkabetz_cohen import (
        reproduce_elkabetz_cohen as reproduce_elkabetz_cohen,
    )
    from .reproductions._fu_momentum import FuMomentumReport as FuMomentumReport
    from .reproductions._fu_momentum import (
        reproduce_fu_momentum as reproduce_fu_momentum,
    )
    from .reproductions._kovachki_stuart import (
        KovachkiStuartReport as KovachkiStuartReport,
    )
    from .reproductions._kovachki_stuart import (
        reproduce_kovachki_stuart as reproduce_kovachki_stuart,
    )
    from .reproductions._large_step import LargeStepReport as LargeStepReport
    from .reproductions._large_step import (
        reproduce_large_step as reproduce_large_step,
    )
