"""pgiam: fresh AWS IAM auth tokens in ~/.pgpass for every libpq client."""

from __future__ import annotations

__version__ = "0.1.0"
