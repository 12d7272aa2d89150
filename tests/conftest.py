"""Fixtures for the real services integration tests use (see tests/services.py).

All of them are lazy: a service starts the first time a test asks for its fixture.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import pytest

from tests import services


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address of a real Kafka broker, shared by the session; stopped at its end."""
    with contextlib.ExitStack() as stack:
        yield services.kafka_bootstrap(stack)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[services.MotoServer]:
    """A moto server shared by the session; tests call ``reset()`` for a clean slate."""
    with services.MotoServer() as server:
        yield server


@pytest.fixture
def prometheus_server() -> Iterator[Callable[[Sequence[str]], services.PrometheusServer]]:
    """Factory: ``prometheus_server(["127.0.0.1:8000"])`` starts a Prometheus scraping those
    targets; every server it started is stopped when the test ends."""
    with contextlib.ExitStack() as stack:

        def start(targets: Sequence[str]) -> services.PrometheusServer:
            return stack.enter_context(services.PrometheusServer(targets))

        yield start
