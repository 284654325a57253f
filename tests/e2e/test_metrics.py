"""/metrics from `tabard serve --workers 2` over a real port: devices enrol and check in, each
request answered by whichever worker takes it, and one scrape adds up both workers' counts
(prometheus_client's multiprocess mode), read back by the official parser. Without the
token the scrape is refused."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import Tabard
from tests.factories.devices import SimulatedDevice

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
PASSWORD = "correct horse battery staple"
TOKEN = "a-scrape-token-for-the-test-0123456789"
DEVICES = 4
CHECKINS = 5  # each, at least


def scraped(api: httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    answer = api.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def checkins_by_worker(directory: Path) -> dict[str, float]:
    """Each worker's own count of check-ins, read from its files alone."""
    files: dict[str, list[Path]] = defaultdict(list)
    for path in directory.glob("*.db"):
        files[re.sub(r"^.*_(\d+)\.db$", r"\1", path.name)].append(path)
    counted = {}
    for pid, paths in files.items():
        with tempfile.TemporaryDirectory() as alone:
            for path in paths:
                shutil.copy(path, alone)
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=alone)  # type: ignore[no-untyped-call]
            counted[pid] = sum(
                sample.value
                for family in registry.collect()
                for sample in family.samples
                if sample.name == "tabard_checkins_total"
            )
    return counted


def total(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str) -> float:
    return sum(value for (sample, _), value in samples.items() if sample == name)


def by_worker(tabard: Tabard) -> list[float]:
    return list(checkins_by_worker(tabard.root / "data" / "metrics").values())


def test_a_scrape_adds_up_every_worker(tabard: Tabard, backend: str) -> None:
    tabard.extra_env["TABARD_METRICS_TOKEN"] = TOKEN
    tabard.bootstrap("admin", PASSWORD)
    with tabard.serving("--workers", "2"), httpx.Client(base_url=tabard.url, timeout=30) as api:
        tabard.login("admin", PASSWORD)
        token = json.loads(
            tabard.run(
                "tokens", "create", "--group", "response", "--uses", str(DEVICES), "--json"
            ).stdout
        )["token"]
        devices = [SimulatedDevice() for _ in range(DEVICES)]
        for device in devices:
            assert device.enrol(api, token).status_code == 201  # type: ignore[arg-type]
        # Each check-in on a new connection, so either worker may take it; on until both
        # have taken some, so the scrape below has two workers' counts to add up.
        sent = 0
        while sent < DEVICES * CHECKINS or min(by_worker(tabard), default=0) == 0:
            assert sent < 400, f"one worker took every check-in: {by_worker(tabard)}"
            with httpx.Client(base_url=tabard.url, timeout=30) as fresh:
                device = devices[sent % DEVICES]
                answer = device.checkin(fresh, now=datetime.now(UTC))  # type: ignore[arg-type]
                assert answer.status_code == 200, answer.text
            sent += 1
        workers = checkins_by_worker(tabard.root / "data" / "metrics")
        assert len(workers) == 2 and sum(workers.values()) == sent, workers

        # A new connection per scrape, so the workers take turns answering them.
        scrapes = []
        for _ in range(4):
            with httpx.Client(base_url=tabard.url, timeout=30) as fresh:
                scrapes.append(scraped(fresh))
        for samples in scrapes:
            assert total(samples, "tabard_enrolments_total") == DEVICES
            assert total(samples, "tabard_checkins_total") == sent
            assert total(samples, "tabard_devices_active") == DEVICES
            requests = {
                labels: value
                for (name, labels), value in samples.items()
                if name == "tabard_http_requests_total"
            }
            checkins = frozenset(
                {"method": "POST", "route": "/api/v1/device/checkin", "status": "200"}.items()
            )
            assert requests[checkins] == sent

        refused = api.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
