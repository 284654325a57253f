"""Only the screen may drive the screen: a request without the launch's cookie, with one from
an earlier launch, naming another host, or changing something from another origin or without
the launch's CSRF token is refused with 403 and a plain page; the launch secret works once."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from device_agent.screen.guard import COOKIE, Launch, ScreenGuard

PORT = 8765
ORIGIN = f"http://127.0.0.1:{PORT}"


async def page(_: Request) -> Response:
    return PlainTextResponse("police data")


async def change(request: Request) -> Response:
    form = await request.form()
    return PlainTextResponse(f"changed {form.get('what')}")


async def launch_route(request: Request) -> Response:
    launch: Launch = request.app.state.launch
    if not launch.exchange(request.query_params.get("key", "")):
        return PlainTextResponse("refused", status_code=403)
    response = PlainTextResponse("launched")
    response.set_cookie(COOKIE, launch.session, httponly=True, samesite="strict")
    return response


class Holder:
    def __init__(self) -> None:
        self.launch = Launch(PORT)


@pytest.fixture
def holder() -> Holder:
    return Holder()


@pytest.fixture
def client(holder: Holder) -> TestClient:
    app = Starlette(
        routes=[
            Route("/launch", launch_route),
            Route("/", page),
            Route("/change", change, methods=["POST"]),
        ]
    )
    app.state.launch = holder.launch
    guarded = ScreenGuard(app, lambda: holder.launch)
    return TestClient(guarded, base_url=ORIGIN)


def launched(client: TestClient, holder: Holder) -> TestClient:
    secret = holder.launch.secret
    assert secret is not None
    assert client.get("/launch", params={"key": secret}).status_code == 200
    return client


def form(holder: Holder, **extra: str) -> dict[str, str]:
    return {"csrf": holder.launch.csrf, "what": "pin", **extra}


class TestLaunch:
    def test_the_secret_sets_a_strict_http_only_cookie(
        self, client: TestClient, holder: Holder
    ) -> None:
        answer = client.get("/launch", params={"key": holder.launch.secret})
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert client.get("/").text == "police data"

    def test_a_wrong_secret_is_refused_and_the_right_one_still_works(
        self, client: TestClient, holder: Holder
    ) -> None:
        assert client.get("/launch", params={"key": "guess"}).status_code == 403
        assert client.get("/launch").status_code == 403
        launched(client, holder)

    def test_the_secret_works_once(self, client: TestClient, holder: Holder) -> None:
        secret = holder.launch.secret
        launched(client, holder)
        client.cookies.clear()
        assert client.get("/launch", params={"key": secret}).status_code == 403
        assert client.get("/").status_code == 403

    def test_a_launch_is_a_fresh_32_byte_secret(self) -> None:
        one, two = Launch(PORT), Launch(PORT)
        assert one.secret is not None and len(one.secret) >= 43  # 32 bytes, base64url
        assert len({one.secret, two.secret, one.session, two.session, one.csrf, two.csrf}) == 6


class TestRefusals:
    def test_no_cookie_is_refused_with_a_plain_page(self, client: TestClient) -> None:
        answer = client.get("/")
        assert answer.status_code == 403
        assert "police data" not in answer.text
        assert "<h1>Refused</h1>" in answer.text
        assert answer.headers["cache-control"] == "no-store"

    def test_the_cookie_of_an_earlier_launch_is_refused(
        self, client: TestClient, holder: Holder
    ) -> None:
        launched(client, holder)
        holder.launch = Launch(PORT)  # `tabard agent ui` again
        assert client.get("/").status_code == 403
        assert (
            client.post("/change", data=form(holder), headers={"Origin": ORIGIN}).status_code == 403
        )

    @pytest.mark.parametrize(
        "host", ["evil.example:8765", "127.0.0.1:8766", "127.0.0.1", "localhost", "[::1]:8765"]
    )
    def test_another_host_is_refused(self, client: TestClient, holder: Holder, host: str) -> None:
        launched(client, holder)
        assert client.get("/", headers={"Host": host}).status_code == 403

    def test_localhost_on_the_port_is_the_screen_too(
        self, client: TestClient, holder: Holder
    ) -> None:
        launched(client, holder)
        assert client.get("/", headers={"Host": f"localhost:{PORT}"}).status_code == 200

    def test_a_change_from_this_origin_with_the_token_goes_through(
        self, client: TestClient, holder: Holder
    ) -> None:
        launched(client, holder)
        answer = client.post("/change", data=form(holder), headers={"Origin": ORIGIN})
        assert answer.status_code == 200 and answer.text == "changed pin"

    @pytest.mark.parametrize(
        "origin", [None, "http://evil.example", f"http://localhost:{PORT}", "null"]
    )
    def test_a_change_from_another_origin_is_refused(
        self, client: TestClient, holder: Holder, origin: str | None
    ) -> None:
        launched(client, holder)
        headers = {"Origin": origin} if origin else {}
        assert client.post("/change", data=form(holder), headers=headers).status_code == 403

    @pytest.mark.parametrize("token", [None, "", "wrong", "stale"])
    def test_a_change_without_the_launchs_token_is_refused(
        self, client: TestClient, holder: Holder, token: str | None
    ) -> None:
        launched(client, holder)
        stale = holder.launch.csrf
        body = {"what": "pin"}
        if token == "stale":
            holder.launch.csrf = Launch(PORT).csrf
            body["csrf"] = stale
        elif token is not None:
            body["csrf"] = token
        answer = client.post("/change", data=body, headers={"Origin": ORIGIN})
        assert answer.status_code == 403
        assert "changed" not in answer.text

    def test_a_token_twice_is_refused(self, client: TestClient, holder: Holder) -> None:
        launched(client, holder)
        body = f"csrf={holder.launch.csrf}&csrf={holder.launch.csrf}&what=pin"
        headers = {"Origin": ORIGIN, "Content-Type": "application/x-www-form-urlencoded"}
        assert client.post("/change", content=body, headers=headers).status_code == 403

    def test_a_change_that_is_not_a_form_is_refused(
        self, client: TestClient, holder: Holder
    ) -> None:
        launched(client, holder)
        answer = client.post("/change", json=form(holder), headers={"Origin": ORIGIN})
        assert answer.status_code == 403

    @pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
    def test_other_methods_are_refused(
        self, client: TestClient, holder: Holder, method: str
    ) -> None:
        launched(client, holder)
        answer = client.request(method, "/change", data=form(holder), headers={"Origin": ORIGIN})
        assert answer.status_code == 403


class TestHeaders:
    def test_pages_are_no_store_under_a_strict_policy(
        self, client: TestClient, holder: Holder
    ) -> None:
        launched(client, holder)
        answer = client.get("/")
        assert answer.headers["cache-control"] == "no-store"
        policy = answer.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert answer.headers["x-frame-options"] == "DENY"
