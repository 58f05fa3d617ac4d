"""What a real registry will not do on demand: RegistryClient against pytest-httpx.

Every client here talks to ``https://registry.test`` (not loopback, so TLS) with
no transport given: pytest-httpx patches httpx's own transport. ``sleep`` is
injected, so backoff and ``Retry-After`` waits are recorded, not slept.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from typing import Iterator

import httpx
import pytest

from manifold import mediatypes as mt
from manifold.auth import Credentials, StaticKeychain
from manifold.digest import Digest
from manifold.errors import (
    IntegrityError,
    RegistryAuthError,
    RegistryError,
    RegistryNotFoundError,
    UnsupportedDocumentError,
)
from manifold.options import Options, RequestEvent
from manifold.store.registry import RateLimit, RegistryClient, referrers_tag

HOST = "registry.test"
REPO = f"https://{HOST}/v2/team/app"
MANIFEST = json.dumps(
    {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": {"mediaType": mt.OCI_CONFIG,
     "digest": str(Digest.of(b"{}")), "size": 2}, "layers": []}  # fmt: skip
).encode()
DIGEST = Digest.of(MANIFEST)
GOOD = {"Content-Type": mt.OCI_MANIFEST, "Docker-Content-Digest": str(DIGEST)}
BLOB = b"some layer bytes"
BLOB_DIGEST = Digest.of(BLOB)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def events() -> list[RequestEvent]:
    return []


@pytest.fixture
def make(sleeps, events):
    clients: list[RegistryClient] = []

    def build(host: str = HOST, **kw) -> RegistryClient:
        kw.setdefault("keychain", StaticKeychain({}))
        kw.setdefault("max_attempts", 3)
        kw.setdefault("max_backoff", 2.0)
        kw.setdefault("on_request", events.append)
        c = RegistryClient(host, Options(**kw), sleep=sleeps.append)
        clients.append(c)
        return c

    yield build
    for c in clients:
        c.close()


@pytest.fixture
def store(make):
    return make().store("team/app")


def errors_body(code: str, message: str) -> dict:
    return {"errors": [{"code": code, "message": message}]}


# --- retries ------------------------------------------------------------------------------


def test_429_with_retry_after_waits_then_succeeds(httpx_mock, store, sleeps):
    httpx_mock.add_response(url=f"{REPO}/manifests/v1", status_code=429, headers={"Retry-After": "1"})
    httpx_mock.add_response(url=f"{REPO}/manifests/v1", content=MANIFEST, headers=GOOD)
    assert store.get_manifest("v1").digest == DIGEST
    assert sleeps == [1.0]


def test_429_with_retry_after_as_http_date_is_honoured(httpx_mock, store, sleeps):
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    httpx_mock.add_response(url=f"{REPO}/manifests/v1", status_code=429, headers={"Retry-After": when})
    httpx_mock.add_response(url=f"{REPO}/manifests/v1", content=MANIFEST, headers=GOOD)
    store.get_manifest("v1")
    assert len(sleeps) == 1 and 0.0 <= sleeps[0] <= 2.0


def test_429_asking_for_more_than_the_cap_fails_at_once(httpx_mock, store, sleeps):
    httpx_mock.add_response(url=f"{REPO}/manifests/v1", status_code=429, headers={"Retry-After": "120"})
    with pytest.raises(RegistryError) as e:
        store.get_manifest("v1")
    assert (e.value.exit_code, e.value.status) == (5, 429)
    assert sleeps == [] and len(httpx_mock.get_requests()) == 1
    assert "120" in e.value.hint


@pytest.mark.parametrize("status", [408, 502, 503, 504])
def test_transient_status_then_success(httpx_mock, store, sleeps, status):
    httpx_mock.add_response(url=f"{REPO}/manifests/v1", status_code=status)
    httpx_mock.add_response(url=f"{REPO}/manifests/v1", content=MANIFEST, headers=GOOD)
    assert store.get_manifest("v1").data == MANIFEST
    assert len(sleeps) == 1 and 0 < sleeps[0] <= 2.0


def test_persistent_500_fails_with_exit_5_after_max_attempts(httpx_mock, store, sleeps):
    for _ in range(3):
        httpx_mock.add_response(url=f"{REPO}/manifests/v1", status_code=500, json=errors_body("UNKNOWN", "boom"))
    with pytest.raises(RegistryError) as e:
        store.get_manifest("v1")
    assert (e.value.exit_code, e.value.status, e.value.codes) == (5, 500, ("UNKNOWN",))
    assert "unknown: boom" in str(e.value)
    assert len(httpx_mock.get_requests()) == 3 and len(sleeps) == 2


def test_backoff_grows_and_stays_under_the_cap(httpx_mock, make, sleeps):
    store = make(max_attempts=6, max_backoff=1.5).store("team/app")
    for _ in range(6):
        httpx_mock.add_response(url=f"{REPO}/manifests/v1", status_code=503)
    with pytest.raises(RegistryError):
        store.get_manifest("v1")
    assert len(sleeps) == 5 and all(0 < s <= 1.5 for s in sleeps)
    assert sleeps[0] <= 0.5 and max(sleeps) > 0.5  # base 0.5 s, doubling, jittered


def test_connection_error_then_success(httpx_mock, store, sleeps):
    httpx_mock.add_exception(httpx.ConnectError("connection refused"), url=f"{REPO}/manifests/v1")
    httpx_mock.add_response(url=f"{REPO}/manifests/v1", content=MANIFEST, headers=GOOD)
    assert store.get_manifest("v1").digest == DIGEST
    assert len(sleeps) == 1


def test_persistent_connection_error_names_the_host(httpx_mock, store):
    for _ in range(3):
        httpx_mock.add_exception(httpx.ConnectError("connection refused"), url=f"{REPO}/manifests/v1")
    with pytest.raises(RegistryError) as e:
        store.get_manifest("v1")
    assert e.value.status is None and e.value.exit_code == 5
    assert f"cannot reach {HOST}" in str(e.value) and "connection refused" in str(e.value)


def test_a_retry_is_noted_in_the_verbose_events(httpx_mock, store, events):
    httpx_mock.add_response(url=f"{REPO}/manifests/v1", status_code=503)
    httpx_mock.add_response(url=f"{REPO}/manifests/v1", content=MANIFEST, headers=GOOD)
    store.get_manifest("v1")
    assert [(e.method, e.status, e.note) for e in events] == [("GET", 503, ""), ("GET", 200, "retry 1/2 after 503")]
    assert all(e.url == f"{REPO}/manifests/v1" for e in events)


def test_a_blob_push_from_a_plain_iterator_is_not_retried(httpx_mock, store, sleeps):
    httpx_mock.add_response(method="HEAD", url=f"{REPO}/blobs/{BLOB_DIGEST}", status_code=404)
    httpx_mock.add_response(method="POST", status_code=202, headers={"Location": "/v2/team/app/blobs/uploads/u1"})
    httpx_mock.add_response(method="PUT", status_code=503)
    with pytest.raises(RegistryError) as e:
        store.put_blob(BLOB_DIGEST, len(BLOB), iter([BLOB]))
    assert e.value.status == 503 and sleeps == []


def test_a_blob_push_from_a_reopenable_source_is_retried_from_a_new_session(httpx_mock, store):
    opened: list[int] = []

    def source() -> Iterator[bytes]:
        opened.append(1)
        return iter([BLOB])

    httpx_mock.add_response(method="HEAD", url=f"{REPO}/blobs/{BLOB_DIGEST}", status_code=404)
    for n, status in ((1, 503), (2, 201)):
        httpx_mock.add_response(method="POST", status_code=202, headers={"Location": f"/v2/team/app/blobs/uploads/u{n}"})
        httpx_mock.add_response(method="PUT", url=f"{REPO}/blobs/uploads/u{n}?digest={BLOB_DIGEST}", status_code=status)
    store.put_blob(BLOB_DIGEST, len(BLOB), source)
    assert len(opened) == 2


# --- rate limits (vectors RL) ---------------------------------------------------------


@pytest.mark.parametrize(
    "headers,expected",
    [
        ({"ratelimit-limit": "100;w=21600"}, RateLimit(limit=100, window=21600)),  # RL1
        ({"ratelimit-remaining": "20;w=21600"}, RateLimit(remaining=20, window=21600)),  # RL2
        ({"ratelimit-limit": "2500;w=21600"}, RateLimit(limit=2500, window=21600)),  # RL3
        ({}, None),  # RL4: unlimited / unknown
        ({"RateLimit-Limit": "100;w=21600", "RateLimit-Remaining": "76;w=21600"}, RateLimit(100, 76, 21600)),
        ({"ratelimit-remaining": "5"}, RateLimit(remaining=5)),
    ],
)
def test_ratelimit_headers(headers, expected):
    assert RateLimit.from_headers(headers) == expected


def test_ratelimit_remaining_is_in_the_event_note(httpx_mock, store, events):
    headers = {
        "ratelimit-limit": "100;w=21600",
        "ratelimit-remaining": "20;w=21600",
        "docker-ratelimit-source": "1.2.3.4",
    }
    httpx_mock.add_response(method="HEAD", url=f"{REPO}/manifests/v1",
                            headers={**GOOD, "Content-Length": str(len(MANIFEST)), **headers})  # fmt: skip
    store.head_manifest("v1")
    assert [e.note for e in events] == ["ratelimit-remaining=20;w=21600"]
    assert "1.2.3.4" not in repr(events)


def test_pull_limit_429_is_not_retried_without_waiting(httpx_mock, store, sleeps):  # RL5
    message = (
        "You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: "
        "https://www.docker.com/increase-rate-limits"
    )
    httpx_mock.add_response(url=f"{REPO}/manifests/v1", status_code=429, json=errors_body("TOOMANYREQUESTS", message))
    with pytest.raises(RegistryError) as e:
        store.get_manifest("v1")
    assert f"toomanyrequests: {message}" in str(e.value)
    assert e.value.codes == ("TOOMANYREQUESTS",) and e.value.exit_code == 5
    assert sleeps == [] and len(httpx_mock.get_requests()) == 1


def test_pull_limit_429_with_a_short_retry_after_waits(httpx_mock, store, sleeps):
    body = errors_body("TOOMANYREQUESTS", "You have reached your pull rate limit.")
    httpx_mock.add_response(url=f"{REPO}/manifests/v1", status_code=429, json=body, headers={"Retry-After": "2"})
    httpx_mock.add_response(url=f"{REPO}/manifests/v1", content=MANIFEST, headers=GOOD)
    store.get_manifest("v1")
    assert sleeps == [2.0]


def test_abuse_limit_429_without_json_backs_off_and_retries(httpx_mock, store, sleeps):  # RL6
    httpx_mock.add_response(url=f"{REPO}/manifests/v1", status_code=429, text="Too Many Requests")
    httpx_mock.add_response(url=f"{REPO}/manifests/v1", content=MANIFEST, headers=GOOD)
    store.get_manifest("v1")
    assert len(sleeps) == 1 and 0 < sleeps[0] <= 2.0


# --- integrity and size ---------------------------------------------------------------------


def test_body_that_does_not_match_the_digest_asked_for_is_refused(httpx_mock, store):
    httpx_mock.add_response(url=f"{REPO}/manifests/{DIGEST}", content=MANIFEST + b" ",
                            headers={"Content-Type": mt.OCI_MANIFEST})  # fmt: skip
    with pytest.raises(IntegrityError) as e:
        store.get_manifest(DIGEST)
    assert str(DIGEST) in str(e.value) and e.value.exit_code == 5


def test_docker_content_digest_that_disagrees_with_the_body_is_refused(httpx_mock, store):
    other = Digest.of(b"something else")
    httpx_mock.add_response(url=f"{REPO}/manifests/v1", content=MANIFEST,
                            headers={"Content-Type": mt.OCI_MANIFEST, "Docker-Content-Digest": str(other)})  # fmt: skip
    with pytest.raises(IntegrityError, match="Docker-Content-Digest"):
        store.get_manifest("v1")


def test_a_corrupt_blob_is_refused(httpx_mock, store):
    httpx_mock.add_response(url=f"{REPO}/blobs/{BLOB_DIGEST}", content=BLOB[:-1] + b"!")
    with pytest.raises(IntegrityError):
        store.get_blob(BLOB_DIGEST)


def test_a_corrupt_streamed_blob_fails_at_the_end(httpx_mock, store):
    httpx_mock.add_response(url=f"{REPO}/blobs/{BLOB_DIGEST}", content=BLOB[:-1] + b"!")
    with pytest.raises(IntegrityError):
        list(store.open_blob(BLOB_DIGEST))


def test_manifest_whose_content_length_is_over_the_cap_is_refused_unread(httpx_mock, store):
    stream = CountingStream(total=mt.MAX_MANIFEST_SIZE + 1)
    httpx_mock.add_response(url=f"{REPO}/manifests/big", stream=stream,
                            headers={"Content-Type": mt.OCI_MANIFEST, "Content-Length": str(mt.MAX_MANIFEST_SIZE + 1)})  # fmt: skip
    with pytest.raises(UnsupportedDocumentError, match=f"rejecting {mt.MAX_MANIFEST_SIZE + 1} byte"):
        store.get_manifest("big")
    assert stream.sent == 0


def test_manifest_without_content_length_is_cut_off_at_the_cap(httpx_mock, store):
    stream = CountingStream(total=None)  # endless
    httpx_mock.add_response(url=f"{REPO}/manifests/big", stream=stream, headers={"Content-Type": mt.OCI_MANIFEST})
    with pytest.raises(UnsupportedDocumentError) as e:
        store.get_manifest("big")
    assert e.value.exit_code == 5
    assert stream.sent <= mt.MAX_MANIFEST_SIZE + 2 * CountingStream.CHUNK


class CountingStream(httpx.SyncByteStream):
    CHUNK = 64 << 10

    def __init__(self, total: int | None) -> None:
        self.total, self.sent = total, 0

    def __iter__(self) -> Iterator[bytes]:
        while self.total is None or self.sent < self.total:
            n = self.CHUNK if self.total is None else min(self.CHUNK, self.total - self.sent)
            self.sent += n
            yield b" " * n


def test_put_manifest_refuses_a_registry_that_stored_other_bytes(httpx_mock, store):
    httpx_mock.add_response(method="PUT", url=f"{REPO}/manifests/v1", status_code=201,
                            headers={"Docker-Content-Digest": str(Digest.of(b"other"))})  # fmt: skip
    with pytest.raises(IntegrityError):
        store.put_manifest(MANIFEST, mt.OCI_MANIFEST, tag="v1")


def test_put_manifest_sends_the_media_type_and_exact_bytes(httpx_mock, store):
    httpx_mock.add_response(method="PUT", url=f"{REPO}/manifests/v1", status_code=201,
                            headers={"Docker-Content-Digest": str(DIGEST)},
                            match_headers={"Content-Type": mt.OCI_MANIFEST}, match_content=MANIFEST)  # fmt: skip
    assert store.put_manifest(MANIFEST, mt.OCI_MANIFEST, tag="v1") == DIGEST


# --- error bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status,body,error,text",
    [
        (404, b"not here", RegistryNotFoundError, "404 Not Found: not here"),
        (502, b"<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>", RegistryError,
         "502 Bad Gateway: 502 Bad Gateway nginx"),
        (400, b"", RegistryError, "400 Bad Request"),
        (403, b"Forbidden", RegistryAuthError,
         f"pull access denied for {HOST}/team/app, repository does not exist or may require authentication: 403 Forbidden"),
        (404, json.dumps(errors_body("MANIFEST_UNKNOWN", "manifest unknown")).encode(), RegistryNotFoundError,
         "manifest unknown: manifest unknown"),  # DS11
    ],
)  # fmt: skip
def test_error_bodies_json_or_not(httpx_mock, make, status, body, error, text):
    store = make(max_attempts=1).store("team/app")
    httpx_mock.add_response(url=f"{REPO}/manifests/v1", status_code=status, content=body)
    with pytest.raises(error) as e:
        store.get_manifest("v1")
    assert str(e.value) == f"GET manifest app:v1 from {HOST}/team/app: {text}"
    assert e.value.status == status and e.value.method == "GET" and e.value.url == f"{REPO}/manifests/v1"


def test_several_registry_errors_are_all_reported(httpx_mock, store):
    body = {"errors": [{"code": "NAME_UNKNOWN", "message": "repository name not known to registry"},
                       {"code": "DENIED"}]}  # fmt: skip
    httpx_mock.add_response(url=f"{REPO}/tags/list", status_code=404, json=body)
    with pytest.raises(RegistryNotFoundError) as e:
        store.tags()
    assert e.value.codes == ("NAME_UNKNOWN", "DENIED")
    assert str(e.value).endswith("name unknown: repository name not known to registry; denied")


def test_push_denied_says_push(httpx_mock, store):
    body = errors_body("DENIED", "requested access to the resource is denied")
    httpx_mock.add_response(method="PUT", url=f"{REPO}/manifests/v1", status_code=403, json=body)
    with pytest.raises(RegistryAuthError, match=f"push access denied for {HOST}/team/app"):
        store.put_manifest(MANIFEST, mt.OCI_MANIFEST, tag="v1")


# --- HEAD economy and fallbacks ----------------------------------------------------------------


def test_head_405_falls_back_to_get(httpx_mock, store):  # E10
    httpx_mock.add_response(method="HEAD", url=f"{REPO}/manifests/v1", status_code=405)
    httpx_mock.add_response(method="GET", url=f"{REPO}/manifests/v1", content=MANIFEST, headers=GOOD)
    info = store.head_manifest("v1")
    assert (info.digest, info.size, info.media_type) == (DIGEST, len(MANIFEST), mt.OCI_MANIFEST)


def test_head_without_docker_content_digest_falls_back_to_get(httpx_mock, store):
    httpx_mock.add_response(method="HEAD", url=f"{REPO}/manifests/v1",
                            headers={"Content-Type": mt.OCI_MANIFEST, "Content-Length": str(len(MANIFEST))})  # fmt: skip
    httpx_mock.add_response(method="GET", url=f"{REPO}/manifests/v1", content=MANIFEST, headers={"Content-Type": mt.OCI_MANIFEST})
    assert store.head_manifest("v1").digest == DIGEST


def test_head_with_every_header_needs_no_get(httpx_mock, store):
    httpx_mock.add_response(method="HEAD", url=f"{REPO}/manifests/v1", headers={**GOOD, "Content-Length": str(len(MANIFEST))})
    assert store.head_manifest("v1").size == len(MANIFEST)
    assert [r.method for r in httpx_mock.get_requests()] == ["HEAD"]


def test_manifest_requests_accept_all_four_manifest_types(httpx_mock, store):
    httpx_mock.add_response(url=f"{REPO}/manifests/v1", content=MANIFEST, headers=GOOD)
    store.get_manifest("v1")
    accept = httpx_mock.get_requests()[0].headers["accept"]
    assert {t.strip() for t in accept.split(",")} >= {mt.OCI_INDEX, mt.DOCKER_LIST, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST}


@pytest.mark.parametrize("content_type", ["application/json", "", "text/plain; charset=utf-8"])
def test_a_generic_content_type_is_replaced_by_the_detected_media_type(httpx_mock, store, content_type):
    httpx_mock.add_response(url=f"{REPO}/manifests/v1", content=MANIFEST,
                            headers={"Content-Type": content_type} if content_type else {})  # fmt: skip
    assert store.get_manifest("v1").media_type == mt.OCI_MANIFEST


# --- redirects and uploads ----------------------------------------------------------------------


def test_blob_redirect_to_another_host_does_not_carry_authorization(httpx_mock, make, events):
    keychain = StaticKeychain({HOST: Credentials(username="u", password="MARKER-s3cret")})
    store = make(keychain=keychain).store("team/app")
    seen: list[tuple[str, bool]] = []  # (host, had Authorization) when sent: the flow re-sends one object

    def registry(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, "authorization" in request.headers))
        if "authorization" not in request.headers:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="test"'})
        return httpx.Response(307, headers={"Location": "https://cdn.test/blobs/x?X-Amz-Signature=abc123"})

    def cdn(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, "authorization" in request.headers))
        return httpx.Response(200, content=BLOB)

    httpx_mock.add_callback(registry, url=f"{REPO}/blobs/{BLOB_DIGEST}", is_reusable=True)
    httpx_mock.add_callback(cdn, url="https://cdn.test/blobs/x?X-Amz-Signature=abc123")
    assert b"".join(store.open_blob(BLOB_DIGEST)) == BLOB
    assert seen == [(HOST, False), (HOST, True), ("cdn.test", False)]
    assert [e.status for e in events] == [401, 307, 200]
    assert events[-1].url == "https://cdn.test/blobs/x?X-Amz-Signature=REDACTED"


@pytest.mark.parametrize(
    "location,put_url",
    [
        ("/v2/team/app/blobs/uploads/u1?_state=abc%2Bdef%3D&x=1", f"{REPO}/blobs/uploads/u1?_state=abc%2Bdef%3D&x=1&digest={BLOB_DIGEST}"),
        ("https://upload.test/sessions/9?token=t0k", f"https://upload.test/sessions/9?token=t0k&digest={BLOB_DIGEST}"),
        ("https://upload.test/sessions/9", f"https://upload.test/sessions/9?digest={BLOB_DIGEST}"),
    ],
    ids=["relative with query", "absolute with query", "absolute"],
)
def test_upload_location_is_used_as_given(httpx_mock, store, location, put_url):
    put: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        put.append(request)
        return httpx.Response(201, headers={"Docker-Content-Digest": str(BLOB_DIGEST)})

    httpx_mock.add_response(method="HEAD", url=f"{REPO}/blobs/{BLOB_DIGEST}", status_code=404)
    httpx_mock.add_response(method="POST", url=f"{REPO}/blobs/uploads/", status_code=202, headers={"Location": location})
    httpx_mock.add_callback(record, method="PUT")
    store.put_blob(BLOB_DIGEST, len(BLOB), [BLOB[:5], BLOB[5:]])
    (req,) = put
    assert str(req.url) == put_url
    assert req.headers["content-length"] == str(len(BLOB)) and "transfer-encoding" not in req.headers
    assert req.content == BLOB


def test_a_challenge_on_a_streamed_put_reopens_the_source_and_answers_it_ahead(sleeps):
    """A socket cannot re-send a consumed generator; pytest-httpx and MockTransport cache bodies, so they hide this."""
    uploads: list[bytes] = []
    posts: list[str] = []

    class Socketlike(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "HEAD":
                return httpx.Response(404)
            if request.method == "POST":
                posts.append(request.method)
                return httpx.Response(202, headers={"Location": "/v2/team/app/blobs/uploads/u"})
            body = b"".join(request.stream)  # consumed, not cached
            if "authorization" not in request.headers:
                return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="x"'})
            uploads.append(body)
            return httpx.Response(201)

    opts = Options(keychain=StaticKeychain({HOST: Credentials(username="u", password="p")}))
    with RegistryClient(HOST, opts, transport=Socketlike(), sleep=sleeps.append) as c:
        c.store("team/app").put_blob(BLOB_DIGEST, len(BLOB), lambda: iter([BLOB]))
    assert uploads == [BLOB] and len(posts) == 2 and sleeps == []


def test_upload_without_location_is_an_error(httpx_mock, store):
    httpx_mock.add_response(method="HEAD", url=f"{REPO}/blobs/{BLOB_DIGEST}", status_code=404)
    httpx_mock.add_response(method="POST", url=f"{REPO}/blobs/uploads/", status_code=202)
    with pytest.raises(RegistryError, match="no Location"):
        store.put_blob(BLOB_DIGEST, len(BLOB), [BLOB])


# --- mounts --------------------------------------------------------------------------------------

MOUNT_URL = f"{REPO}/blobs/uploads/?mount={BLOB_DIGEST}&from=team/base"


def test_mount_201_is_true_and_asks_for_both_scopes(httpx_mock, make):
    client = make()
    httpx_mock.add_response(method="POST", url=MOUNT_URL, status_code=201)
    assert client.store("team/app").mount_blob(BLOB_DIGEST, client.store("team/base")) is True
    scopes = set(httpx_mock.get_requests()[0].extensions["manifold_scopes"])
    assert scopes == {"repository:team/app:pull,push", "repository:team/base:pull"}


def test_mount_202_is_false_and_the_session_is_cancelled(httpx_mock, make):
    client = make()
    httpx_mock.add_response(method="POST", url=MOUNT_URL, status_code=202, headers={"Location": "/v2/team/app/blobs/uploads/s1"})
    httpx_mock.add_response(method="DELETE", url=f"{REPO}/blobs/uploads/s1", status_code=204)
    assert client.store("team/app").mount_blob(BLOB_DIGEST, client.store("team/base")) is False


@pytest.mark.parametrize("status", [401, 403, 404])
def test_mount_refused_is_false(httpx_mock, make, status):
    client = make()
    httpx_mock.add_response(method="POST", url=MOUNT_URL, status_code=status)
    assert client.store("team/app").mount_blob(BLOB_DIGEST, client.store("team/base")) is False


def test_mount_from_another_host_is_false_without_a_request(httpx_mock, make):
    assert make().store("team/app").mount_blob(BLOB_DIGEST, make("other.test").store("team/base")) is False
    assert httpx_mock.get_requests() == []


# --- tags and referrers ---------------------------------------------------------------------------


def test_tags_follow_link_headers(httpx_mock, store):
    httpx_mock.add_response(url=f"{REPO}/tags/list?n=2", json={"name": "team/app", "tags": ["a", "b"]},
                            headers={"Link": '</v2/team/app/tags/list?n=2&last=b>; rel="next"'})  # fmt: skip
    httpx_mock.add_response(url=f"{REPO}/tags/list?n=2&last=b", json={"name": "team/app", "tags": ["c", "d"]},
                            headers={"Link": f'<{REPO}/tags/list?n=2&last=d>; rel="next"'})  # fmt: skip
    httpx_mock.add_response(url=f"{REPO}/tags/list?n=2&last=d", json={"name": "team/app", "tags": ["e"]})
    assert store.tags(page_size=2) == ["a", "b", "c", "d", "e"]


def test_tags_link_to_another_host_is_not_followed(httpx_mock, store):
    httpx_mock.add_response(url=f"{REPO}/tags/list", json={"name": "team/app", "tags": ["a"]},
                            headers={"Link": '<https://elsewhere.test/v2/team/app/tags/list?last=a>; rel="next"'})  # fmt: skip
    assert store.tags() == ["a"]


def test_null_tags_is_an_empty_list(httpx_mock, store):
    httpx_mock.add_response(url=f"{REPO}/tags/list", json={"name": "team/app", "tags": None})
    assert store.tags() == []


@pytest.mark.parametrize(
    "digest,tag",
    [
        ("sha256:" + "a" * 64, "sha256-" + "a" * 64),  # RT1
        ("sha512:" + "a" * 128, "sha512-" + "a" * 64),  # RT2
        (  # RT3
            "test+algorithm+using+algorithm+separators+and+lots+of+characters+to+excercise+overall+truncation:"
            "alsoSome=InTheEncodedSectionToShowHyphenReplacementAndLotsAndLotsOfCharactersToExcerciseEncodedTruncation",
            "test-algorithm-using-algorithm-s-alsoSome-InTheEncodedSectionToShowHyphenReplacementAndLotsAndLot",
        ),
    ],
)
def test_referrers_tag_schema(digest, tag):
    assert referrers_tag(Digest.parse(digest, strict=False)) == tag


def test_referrers_api_filters_client_side_when_the_registry_did_not(httpx_mock, store):
    sbom = {"mediaType": mt.OCI_MANIFEST, "digest": str(Digest.of(b"1")), "size": 1, "artifactType": "application/spdx+json"}
    sig = {**sbom, "digest": str(Digest.of(b"2")), "artifactType": "application/sig"}
    httpx_mock.add_response(url=f"{REPO}/referrers/{DIGEST}?artifactType=application%2Fspdx%2Bjson",
                            json={"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [sbom, sig]})  # fmt: skip
    assert store.referrers(DIGEST, artifact_type="application/spdx+json") == [sbom]


def test_referrers_404_reads_the_referrers_tag(httpx_mock, store):  # DS8
    entry = {"mediaType": mt.OCI_MANIFEST, "digest": str(Digest.of(b"1")), "size": 1, "artifactType": "application/x"}
    index = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [entry]}).encode()
    httpx_mock.add_response(url=f"{REPO}/referrers/{DIGEST}", status_code=404)
    httpx_mock.add_response(url=f"{REPO}/manifests/{referrers_tag(DIGEST)}", content=index, headers={"Content-Type": mt.OCI_INDEX})
    assert store.referrers(DIGEST) == [entry]


# --- schemes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host,insecure,first",
    [
        ("127.0.0.1:5000", (), "http://127.0.0.1:5000"),
        ("localhost", (), "https://localhost"),
        ("127.0.0.1:443", (), "https://127.0.0.1"),  # httpx drops the default port
        ("registry.test", (), "https://registry.test"),
        ("registry.test:5000", ("registry.test:5000",), "http://registry.test:5000"),
        ("[::1]:5000", (), "http://[::1]:5000"),
        ("registry.test", ("registry.test",), "https://registry.test"),
    ],
)
def test_first_scheme_tried(httpx_mock, make, host, insecure, first):
    httpx_mock.add_response(url=f"{first}/v2/")
    make(host, insecure_registries=frozenset(insecure)).ping()
    assert str(httpx_mock.get_requests()[0].url) == f"{first}/v2/"


def test_secure_host_never_falls_back_to_http(httpx_mock, make):
    httpx_mock.add_exception(httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER]"), url="https://registry.test/v2/")
    with pytest.raises(RegistryError) as e:
        make(max_attempts=1).ping()
    assert [r.url.scheme for r in httpx_mock.get_requests()] == ["https"]
    assert "--insecure" in e.value.hint


def test_loopback_without_port_falls_back_to_http_and_remembers(httpx_mock, make):
    httpx_mock.add_exception(httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER]"), url="https://localhost/v2/")
    httpx_mock.add_response(url="http://localhost/v2/", is_reusable=True)
    client = make("localhost")
    client.ping()
    client.ping()
    sent = [str(r.url) for r in httpx_mock.get_requests()]
    assert sent == ["https://localhost/v2/", "http://localhost/v2/", "http://localhost/v2/"]
    assert client.scheme == "http"


def test_insecure_port_answering_like_tls_only_switches_to_https(httpx_mock, make):
    host = "registry.test:5000"
    httpx_mock.add_response(url=f"http://{host}/v2/", status_code=400, text="Client sent an HTTP request to an HTTPS server.\n")
    httpx_mock.add_response(url=f"https://{host}/v2/", is_reusable=True)
    client = make(host, insecure_registries=frozenset({host}))
    client.ping()
    client.ping()
    assert [r.url.scheme for r in httpx_mock.get_requests()] == ["http", "https", "https"]


def test_plain_http_client_loads_no_ca_bundle(monkeypatch):
    import ssl

    def forbidden(*a, **kw):
        raise AssertionError("the CA bundle was loaded")

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", forbidden)
    monkeypatch.setattr(ssl, "create_default_context", forbidden)
    with RegistryClient("127.0.0.1:5000", Options(keychain=StaticKeychain({}))) as c:
        assert c.insecure


# --- warnings and secrets ---------------------------------------------------------------------------


def test_registry_warnings_are_logged_once(httpx_mock, store, caplog):
    warning = '299 - "this repository is deprecated"'
    for _ in range(2):
        httpx_mock.add_response(url=f"{REPO}/manifests/v1", content=MANIFEST, headers={**GOOD, "Warning": warning})
    with caplog.at_level(logging.WARNING, logger="manifold.store.registry"):
        store.get_manifest("v1")
        store.get_manifest("v1")
    assert [r.getMessage() for r in caplog.records] == [f"registry {HOST}: this repository is deprecated"]


def test_no_secret_in_events_or_errors(httpx_mock, make, events):
    keychain = StaticKeychain({HOST: Credentials(username="u", password="MARKER-s3cret")})
    store = make(keychain=keychain, max_attempts=1).store("team/app")
    httpx_mock.add_response(method="HEAD", url=f"{REPO}/blobs/{BLOB_DIGEST}", status_code=404)
    httpx_mock.add_response(method="POST", url=f"{REPO}/blobs/uploads/", status_code=202,
                            headers={"Location": "/v2/team/app/blobs/uploads/u?_state=SECRETSTATE&signature=SIG"})  # fmt: skip
    httpx_mock.add_response(method="PUT", status_code=401, headers={"WWW-Authenticate": 'Basic realm="x"'})
    httpx_mock.add_response(method="PUT", status_code=401, json=errors_body("UNAUTHORIZED", "authentication required"))
    with pytest.raises(RegistryAuthError) as e:
        store.put_blob(BLOB_DIGEST, len(BLOB), lambda: [BLOB])
    text = f"{e.value} {e.value.url} {e.value.hint} {events!r}"
    assert "authorization" in repr(httpx_mock.get_requests()[-1].headers).lower()  # credentials were sent …
    for secret in ("MARKER", "SECRETSTATE", "SIG", "dTpNQVJLRVI"):  # … and appear nowhere (dTpNQVJLRVI: base64 "u:MARKER")
        assert secret not in text
