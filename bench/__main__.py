"""``python -m bench``: run the benchmarks and write the report."""

from bench.run import main

raise SystemExit(main())
