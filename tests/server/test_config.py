from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mdm_server.config import Settings


class TestSettings:
    def test_database_defaults_to_sqlite_in_the_data_dir(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path)
        assert settings.effective_database_url == f"sqlite:///{tmp_path / 'tabard.db'}"

    def test_reads_tabard_environment_variables(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TABARD_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("TABARD_PUBLIC_URL", "https://mdm.example.police.uk/")
        monkeypatch.setenv("TABARD_CHECKIN_INTERVAL_S", "120")
        settings = Settings()
        assert settings.data_dir == tmp_path
        assert settings.public_url == "https://mdm.example.police.uk"
        assert settings.checkin_interval_s == 120
        assert settings.device_audience == "https://mdm.example.police.uk"

    def test_refuses_access_tokens_longer_than_fifteen_minutes(self) -> None:
        with pytest.raises(ValidationError, match="at most 900"):
            Settings(access_token_ttl_s=901)

    @pytest.mark.parametrize("url", ["mdm.example", "ftp://x", "https://x/?q=1", "http://"])
    def test_refuses_a_public_url_that_is_not_an_absolute_http_url(self, url: str) -> None:
        with pytest.raises(ValidationError):
            Settings(public_url=url)

    def test_relative_data_dir_is_made_absolute(self) -> None:
        assert Settings(data_dir=Path("var")).data_dir.is_absolute()

    def test_refuses_a_renewal_window_as_long_as_the_certificate(self) -> None:
        with pytest.raises(ValidationError, match="device_certificate_renew_days must be less"):
            Settings(device_certificate_days=30, device_certificate_renew_days=30)
        assert Settings(device_certificate_days=31, device_certificate_renew_days=30)
