"""`python -m streammm` runs the command line."""

from streammm.cli import main

raise SystemExit(main())
