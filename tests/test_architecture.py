"""The import graph of the toolkit (DESIGN, Architecture): arrows point down only.

- `derive` (SymPy, FLINT) imports neither JAX nor `numerics`; its one JAX module,
  `derive.matrix_free`, is imported by no module of `derive` (codegen reads it as text).
- `numerics` imports only the public API of `derive` (no `derive._private` module or
  name).
- The command line sits above both: `derive --help` imports neither JAX nor SymPy.

The checks read every module's syntax tree, so they see imports inside functions too;
`lint-imports` (import-linter, in CI) checks the first rule on the import graph. The
checker is tested on sources with a forbidden import, so that these tests can fail.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
JAX_WORLD = ("jax", "jaxlib", "numerics", "diffrax", "equinox", "matplotlib", "optax")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(source: str, module: str, is_package: bool) -> list[tuple[str, str]]:
    """`(imported module, name or "")` for every import statement of a source."""
    out = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(alias.name, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            out += [(base, alias.name) for alias in node.names]
    return out


def private_uses(source: str) -> list[str]:
    """`derive._x` attribute accesses (names of derive that are not public)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "derive"
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            out.append(f"derive.{node.attr}")
    return out


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    found = []
    for target, name in imports(source, module, is_package):
        top = target.split(".")[0]
        full = f"{target}.{name}" if name else target
        if module.startswith("derive"):
            if module != "derive.matrix_free" and top in JAX_WORLD:
                found.append(f"{module} imports {full}")
            if full.startswith("derive.matrix_free") and module != "derive.matrix_free":
                found.append(f"{module} imports {full}")
        elif module.startswith("numerics") and top == "derive":
            private = [p for p in full.split(".")[1:] if p.startswith("_")]
            if private and not all(p.startswith("__") for p in private):
                found.append(f"{module} imports {full}")
    if module.startswith("numerics"):
        found += [f"{module} uses {use}" for use in private_uses(source)]
    return found


def all_modules():
    for package in ("derive", "numerics"):
        yield from sorted((REPO / package).rglob("*.py"))


@pytest.mark.parametrize(
    "path", list(all_modules()), ids=lambda p: str(p.relative_to(REPO))
)
def test_no_forbidden_import(path):
    source = path.read_text(encoding="utf-8")
    assert violations(source, module_name(path), path.name == "__init__.py") == []


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("import jax\n", "derive._flow"),
        ("def f():\n    import numerics\n", "derive._flow"),
        ("from numerics._verify import verify\n", "derive.cli._main"),
        ("from .. import matrix_free\n", "derive._codegen.module"),
        ("from derive.matrix_free import derivatives\n", "derive._flow"),
        ("from derive._flow import ModifiedFlow\n", "numerics._verify.plan"),
        ("from derive import _flow\n", "numerics._iterates"),
        ("import derive\nx = derive._optimizers\n", "numerics._sweep"),
        ("import derive._text.spec\n", "numerics._losses"),
    ],
)
def test_the_checker_sees_a_forbidden_import(source, module):
    assert violations(source, module) != []


def test_the_checker_allows_the_public_api():
    ok = "import derive\nfrom derive import evaluate\nfrom derive.cli import main\n"
    assert violations(ok, "numerics._iterates") == []
    assert violations("import jax\n", "derive.matrix_free") == []
    assert (
        violations("import sympy\nfrom .._text import spec\n", "derive.cli._flow") == []
    )


NO_JAX = (
    "flow = derive.modified_flow(derive.heavy_ball(), 2)\n"
    "flow.text(); flow.latex(); flow.to_json(loss='x**4', variables='x')\n"
    "derive.invariant_manifold(derive.nesterov(0.5), 1).text()\n"
    "derive.high_resolution_ode(derive.heavy_ball(), 1).text()\n"
    "derive.codegen(flow).source; derive.codegen(flow, loss='x**4', variables='x')\n"
    "heavy = [m for m in ('jax', 'jaxlib', 'numerics', 'diffrax') if m in sys.modules]\n"
    "assert not heavy, heavy\n"
)
# NumPy's import starts OpenBLAS's thread pool, whose spinning threads doubled the CPU
# time of a short derivation (benchmarks/derive_speed.py); only the numerical helpers
# (the principal flow's roots) import it, on first use.
NO_NUMPY = (
    "derive.modified_flow(derive.gd(), 4).text()\n"
    "derive.modified_flow(derive.heavy_ball(), 2).latex()\n"
    "assert 'numpy' not in sys.modules\n"
)


@pytest.mark.parametrize("code", [NO_JAX, NO_NUMPY], ids=["no-jax", "no-numpy"])
def test_using_derive_loads_no_heavy_modules(code):
    """Deriving, rendering and generating code never import JAX, and deriving does
    not import NumPy (in a fresh process)."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys, derive\n" + code],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
