"""Webhook test fixtures: real HTTP receivers on loopback."""

import pytest

from tests.webhooks.test_webhooks import Receiver


@pytest.fixture
def receiver():
    """Make loopback receivers (`receiver(failures=2)`); all are shut down after the test."""
    made: list[Receiver] = []

    def make(**kwargs):
        made.append(Receiver(**kwargs))
        return made[-1]

    yield make
    for server in made:
        server.close()
