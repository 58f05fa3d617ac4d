"""No secret ever reaches output, logs or another host.

Credentials here carry a marker string. Every command runs with ``-v`` against real
registries (htpasswd Basic auth, and Docker-style Bearer tokens from tests/tokenserver.py)
and the marker, the ``Authorization`` value and any issued token must appear nowhere in
stdout, stderr, the log records (caplog at DEBUG) or the files a command writes.
``Authorization`` never follows a redirect (or an upload ``Location``) to another host, and
Basic credentials never travel over plain HTTP to a non-loopback host without ``--insecure``.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import tempfile
from pathlib import Path

import httpx
import pytest

from helpers import run
import manifold.store.registry as registry_module
from conftest import htpasswd_line
from faultproxy import FaultProxy
from manifold.__main__ import main
from manifold.api import Client
from manifold.auth import Credentials, StaticKeychain, encode_auth
from manifold.copy import Copier
from manifold.options import Options
from tokenserver import TokenServer

LAYOUT = Path(__file__).resolve().parent.parent / "fixtures" / "layout"
F = f"oci:{LAYOUT}"
MARKER = "Zq9SECRETMARKER"
USER, PASSWORD = f"ci-{MARKER}", f"pw-{MARKER}-s3cret"
BASIC = encode_auth(USER, PASSWORD)  # what an Authorization: Basic header carries
AMD64_CONFIG = "sha256:51266a758742a25df698da32585590b6d7ac845ea24d73c7ed8b7e7a031e9ead"
SERVICE, ISSUER = "manifold-secrets", "manifold-secrets-issuer"


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def basic_registry(registry_factory):
    folder = Path(tempfile.mkdtemp(prefix="manifold-secrets-"))
    (folder / "htpasswd").write_text(htpasswd_line(USER, PASSWORD))
    reg = registry_factory("secrets-basic", auth={"htpasswd": {"realm": "manifold-secrets", "path": str(folder / "htpasswd")}})
    push_fixtures(reg.host, "sec/app", "app", "app-amd64", "app-arm64")
    return reg


@pytest.fixture(scope="module")
def token_server():
    server = TokenServer(Path(tempfile.mkdtemp(prefix="manifold-secrets-tokens-")), users={USER: PASSWORD}, issuer=ISSUER)
    yield server
    server.close()


@pytest.fixture(scope="module")
def token_registry(registry_factory, token_server):
    auth = {"token": {"realm": token_server.realm, "service": SERVICE, "issuer": ISSUER, "rootcertbundle": str(token_server.cert_path)}}
    reg = registry_factory("secrets-token", auth=auth)
    push_fixtures(reg.host, "sec/app", "app", "app-amd64")
    return reg


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """The Docker config is this test's own; retries back off for milliseconds only."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.delenv("MANIFOLD_INSECURE_REGISTRIES", raising=False)
    monkeypatch.delenv("DOCKER_AUTH_CONFIG", raising=False)
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "no-podman-auth.json"))
    monkeypatch.setattr(registry_module, "_BACKOFF_BASE", 0.001)
    monkeypatch.chdir(tmp_path)


def push_fixtures(host: str, repo: str, *tags: str) -> None:
    keychain = StaticKeychain({host: Credentials(USER, PASSWORD)})
    with Client(Options(keychain=keychain)) as c:
        src = c.open(c.parse(F))
        dst = c.open(c.parse(f"{host}/{repo}"))
        with Copier(dst) as cp:
            for tag in tags:
                fetched = src.get_manifest(tag)
                cp.manifest(src, fetched.digest)
                dst.put_manifest(fetched.data, fetched.media_type, tag=tag)


def docker_config(tmp_path: Path, *hosts: str, user: str = USER, password: str = PASSWORD) -> Path:
    folder = tmp_path / "docker"
    folder.mkdir(exist_ok=True)
    path = folder / "config.json"
    path.write_text(json.dumps({"auths": {h: {"auth": encode_auth(user, password)} for h in hosts}}))
    return path




