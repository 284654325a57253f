"""What deploy/ ships for monitoring: Prometheus's alert rules pass `promtool check rules` and
their own unit tests (`promtool test rules`), the example configuration is valid, every
Grafana panel's query is valid PromQL, and every Tabard metric the rules and panels name is
one the server exposes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from mdm_server.db import Database
from mdm_server.main import create_app
from tests.conftest import FakeClock, make_settings

DEPLOY = Path(__file__).parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "tabard-alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "tabard-dashboard.json"
PROMTOOL = shutil.which("promtool")
if PROMTOOL is None and os.environ.get("CI"):
    raise RuntimeError("CI must install Debian's prometheus package for promtool (.ci/run does)")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="needs promtool: apt-get install prometheus"
)
TOKEN = "t" * 32


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def rule_queries() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def named(queries: list[str]) -> set[str]:
    """The Tabard metrics the queries name, as the server's families are named."""
    names = set()
    for query in queries:
        for name in re.findall(r"\btabard_[a-z_]+", query):
            names.add(re.sub(r"_(total|bucket|sum|count)$", "", name))
    return names


@needs_promtool
class TestPromtool:
    def test_the_alert_rules_are_valid_and_their_unit_tests_pass(self) -> None:
        checked = promtool("check", "rules", RULES.name, cwd=RULES.parent)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        tested = promtool("test", "rules", "tabard-alerts.test.yml", cwd=RULES.parent)
        assert tested.returncode == 0, tested.stdout + tested.stderr
        assert "SUCCESS" in tested.stdout

    def test_the_example_configuration_is_valid(self) -> None:
        checked = promtool("check", "config", "--syntax-only", "prometheus.yml", cwd=RULES.parent)
        assert checked.returncode == 0, checked.stdout + checked.stderr

    def test_every_dashboard_query_is_valid_promql(self, tmp_path: Path) -> None:
        rules = {
            "groups": [
                {
                    "name": "dashboard",
                    "rules": [
                        {"record": f"tabard:panel_{number}", "expr": query}
                        for number, query in enumerate(dashboard_queries())
                    ],
                }
            ]
        }
        (tmp_path / "panels.yml").write_text(yaml.safe_dump(rules))
        checked = promtool("check", "rules", "panels.yml", cwd=tmp_path)
        assert checked.returncode == 0, checked.stdout + checked.stderr

    def test_a_broken_query_is_caught(self, tmp_path: Path) -> None:
        """The check above can fail: promtool refuses PromQL that does not parse."""
        broken = {"groups": [{"name": "x", "rules": [{"record": "x:y", "expr": "sum(rate(x[5m]"}]}]}
        (tmp_path / "broken.yml").write_text(yaml.safe_dump(broken))
        assert promtool("check", "rules", "broken.yml", cwd=tmp_path).returncode != 0


def test_every_metric_the_rules_and_dashboard_name_is_exposed(
    tmp_path: Path, database: Database, clock: FakeClock
) -> None:
    # A SIEM feed set up, so its gauges are there too (nothing listens; the job does not run).
    feed = "syslog+tcp://127.0.0.1:9"
    settings = make_settings(tmp_path / "data", metrics_token=TOKEN, siem_url=feed)
    with TestClient(create_app(settings, database=database, clock=clock)) as client:
        client.get("/api/v1/health")
        text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    exposed = {family.name for family in text_string_to_metric_families(text)}
    wanted = named(dashboard_queries()) | named(rule_queries())
    assert len(wanted) > 10
    assert wanted - exposed == set()
