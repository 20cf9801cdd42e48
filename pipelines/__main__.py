"""`python -m pipelines` is the `photoedit` command line."""
import sys

from pipelines.cli import main

sys.exit(main())
