"""Hyper-parameter values never collide with the keywords of the functions that take
them (`name`, `description`, `source`).

`derive.optimizer(definition, name=..., **params)` and the functions that pass
`**params` on used to unpack the values into calls that also had a `name` keyword:
`derive flow heavy-ball --param name=0.5` renamed the optimizer "1/2" and dropped the
value (instead of naming the unknown parameter), and `derive flow --spec FILE --param
name=0.5` failed with an internal error. The reference values are the gradient-descent
flow with the step scaled by the parameter: x' = name * g at order 0 (HLW ch. IX).
"""

from fractions import Fraction

import derive
from derive.cli import main


def _run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_unknown_parameter_called_name_is_reported(capsys):
    status, out, err = _run(
        capsys, "flow", "heavy-ball", "--param", "name=0.5", "--order", "0"
    )
    assert status == 2, out
    assert "unknown parameter(s) name for heavy-ball" in err


def test_spec_parameter_called_name(capsys, tmp_path):
    spec = tmp_path / "scaled.txt"
    spec.write_text("state x; param name; x = x - name*h*grad(x)\n")
    status, out, err = _run(
        capsys, "flow", "--spec", str(spec), "--param", "name=0.5", "--order", "0"
    )
    assert status == 0, err
    assert "Modified flow of scaled" in out
    assert "dx/dt = 1/2 g" in out


def test_function_parameters_called_like_keywords():
    def step(x, *, grad, h, source, description):
        return x - source * description * h * grad(x)

    rec = derive.optimizer(step, source=0.5, description=3)
    assert rec.values == {"source": Fraction(1, 2), "description": Fraction(3)}
    assert rec.source is None and rec.description == ""
    flow = derive.modified_flow(step, 0, source=0.5, description=3)
    assert [str(t.coefficient) for t in flow.terms] == ["3/2"]


def test_flow_functions_take_a_parameter_called_name():
    def step(x, *, grad, h, name):
        return x - name * h * grad(x)

    flow = derive.modified_flow(step, 0, name=Fraction(1, 4))
    assert flow.recurrence.name == "step"
    assert [str(t.coefficient) for t in flow.terms] == ["1/4"]