def leaks(*texts: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The secrets found in ``texts``: the marker, the Basic value, a JWT, anything in ``extra``."""
    secrets = (MARKER, BASIC, base64.b64encode(PASSWORD.encode()).decode(), "eyJ", *extra)
    return [s for s in secrets if any(s in t for t in texts)]


def log_text(caplog) -> str:
    return "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)


# --- every command, -v, Basic auth ------------------------------------------------------------

COMMANDS = [
    pytest.param(0, ["resolve", "{reg}/sec/app:app", "-p", "linux/arm64"], id="resolve"),
    pytest.param(0, ["resolve", "{reg}/sec/app:app", "-p", "linux/amd64", "--format", "json", "--explain"], id="resolve-json-explain"),
    pytest.param(0, ["inspect", "{reg}/sec/app:app"], id="inspect"),
    pytest.param(0, ["inspect", "{reg}/sec/app:app", "--format", "json"], id="inspect-json"),
    pytest.param(0, ["inspect", "{reg}/sec/app:app", "-p", "linux/amd64", "--raw"], id="inspect-raw"),
    pytest.param(0, ["platforms", "{reg}/sec/app:app-amd64", "--all"], id="platforms"),
    pytest.param(1, ["check", "{reg}/sec/app:app", "-p", "linux/amd64", "-p", "linux/s390x"], id="check"),
    pytest.param(0, ["verify", "{reg}/sec/app:app"], id="verify"),
    pytest.param(1, ["matrix", "{reg}/sec/app:app", "{reg}/sec/app:absent", "--format", "json"], id="matrix"),
    pytest.param(0, ["create", "{reg}/sec/out:1", f"{F}:app-armv7", "{reg}/sec/app:app-arm64", "--metadata-file", "md.json"], id="create"),
    pytest.param(0, ["create", "{reg}/sec/out:2", "--amend", f"{F}:app-ppc64le", "--tag", "latest"], id="create-amend"),
    pytest.param(0, ["create", "{reg}/sec/out:3", "{reg}/sec/app:app-amd64", "--dry-run"], id="create-dry-run"),
    pytest.param(0, ["pin", "Dockerfile"], id="pin"),
    pytest.param(3, ["resolve", "{reg}/sec/app:absent"], id="missing-tag"),
    pytest.param(3, ["create", "{reg}/sec/out:4", "{reg}/sec/app:absent"], id="create-missing-source"),
]


@pytest.mark.parametrize("expected, args", COMMANDS)
def test_no_secret_in_output_or_logs_with_basic_auth(capsys, caplog, tmp_path, basic_registry, expected, args):
    caplog.set_level(logging.DEBUG)
    docker_config(tmp_path, basic_registry.host)
    (tmp_path / "Dockerfile").write_text(f"FROM {basic_registry.host}/sec/app:app AS base\nFROM base\n")
    code, out, err = run(capsys, "-v", *[a.replace("{reg}", basic_registry.host) for a in args])
    assert code == expected, err
    assert f"http://{basic_registry.host}/v2/" in err  # -v showed the requests
    written = [p.read_text() for p in (tmp_path / "md.json", tmp_path / "Dockerfile") if p.exists()]
    assert leaks(out, err, log_text(caplog), *written) == []


def test_refused_credentials_leak_nothing(capsys, caplog, tmp_path, basic_registry):
    caplog.set_level(logging.DEBUG)
    wrong = f"wrong-{MARKER}"
    docker_config(tmp_path, basic_registry.host, password=wrong)
    code, out, err = run(capsys, "-v", "resolve", f"{basic_registry.host}/sec/app:app", "-p", "linux/amd64")
    assert code == 4 and "error:" in err
    assert leaks(out, err, log_text(caplog), extra=(wrong, encode_auth(USER, wrong))) == []


def test_login_and_logout_leak_nothing(capsys, caplog, monkeypatch, tmp_path, basic_registry):
    caplog.set_level(logging.DEBUG)
    host = basic_registry.host
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    code, out, err = run(capsys, "-v", "login", host, "-u", USER, "--password-stdin")
    assert code == 0, err
    stored = json.loads((tmp_path / "docker" / "config.json").read_text())
    assert stored["auths"][host]["auth"] == BASIC  # the secret went where it belongs, and only there
    code2, out2, err2 = run(capsys, "-v", "resolve", f"{host}/sec/app:app", "-p", "linux/amd64")
    code3, out3, err3 = run(capsys, "-v", "logout", host)
    assert (code2, code3) == (0, 0), err2 + err3
    assert leaks(out, err, out2, err2, out3, err3, log_text(caplog)) == []


def test_a_wrong_password_at_login_leaks_nothing_and_stores_nothing(capsys, caplog, monkeypatch, tmp_path, basic_registry):
    caplog.set_level(logging.DEBUG)
    wrong = f"wrong-{MARKER}"
    monkeypatch.setattr("sys.stdin", io.StringIO(wrong))
    code, out, err = run(capsys, "-v", "login", basic_registry.host, "-u", USER, "--password-stdin")
    assert code == 4 and "\nerror: " in "\n" + err  # after the -v request lines
    assert not (tmp_path / "docker" / "config.json").exists()
    assert leaks(out, err, log_text(caplog), extra=(wrong, encode_auth(USER, wrong))) == []


# --- Bearer tokens ------------------------------------------------------------------------------

TOKEN_COMMANDS = [
    pytest.param(0, ["resolve", "{reg}/sec/app:app", "-p", "linux/arm64"], id="resolve"),
    pytest.param(0, ["inspect", "{reg}/sec/app:app", "--format", "json"], id="inspect"),
    pytest.param(0, ["verify", "{reg}/sec/app:app"], id="verify"),
    pytest.param(0, ["create", "{reg}/sec/out:1", f"{F}:app-armv7", "{reg}/sec/app:app-amd64"], id="create"),
    pytest.param(3, ["resolve", "{reg}/sec/app:absent"], id="missing-tag"),
]


@pytest.mark.parametrize("expected, args", TOKEN_COMMANDS)
def test_no_password_or_token_in_output_or_logs_with_bearer_auth(capsys, caplog, tmp_path, token_registry, token_server, expected, args):
    caplog.set_level(logging.DEBUG)
    docker_config(tmp_path, token_registry.host)
    token_server.reset()
    code, out, err = run(capsys, "-v", *[a.replace("{reg}", token_registry.host) for a in args])
    assert code == expected, err
    assert token_server.count >= 1 and token_server.requests[0].user == USER  # tokens were issued to us
    assert f"{token_server.url}/token" in err  # -v shows the token request (its URL carries no secret)
    assert leaks(out, err, log_text(caplog)) == []


# --- Authorization stays on the registry's host ---------------------------------------------------


@pytest.fixture
def behind_proxy(basic_registry, tmp_path):
    """The Basic-auth registry behind a FaultProxy, with credentials configured for the proxy's address."""
    with FaultProxy(basic_registry.host) as proxy:
        docker_config(tmp_path, proxy.host)
        yield proxy


def test_authorization_is_not_sent_to_a_redirects_other_host(capsys, behind_proxy):
    config = (LAYOUT / "blobs" / "sha256" / AMD64_CONFIG.split(":")[1]).read_bytes()
    with FaultProxy(None) as cdn:
        cdn.add("GET", r"^/cdn/", "status", status=200, body=config, headers={"Content-Type": "application/octet-stream"}, times=None)
        behind_proxy.add(
            "GET", rf"/blobs/{AMD64_CONFIG}", "status", status=307, times=None,
            headers={"Location": f"http://{cdn.host}/cdn/{AMD64_CONFIG}?X-Amz-Signature=SIG{MARKER}"},
        )  # fmt: skip
        code, out, err = run(capsys, "-v", "platforms", f"{behind_proxy.host}/sec/app:app-amd64")
        assert code == 0, err
        assert out == "linux/amd64\n"
        redirected = behind_proxy.requests("GET", AMD64_CONFIG)
        assert redirected and all(e.headers.get("authorization") == f"Basic {BASIC}" for e in redirected)
        (fetched,) = cdn.requests("GET")
        assert "authorization" not in fetched.headers
        assert leaks(out, err) == []  # the presigned URL's signature is redacted in -v output too


@pytest.mark.parametrize(
    "challenge",
    ['Basic realm="elsewhere"', 'Bearer realm="http://{host}/token",service="elsewhere"'],
    ids=["basic", "bearer"],
)
def test_credentials_never_answer_a_challenge_from_an_upload_location_on_another_host(capsys, behind_proxy, challenge):
    with FaultProxy(None) as elsewhere:
        elsewhere.add("*", r"", "status", status=401, headers={"WWW-Authenticate": challenge.format(host=elsewhere.host)}, times=None)
        behind_proxy.add(
            "POST", r"/blobs/uploads/$", "status", status=202, times=None,
            headers={"Location": f"http://{elsewhere.host}/upload/1", "Content-Length": "0"},
        )  # fmt: skip
        code, _out, err = run(capsys, "create", f"{behind_proxy.host}/sec/leak:1", f"{F}:app-amd64")
        assert code == 4 and err.startswith("error:"), err
        assert elsewhere.requests(), "the upload went to the other host"
        assert [e for e in elsewhere.log if "authorization" in e.headers] == []
        assert [e for e in elsewhere.log if e.target.startswith("/token")] == []


# --- plain HTTP to a non-loopback host ------------------------------------------------------------

REMOTE = "registry.test:5000"
CHALLENGE = {"WWW-Authenticate": 'Basic realm="registry"'}
MANIFEST = (LAYOUT / "blobs" / "sha256" / "f1c3b2c5abdd0b5ff577cd1b456ddd8e49ac867a0008ab79a6188fbb0f16d316").read_bytes()


def answer_with_basic(request: httpx.Request) -> httpx.Response:
    if request.headers.get("authorization") != f"Basic {BASIC}":
        return httpx.Response(401, headers=CHALLENGE)
    return httpx.Response(200, content=MANIFEST, headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})


