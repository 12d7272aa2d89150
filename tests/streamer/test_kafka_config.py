"""Config for the live service: sources, checkpoint, sinks; one-line errors; secrets masked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from driftstream.streamer.app.config import ConfigError, load_config
from driftstream.streamer.sources.kafka.source import (
    client_options,
    consumer_options,
    security_options,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "driftstream.yaml"
KAFKA = {
    "DRIFTSTREAM__SOURCES__KAFKA__BOOTSTRAP_SERVERS": "k1:9092,k2:9092",
    "DRIFTSTREAM__SOURCES__KAFKA__TOPICS": "captures",
}


def test_example_config_is_valid_and_resolves_paths_next_to_it() -> None:
    config = load_config(EXAMPLE, environ={})
    kafka = config.sources.kafka
    assert kafka is not None
    assert kafka.topics == ("driftstream-captures",)
    assert config.baseline == EXAMPLE.parent / "baseline"
    assert config.checkpoint.directory == EXAMPLE.parent / "checkpoints"
    assert config.sinks.events_file == EXAMPLE.parent / "events.jsonl"
    assert config.sinks.dead_letter_topic and config.sinks.output_topic


def test_environment_overrides_reach_every_new_section() -> None:
    config = load_config(
        None,
        environ={
            **KAFKA,
            "DRIFTSTREAM__SOURCES__KAFKA__GROUP_ID": "g2",
            "DRIFTSTREAM__CHECKPOINT__KAFKA_TOPIC": "cps",
            "DRIFTSTREAM__SINKS__OUTPUT_TOPIC": "out",
        },
    )
    assert config.sources.kafka is not None
    assert config.sources.kafka.bootstrap_servers == ("k1:9092", "k2:9092")
    assert config.sources.kafka.group_id == "g2"
    assert config.checkpoint.kafka_topic == "cps"
    assert config.sinks.output_topic == "out"


def test_live_sections_do_not_change_the_config_identity() -> None:
    assert load_config(None, environ=KAFKA).identity() == load_config(None, environ={}).identity()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({**KAFKA, "DRIFTSTREAM__SOURCES__KAFKA__TOPIC": "x"}, "sources.kafka.topic: unknown key"),
        (
            {"DRIFTSTREAM__SOURCES__KAFKA__BOOTSTRAP_SERVERS": "k1"},
            "sources.kafka.bootstrap_servers",
        ),
        (
            {**KAFKA, "DRIFTSTREAM__SOURCES__KAFKA__SECURITY__PROTOCOL": "SASL_SSL"},
            "sources.kafka.security: sasl_mechanism is required",
        ),
        (
            {**KAFKA, "DRIFTSTREAM__SOURCES__KAFKA__SECURITY__SASL_MECHANISM": "GSSAPI"},
            "sources.kafka.security.sasl_mechanism",
        ),
        (
            {**KAFKA, "DRIFTSTREAM__SOURCES__KAFKA__SESSION_TIMEOUT_MS": "10"},
            "sources.kafka.session_timeout_ms",
        ),
        ({"DRIFTSTREAM__SINKS__DEAD_LETTER_TOPIC": "dlq"}, "sinks.dead_letter_topic needs"),
        (
            {**KAFKA, "DRIFTSTREAM__CHECKPOINT__INTERVAL_SECONDS": "0"},
            "checkpoint.interval_seconds",
        ),
        (
            {**KAFKA, "DRIFTSTREAM__SOURCES__KAFKA__SECURITY__SSL_CAFILE": "/nonexistent.pem"},
            "ssl_cafile: /nonexistent.pem is not a file",
        ),
    ],
)
def test_a_wrong_key_or_value_is_one_line_naming_it(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, environ=env)
    text = str(err.value)
    assert message in text
    assert "\n" not in text


def test_secrets_are_masked_everywhere_but_the_client_options() -> None:
    config = load_config(
        None,
        environ={
            **KAFKA,
            "DRIFTSTREAM__SOURCES__KAFKA__SECURITY__PROTOCOL": "SASL_SSL",
            "DRIFTSTREAM__SOURCES__KAFKA__SECURITY__SASL_MECHANISM": "SCRAM-SHA-512",
            "DRIFTSTREAM__SOURCES__KAFKA__SECURITY__SASL_USERNAME": "svc",
            "DRIFTSTREAM__SOURCES__KAFKA__SECURITY__SASL_PASSWORD": "0123",  # YAML: a number
        },
    )
    kafka = config.sources.kafka
    assert kafka is not None
    for text in (repr(config), str(config), config.model_dump_json()):
        assert "0123" not in text
    # taken as written from the environment, not as YAML (which would make 0123 the number 83)
    assert security_options(kafka.security) == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "svc",
        "sasl_plain_password": "0123",
        "ssl_check_hostname": True,
    }


def test_consumer_options_never_auto_commit() -> None:
    config = load_config(
        None, environ={**KAFKA, "DRIFTSTREAM__SOURCES__KAFKA__SESSION_TIMEOUT_MS": "6000"}
    )
    assert config.sources.kafka is not None
    options = consumer_options(config.sources.kafka)
    assert options["enable_auto_commit"] is False
    assert options["heartbeat_interval_ms"] == 2000
    assert options["bootstrap_servers"] == ["k1:9092", "k2:9092"]
    assert options["security_protocol"] == "PLAINTEXT"
    assert "group_id" not in client_options(config.sources.kafka)


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        ({"endpoint": "x"}, "no live source: set sources.kafka"),
        (
            {"sources": {"kafka": {"bootstrap_servers": "a:1", "topics": ["t"], "grup_id": "g"}}},
            "sources.kafka.grup_id: unknown key",
        ),
    ],
)
def test_run_with_a_bad_config_exits_2_with_one_line(
    tmp_path: Path, tree: dict[str, object], message: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(tree))
    done = subprocess.run(
        [sys.executable, "-m", "driftstream.streamer.app.cli", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


def test_monitor_process_is_read_from_the_environment_and_not_part_of_the_identity() -> None:
    inline = load_config(None, environ={"DRIFTSTREAM__MONITOR_PROCESS": "false"})
    assert inline.monitor_process is False
    assert load_config(None, environ={}).monitor_process is True
    assert inline.identity() == load_config(None, environ={}).identity()
    with pytest.raises(ConfigError, match="monitor_process"):
        load_config(None, environ={"DRIFTSTREAM__MONITOR_PROCESS": "sometimes"})


def test_certificate_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "tls").mkdir()
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / "tls" / name).write_text("-----BEGIN CERTIFICATE-----\n")
    config_file = tmp_path / "driftstream.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "sources": {
                    "kafka": {
                        "bootstrap_servers": "b:9093",
                        "topics": ["t"],
                        "security": {
                            "protocol": "SSL",
                            "ssl_cafile": "tls/ca.pem",
                            "ssl_certfile": "tls/client.pem",
                            "ssl_keyfile": "tls/client.key",
                        },
                    }
                }
            }
        )
    )
    security = load_config(config_file, environ={}).sources.kafka.security  # type: ignore[union-attr]
    assert security.ssl_cafile == tmp_path / "tls" / "ca.pem"
    assert security.ssl_certfile == tmp_path / "tls" / "client.pem"
    assert security.ssl_keyfile == tmp_path / "tls" / "client.key"
