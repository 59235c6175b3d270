"""``python -m blasr.features --cuts CUTS --out DIR``: see :func:`blasr.features.extract.main`."""

from blasr.features.extract import main

raise SystemExit(main())
