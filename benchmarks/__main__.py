"""`python -m benchmarks`: run every benchmark and print the table of ratios."""

import sys

from benchmarks.run import main

if __name__ == "__main__":
    sys.exit(main())
