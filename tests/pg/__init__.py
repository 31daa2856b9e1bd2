"""A real PostgreSQL server that authenticates like Amazon RDS with IAM tokens (tests only)."""

from __future__ import annotations
