"""TABARD_OIDC_* settings: read from the environment, and refused with a sentence saying what
to set when they could not work."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mdm_server.config import Settings

GOOD = {
    "oidc_issuer": "https://login.microsoftonline.com/tenant/v2.0",
    "oidc_client_id": "tabard",
    "oidc_client_secret": "a secret",
    "oidc_role_map": {"tabard-it": "it_admin"},
}


def settings(**changes: object) -> Settings:
    values = {**GOOD, **changes}
    return Settings(**{k: v for k, v in values.items() if v is not None})  # type: ignore[arg-type]


class TestOidcSettings:
    def test_reads_the_environment_with_a_json_role_map(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TABARD_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("TABARD_OIDC_ISSUER", "https://keycloak.example/realms/force/")
        monkeypatch.setenv("TABARD_OIDC_CLIENT_ID", "tabard")
        monkeypatch.setenv("TABARD_OIDC_CLIENT_SECRET", "a secret")
        monkeypatch.setenv("TABARD_OIDC_ROLE_MAP", '{"tabard-pst": "auditor"}')
        loaded = Settings()
        assert loaded.oidc_enabled
        assert loaded.oidc_issuer == "https://keycloak.example/realms/force"
        assert loaded.oidc_role_map == {"tabard-pst": "auditor"}
        assert "a secret" not in repr(loaded)

    def test_off_unless_an_issuer_is_set(self) -> None:
        assert not Settings().oidc_enabled

    @pytest.mark.parametrize(
        ("changes", "says"),
        [
            ({"oidc_issuer": "http://idp.example"}, "https URL"),
            ({"oidc_issuer": "https://idp.example/?x=1"}, "query or fragment"),
            ({"oidc_client_id": None}, "oidc_client_id"),
            ({"oidc_client_secret": None}, "one of oidc_client_secret or oidc_private_key_file"),
            ({"oidc_private_key_file": "key.pem"}, "one of oidc_client_secret"),
            ({"oidc_role_map": {}}, "oidc_role_map"),
            ({"oidc_role_map": {"tabard-it": "root"}}, "'root', which is not a role"),
            ({"oidc_role_map": {"devices": "device"}}, "not a role"),
            ({"oidc_scopes": "profile email"}, "must include openid"),
        ],
    )
    def test_refuses_settings_that_could_not_work(
        self, changes: dict[str, object], says: str
    ) -> None:
        with pytest.raises(ValidationError, match=says):
            settings(**changes)

    def test_http_is_allowed_on_this_machine_only(self) -> None:
        assert settings(oidc_issuer="http://127.0.0.1:9000").oidc_issuer == "http://127.0.0.1:9000"
