from __future__ import annotations

from pgiam.cli.entry import main

raise SystemExit(main())
