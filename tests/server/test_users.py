from __future__ import annotations

import unicodedata

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.auth.models import StaffUser
from tests.factories.staff import bearer, create_staff
from tests.support import audit_events, count, error_of


class TestCreateUser:
    def test_creates_an_officer_with_a_one_time_password(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        response = client.post(
            "/api/v1/users",
            headers=admin_headers,
            json={
                "username": "pc.jones",
                "role": "officer",
                "collar_number": "4521",
                "division": "north",
            },
        )
        assert response.status_code == 201
        created = response.json()
        assert created["must_change_password"] is True
        assert len(created["one_time_password"]) >= 16
        login = client.post(
            "/api/v1/auth/login",
            json={"username": "pc.jones", "password": created["one_time_password"]},
        )
        assert login.json()["password_change_required"] is True
        events = audit_events(app.state.context.database, "staff_user.created")
        (event,) = [e for e in events if e.detail["username"] == "pc.jones"]
        assert event.detail["collar_number"] == "4521"
        assert event.target_id == created["id"]
        assert created["one_time_password"] not in event.canonical

    @pytest.mark.parametrize(
        ("given", "kept"),
        [
            (unicodedata.normalize("NFD", "Siân  O\u2019Neill "), "Siân O'Neill"),
            ("Zoë Smith\u2010Jones", "Zoë Smith-Jones"),
            ("Łukasz d'Arcy", "Łukasz d'Arcy"),
            ("Ó Briain", "Ó Briain"),
        ],
    )
    def test_display_names_in_any_alphabet_are_kept_in_one_form(
        self, client: TestClient, admin_headers: dict[str, str], given: str, kept: str
    ) -> None:
        body = {"username": "sgt.name", "role": "auditor", "display_name": given}
        response = client.post("/api/v1/users", headers=admin_headers, json=body)
        assert response.status_code == 201, response.text
        shown = client.get("/api/v1/users/sgt.name", headers=admin_headers).json()
        assert shown["display_name"] == kept

    def test_a_display_name_with_control_characters_is_refused(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        body = {"username": "sgt.name", "role": "auditor", "display_name": "Sam\x00Example"}
        response = client.post("/api/v1/users", headers=admin_headers, json=body)
        assert response.status_code == 422
        [problem] = response.json()["detail"]
        assert problem["field"] == "display_name"
        assert "control characters" in problem["problem"]

    def test_an_officer_needs_a_collar_number_and_division(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        response = client.post(
            "/api/v1/users",
            headers=admin_headers,
            json={"username": "pc.nobody", "role": "officer"},
        )
        assert response.status_code == 400
        assert "collar_number" in response.json()["detail"]

    def test_refuses_a_taken_username_or_collar_and_writes_nothing(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        create_staff(app, role="officer", username="pc.first", collar="77")
        before = count(app.state.context.database, StaffUser)
        taken_name = client.post(
            "/api/v1/users", headers=admin_headers, json={"username": "pc.first", "role": "auditor"}
        )
        taken_collar = client.post(
            "/api/v1/users",
            headers=admin_headers,
            json={
                "username": "pc.second",
                "role": "officer",
                "collar_number": "77",
                "division": "north",
            },
        )
        assert (taken_name.status_code, error_of(taken_name)) == (409, "username_taken")
        assert (taken_collar.status_code, error_of(taken_collar)) == (409, "collar_taken")
        assert count(app.state.context.database, StaffUser) == before

    def test_refuses_unknown_roles_and_bad_usernames(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        for body in (
            {"username": "x.y.z", "role": "superuser"},
            {"username": "Has Spaces", "role": "auditor"},
            {"username": "ab", "role": "auditor"},
        ):
            response = client.post("/api/v1/users", headers=admin_headers, json=body)
            assert response.status_code == 422, body

    def test_the_device_role_is_not_a_staff_role(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        response = client.post(
            "/api/v1/users", headers=admin_headers, json={"username": "robot", "role": "device"}
        )
        assert response.status_code == 422


class TestListAndDisable:
    def test_lists_by_role(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        create_staff(app, role="auditor", username="aud.one")
        create_staff(app, role="officer", username="pc.one")
        page = client.get("/api/v1/users", params={"role": "auditor"}, headers=admin_headers)
        assert [u["username"] for u in page.json()["items"]] == ["aud.one"]

    def test_the_last_active_admin_cannot_be_disabled(
        self, app: FastAPI, client: TestClient
    ) -> None:
        admin = create_staff(app, role="it_admin", username="only.admin")
        response = client.post("/api/v1/users/only.admin/disable", headers=bearer(app, admin))
        assert (response.status_code, error_of(response)) == (403, "last_admin")

    def test_disable_and_enable_are_audited(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        create_staff(app, role="auditor", username="aud.two")
        client.post("/api/v1/users/aud.two/disable", headers=admin_headers)
        listed = client.get("/api/v1/users", headers=admin_headers).json()["items"]
        assert "aud.two" not in [u["username"] for u in listed]
        client.post("/api/v1/users/aud.two/enable", headers=admin_headers)
        actions = [
            e.action
            for e in audit_events(app.state.context.database)
            if e.action.startswith("staff_user.") and e.action != "staff_user.created"
        ]
        assert actions == ["staff_user.disabled", "staff_user.enabled"]

    def test_an_unknown_user_is_a_404(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        response = client.post("/api/v1/users/nobody/disable", headers=admin_headers)
        assert (response.status_code, error_of(response)) == (404, "user_not_found")
