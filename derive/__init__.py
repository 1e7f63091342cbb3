"""derive: modified flows of optimizers by backward error analysis, with exact coefficients.

Pure Python on SymPy and FLINT; never imports JAX. The main verb is
[`modified_flow`][derive.modified_flow]; optimizers are plain Python functions of their
state, traced into a [`Recurrence`][derive.Recurrence]; [`optimizer`][derive.optimizer]
turns any definition (a built-in name, a text spec, a function) into one, and the
factories [`gd`][derive.gd], [`heavy_ball`][derive.heavy_ball],
[`nesterov`][derive.nesterov] and [`runge_kutta`][derive.runge_kutta] build the
built-ins. The command line is [`derive.cli`][derive.cli].
"""

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
from ._coefficients import RationalFunction as RationalFunction
from ._conventions import CONVENTIONS as CONVENTIONS
from ._errors import DeriveError as DeriveError
from ._flow import ExplicitField as ExplicitField
from ._flow import ModifiedFlow as ModifiedFlow
from ._flow import ModifiedLoss as ModifiedLoss
from ._flow import Term as Term
from ._flow import modified_flow as modified_flow
from ._high_resolution import ExplicitODE as ExplicitODE
from ._high_resolution import HighResolutionODE as HighResolutionODE
from ._high_resolution import ODETerm as ODETerm
from ._high_resolution import high_resolution_ode as high_resolution_ode
from ._invariant_manifold import Attraction as Attraction
from ._invariant_manifold import ExplicitManifold as ExplicitManifold
from ._invariant_manifold import InvariantManifold as InvariantManifold
from ._invariant_manifold import ManifoldState as ManifoldState
from ._invariant_manifold import invariant_manifold as invariant_manifold
from ._optimizers import gd as gd
from ._optimizers import heavy_ball as heavy_ball
from ._optimizers import nesterov as nesterov
from ._optimizers import optimizer as optimizer
from ._optimizers import optimizer_names as optimizer_names
from ._optimizers import runge_kutta as runge_kutta
from ._principal import PrincipalFlow as PrincipalFlow
from ._principal import principal_flow as principal_flow
from ._recurrence import Recurrence as Recurrence
from ._recurrence import exact_number as exact_number
from ._recurrence import trace as trace
from ._slow_manifold import SlowManifold as SlowManifold
from ._slow_manifold import solve_manifold as solve_manifold
from ._spec import SpecError as SpecError
from ._spec import parse_spec as parse_spec
from ._trees import TreeTable as TreeTable
from ._trees import parse_tree as parse_tree
from ._trees import tree_counts as tree_counts
from ._trees import tree_table as tree_table
from ._version import DISTRIBUTION as DISTRIBUTION
from ._version import __version__ as __version__
