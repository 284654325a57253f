"""The division map (`GET /api/v1/map`, its outline, and `GET /api/v1/device/map`): filed
reports carry the officer's division and a point; the map shows kinds, hours and points, never
names, contents or references; only the division's own supervisors and officers see it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from mdm_server.db import Database
from mdm_server.geo.maps import MapSource
from mdm_server.geo.placement import inside
from mdm_server.main import create_app
from mdm_server.migrate import upgrade
from tests.audit.log import NOW
from tests.conftest import FakeClock, dispose_engine, make_settings
from tests.databases import PostgresDatabases
from tests.factories.devices import SimulatedDevice
from tests.factories.staff import headers_for
from tests.server.test_demand import fresh
from tests.server.test_secure import INCIDENT_REPORT, POLICY, Scene, make_scene

MAP, OUTLINE, DEVICE_MAP = "/api/v1/map", "/api/v1/map/outline", "/api/v1/device/map"
_USE: dict[str, Any] = dict(POLICY["appropriate_use"])  # type: ignore[arg-type]
MAP_POLICY: dict[str, Any] = {
    **POLICY,
    "appropriate_use": {
        **_USE,
        "transaction_types": {
            **_USE["transaction_types"],
            "stop_and_search": {"purposes": ["INVESTIGATION"]},
        },
    },
}
_INCIDENT: dict[str, Any] = dict(INCIDENT_REPORT["report"])  # type: ignore[arg-type]
STOP_AND_SEARCH = {
    "type": "stop_and_search",
    "purpose": "INVESTIGATION",
    "report": {
        "subject_surname": "Example",
        "grounds": "Seen passing a package",
        "object_of_search": "drugs",
        "location": "Gannet Street by the bus stop",
        "outcome": "no_further_action",
    },
}
NORTH = MapSource().division("north")


def incident(**changes: Any) -> dict[str, Any]:
    return {**INCIDENT_REPORT, "report": {**_INCIDENT, **changes}}


@pytest.fixture
def scene(
    app: FastAPI,
    client: TestClient,
    admin_headers: dict[str, str],
    enrolled: SimulatedDevice,
    clock: FakeClock,
) -> Scene:
    return make_scene(app, client, admin_headers, enrolled, clock, policy=MAP_POLICY)


@pytest.fixture
def filed(scene: Scene) -> tuple[Scene, str]:
    """Two incident reports (one with the device's own fix) and a stop and search, in north."""
    token = str(scene.first_entry()["session_token"])
    for body in (
        incident(),
        incident(location="Dunlin Close", latitude=54.61, longitude=2.59),
        STOP_AND_SEARCH,
    ):
        response = scene.transact(token, body)
        assert response.status_code == 200, response.text
    return scene, token


def map_of(scene: Scene, role: str = "supervisor", **params: Any) -> Any:
    headers = headers_for(scene.app, role, division=params.pop("as_division", "north"))
    return scene.client.get(MAP, params=params, headers=headers)


class TestPlacedOnFiling:
    def test_reports_carry_the_division_and_a_point_inside_it(
        self, filed: tuple[Scene, str]
    ) -> None:
        scene, _ = filed
        response = map_of(scene)
        assert response.status_code == 200, response.text
        view = response.json()
        assert view["division"] == "north" and view["name"] == "Northmoor (fictional)"
        assert NORTH is not None
        points = view["points"]
        assert len(points) == 3
        assert {"latitude": 54.61, "longitude": 2.59} in [
            {key: point[key] for key in ("latitude", "longitude")} for point in points
        ]
        for point in points:
            assert inside((point["longitude"], point["latitude"]), NORTH.boundary)
            assert point["hour"].endswith("00:00Z") or point["hour"].endswith("00:00+00:00")

    def test_shows_kinds_and_counts_but_no_names_contents_or_references(
        self, filed: tuple[Scene, str]
    ) -> None:
        scene, _ = filed
        view = map_of(scene).json()
        counts = {one["kind"]: (one["count"], one["placed"]) for one in view["counts"]}
        assert counts["incident_report"] == (2, 2)
        assert counts["stop_and_search"] == (1, 1)
        assert view["total"] == 3
        text = map_of(scene).text
        for secret in ("Example", "Shed broken", "Gannet", "INC-DEMO", "SS-DEMO", "Sample Road"):
            assert secret not in text
        assert set(view["points"][0]) == {"kind", "hour", "latitude", "longitude"}

    def test_filters_by_kind(self, filed: tuple[Scene, str]) -> None:
        scene, _ = filed
        view = map_of(scene, kind=["stop_and_search"]).json()
        assert view["kinds"] == ["stop_and_search"]
        assert [point["kind"] for point in view["points"]] == ["stop_and_search"]
        assert view["total"] == 1

    def test_filters_by_window(self, filed: tuple[Scene, str]) -> None:
        scene, _ = filed
        now = scene.clock()
        before = map_of(scene, until=(now - timedelta(hours=1)).isoformat()).json()
        assert before["points"] == [] and before["total"] == 0
        around = {
            "since": (now - timedelta(hours=1)).isoformat(),
            "until": (now + timedelta(hours=1)).isoformat(),
        }
        assert len(map_of(scene, **around).json()["points"]) == 3


class TestWhoMaySee:
    @pytest.mark.parametrize("role", ["supervisor", "officer"])
    def test_the_divisions_own_supervisors_and_officers(
        self, filed: tuple[Scene, str], role: str
    ) -> None:
        scene, _ = filed
        response = map_of(scene, role)
        assert response.status_code == 200, response.text
        assert len(response.json()["points"]) == 3

    @pytest.mark.parametrize("role", ["it_admin", "auditor"])
    def test_it_administrators_and_auditors_are_refused(
        self, filed: tuple[Scene, str], role: str
    ) -> None:
        scene, _ = filed
        for path in (MAP, OUTLINE):
            response = scene.client.get(path, headers=headers_for(scene.app, role))
            assert response.status_code == 403, response.text

    def test_nobody_signed_in_is_refused(self, filed: tuple[Scene, str]) -> None:
        scene, _ = filed
        assert scene.client.get(MAP).status_code == 401
        assert scene.client.get(OUTLINE).status_code == 401

    @pytest.mark.parametrize("role", ["supervisor", "officer"])
    def test_another_division_sees_none_of_it_and_may_not_ask_for_it(
        self, filed: tuple[Scene, str], role: str
    ) -> None:
        scene, _ = filed
        own = map_of(scene, role, as_division="south")
        assert own.status_code == 200
        assert own.json()["division"] == "south" and own.json()["points"] == []
        asked = map_of(scene, role, as_division="south", division="north")
        assert asked.status_code == 403
        assert asked.json()["error"] == "not_your_division"


class TestBadInput:
    def test_an_unknown_kind_is_refused_with_the_kinds_there_are(self, scene: Scene) -> None:
        response = map_of(scene, kind=["burglary"])
        assert response.status_code == 400
        body = response.json()
        assert body["error"] == "unknown_kind"
        assert "burglary" in body["detail"] and "incident_report" in body["detail"]

    def test_a_reversed_window_is_refused(self, scene: Scene) -> None:
        now = scene.clock()
        response = map_of(scene, since=now.isoformat(), until=(now - timedelta(days=1)).isoformat())
        assert response.status_code == 400
        assert response.json()["error"] == "window_reversed"

    def test_a_window_longer_than_31_days_is_refused(self, scene: Scene) -> None:
        now = scene.clock()
        response = map_of(scene, since=(now - timedelta(days=32)).isoformat())
        assert response.status_code == 400
        assert response.json()["error"] == "window_too_long"

    def test_a_window_without_a_zone_is_refused(self, scene: Scene) -> None:
        response = map_of(scene, since="2026-11-01T00:00:00")
        assert response.status_code == 400
        assert response.json()["error"] == "window_without_zone"

    @pytest.mark.parametrize(
        "coordinates",
        [
            {"latitude": 54.6},
            {"longitude": 2.6},
            {"latitude": 91, "longitude": 2},
            {"latitude": 1, "longitude": 181},
        ],
    )
    def test_bad_coordinates_on_a_report_are_refused_and_nothing_filed(
        self, scene: Scene, coordinates: dict[str, float]
    ) -> None:
        token = str(scene.first_entry()["session_token"])
        response = scene.transact(token, incident(**coordinates))
        assert response.status_code == 422, response.text
        assert map_of(scene).json()["total"] == 0


class TestOutline:
    def test_the_division_outline_is_served_by_tabard(self, scene: Scene) -> None:
        headers = headers_for(scene.app, "officer")
        response = scene.client.get(OUTLINE, headers=headers)
        assert response.status_code == 200
        kinds = [feature["properties"]["kind"] for feature in response.json()["features"]]
        assert kinds.count("boundary") == 1 and kinds.count("street") == 12
        assert map_of(scene).json()["outline_url"] == OUTLINE

    def test_a_division_with_no_map_has_no_outline(self, scene: Scene) -> None:
        headers = headers_for(scene.app, "supervisor", division="elsewhere")
        assert scene.client.get(OUTLINE, headers=headers).status_code == 404
        view = scene.client.get(MAP, headers=headers).json()
        assert view["outline_url"] is None and view["name"] == "elsewhere"


class TestOnTheDevice:
    def test_the_officer_gets_their_divisions_map_with_its_outline(
        self, filed: tuple[Scene, str]
    ) -> None:
        scene, token = filed
        headers = scene.device.auth("GET", DEVICE_MAP, now=scene.clock())
        headers["X-Tabard-Session"] = token
        response = scene.client.get(DEVICE_MAP, headers=headers, params={"kind": "incident_report"})
        assert response.status_code == 200, response.text
        view = response.json()
        assert view["division"] == "north" and len(view["points"]) == 2
        assert view["outline"]["type"] == "FeatureCollection"

    def test_no_secure_session_no_map(self, filed: tuple[Scene, str]) -> None:
        scene, _ = filed
        headers = scene.device.auth("GET", DEVICE_MAP, now=scene.clock())
        response = scene.client.get(DEVICE_MAP, headers=headers)
        assert response.status_code == 401


class TestMigration:
    def test_reports_filed_before_it_stay_valid_with_no_division_or_point(
        self, backend: str, tmp_path: Path, postgres: PostgresDatabases | None
    ) -> None:
        engine = fresh(backend, tmp_path, postgres)
        upgrade(engine, "0015")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO filed_reports (reference, kind, transaction_id, filed_by, "
                    "filed_at, version, fields) VALUES ('INC-OLD', 'incident_report', "
                    ":tid, '4521', :at, 1, '{}')"
                ),
                {"tid": uuid.uuid4().hex if backend == "sqlite" else uuid.uuid4(), "at": NOW},
            )
        upgrade(engine)
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT reference, division, latitude, longitude FROM filed_reports")
            ).one()
            assert tuple(row) == ("INC-OLD", None, None, None)
            indexes = {index["name"] for index in inspect(connection).get_indexes("filed_reports")}
            assert "ix_filed_reports_division_filed_at" in indexes
        dispose_engine(engine, postgres)


