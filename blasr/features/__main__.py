from blasr.compute_features import main

raise SystemExit(main())
