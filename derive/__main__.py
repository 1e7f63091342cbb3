"""`python -m derive`: the command line, see `derive.cli`."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
