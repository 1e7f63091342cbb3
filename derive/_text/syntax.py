"""Names of Python syntax that the safe parsers refuse, for their error messages.

Shared by the expression parser (`_parse`) and the spec parser (`_spec`); kept free of
SymPy so that importing the spec parser stays fast.
"""

import ast

OPERATORS: dict[type[ast.AST], str] = {
    ast.Mod: "%",
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.Not: "not",
    ast.Invert: "~",
}

CONSTRUCTS: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access ('.')",
    ast.Subscript: "subscript ('[...]')",
    ast.Lambda: "lambda",
    ast.List: "list ('[...]')",
    ast.Tuple: "tuple (',')",
    ast.Set: "set ('{...}')",
    ast.Dict: "dictionary ('{...: ...}')",
    ast.ListComp: "comprehension",
    ast.SetComp: "comprehension",
    ast.DictComp: "comprehension",
    ast.GeneratorExp: "generator expression",
    ast.Compare: "comparison",
    ast.BoolOp: "boolean operator ('and'/'or')",
    ast.IfExp: "conditional expression ('if'/'else')",
    ast.NamedExpr: "assignment expression (':=')",
    ast.JoinedStr: "f-string",
    ast.Starred: "starred expression ('*')",
    ast.Await: "'await'",
    ast.Yield: "'yield'",
    ast.YieldFrom: "'yield from'",
    ast.Slice: "slice (':')",
}
