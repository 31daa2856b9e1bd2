"""pytest fixtures for the real-PostgreSQL IAM rig.

Load with ``pytest_plugins = ["tests.pg.fixtures"]`` in tests/conftest.py.

* ``pg_rig`` (session): one running :class:`~tests.pg.rig.Rig` for the whole session.
* ``rig`` (function): the same rig with the verifier registry, events, secret_lookup, clock and
  endpoint settings reset before and after the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pg.rig import Rig


@pytest.fixture(scope="session")
def pg_rig() -> Iterator[Rig]:
    with Rig() as running:
        yield running


@pytest.fixture
def rig(pg_rig: Rig) -> Iterator[Rig]:
    pg_rig.reset()
    try:
        yield pg_rig
    finally:
        pg_rig.reset()
