"""The operator CLI's relay commands, as a script would use them (--json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return {"WAYSTATION_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/cli.db",
            "WAYSTATION_SECRET_KEY": "cli-test-secret"}


def run(env: dict[str, str], *args: str) -> dict | list:
    result = CliRunner().invoke(main, [*args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_migrate_channels_and_keys_with_json_output(cli_env: dict[str, str]) -> None:
    first = run(cli_env, "migrate", "--json")
    assert first["status"] == "ok" and first["demo_channel_created"] is True
    assert run(cli_env, "migrate", "--json")["demo_channel_created"] is False  # idempotent

    added = run(cli_env, "channels", "add", "--name", "deepseek", "--type", "openai",
                "--base-url", "https://api.deepseek.com/v1", "--api-key", "sk-secret-1", "--api-key", "sk-secret-2",
                "--models", "deepseek-chat,ds-r1", "--map", "ds-r1=deepseek-reasoner", "--priority", "5",
                "--weight", "3", "--json")
    assert added["name"] == "deepseek" and added["key_count"] == 2
    assert added["model_map"] == {"ds-r1": "deepseek-reasoner"} and added["priority"] == 5 and added["weight"] == 3

    listed = run(cli_env, "channels", "list", "--json")
    assert [c["name"] for c in listed] == ["demo", "deepseek"]
    assert "sk-secret" not in json.dumps(listed)  # keys are never shown

    key = run(cli_env, "keys", "create", "--name", "ci", "--models", "deepseek-chat", "--json")
    assert key["secret"].startswith("sk-ws-") and key["key"]["prefix"] == key["secret"][:12]
    assert key["key"]["models"] == ["deepseek-chat"]


def test_bad_channel_input_exits_non_zero_with_a_message(cli_env: dict[str, str]) -> None:
    run(cli_env, "migrate", "--json")
    result = CliRunner().invoke(main, ["channels", "add", "--name", "x", "--type", "openai", "--models", "m",
                                       "--base-url", "not-a-url", "--api-key", "k", "--json"], env=cli_env)
    assert result.exit_code == 1 and "base_url" in result.output
    result = CliRunner().invoke(main, ["channels", "add", "--name", "y", "--type", "anthropic", "--models", "m"],
                                env=cli_env)
    assert result.exit_code == 1 and "API key" in result.output


def test_key_options_are_stored(cli_env: dict[str, str]) -> None:
    run(cli_env, "migrate", "--json")
    key = run(cli_env, "keys", "create", "--name", "cached", "--cache-ttl", "120", "--rpm", "60", "--json")
    assert key["key"]["rpm"] == 60 and key["key"]["cache_ttl"] == 120
