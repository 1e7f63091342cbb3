"""The componentwise engine: modified flows of adaptive optimizers (RMSProp, Adam, ...).

Modules, one concept each: `ir` (componentwise instructions), `tracing` (what the
tracer does with them), `functions` (elementwise functions of $g$, exact),
`expressions` (the vector calculus over $g$ and its derivatives), `series` (the
program's values as power series in $h$), `solve` (the slow manifold and the modified
field, order by order), `flow` (`ComponentwiseFlow`), `terms` and `render` (text,
LaTeX, JSON), `concrete` (a flow on a SymPy loss), `codegen` (JAX modules),
`optimizers` (the built-ins rmsprop, adam, adamw, nadam). Nothing is imported here, so
that `import derive` stays fast.
"""
