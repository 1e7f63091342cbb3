"""The numerical side of the toolkit, in JAX.

Discrete iterates of an optimizer (from the same definition that `derive` traces),
integration of its modified flows with diffrax, and their verification: global error
against $h$, observed order, certificates and plots. This package imports `derive`;
`derive` never imports this package or JAX.
"""
