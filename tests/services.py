"""Real services for integration tests: a Kafka broker, a Prometheus server, a moto server.

Each helper starts its service only when called, so tests that do not ask for one start nothing.
A service that cannot be had is a skip on a developer's machine and a failure in CI (env ``CI``
set): CI must never pass by skipping the integration tests. docs/infra-notes.md tells how each
service is run on machines without a Docker engine.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, Self

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
KAFKA_SCRIPT = REPO_ROOT / "scripts" / "kafka.sh"
KAFKA_BOOTSTRAP_ENV = "DRIFTSTREAM_KAFKA_BOOTSTRAP"
# The default of the installed testcontainers, whose KRaft mode is tested against it.
KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"
# First download of the broker's jars; later fetches are a cache check.
KAFKA_FETCH_TIMEOUT_S = 600.0
# scripts/kafka.sh bounds its own readiness wait (90 s); this only guards against a hang.
KAFKA_START_TIMEOUT_S = 180.0


class ServiceUnavailableError(RuntimeError):
    """A service an integration test needs could not be started (raised in CI only)."""


def in_ci() -> bool:
    """True when running under CI, where a missing service is a failure, never a skip."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> NoReturn:
    """Fail in CI, skip elsewhere: the one place that policy is decided."""
    if in_ci():
        raise ServiceUnavailableError(reason)
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_pair() -> int:
    """A free port whose successor is free too (broker and controller listeners)."""
    for _ in range(50):
        port = free_port()
        if port < 65535 and _port_is_free(port + 1):
            return port
    raise ServiceUnavailableError("no two adjacent free TCP ports on 127.0.0.1")


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _reachable(address: str, timeout: float = 2.0) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


# --- Kafka -----------------------------------------------------------------------------------


def kafka_bootstrap(stack: contextlib.ExitStack | None = None) -> str:
    """Return the bootstrap address of a Kafka broker, starting one if needed.

    Tried in order: env ``DRIFTSTREAM_KAFKA_BOOTSTRAP`` (a broker someone else runs and stops);
    a reachable Docker engine (testcontainers, Confluent image in KRaft mode); the local Apache
    Kafka of ``scripts/kafka.sh`` (jars fetched from Maven Central on first use). Whatever this
    call starts is stopped when ``stack`` closes, or at interpreter exit without a stack.
    When no broker can be had: a failure in CI, a skip elsewhere.
    """
    if stack is None:
        stack = contextlib.ExitStack()
        atexit.register(stack.close)

    explicit = os.environ.get(KAFKA_BOOTSTRAP_ENV, "").strip()
    if explicit:
        if not _reachable(explicit):
            unavailable(f"{KAFKA_BOOTSTRAP_ENV}={explicit} does not accept connections")
        return explicit

    reasons: list[str] = []
    if _docker_engine_reachable():
        try:
            return _kafka_from_testcontainers(stack)
        except Exception as exc:  # any failure here means: try the next way
            reasons.append(f"testcontainers: {exc}")
    else:
        reasons.append("no reachable Docker engine")

    try:
        return _kafka_from_local_jars(stack)
    except ServiceUnavailableError as exc:
        reasons.append(f"local Kafka: {exc}")
    unavailable("no Kafka broker: " + "; ".join(reasons))


def _docker_engine_reachable() -> bool:
    try:
        # Lazy: only the test extra has it. No stubs are installed for it.
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no client library, no socket, engine refusing: all mean "no engine"
        return False


def _kafka_from_testcontainers(stack: contextlib.ExitStack) -> str:
    from testcontainers.community.kafka import KafkaContainer

    container = KafkaContainer(KAFKA_IMAGE).with_kraft()
    container.start()
    stack.callback(container.stop)
    bootstrap: str = container.get_bootstrap_server()
    return bootstrap


