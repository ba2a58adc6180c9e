from lisq.cli import main

raise SystemExit(main())
