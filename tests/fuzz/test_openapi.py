"""Schemathesis over the whole OpenAPI document, against the real app in process (ASGI, on
SQLite): every operation as it_admin, at least 2,000 cases in all, and every operation as each
other staff role. Zero 5xx, and every answer as the document says: its status, content type,
headers and body schema; and no Python in any error's words.

`make fuzz` runs this file alone; `make test` (and so CI) runs it with the rest. The cases are
the same on every run (tests/fuzz/schemathesis.toml says why each setting differs)."""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from mdm_server.db import build_engine
from mdm_server.main import create_app
from mdm_server.migrate import upgrade
from tests.conftest import FakeClock, make_settings
from tests.factories.staff import headers_for

IT_ADMIN_EXAMPLES = 10  # per operation, after the coverage phase; some have fewer distinct cases
OTHER_ROLE_EXAMPLES = 5
AT_LEAST = 2000
OTHER_ROLES = ("auditor", "supervisor", "officer")

# Python talking instead of Tabard: a list's or a mapping's repr, an escape, a validation
# dump, a traceback.
PYTHON = re.compile(
    r"\['[^']*'(, |\])|\{'[^']*': |\\x[0-9a-f]{2}|\\U[0-9a-f]{8}|Traceback|Value error,|"
    r"input_value|<class |object at 0x|validation errors? for "
)


def _build() -> tuple[Any, dict[str, dict[str, str]]]:
    data_dir = Path(tempfile.mkdtemp(prefix="tabard-fuzz-"))
    atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    settings_ = make_settings(data_dir)
    engine = build_engine(settings_)
    upgrade(engine)
    engine.dispose()
    # A clock that stands still: tokens never expire, however long a run takes.
    app = create_app(settings_, clock=FakeClock(datetime.now(UTC).replace(microsecond=0)))
    return app, {role: headers_for(app, role) for role in ("it_admin", *OTHER_ROLES)}


# An APK upload is raw bytes: send what schemathesis makes for it as it would any binary body.
schemathesis.serializer.alias("application/vnd.android.package-archive", "application/octet-stream")
APP, HEADERS = _build()
CONFIG = Path(__file__).with_name("schemathesis.toml").read_text()
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", APP, config=SchemathesisConfig.from_str(CONFIG)
)
# Other roles are refused at the door on most routes: fuzzing alone, without the coverage
# phase's boundary values for every parameter (which it_admin gets), keeps them cheap.
refused_schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    APP,
    config=SchemathesisConfig.from_str(CONFIG + "\n[phases.coverage]\nenabled = false\n"),
)
OPERATIONS = sum(1 for _ in schema.get_all_operations())
CASES: Counter[str] = Counter()
OPERATIONS_RUN: dict[str, set[str]] = {}


def words_not_python(ctx: Any, response: Any, case: Any) -> bool | None:
    """An error's `detail` is words for people: no repr, validation dump or traceback."""
    if response.status_code < 400:
        return None
    found = PYTHON.search(response.text)
    if found:
        raise AssertionError(f"Python in an error's words: {found.group(0)!r} in {response.text}")
    return None


def call(case: Any, role: str) -> None:
    CASES[role] += 1
    OPERATIONS_RUN.setdefault(role, set()).add(case.operation.label)
    case.call_and_validate(headers=HEADERS[role], additional_checks=[words_not_python])


@pytest.fixture(scope="module", autouse=True)
def tally() -> Iterator[None]:
    """After the module: how many cases ran, and at least 2,000 as it_admin when every
    operation ran (a run narrowed with -k proves nothing about the total)."""
    yield
    print(f"\nfuzzed {OPERATIONS} operations: {dict(CASES)} cases")
    if len(OPERATIONS_RUN.get("it_admin", ())) == OPERATIONS:
        assert CASES["it_admin"] >= AT_LEAST, f"only {CASES['it_admin']} cases as it_admin"


def test_the_document_is_fuzzed_whole() -> None:
    assert OPERATIONS >= 80


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )


@schema.parametrize()
@fuzz(IT_ADMIN_EXAMPLES)
def test_as_it_admin(case: Any) -> None:
    call(case, "it_admin")


@refused_schema.parametrize()
@fuzz(OTHER_ROLE_EXAMPLES)
def test_as_an_auditor(case: Any) -> None:
    call(case, "auditor")


@refused_schema.parametrize()
@fuzz(OTHER_ROLE_EXAMPLES)
def test_as_a_supervisor(case: Any) -> None:
    call(case, "supervisor")


@refused_schema.parametrize()
@fuzz(OTHER_ROLE_EXAMPLES)
def test_as_an_officer(case: Any) -> None:
    call(case, "officer")
