from __future__ import annotations

from pgiam.cli.main import main

raise SystemExit(main())
