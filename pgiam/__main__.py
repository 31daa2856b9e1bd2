from __future__ import annotations

from pgiam.fastpath import main

raise SystemExit(main())
