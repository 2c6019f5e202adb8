"""`python -m rdpbench` is the same as the `rdpbench` command."""

from rdpbench.cli import main

raise SystemExit(main())
