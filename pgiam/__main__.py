from __future__ import annotations

from pgiam.main import main

raise SystemExit(main())