@pytest.mark.httpx_mock(assert_all_responses_were_requested=False)
@pytest.mark.parametrize("insecure, sent_over_http", [(False, False), (True, True)], ids=["default", "--insecure"])
def test_basic_credentials_go_over_plain_http_only_with_insecure(capsys, httpx_mock, tmp_path, insecure, sent_over_http):
    docker_config(tmp_path, REMOTE)
    httpx_mock.add_callback(answer_with_basic, url=f"http://{REMOTE}/v2/team/app/manifests/v1", is_reusable=True)
    httpx_mock.add_exception(httpx.ConnectError("TLS handshake failed"), url=f"https://{REMOTE}/v2/team/app/manifests/v1", is_reusable=True, is_optional=True)
    args = (["--insecure"] if insecure else []) + ["inspect", f"{REMOTE}/team/app:v1", "--format", "json"]
    code, out, err = run(capsys, *args)
    over_http = [r for r in httpx_mock.get_requests() if r.url.scheme == "http"]
    assert any("authorization" in r.headers for r in over_http) is sent_over_http
    if not insecure:
        assert over_http == [] and code == 5 and err.startswith("error:")
    else:
        assert code == 0, err


@pytest.mark.httpx_mock(assert_all_responses_were_requested=False)
@pytest.mark.parametrize("insecure", [False, True], ids=["default", "--insecure"])
def test_a_plain_http_token_realm_gets_credentials_only_with_insecure(capsys, httpx_mock, tmp_path, insecure):
    docker_config(tmp_path, "registry.test")
    realm = "http://auth.test/token"
    tokens: list[httpx.Request] = []

    def token(request: httpx.Request) -> httpx.Response:
        tokens.append(request)
        return httpx.Response(200, json={"token": "tok"})

    def registry(request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != "Bearer tok":
            return httpx.Response(401, headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="registry.test"'})
        return httpx.Response(200, content=MANIFEST, headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})

    httpx_mock.add_callback(registry, url="https://registry.test/v2/team/app/manifests/v1", is_reusable=True)
    httpx_mock.add_callback(token, url=httpx.URL(realm, params={"service": "registry.test", "scope": "repository:team/app:pull"}), is_reusable=True, is_optional=True)
    args = (["--insecure"] if insecure else []) + ["inspect", "registry.test/team/app:v1", "--format", "json"]
    code, out, err = run(capsys, *args)
    if insecure:
        assert code == 0 and [t.headers.get("authorization") for t in tokens] == [f"Basic {BASIC}"]
    else:
        assert code == 4 and tokens == [] and "plain HTTP" in err and leaks(out, err) == []
