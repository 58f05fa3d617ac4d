"""Bearer tokens for real: the distribution registry behind ``auth: token`` and our token server.

The registry checks each JWT's ``x5c`` chain against ``rootcertbundle``, its issuer,
audience (the service), expiry and ``access`` claims, exactly as Docker Hub, GHCR
and Harbor tokens are checked.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from manifold.auth import Credentials, DockerKeychain, RegistryAuth, StaticKeychain, encode_auth, scope
from manifold.errors import RegistryAuthError
from tokenserver import TokenServer

pytestmark = pytest.mark.registry

USER, PASSWORD = "ci-user", "MARKER-s3cret-token-pw"
SERVICE, ISSUER = "manifold-test", "manifold-test-issuer"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(scope="module")
def token_server():
    server = TokenServer(
        Path(tempfile.mkdtemp(prefix="manifold-tokens-")),
        users={USER: PASSWORD},
        refresh_tokens={"refresh-MARKER-s3cret": USER},
        anonymous_pull=True,
        issuer=ISSUER,
    )
    yield server
    server.close()


@pytest.fixture(scope="module")
def token_registry(registry_factory, token_server):
    auth = {
        "token": {
            "realm": token_server.realm,
            "service": SERVICE,
            "issuer": ISSUER,
            "rootcertbundle": str(token_server.cert_path),
        }
    }
    return registry_factory("token", auth=auth)


def client_for(registry, creds: Credentials | None, seen: list[tuple[str, int]] | None = None) -> httpx.Client:
    """A client for ``registry``; ``seen`` collects (method, status) of each registry answer.

    (The registry does not log the 401s it sends, so they are counted on our side.)
    """
    keychain = StaticKeychain({registry.host: creds} if creds else {})

    def record(response: httpx.Response) -> None:
        if seen is not None and f"{response.url.host}:{response.url.port}" == registry.host:
            seen.append((response.request.method, response.status_code))

    auth = RegistryAuth(registry.host, keychain)
    return httpx.Client(base_url=registry.url, auth=auth, timeout=10, event_hooks={"response": [record]})


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(client: httpx.Client, repo: str, data: bytes) -> str:
    scopes = {"manifold_scopes": (scope(repo, "pull,push"),)}
    digest = sha256(data)
    started = client.post(f"/v2/{repo}/blobs/uploads/", extensions=scopes)
    assert started.status_code == 202, started.text
    location = httpx.URL(started.headers["location"])
    done = client.put(location.copy_merge_params({"digest": digest}), content=data, extensions=scopes)
    assert done.status_code == 201, done.text
    return digest


def push_image(client: httpx.Client, repo: str, tag: str, layer: bytes) -> bytes:
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    descriptors = []
    blobs = ((config, "application/vnd.oci.image.config.v1+json"), (layer, "application/vnd.oci.image.layer.v1.tar"))
    for data, media_type in blobs:
        descriptors.append({"mediaType": media_type, "digest": push_blob(client, repo, data), "size": len(data)})
    manifest = json.dumps(
        {"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "config": descriptors[0], "layers": descriptors[1:]}
    ).encode()
    put = client.put(
        f"/v2/{repo}/manifests/{tag}",
        content=manifest,
        headers={"Content-Type": MANIFEST_TYPE},
        extensions={"manifold_scopes": (scope(repo, "pull,push"),)},
    )
    assert put.status_code == 201, put.text
    return manifest


def pull(client: httpx.Client, path: str) -> httpx.Response:
    repo = path.split("/v2/", 1)[1].rsplit("/", 2)[0]
    return client.get(path, headers={"Accept": MANIFEST_TYPE}, extensions={"manifold_scopes": (scope(repo, "pull"),)})


def test_push_and_pull_back_through_bearer_tokens(token_registry) -> None:
    with client_for(token_registry, Credentials(USER, PASSWORD)) as client:
        manifest = push_image(client, "team/app", "v1", b"layer-bytes-1")
        got = pull(client, "/v2/team/app/manifests/v1")
        layer = json.loads(manifest)["layers"][0]["digest"]
        blob = pull(client, f"/v2/team/app/blobs/{layer}")
    assert (got.status_code, got.content, got.headers["docker-content-digest"]) == (200, manifest, sha256(manifest))
    assert (blob.status_code, blob.content) == (200, b"layer-bytes-1")


def test_token_server_is_asked_once_per_scope_set(token_registry, token_server) -> None:
    seen: list[tuple[str, int]] = []
    with client_for(token_registry, Credentials(USER, PASSWORD), seen) as client:
        token_server.reset()
        manifest = push_image(client, "team/reuse", "v1", b"layer-bytes-2")
        for _ in range(3):
            assert pull(client, "/v2/team/reuse/manifests/v1").content == manifest
    scope_sets = [r.scopes for r in token_server.requests]
    assert scope_sets == [("repository:team/reuse:pull,push",), ("repository:team/reuse:pull",)]
    assert [status for _, status in seen].count(401) == 1  # only the very first request
    assert len(seen) == 1 + 2 * 2 + 1 + 3  # 401, two blobs (POST + PUT), manifest PUT, three pulls


def test_threads_reuse_one_token(token_registry, token_server) -> None:
    with client_for(token_registry, Credentials(USER, PASSWORD)) as client:
        push_image(client, "team/threads", "v1", b"layer-bytes-3")
        token_server.reset()
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: pull(client, "/v2/team/threads/manifests/v1").status_code, range(16)))
    assert statuses == [200] * 16 and [r.scopes for r in token_server.requests] == [("repository:team/threads:pull",)]


def test_wrong_password_is_registry_auth_error_exit_4(token_registry) -> None:
    with client_for(token_registry, Credentials(USER, "wrong-MARKER-s3cret")) as client:
        with pytest.raises(RegistryAuthError) as info:
            pull(client, "/v2/team/app/manifests/v1")
    assert info.value.exit_code == 4 and info.value.status == 401 and "MARKER-s3cret" not in str(info.value)


def test_anonymous_can_pull(token_registry) -> None:
    with client_for(token_registry, Credentials(USER, PASSWORD)) as client:
        manifest = push_image(client, "team/public", "v1", b"layer-bytes-4")
    with client_for(token_registry, None) as anonymous:
        got = pull(anonymous, "/v2/team/public/manifests/v1")
    assert (got.status_code, got.content) == (200, manifest)


def test_anonymous_push_is_refused_once_without_looping(token_registry, token_server) -> None:
    seen: list[tuple[str, int]] = []
    with client_for(token_registry, None, seen) as anonymous:
        token_server.reset()
        wanted = {"manifold_scopes": (scope("team/public", "pull,push"),)}
        response = anonymous.post("/v2/team/public/blobs/uploads/", extensions=wanted)
    assert response.status_code == 401
    assert seen == [("POST", 401), ("POST", 401)]
    assert [(r.user, r.scopes) for r in token_server.requests] == [(None, ("repository:team/public:pull,push",))]


def test_identity_token_uses_oauth_post(token_registry, token_server) -> None:
    with client_for(token_registry, Credentials(identity_token="refresh-MARKER-s3cret")) as client:
        token_server.reset()
        push_blob(client, "team/oauth", b"oauth-blob")
    assert [(r.method, r.user) for r in token_server.requests] == [("POST", USER)]


def test_docker_config_credentials_end_to_end(token_registry, tmp_path: Path) -> None:
    config = tmp_path / "docker" / "config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"auths": {token_registry.host: {"auth": encode_auth(USER, PASSWORD)}}}))
    keychain = DockerKeychain({"DOCKER_CONFIG": str(config.parent), "HOME": str(tmp_path)})
    with httpx.Client(base_url=token_registry.url, auth=RegistryAuth(token_registry.host, keychain)) as client:
        digest = push_blob(client, "team/config", b"from-docker-config")
        assert pull(client, f"/v2/team/config/blobs/{digest}").content == b"from-docker-config"