class TestForceMaps:
    def test_a_force_map_server_is_the_one_origin_the_console_may_load_beyond_tabard(
        self, tmp_path: Path, database: Database, clock: FakeClock
    ) -> None:
        settings = make_settings(tmp_path, map_url="https://maps.force.example/divisions/")
        app = create_app(settings, database=database, clock=clock)
        with TestClient(app) as client:
            policy = client.get("/console/login").headers["content-security-policy"]
            assert "connect-src 'self' https://maps.force.example;" in policy
            assert policy.count("https://") == 1
            headers = headers_for(app, "supervisor")
            view = client.get(MAP, headers=headers).json()
            assert view["outline_url"] == "https://maps.force.example/divisions/north.geojson"

    def test_by_default_the_console_loads_nothing_from_elsewhere(self, client: TestClient) -> None:
        policy = client.get("/console/login").headers["content-security-policy"]
        assert "connect-src 'self';" in policy and "https://" not in policy

    @pytest.mark.parametrize(
        ("overrides", "words"),
        [
            ({"map_url": "maps.force.example"}, "absolute http"),
            ({"map_url": "https://maps.example/x?y=1"}, "plain base URL"),
            ({"map_url": "https://maps.example/", "map_dir": "/srv/maps"}, "not both"),
        ],
    )
    def test_bad_map_settings_are_refused(
        self, tmp_path: Path, overrides: dict[str, str], words: str
    ) -> None:
        with pytest.raises(ValueError, match=words):
            make_settings(tmp_path, **overrides)