def _run_kafka_script(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["bash", str(KAFKA_SCRIPT), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise ServiceUnavailableError(f"scripts/kafka.sh {' '.join(args)} timed out") from exc


def _kafka_from_local_jars(stack: contextlib.ExitStack) -> str:
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing:
        raise ServiceUnavailableError(f"{', '.join(missing)} not on PATH")

    status = _run_kafka_script("status", timeout=30)
    if status.returncode == 0:
        # A broker started by hand or by `make services`: use it, leave it running.
        bootstrap_file = REPO_ROOT / ".services" / "kafka" / "bootstrap"
        if bootstrap_file.exists():
            return bootstrap_file.read_text().strip()

    fetch = _run_kafka_script("fetch", timeout=KAFKA_FETCH_TIMEOUT_S)
    if fetch.returncode != 0:
        raise ServiceUnavailableError(f"fetch failed: {_tail(fetch.stderr)}")
    start = _run_kafka_script("start", str(_port_pair()), timeout=KAFKA_START_TIMEOUT_S)
    if start.returncode != 0:
        raise ServiceUnavailableError(f"start failed: {_tail(start.stderr)}")
    stack.callback(_run_kafka_script, "stop", timeout=60)
    return start.stdout.strip().splitlines()[-1]


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# --- Prometheus ------------------------------------------------------------------------------


class PrometheusServer:
    """A throw-away Prometheus on 127.0.0.1 scraping the given ``host:port`` targets every second.

    Use as a context manager: entering starts the binary with a temporary config and TSDB and
    waits until it is ready; leaving stops it and deletes both. The first sample of a target
    arrives a few seconds after start: call `wait_until_up` before querying.
    """

    job_name = "driftstream"

    def __init__(
        self, targets: Sequence[str], *, binary: str = "prometheus", start_timeout: float = 30.0
    ) -> None:
        if isinstance(targets, str):
            raise TypeError("targets is a sequence of 'host:port' strings, not one string")
        self.targets = tuple(targets)
        self.binary = binary
        self.start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._port: int | None = None

    @property
    def url(self) -> str:
        """Base URL of the HTTP API, e.g. ``http://127.0.0.1:40123``."""
        if self._port is None:
            raise RuntimeError("PrometheusServer is not started")
        return f"http://127.0.0.1:{self._port}"

    def __enter__(self) -> Self:
        executable = shutil.which(self.binary)
        if executable is None:
            unavailable(f"{self.binary} not on PATH (scripts/prometheus.sh install)")
        self._workdir = Path(tempfile.mkdtemp(prefix="driftstream-prometheus-"))
        try:
            self._start(executable)
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._cleanup()

    def _write_config(self) -> Path:
        assert self._workdir is not None
        config = {
            # The timeout must not exceed the interval; Prometheus's default (10 s) would.
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "scrape_configs": [
                {"job_name": self.job_name, "static_configs": [{"targets": list(self.targets)}]}
            ],
        }
        path = self._workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def _start(self, executable: str) -> None:
        assert self._workdir is not None
        config = self._write_config()
        log_path = self._workdir / "prometheus.log"
        # The port is picked before Prometheus binds it; another process may take it meanwhile.
        for _ in range(3):
            self._port = free_port()
            with log_path.open("wb") as log:
                self._process = subprocess.Popen(
                    [
                        executable,
                        f"--config.file={config}",
                        f"--storage.tsdb.path={self._workdir / 'data'}",
                        f"--web.listen-address=127.0.0.1:{self._port}",
                        "--log.level=warn",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            if self._wait_ready(log_path):
                return
            if "address already in use" not in log_path.read_text(errors="replace"):
                break
        raise ServiceUnavailableError(
            f"prometheus did not become ready: {_tail(log_path.read_text(errors='replace'))}"
        )

    def _wait_ready(self, log_path: Path) -> bool:
        assert self._process is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self._stop_process()
        return False

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Run an instant query; return ``data.result`` (vector results: metric + value)."""
        params = urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{params}", timeout=10) as response:
            body = json.load(response)
        if body.get("status") != "success":
            raise RuntimeError(f"query {promql!r} failed: {body}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_until_up(self, target: str, timeout: float = 30.0) -> None:
        """Block until Prometheus has scraped ``target`` successfully (``up == 1``)."""
        deadline = time.monotonic() + timeout
        last: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            last = self.query(f'up{{instance="{target}"}}')
            if any(sample["value"][1] == "1" for sample in last):
                return
            time.sleep(0.5)
        raise TimeoutError(f"{target} not up in Prometheus after {timeout}s; last result: {last}")

    def _stop_process(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._process = None

    def _cleanup(self) -> None:
        self._stop_process()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None


# --- AWS (moto) ------------------------------------------------------------------------------


class MotoServer:
    """moto in server mode on 127.0.0.1 (a real HTTP endpoint for boto3's ``endpoint_url``).

    State persists across tests using the same server: call `reset` to start from nothing.
    """

    region = "us-east-1"

    def __init__(self) -> None:
        self._server: Any = None
        self.endpoint_url = ""

    def __enter__(self) -> Self:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as exc:
            unavailable(f"moto[server] is not installed: {exc}")
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def client_kwargs(self) -> dict[str, str]:
        """Keyword arguments for ``boto3.client(service, **kwargs)`` against this server."""
        return {
            "endpoint_url": self.endpoint_url,
            "region_name": self.region,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }

    def reset(self) -> None:
        """Drop every resource in every moto backend (``POST /moto-api/reset``)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.status != 200:
                raise RuntimeError(f"moto reset answered HTTP {response.status}")
