"""Text read from users, safely: the expression parser (losses, numbers) and the spec
language (optimizers).

Both walk Python's syntax tree under a whitelist: nothing typed by a user is ever
evaluated by Python (no `eval`, `exec` or `sympify` of strings), and both share one set
of size limits ([`limits`][derive._text.limits]) and one reader of decimal literals, so
that `0.9` is exactly $9/10$ everywhere. `expression` needs SymPy; `spec` does not (the
command line reads specs without importing SymPy).
"""
