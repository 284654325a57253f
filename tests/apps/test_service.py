"""The catalogue's rules, called directly on each storage backend: what happens to a version
uploaded again after its signer change was refused, and to one whose signer was pinned since."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

import pytest

from mdm_server.apps import repository, service, signers
from mdm_server.apps.apk import ApkCertificate, ApkFacts
from mdm_server.apps.storage import StoredBlob
from mdm_server.audit.service import Actor
from mdm_server.commands.service import Requester
from mdm_server.db import Database
from mdm_server.errors import ConflictError, PermissionDeniedError
from tests.conftest import FakeClock

PACKAGE = "uk.police.pnc"


def certificate(name: str) -> ApkCertificate:
    return ApkCertificate(
        sha256=hashlib.sha256(name.encode()).hexdigest(),
        subject=f"CN={name}",
        not_after=datetime(2049, 12, 31, tzinfo=UTC),
    )


def facts(version_code: int, signer: str) -> ApkFacts:
    return ApkFacts(
        package=PACKAGE,
        version_code=version_code,
        version_name=f"{version_code}.0",
        min_sdk=24,
        target_sdk=28,
        admin_receivers=(),
        schemes=("v2", "v3"),
        signer=certificate(signer),
    )


def blob(version_code: int, signer: str) -> StoredBlob:
    digest = hashlib.sha256(f"{version_code}/{signer}".encode()).hexdigest()
    return StoredBlob(sha256=digest, size=1000 + version_code, new=True)


def admin() -> Requester:
    user = uuid.uuid4()
    return Requester(Actor(type="staff", id=str(user), name=f"it-{user.hex[:6]}"), user)


class Catalogue:
    def __init__(self, database: Database, clock: FakeClock) -> None:
        self.database, self.clock = database, clock

    def upload(self, version_code: int, signer: str) -> service.UploadResult:
        with self.database.unit_of_work() as session:
            return service.upload(
                session,
                facts=facts(version_code, signer),
                blob=blob(version_code, signer),
                label=None,
                uploader=admin(),
                now=self.clock(),
            )

    def decide(self, verb: str, by: Requester) -> None:
        with self.database.unit_of_work() as session:
            getattr(signers, f"{verb}_signer")(session, package=PACKAGE, by=by, now=self.clock())

    def states(self) -> dict[int, str]:
        with self.database.unit_of_work(write=False) as session:
            return {v.version_code: v.state for v in repository.versions(session, PACKAGE)}


@pytest.fixture
def catalogue(database: Database, clock: FakeClock) -> Catalogue:
    return Catalogue(database, clock)


class TestUploadAgain:
    def test_a_refused_version_uploaded_again_asks_for_the_change_again(
        self, catalogue: Catalogue
    ) -> None:
        catalogue.upload(1, "force")
        with pytest.raises(ConflictError) as first:
            catalogue.upload(2, "rotated")
        assert "is pinned to certificate" in first.value.detail["message"]  # type: ignore[index]
        catalogue.decide("refuse", admin())
        assert catalogue.states() == {1: "available", 2: "refused"}
        with pytest.raises(ConflictError) as asked:
            catalogue.upload(2, "rotated")
        assert asked.value.error_code == "signer_mismatch"
        assert catalogue.states() == {1: "available", 2: "held"}
        accepting, approving = admin(), admin()
        catalogue.decide("accept", accepting)
        catalogue.decide("approve", approving)
        assert catalogue.states() == {1: "available", 2: "available"}

    def test_a_refused_version_whose_signer_was_pinned_since_becomes_available(
        self, catalogue: Catalogue
    ) -> None:
        catalogue.upload(1, "force")
        with pytest.raises(ConflictError):
            catalogue.upload(2, "rotated")
        catalogue.decide("refuse", admin())
        with pytest.raises(ConflictError):
            catalogue.upload(3, "rotated")
        catalogue.decide("accept", admin())
        catalogue.decide("approve", admin())
        assert catalogue.states() == {1: "available", 2: "refused", 3: "available"}
        again = catalogue.upload(2, "rotated")
        assert again.created is False
        assert catalogue.states()[2] == "available"

    def test_a_held_version_uploaded_again_stays_held_with_one_change(
        self, catalogue: Catalogue, database: Database
    ) -> None:
        catalogue.upload(1, "force")
        for _ in range(2):
            with pytest.raises(ConflictError):
                catalogue.upload(2, "rotated")
        with database.unit_of_work(write=False) as session:
            assert len(repository.signer_changes(session, PACKAGE)) == 1
        assert catalogue.states() == {1: "available", 2: "held"}


class TestTwoPeople:
    def test_the_one_who_accepted_cannot_approve(self, catalogue: Catalogue) -> None:
        catalogue.upload(1, "force")
        with pytest.raises(ConflictError):
            catalogue.upload(2, "rotated")
        accepting = admin()
        catalogue.decide("accept", accepting)
        with pytest.raises(PermissionDeniedError) as refused:
            catalogue.decide("approve", accepting)
        assert refused.value.error_code == "second_approver_required"
        assert refused.value.keep_changes  # the refused attempt is audited
        assert catalogue.states()[2] == "held"
