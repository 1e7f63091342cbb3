"""derive: modified flows of optimizers by backward error analysis, with exact coefficients.

Pure Python on SymPy and FLINT; never imports JAX. The main verb is
[`modified_flow`][derive.modified_flow]; optimizers are plain Python functions of their
state, traced into a [`Recurrence`][derive.Recurrence]; [`optimizer`][derive.optimizer]
turns any definition (a built-in name, a text spec, a function) into one, and the
factories [`gd`][derive.gd], [`heavy_ball`][derive.heavy_ball],
[`nesterov`][derive.nesterov] and [`runge_kutta`][derive.runge_kutta] build the
built-ins. Adaptive optimizers ([`rmsprop`][derive.rmsprop], [`adam`][derive.adam],
[`adamw`][derive.adamw], [`nadam`][derive.nadam], or any update with componentwise
operations) get a [`ComponentwiseFlow`][derive.ComponentwiseFlow] from the
componentwise engine. Mini-batch optimizers ([`sgd`][derive.sgd], [`sgdm`][derive.sgdm], or any
of the above with one batch per step) have the modified flow of their epochs, for a
fixed batch order or in expectation over orders, from
[`minibatch_flow`][derive.minibatch_flow], over colored trees
([`ColoredTreeTable`][derive.ColoredTreeTable]). The command line is
[`derive.cli`][derive.cli].
"""

from typing import TYPE_CHECKING

from ._attraction import Attraction as Attraction
from ._bseries import BSeries as BSeries
from ._bseries import compose as compose
from ._bseries import exponential as exponential
from ._bseries import insert_into_field as insert_into_field
from ._bseries import inverse as inverse
from ._bseries import lie_derivative as lie_derivative
from ._bseries import logarithm as logarithm
from ._codegen import GeneratedCode as GeneratedCode
from ._codegen import codegen as codegen
from ._codegen import content_hash as content_hash
from ._codegen import verify_content_hash as verify_content_hash
from ._coefficients import Coefficient as Coefficient
from ._coefficients import Field as Field
from ._coefficients import RationalFunction as RationalFunction
from ._coefficients import evaluate as evaluate
from ._colored_bseries import ColoredSeries as ColoredSeries
from ._colored_bseries import colored_compose as colored_compose
from ._colored_bseries import colored_exponential as colored_exponential
from ._colored_bseries import colored_logarithm as colored_logarithm
from ._colored_bseries import colored_step as colored_step
from ._colored_trees import ColoredTreeTable as ColoredTreeTable
from ._colored_trees import colored_tree_counts as colored_tree_counts
from ._colored_trees import colored_tree_table as colored_tree_table
from ._colored_trees import parse_colored_tree as parse_colored_tree
from ._componentwise.flow import ComponentwiseFlow as ComponentwiseFlow
from ._componentwise.optimizers import adam as adam
from ._componentwise.optimizers import adamw as adamw
from ._componentwise.optimizers import nadam as nadam
from ._componentwise.optimizers import optimizer_defaults as optimizer_defaults
from ._componentwise.optimizers import rmsprop as rmsprop
from ._componentwise.terms import ComponentwiseTerm as ComponentwiseTerm
from ._conventions import CONVENTIONS as CONVENTIONS
from ._errors import DeriveError as DeriveError
from ._exact import exact_number as exact_number
from ._flow import ExplicitField as ExplicitField
from ._flow import ModifiedFlow as ModifiedFlow
from ._flow import ModifiedLoss as ModifiedLoss
from ._flow import Term as Term
from ._flow import bseries_flow as bseries_flow
from ._flow import modified_flow as modified_flow
from ._high_resolution import EquationTerm as EquationTerm
from ._high_resolution import ExplicitODE as ExplicitODE
from ._high_resolution import HighResolutionODE as HighResolutionODE
from ._high_resolution import high_resolution_ode as high_resolution_ode
from ._invariant_manifold import ExplicitManifold as ExplicitManifold
from ._invariant_manifold import InvariantManifold as InvariantManifold
from ._invariant_manifold import ManifoldState as ManifoldState
from ._invariant_manifold import invariant_manifold as invariant_manifold
from ._minibatch import MinibatchFlow as MinibatchFlow
from ._minibatch import minibatch_flow as minibatch_flow
from ._minibatch_loss import MinibatchModifiedLoss as MinibatchModifiedLoss
from ._optimizers import OptimizerDefinition as OptimizerDefinition
from ._optimizers import gd as gd
from ._optimizers import heavy_ball as heavy_ball
from ._optimizers import nesterov as nesterov
from ._optimizers import optimizer as optimizer
from ._optimizers import optimizer_from as optimizer_from
from ._optimizers import optimizer_names as optimizer_names
from ._optimizers import runge_kutta as runge_kutta
from ._principal import PrincipalFlow as PrincipalFlow
from ._principal import principal_flow as principal_flow
from ._recurrence import Recurrence as Recurrence
from ._sgd import sgd as sgd
from ._sgd import sgdm as sgdm
from ._slow_manifold import SlowManifold as SlowManifold
from ._slow_manifold import solve_manifold as solve_manifold
from ._text.errors import ParseError as ParseError
from ._text.names import variable_names as variable_names
from ._text.spec import SpecError as SpecError
from ._text.spec import parse_spec as parse_spec
from ._trace import trace as trace
from ._trees import TreeTable as TreeTable
from ._trees import parse_tree as parse_tree
from ._trees import tree_counts as tree_counts
from ._trees import tree_table as tree_table
from ._version import DISTRIBUTION as DISTRIBUTION
from ._version import __version__ as __version__


def __getattr__(name: str) -> object:
    # The expression parser needs SymPy; load it on first use so that importing
    # derive (and the command line's --help) stays fast.
    if name in ("parse_expression", "parse_number"):
        from ._text import expression

        return getattr(expression, name)
    raise AttributeError(f"module 'derive' has no attribute {name!r}")


if TYPE_CHECKING:
    from ._text.expression import parse_expression as parse_expression
    from ._text.expression import parse_number as parse_number
