"""`python -m derive`: the command line, see `derive._cli`."""

from ._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
