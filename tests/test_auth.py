"""Registry auth: behaviour.md §8 vectors (AU, CFG, CH), keychains, login/logout, and the httpx flow.

The flow is driven by hand, as httpx tests its own auth classes: send the request,
feed a 401 with a challenge, look at the token request it yields, feed the token
response, check the retried request. One round trip goes through a real
``httpx.Client`` with pytest-httpx.
"""

from __future__ import annotations

import base64
import json
import logging
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from manifold.auth import (
    HUB_KEY,
    Challenge,
    Credentials,
    DockerKeychain,
    RegistryAuth,
    StaticKeychain,
    config_key,
    convert_to_hostname,
    decode_auth,
    encode_auth,
    login,
    logout,
    normalize_scopes,
    parse_challenges,
    request_scopes,
    scope,
)
from manifold.errors import AuthError, InvalidInputError, RegistryAuthError, RegistryError

MARKER = "MARKER-s3cret"
REG = "registry.example.com"
REALM = "https://auth.example.com/token"
CHALLENGE = f'Bearer realm="{REALM}",service="registry.example.com",scope="repository:team/app:pull"'


# --- Vectors AU: challenge parsing ----------------------------------------------------

AU = [
    (
        "AU1",
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:foo/bar:pull,push"',
        {
            "realm": "https://auth.docker.io/token",
            "service": "registry.docker.io",
            "scope": "repository:foo/bar:pull,push",
        },
    ),
    (
        "AU2",
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:foo/bar:pull,push repository:foo/baz:pull repository:foo/foo:push"',
        {
            "realm": "https://auth.docker.io/token",
            "service": "registry.docker.io",
            "scope": "repository:foo/bar:pull,push repository:foo/baz:pull repository:foo/foo:push",
        },
    ),
    (
        "AU3",
        'Bearer realm="https://auth.example.io/token",empty="",service="registry.example.io",'
        'scope="repository:library/hello-world:pull,push"',
        {
            "realm": "https://auth.example.io/token",
            "empty": "",
            "service": "registry.example.io",
            "scope": "repository:library/hello-world:pull,push",
        },
    ),
    (
        "AU4",
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:samalba/my-app:pull,push"',
        {
            "realm": "https://auth.docker.io/token",
            "service": "registry.docker.io",
            "scope": "repository:samalba/my-app:pull,push",
        },
    ),
]


@pytest.mark.parametrize("vid, header, params", AU, ids=[v[0] for v in AU])
def test_au_vectors_parse_to_bearer_params(vid: str, header: str, params: dict[str, str]) -> None:
    assert parse_challenges([header]) == [Challenge("bearer", params)]


def test_au2_scope_splits_on_spaces_into_three_scopes() -> None:
    (challenge,) = parse_challenges([AU[1][1]])
    assert challenge.scopes == ("repository:foo/bar:pull,push", "repository:foo/baz:pull", "repository:foo/foo:push")


def test_au4_challenge_from_a_401_response_headers() -> None:
    body = {"errors": [{"code": "UNAUTHORIZED", "message": "access to the requested resource is not authorized"}]}
    response = httpx.Response(401, headers={"Www-Authenticate": AU[3][1]}, json=body)
    (challenge,) = parse_challenges(response.headers.get_list("www-authenticate"))
    assert challenge.params["scope"] == "repository:samalba/my-app:pull,push"


@pytest.mark.parametrize(
    "headers, schemes",
    [
        (['Basic realm="r"', 'Bearer realm="https://a/t"'], ["bearer", "basic"]),
        (['Basic realm="r"', 'Digest realm="d"', 'Bearer realm="https://a/t"'], ["bearer", "digest", "basic"]),
        (['Negotiate abc', 'Basic realm="r"'], ["basic"]),
        (["BEARER realm=x"], ["bearer"]),
        ([], []),
    ],
)
def test_challenges_keep_known_schemes_sorted_bearer_digest_basic(headers: list[str], schemes: list[str]) -> None:
    assert [c.scheme for c in parse_challenges(headers)] == schemes


def test_challenge_sort_is_stable_between_equal_schemes() -> None:
    got = parse_challenges(['Bearer realm="https://one/t"', 'Basic realm="b"', 'Bearer realm="https://two/t"'])
    assert [c.params.get("realm") for c in got] == ["https://one/t", "https://two/t", "b"]


@pytest.mark.parametrize(
    "header, params",
    [
        ('Bearer realm="https://a/t",garbage,service="s"', {"realm": "https://a/t"}),
        ('Bearer realm="https://a/t",service="unterminated', {"realm": "https://a/t"}),
        ('Bearer realm="https://a/t" service="s"', {"realm": "https://a/t"}),
        ("Bearer realm=", {}),
        ('Bearer Realm="x",SERVICE=y', {"realm": "x", "service": "y"}),
        ('Bearer realm="a\\"b\\\\c"', {"realm": 'a"b\\c'}),
        ('Bearer  realm = "x"', {}),
    ],
)
def test_parsing_stops_at_the_first_malformed_pair(header: str, params: dict[str, str]) -> None:
    (challenge,) = parse_challenges([header])
    assert dict(challenge.params) == params


@pytest.mark.parametrize(
    "header", ["", " ", '"', "=", ",,,", "\x00\x01", "Bearer \ufffd=\ufffd", "realm=x", "é Bearer"]
)
def test_garbage_headers_never_raise(header: str) -> None:
    assert all(c.scheme in ("bearer", "basic", "digest") for c in parse_challenges([header]))


@pytest.mark.parametrize("header", [AU[0][1], AU[2][1], 'Basic realm="with \\"quotes\\""', "Bearer"])
def test_challenge_str_round_trips(header: str) -> None:
    (challenge,) = parse_challenges([header])
    assert parse_challenges([str(challenge)]) == [challenge]


# --- scopes ---------------------------------------------------------------------------


def test_scope_builds_a_repository_scope() -> None:
    assert scope("team/app", "pull,push") == "repository:team/app:pull,push"


@pytest.mark.parametrize(
    "given, normal",
    [
        (["repository:a:pull,push", "repository:a:push,pull"], ("repository:a:pull,push",)),
        (["repository:b:pull", "repository:a:pull"], ("repository:a:pull", "repository:b:pull")),
        (["repository:a:pull", "repository:a:push"], ("repository:a:pull,push",)),
        (["repository:localhost:5000/a:pull"], ("repository:localhost:5000/a:pull",)),
        (["registry:catalog:*"], ("registry:catalog:*",)),
        (["nonsense"], ("nonsense",)),
    ],
)
def test_normalize_scopes_sorts_and_merges_actions_per_resource(given: list[str], normal: tuple[str, ...]) -> None:
    assert normalize_scopes(given) == normal


@pytest.mark.parametrize(
    "method, url, scopes",
    [
        ("GET", "https://r/v2/library/node/manifests/20", ("repository:library/node:pull",)),
        ("HEAD", "https://r/v2/team/app/blobs/sha256:abc", ("repository:team/app:pull",)),
        ("GET", "https://r/v2/team/app/tags/list", ("repository:team/app:pull",)),
        ("GET", "https://r/v2/a/manifests/tags", ("repository:a:pull",)),
        ("POST", "https://r/v2/team/app/blobs/uploads/", ("repository:team/app:pull,push",)),
        ("PATCH", "https://r/v2/team/app/blobs/uploads/uuid-1?_state=x", ("repository:team/app:pull,push",)),
        ("PUT", "https://r/v2/team/app/manifests/v1", ("repository:team/app:pull,push",)),
        ("DELETE", "https://r/v2/team/app/manifests/sha256:abc", ("repository:team/app:delete",)),
        (
            "POST",
            "https://r/v2/team/app/blobs/uploads/?mount=sha256:abc&from=base/img",
            ("repository:base/img:pull", "repository:team/app:pull,push"),
        ),
        ("GET", "https://r/v2/_catalog", ("registry:catalog:*",)),
        ("GET", "https://r/v2/", ()),
    ],
)
def test_request_scopes_are_inferred_as_the_registry_demands(method: str, url: str, scopes: tuple[str, ...]) -> None:
    assert request_scopes(httpx.Request(method, url)) == scopes


def test_declared_scopes_win_over_inferred_ones() -> None:
    req = httpx.Request(
        "HEAD",
        "https://r/v2/team/app/blobs/sha256:abc",
        extensions={"manifold_scopes": ("repository:team/app:push,pull", "repository:base/img:pull")},
    )
    assert request_scopes(req) == ("repository:base/img:pull", "repository:team/app:pull,push")


# --- Vectors CFG and CH ---------------------------------------------------------------


def test_cfg1_encode_auth() -> None:
    assert encode_auth("ken", "test") == "a2VuOnRlc3Q="


def test_cfg1_encode_round_trips() -> None:
    assert decode_auth(encode_auth("ken", "test")) == ("ken", "test")


def test_cfg2_decode_splits_on_the_first_colon() -> None:
    assert decode_auth("dXNlcjpwYTpzcw==") == ("user", "pa:ss")


def test_decode_trims_nul_bytes_from_the_password() -> None:
    assert decode_auth(base64.b64encode(b"user:pw\x00\x00").decode()) == ("user", "pw")


@pytest.mark.parametrize(
    "value", ["not base64!", base64.b64encode(b"nocolon").decode(), base64.b64encode(b":pw").decode()]
)
def test_decode_rejects_invalid_auth(value: str) -> None:
    with pytest.raises(AuthError, match="invalid auth configuration"):
        decode_auth(value)


@pytest.mark.parametrize(
    "host, key",
    [
        ("docker.io", HUB_KEY),
        ("index.docker.io", HUB_KEY),
        ("registry-1.docker.io", HUB_KEY),
        ("ghcr.io", "ghcr.io"),
        ("localhost:5000", "localhost:5000"),
    ],
)
def test_cfg3_cfg4_config_key(host: str, key: str) -> None:
    assert config_key(host) == key


CH = [
    ("CH1", "127.0.0.1", "127.0.0.1"),
    ("CH2", "::1", "::1"),
    ("CH3", "[::1]", "[::1]"),
    ("CH4", "example.com", "example.com"),
    ("CH5", "http://example.com", "example.com"),
    ("CH5", "https://example.com", "example.com"),
    ("CH5", "https://example.com/", "example.com"),
    ("CH5", "https://example.com/v2/", "example.com"),
    ("CH5", "ftp://example.com", "example.com"),
    ("CH6", "unix:///var/run/docker.sock", "unix:"),
    ("CH7", "127.0.0.1:6556", "127.0.0.1:6556"),
    ("CH8", "::1:6556", "::1:6556"),
    ("CH9", "[::1]:6556", "[::1]:6556"),
    ("CH10", "example.com:6555", "example.com:6555"),
    ("CH10", "http://example.com:6555", "example.com:6555"),
    ("CH10", "https://example.com:6555", "example.com:6555"),
    ("CH10", "https://example.com:6555/v2/", "example.com:6555"),
    ("CH11", "https://127.0.0.1:6555/v2/", "127.0.0.1:6555"),
    ("CH12", "https://::1:6555/v2/", "[::1]:6555"),
    ("CH12", "https://[::1]:6555/v2/", "[::1]:6555"),
]


@pytest.mark.parametrize("vid, url, host", CH, ids=[f"{v[0]}:{v[1]}" for v in CH])
def test_ch_convert_to_hostname(vid: str, url: str, host: str) -> None:
    assert convert_to_hostname(url) == host


# --- Credentials ------------------------------------------------------------------------


def test_credentials_repr_masks_secrets() -> None:
    creds = Credentials("bob", MARKER, identity_token=MARKER, registry_token=MARKER)
    assert MARKER not in repr(creds) and MARKER not in str(creds) and "bob" in repr(creds)


def test_credentials_repr_says_which_secrets_are_set() -> None:
    assert repr(Credentials("bob", "pw")) == (
        "Credentials(username='bob', password='***', identity_token='', registry_token='')"
    )


def test_static_keychain_shares_docker_hub_aliases() -> None:
    creds = Credentials("bob", "pw")
    assert StaticKeychain({"docker.io": creds}).resolve("registry-1.docker.io") == creds


# --- DockerKeychain ---------------------------------------------------------------------


def write_json(path: Path, doc: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def env_for(home: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(home), "XDG_RUNTIME_DIR": str(home / "run"), **extra}


def auths(**entries: dict) -> dict:
    return {"auths": entries}


class Helpers:
    """An injectable ``run_helper``: answers from a table and records each call."""

    def __init__(self, table: dict[tuple[str, str], tuple[int, str]] | None = None) -> None:
        self.table = table or {}
        self.calls: list[tuple[str, str, str]] = []

    def __call__(self, suffix: str, action: str, stdin: str) -> tuple[int, str]:
        self.calls.append((suffix, action, stdin))
        return self.table.get((suffix, stdin), (1, "credentials not found in native keychain"))


def helper_answer(username: str, secret: str, server: str = "") -> tuple[int, str]:
    return 0, json.dumps({"ServerURL": server, "Username": username, "Secret": secret})


def test_docker_config_auth_entry(home: Path) -> None:
    write_json(home / ".docker/config.json", auths(**{REG: {"auth": encode_auth("bob", "pw")}}))
    assert DockerKeychain(env_for(home)).resolve(REG) == Credentials("bob", "pw")


def test_docker_config_dir_from_env(home: Path, tmp_path: Path) -> None:
    write_json(tmp_path / "cfg/config.json", auths(**{REG: {"auth": encode_auth("alice", "pw")}}))
    write_json(home / ".docker/config.json", auths(**{REG: {"auth": encode_auth("bob", "pw")}}))
    keychain = DockerKeychain(env_for(home, DOCKER_CONFIG=str(tmp_path / "cfg")))
    assert keychain.resolve(REG) == Credentials("alice", "pw")


@pytest.mark.parametrize("host", ["docker.io", "index.docker.io", "registry-1.docker.io"])
def test_docker_hub_key_serves_every_hub_alias(home: Path, host: str) -> None:
    write_json(home / ".docker/config.json", auths(**{HUB_KEY: {"auth": encode_auth("bob", "pw")}}))
    assert DockerKeychain(env_for(home)).resolve(host) == Credentials("bob", "pw")


def test_legacy_url_key_matches_by_hostname(home: Path) -> None:
    write_json(home / ".docker/config.json", auths(**{"https://ghcr.io/v1/": {"auth": encode_auth("bob", "pw")}}))
    assert DockerKeychain(env_for(home)).resolve("ghcr.io") == Credentials("bob", "pw")


def test_exact_key_wins_over_hostname_match(home: Path) -> None:
    doc = auths(
        **{"https://ghcr.io/v1/": {"auth": encode_auth("old", "pw")}, "ghcr.io": {"auth": encode_auth("new", "pw")}}
    )
    write_json(home / ".docker/config.json", doc)
    assert DockerKeychain(env_for(home)).resolve("ghcr.io").username == "new"


def test_auth_overrides_explicit_username_and_password(home: Path) -> None:
    entry = {"username": "plain", "password": "plainpw", "auth": encode_auth("bob", "pw")}
    write_json(home / ".docker/config.json", auths(**{REG: entry}))
    assert DockerKeychain(env_for(home)).resolve(REG) == Credentials("bob", "pw")


def test_explicit_username_and_password_fields(home: Path) -> None:
    write_json(home / ".docker/config.json", auths(**{REG: {"username": "bob", "password": "pw"}}))
    assert DockerKeychain(env_for(home)).resolve(REG) == Credentials("bob", "pw")


def test_identitytoken_entry(home: Path) -> None:
    entry = {"auth": encode_auth("bob", ""), "identitytoken": "refresh-1"}
    write_json(home / ".docker/config.json", auths(**{REG: entry}))
    assert DockerKeychain(env_for(home)).resolve(REG) == Credentials("bob", "", identity_token="refresh-1")


def test_registrytoken_entry(home: Path) -> None:
    write_json(home / ".docker/config.json", auths(**{REG: {"registrytoken": "bearer-1"}}))
    assert DockerKeychain(env_for(home)).resolve(REG) == Credentials(registry_token="bearer-1")


def test_creds_store_helper_gets_the_config_key(home: Path) -> None:
    write_json(home / ".docker/config.json", {"credsStore": "desktop", "auths": {HUB_KEY: {}}})
    helpers = Helpers({("desktop", HUB_KEY): helper_answer("bob", "pw")})
    assert DockerKeychain(env_for(home), run_helper=helpers).resolve("docker.io") == Credentials("bob", "pw")
    assert helpers.calls == [("desktop", "get", HUB_KEY)]


def test_helper_token_username_means_identity_token(home: Path) -> None:
    write_json(home / ".docker/config.json", {"credsStore": "desktop"})
    helpers = Helpers({("desktop", REG): helper_answer("<token>", "refresh-1")})
    assert DockerKeychain(env_for(home), run_helper=helpers).resolve(REG) == Credentials(identity_token="refresh-1")


def test_cred_helpers_entry_wins_over_creds_store(home: Path) -> None:
    write_json(home / ".docker/config.json", {"credsStore": "desktop", "credHelpers": {REG: "ecr-login"}})
    helpers = Helpers({("ecr-login", REG): helper_answer("AWS", "pw"), ("desktop", REG): helper_answer("x", "y")})
    assert DockerKeychain(env_for(home), run_helper=helpers).resolve(REG) == Credentials("AWS", "pw")


def test_creds_store_wins_over_auths_entry(home: Path) -> None:
    doc = {"credsStore": "desktop", **auths(**{REG: {"auth": encode_auth("file", "pw")}})}
    write_json(home / ".docker/config.json", doc)
    helpers = Helpers({("desktop", REG): helper_answer("helper", "pw")})
    assert DockerKeychain(env_for(home), run_helper=helpers).resolve(REG).username == "helper"


def test_helper_credentials_not_found_is_anonymous(home: Path) -> None:
    write_json(home / ".docker/config.json", {"credsStore": "desktop"})
    assert DockerKeychain(env_for(home), run_helper=Helpers()).resolve(REG) is None


def test_helper_failure_is_an_auth_error_naming_the_helper(home: Path) -> None:
    write_json(home / ".docker/config.json", {"credsStore": "pass"})
    helpers = Helpers({("pass", REG): (1, "pass store is locked")})
    with pytest.raises(AuthError, match="docker-credential-pass.*pass store is locked"):
        DockerKeychain(env_for(home), run_helper=helpers).resolve(REG)


def test_missing_helper_executable_is_an_auth_error(home: Path) -> None:
    write_json(home / ".docker/config.json", {"credsStore": "manifold-test-no-such-helper"})
    with pytest.raises(AuthError, match="docker-credential-manifold-test-no-such-helper.*not installed"):
        DockerKeychain(env_for(home)).resolve(REG)


def test_podman_registry_auth_file(home: Path, tmp_path: Path) -> None:
    path = write_json(tmp_path / "podman.json", auths(**{REG: {"auth": encode_auth("pod", "pw")}}))
    assert DockerKeychain(env_for(home, REGISTRY_AUTH_FILE=str(path))).resolve(REG) == Credentials("pod", "pw")


def test_podman_runtime_dir_auth_file(home: Path) -> None:
    write_json(home / "run/containers/auth.json", auths(**{REG: {"auth": encode_auth("pod", "pw")}}))
    assert DockerKeychain(env_for(home)).resolve(REG) == Credentials("pod", "pw")


def test_podman_xdg_config_auth_file(home: Path, tmp_path: Path) -> None:
    write_json(tmp_path / "xdg/containers/auth.json", auths(**{REG: {"auth": encode_auth("pod", "pw")}}))
    keychain = DockerKeychain(env_for(home, XDG_CONFIG_HOME=str(tmp_path / "xdg")))
    assert keychain.resolve(REG) == Credentials("pod", "pw")


def test_podman_runtime_file_wins_over_config_file(home: Path) -> None:
    write_json(home / "run/containers/auth.json", auths(**{REG: {"auth": encode_auth("runtime", "pw")}}))
    write_json(home / ".config/containers/auth.json", auths(**{REG: {"auth": encode_auth("config", "pw")}}))
    assert DockerKeychain(env_for(home)).resolve(REG).username == "runtime"


def test_podman_docker_io_key_serves_docker_hub(home: Path) -> None:
    write_json(home / "run/containers/auth.json", auths(**{"docker.io": {"auth": encode_auth("pod", "pw")}}))
    assert DockerKeychain(env_for(home)).resolve("registry-1.docker.io") == Credentials("pod", "pw")


def test_podman_namespaced_key_does_not_serve_the_whole_registry(home: Path) -> None:
    write_json(home / "run/containers/auth.json", auths(**{f"{REG}/team": {"auth": encode_auth("pod", "pw")}}))
    assert DockerKeychain(env_for(home)).resolve(REG) is None


def test_podman_cred_helpers(home: Path) -> None:
    write_json(home / "run/containers/auth.json", {"credHelpers": {REG: "secretservice"}})
    helpers = Helpers({("secretservice", REG): helper_answer("pod", "pw")})
    assert DockerKeychain(env_for(home), run_helper=helpers).resolve(REG) == Credentials("pod", "pw")


def test_docker_auth_config_env(home: Path) -> None:
    env = env_for(home, DOCKER_AUTH_CONFIG=json.dumps(auths(**{REG: {"auth": encode_auth("env", "pw")}})))
    assert DockerKeychain(env).resolve(REG) == Credentials("env", "pw")


@pytest.mark.parametrize(
    "value",
    ['{"auths": {"r": {"auth": "eDp5", "identitytoken": "t"}}}', '{"credsStore": "desktop"}', "not json", "[]"],
)
def test_docker_auth_config_env_rejects_anything_but_auth(home: Path, value: str) -> None:
    with pytest.raises(AuthError, match="DOCKER_AUTH_CONFIG"):
        DockerKeychain(env_for(home, DOCKER_AUTH_CONFIG=value)).resolve(REG)


@pytest.mark.parametrize(
    "sources, winner",
    [
        (("env", "docker", "podman"), "env"),
        (("docker", "podman"), "docker"),
        (("podman",), "podman"),
        ((), None),
    ],
)
def test_precedence_env_then_docker_config_then_podman(
    home: Path, sources: tuple[str, ...], winner: str | None
) -> None:
    env = env_for(home)
    if "env" in sources:
        env["DOCKER_AUTH_CONFIG"] = json.dumps(auths(**{REG: {"auth": encode_auth("env", "pw")}}))
    if "docker" in sources:
        write_json(home / ".docker/config.json", auths(**{REG: {"auth": encode_auth("docker", "pw")}}))
    if "podman" in sources:
        write_json(home / "run/containers/auth.json", auths(**{REG: {"auth": encode_auth("podman", "pw")}}))
    creds = DockerKeychain(env).resolve(REG)
    assert (creds.username if creds else None) == winner


def test_helper_not_found_falls_through_to_podman(home: Path) -> None:
    write_json(home / ".docker/config.json", {"credsStore": "desktop"})
    write_json(home / "run/containers/auth.json", auths(**{REG: {"auth": encode_auth("podman", "pw")}}))
    assert DockerKeychain(env_for(home), run_helper=Helpers()).resolve(REG).username == "podman"


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        '{"auths": []}',
        '{"auths": {"r": "x"}}',
        '{"credHelpers": {"r": 1}}',
        '{"credsStore": 5}',
        json.dumps(auths(**{REG: {"auth": "!!" + MARKER}})),
        json.dumps(auths(**{REG: {"auth": encode_auth("bob", MARKER), "password": 5}})),
    ],
)
def test_malformed_config_is_an_auth_error_naming_the_file(home: Path, content: str) -> None:
    path = home / ".docker/config.json"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(AuthError) as info:
        DockerKeychain(env_for(home)).resolve(REG)
    assert str(path) in str(info.value) and MARKER not in str(info.value)


def test_files_are_read_once_per_keychain(home: Path) -> None:
    path = write_json(home / ".docker/config.json", auths(**{REG: {"auth": encode_auth("bob", "pw")}}))
    keychain = DockerKeychain(env_for(home))
    keychain.resolve(REG)
    path.unlink()
    assert keychain.resolve(REG) == Credentials("bob", "pw")


def test_no_files_means_no_credentials(home: Path) -> None:
    assert DockerKeychain(env_for(home)).resolve(REG) is None


# --- login / logout ---------------------------------------------------------------------


def test_login_writes_base64_auth_with_tab_indent_mode_0600(home: Path) -> None:
    key = login(REG, "bob", "pw", env=env_for(home))
    path = home / ".docker/config.json"
    assert (key, json.loads(path.read_text())) == (REG, auths(**{REG: {"auth": encode_auth("bob", "pw")}}))
    assert path.read_text().startswith('{\n\t"auths"') and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_login_to_docker_hub_uses_the_hub_key(home: Path) -> None:
    assert login("docker.io", "bob", "pw", env=env_for(home)) == HUB_KEY


def test_login_keeps_other_settings_and_entries(home: Path) -> None:
    path = write_json(home / ".docker/config.json", {"psFormat": "x", **auths(other={"auth": encode_auth("o", "p")})})
    login(REG, "bob", "pw", env=env_for(home))
    doc = json.loads(path.read_text())
    assert doc["psFormat"] == "x" and set(doc["auths"]) == {"other", REG}


def test_login_then_keychain_resolves(home: Path) -> None:
    login("https://ghcr.io/v1/", "bob", "pw", env=env_for(home))
    assert DockerKeychain(env_for(home)).resolve("ghcr.io") == Credentials("bob", "pw")


def test_login_verifies_before_writing(home: Path) -> None:
    seen: list[Credentials] = []

    def refuse(creds: Credentials) -> None:
        seen.append(creds)
        raise AuthError("unauthorized")

    with pytest.raises(AuthError):
        login(REG, "bob", "pw", env=env_for(home), verify=refuse)
    assert seen == [Credentials("bob", "pw")] and not (home / ".docker/config.json").exists()


def test_login_without_username_is_invalid_input(home: Path) -> None:
    with pytest.raises(InvalidInputError):
        login(REG, "", "pw", env=env_for(home))


def test_login_with_creds_store_uses_the_helper(home: Path) -> None:
    path = write_json(home / ".docker/config.json", {"credsStore": "desktop"})
    helpers = Helpers({("desktop", json.dumps({"ServerURL": REG, "Username": "bob", "Secret": "pw"})): (0, "")})
    login(REG, "bob", "pw", env=env_for(home), run_helper=helpers)
    assert helpers.calls[0][:2] == ("desktop", "store") and json.loads(path.read_text())["auths"] == {REG: {}}


def test_logout_removes_the_entry(home: Path) -> None:
    login(REG, "bob", "pw", env=env_for(home))
    assert logout(REG, env=env_for(home)) is True
    assert DockerKeychain(env_for(home)).resolve(REG) is None


def test_logout_without_credentials_says_so(home: Path) -> None:
    login("other.example.com", "bob", "pw", env=env_for(home))
    assert logout(REG, env=env_for(home)) is False


def test_logout_with_creds_store_erases_through_the_helper(home: Path) -> None:
    write_json(home / ".docker/config.json", {"credsStore": "desktop", **auths(**{REG: {}})})
    helpers = Helpers({("desktop", REG): (0, "")})
    assert logout(REG, env=env_for(home), run_helper=helpers) is True
    assert helpers.calls == [("desktop", "erase", REG)]


# --- the flow, driven by hand -----------------------------------------------------------


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


WALL = 1_700_000_000.0


def make_auth(creds: Credentials | None = None, host: str = REG, **kw) -> RegistryAuth:
    keychain = StaticKeychain({host: creds} if creds else {})
    kw.setdefault("clock", Clock())
    kw.setdefault("wall_clock", lambda: WALL)
    return RegistryAuth(host, keychain, **kw)


def get(path: str = "/v2/team/app/manifests/v1", host: str = REG, scheme: str = "https", **ext) -> httpx.Request:
    return httpx.Request("GET", f"{scheme}://{host}{path}", extensions=ext)


def unauthorized(request: httpx.Request, challenge: str = CHALLENGE) -> httpx.Response:
    return httpx.Response(401, headers={"WWW-Authenticate": challenge}, request=request, json={"errors": []})


def token_response(request: httpx.Request, token: str = "tok-1", **extra) -> httpx.Response:
    return httpx.Response(200, json={"token": token, **extra}, request=request)


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, request=request, content=b"{}")


def finish(flow, response: httpx.Response) -> None:
    with pytest.raises(StopIteration):
        flow.send(response)


def challenge_round(auth: RegistryAuth, request: httpx.Request, token: str = "tok-1", challenge: str = CHALLENGE):
    """Send, take a 401, answer the token request; returns (token request, retried request)."""
    flow = auth.sync_auth_flow(request)
    sent = next(flow)
    token_req = flow.send(unauthorized(sent, challenge))
    retried = flow.send(token_response(token_req, token))
    finish(flow, ok(retried))
    return token_req, retried


def test_first_request_goes_without_authorization() -> None:
    flow = make_auth(Credentials("bob", "pw")).sync_auth_flow(get())
    assert "authorization" not in next(flow).headers


def test_bearer_challenge_yields_token_get_with_service_scope_and_basic() -> None:
    token_req, _ = challenge_round(make_auth(Credentials("bob", "pw")), get())
    assert token_req.method == "GET" and str(token_req.url).startswith(REALM + "?")
    assert parse_qs(token_req.url.query.decode()) == {"service": [REG], "scope": ["repository:team/app:pull"]}
    assert token_req.headers["authorization"] == "Basic " + encode_auth("bob", "pw")


def test_anonymous_token_request_has_no_authorization() -> None:
    token_req, _ = challenge_round(make_auth(None), get())
    assert "authorization" not in token_req.headers


def test_retried_request_carries_the_bearer_token() -> None:
    _, retried = challenge_round(make_auth(Credentials("bob", "pw")), get(), token="tok-xyz")
    assert retried.headers["authorization"] == "Bearer tok-xyz"


def test_access_token_is_preferred_over_token() -> None:
    auth = make_auth(None)
    flow = auth.sync_auth_flow(get())
    token_req = flow.send(unauthorized(next(flow)))
    retried = flow.send(token_response(token_req, "old-style", access_token="oauth-style"))
    assert retried.headers["authorization"] == "Bearer oauth-style"


def test_one_scope_param_per_scope_union_of_declared_and_challenge() -> None:
    declared = ("repository:team/app:pull,push", "repository:base/img:pull")
    token_req, _ = challenge_round(make_auth(None), get(manifold_scopes=declared))
    assert token_req.url.params.get_list("scope") == ["repository:base/img:pull", "repository:team/app:pull,push"]


def test_realm_query_parameters_are_kept() -> None:
    challenge = 'Bearer realm="https://auth.example.com/token?account=x",service="s"'
    token_req, _ = challenge_round(make_auth(None), get(), challenge=challenge)
    assert token_req.url.params.get("account") == "x" and token_req.url.params.get("service") == "s"


def test_token_request_inherits_the_timeout() -> None:
    timeout = {"connect": 3.0, "read": 3.0, "write": 3.0, "pool": 3.0}
    token_req, _ = challenge_round(make_auth(None), get(timeout=timeout))
    assert token_req.extensions["timeout"]["read"] == 3.0


def test_cached_token_is_attached_before_sending() -> None:
    auth = make_auth(Credentials("bob", "pw"))
    challenge_round(auth, get(), token="tok-1")
    flow = auth.sync_auth_flow(get("/v2/team/app/blobs/sha256:abc"))
    first = next(flow)
    assert first.url.path.startswith("/v2/team/app/") and first.headers["authorization"] == "Bearer tok-1"
    finish(flow, ok(first))


def test_known_realm_fetches_a_token_for_new_scopes_before_sending() -> None:
    auth = make_auth(Credentials("bob", "pw"))
    challenge_round(auth, get(), token="tok-1")
    flow = auth.sync_auth_flow(get("/v2/other/img/manifests/v1"))
    token_req = next(flow)
    assert str(token_req.url).startswith(REALM)
    assert token_req.url.params.get_list("scope") == ["repository:other/img:pull"]
    sent = flow.send(token_response(token_req, "tok-2"))
    assert sent.url.path == "/v2/other/img/manifests/v1" and sent.headers["authorization"] == "Bearer tok-2"


def test_credentials_are_not_sent_ahead_to_another_origin() -> None:
    auth = make_auth(Credentials("bob", "pw"))
    challenge_round(auth, get())
    flow = auth.sync_auth_flow(get(host="storage.example.net"))
    assert "authorization" not in next(flow).headers


@pytest.mark.parametrize(
    "expires_in, issued_ago, later, reused",
    [
        (300, None, 290, True),
        (300, None, 296, False),
        (None, None, 50, True),  # default 60 s
        (None, None, 56, False),
        (10, None, 50, True),  # clamped to at least 60 s
        (300, 200, 90, True),  # issued 200 s ago: 100 s left
        (300, 200, 96, False),
    ],
)
def test_token_expiry(expires_in: int | None, issued_ago: float | None, later: float, reused: bool) -> None:
    clock = Clock()
    auth = make_auth(None, clock=clock)
    flow = auth.sync_auth_flow(get())
    token_req = flow.send(unauthorized(next(flow)))
    extra: dict = {}
    if expires_in is not None:
        extra["expires_in"] = expires_in
    if issued_ago is not None:
        extra["issued_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(WALL - issued_ago))
    finish(flow, ok(flow.send(token_response(token_req, "tok-1", **extra))))
    clock.now += later
    first = next(auth.sync_auth_flow(get()))
    assert (first.headers.get("authorization") == "Bearer tok-1") == reused


@pytest.mark.parametrize("expires_in", ['"soon"', "1e400", "[1]", "-5", "null"])
def test_odd_expires_in_means_the_minimum_lifetime(expires_in: str) -> None:
    clock = Clock()
    auth = make_auth(None, clock=clock)
    flow = auth.sync_auth_flow(get())
    token_req = flow.send(unauthorized(next(flow)))
    body = f'{{"token": "tok-1", "expires_in": {expires_in}}}'.encode()
    finish(flow, ok(flow.send(httpx.Response(200, content=body, request=token_req))))
    clock.now += 50
    assert next(auth.sync_auth_flow(get())).headers["authorization"] == "Bearer tok-1"


def test_token_fetch_is_reported_to_on_event_without_the_token() -> None:
    events: list[str] = []
    challenge_round(make_auth(Credentials("bob", "pw"), on_event=events.append), get(), token="tok-" + MARKER)
    assert len(events) == 1 and "repository:team/app:pull" in events[0] and MARKER not in events[0]


def test_rejected_cached_token_is_replaced_once() -> None:
    auth = make_auth(None)
    challenge_round(auth, get(), token="tok-1")
    flow = auth.sync_auth_flow(get())
    sent = next(flow)
    token_req = flow.send(unauthorized(sent))
    assert str(token_req.url).startswith(REALM)
    assert flow.send(token_response(token_req, "tok-2")).headers["authorization"] == "Bearer tok-2"


@pytest.mark.parametrize("status", [401, 403])
def test_refusal_after_the_retry_goes_to_the_caller_without_looping(status: int) -> None:
    auth = make_auth(Credentials("bob", "pw"))
    flow = auth.sync_auth_flow(get())
    token_req = flow.send(unauthorized(next(flow)))
    retried = flow.send(token_response(token_req))
    finish(flow, unauthorized(retried) if status == 401 else httpx.Response(403, request=retried))


def test_403_is_left_to_the_caller() -> None:
    flow = make_auth(Credentials("bob", "pw")).sync_auth_flow(get())
    finish(flow, httpx.Response(403, request=next(flow)))


def test_streamed_body_is_not_sent_twice_but_the_token_is_cached() -> None:
    auth = make_auth(None)
    streamed = httpx.Request("PUT", f"https://{REG}/v2/team/app/blobs/uploads/u1", content=iter([b"data"]))
    flow = auth.sync_auth_flow(streamed)
    token_req = flow.send(unauthorized(next(flow)))
    finish(flow, token_response(token_req, "tok-1"))
    again = httpx.Request("PUT", f"https://{REG}/v2/team/app/blobs/uploads/u1", content=iter([b"data"]))
    assert next(auth.sync_auth_flow(again)).headers["authorization"] == "Bearer tok-1"


def test_caller_authorization_header_is_left_alone() -> None:
    req = get()
    req.headers["Authorization"] = "Bearer mine"
    flow = make_auth(Credentials("bob", "pw")).sync_auth_flow(req)
    assert next(flow).headers["authorization"] == "Bearer mine"
    finish(flow, unauthorized(req))


# --- Basic ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scheme, host, allow",
    [
        ("https", REG, False),
        ("http", "127.0.0.1:5000", False),
        ("http", "localhost:5000", False),
        ("http", "[::1]:5000", False),
        ("http", REG, True),
    ],
)
def test_basic_challenge_retries_with_basic(scheme: str, host: str, allow: bool) -> None:
    auth = make_auth(Credentials("bob", "pw"), host=host, allow_basic_over_http=allow)
    flow = auth.sync_auth_flow(get(host=host, scheme=scheme))
    retried = flow.send(unauthorized(next(flow), 'Basic realm="registry"'))
    assert retried.headers["authorization"] == "Basic " + encode_auth("bob", "pw")


def test_basic_over_plain_http_is_refused_for_other_hosts() -> None:
    auth = make_auth(Credentials("bob", MARKER))
    flow = auth.sync_auth_flow(get(scheme="http"))
    with pytest.raises(AuthError, match="plain HTTP") as info:
        flow.send(unauthorized(next(flow), 'Basic realm="registry"'))
    assert "--insecure" in (info.value.hint or "") and MARKER not in str(info.value)


def test_basic_without_credentials_returns_the_401() -> None:
    flow = make_auth(None).sync_auth_flow(get())
    finish(flow, unauthorized(next(flow), 'Basic realm="registry"'))


def test_basic_is_sent_ahead_after_the_first_basic_challenge() -> None:
    auth = make_auth(Credentials("bob", "pw"))
    flow = auth.sync_auth_flow(get())
    finish(flow, ok(flow.send(unauthorized(next(flow), 'Basic realm="registry"'))))
    assert next(auth.sync_auth_flow(get())).headers["authorization"].startswith("Basic ")


def test_wrong_basic_credentials_are_not_retried() -> None:
    auth = make_auth(Credentials("bob", "pw"))
    flow = auth.sync_auth_flow(get())
    finish(flow, ok(flow.send(unauthorized(next(flow), 'Basic realm="registry"'))))
    flow = auth.sync_auth_flow(get())
    finish(flow, unauthorized(next(flow), 'Basic realm="registry"'))


def test_token_fetch_refuses_basic_to_a_plain_http_realm() -> None:
    flow = make_auth(Credentials("bob", "pw")).sync_auth_flow(get())
    with pytest.raises(AuthError, match="plain HTTP"):
        flow.send(unauthorized(next(flow), 'Bearer realm="http://auth.example.com/token",service="s"'))


def test_anonymous_token_fetch_may_use_a_plain_http_realm() -> None:
    flow = make_auth(None).sync_auth_flow(get())
    token_req = flow.send(unauthorized(next(flow), 'Bearer realm="http://auth.example.com/token",service="s"'))
    assert token_req.url.scheme == "http"


# --- identity and registry tokens ---------------------------------------------------------


def test_identity_token_uses_the_oauth_post() -> None:
    auth = make_auth(Credentials(identity_token="refresh-1"))
    flow = auth.sync_auth_flow(get(manifold_scopes=("repository:base/img:pull",)))
    post = flow.send(unauthorized(next(flow)))
    form = parse_qs(post.read().decode())
    assert post.method == "POST" and post.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["refresh-1"],
        "client_id": ["manifold"],
        "service": [REG],
        "scope": ["repository:base/img:pull repository:team/app:pull"],
        "access_type": ["offline"],
    }


def test_identity_token_post_answer_is_used() -> None:
    flow = make_auth(Credentials(identity_token="refresh-1")).sync_auth_flow(get())
    post = flow.send(unauthorized(next(flow)))
    retried = flow.send(httpx.Response(200, json={"access_token": "oauth-1", "expires_in": 900}, request=post))
    assert retried.headers["authorization"] == "Bearer oauth-1"


@pytest.mark.parametrize("status", [400, 401, 404, 405])
def test_identity_token_post_falls_back_to_get(status: int) -> None:
    flow = make_auth(Credentials("bob", "pw", identity_token="refresh-1")).sync_auth_flow(get())
    post = flow.send(unauthorized(next(flow)))
    fallback = flow.send(httpx.Response(status, request=post))
    assert fallback.method == "GET" and fallback.headers["authorization"] == "Basic " + encode_auth("bob", "pw")


def test_registry_token_is_sent_directly() -> None:
    flow = make_auth(Credentials(registry_token="direct-1")).sync_auth_flow(get())
    retried = flow.send(unauthorized(next(flow)))
    assert retried.url.host == REG and retried.headers["authorization"] == "Bearer direct-1"


# --- token endpoint failures and hostile challenges -------------------------------------


def test_token_endpoint_refusal_is_registry_auth_error_exit_4() -> None:
    flow = make_auth(Credentials("bob", MARKER)).sync_auth_flow(get())
    token_req = flow.send(unauthorized(next(flow)))
    with pytest.raises(RegistryAuthError) as info:
        flow.send(httpx.Response(401, json={"details": "incorrect username or password"}, request=token_req))
    assert info.value.exit_code == 4 and REALM in str(info.value) and REG in str(info.value)


def test_token_endpoint_outage_is_a_registry_error_exit_5() -> None:
    flow = make_auth(None).sync_auth_flow(get())
    token_req = flow.send(unauthorized(next(flow)))
    with pytest.raises(RegistryError) as info:
        flow.send(httpx.Response(503, request=token_req))
    assert info.value.exit_code == 5 and info.value.status == 503


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"token": ""}', b"[1]", b'{"token": 5}'])
def test_token_response_without_a_token_is_registry_auth_error(body: bytes) -> None:
    flow = make_auth(None).sync_auth_flow(get())
    token_req = flow.send(unauthorized(next(flow)))
    with pytest.raises(RegistryAuthError, match="without a token"):
        flow.send(httpx.Response(200, content=body, request=token_req))


@pytest.mark.parametrize(
    "challenge",
    [
        'Bearer service="s"',
        'Bearer realm="file:///etc/passwd",service="s"',
        'Bearer realm="ftp://auth.example.com/token"',
        'Bearer realm="https://",service="s"',
        'Bearer realm="not a url"',
        'Bearer realm="http://[bad/token"',
    ],
)
def test_unusable_realm_is_registry_auth_error(challenge: str) -> None:
    flow = make_auth(None).sync_auth_flow(get())
    with pytest.raises(RegistryAuthError, match="realm"):
        flow.send(unauthorized(next(flow), challenge))


@pytest.mark.parametrize("challenge", ["", "garbage", "Negotiate", '"unterminated', "Digest realm=x"])
def test_unusable_challenge_leaves_the_401_to_the_caller(challenge: str) -> None:
    flow = make_auth(Credentials("bob", "pw")).sync_auth_flow(get())
    finish(flow, unauthorized(next(flow), challenge))


def test_realm_on_another_host_is_allowed() -> None:
    challenge = 'Bearer realm="https://login.other.example/oauth",service="s"'
    token_req, _ = challenge_round(make_auth(None), get(), challenge=challenge)
    assert token_req.url.host == "login.other.example"


# --- secrets never leak -------------------------------------------------------------------


def test_secrets_never_appear_in_errors_reprs_or_logs(home: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    creds = Credentials("bob", MARKER, identity_token=MARKER + "-id", registry_token="")
    errors: list[BaseException] = []
    auth = make_auth(creds, on_event=lambda text: logging.getLogger("test").info(text))

    flow = auth.sync_auth_flow(get())
    post = flow.send(unauthorized(next(flow)))
    fallback = flow.send(httpx.Response(404, request=post))
    with pytest.raises(RegistryAuthError) as info:
        flow.send(httpx.Response(401, request=fallback))
    errors.append(info.value)

    flow = make_auth(creds).sync_auth_flow(get(scheme="http"))
    with pytest.raises(AuthError) as info2:
        flow.send(unauthorized(next(flow), 'Basic realm="r"'))
    errors.append(info2.value)

    write_json(home / ".docker/config.json", auths(**{REG: {"auth": MARKER}}))
    with pytest.raises(AuthError) as info3:
        DockerKeychain(env_for(home)).resolve(REG)
    errors.append(info3.value)

    texts = [str(e) + repr(e) + str(getattr(e, "hint", "")) + str(getattr(e, "url", "")) for e in errors]
    texts += [repr(creds), str(creds), repr(auth), caplog.text]
    assert all(MARKER not in t for t in texts)


# --- through a real client ----------------------------------------------------------------


def test_client_round_trip_with_pytest_httpx(httpx_mock) -> None:
    url = f"https://{REG}/v2/team/app/manifests/v1"
    httpx_mock.add_response(url=url, status_code=401, headers={"WWW-Authenticate": CHALLENGE})
    httpx_mock.add_response(
        url=f"{REALM}?service={REG}&scope=repository%3Ateam%2Fapp%3Apull",
        match_headers={"Authorization": "Basic " + encode_auth("bob", "pw")},
        json={"token": "tok-1", "expires_in": 300},
    )
    httpx_mock.add_response(url=url, match_headers={"Authorization": "Bearer tok-1"}, json={"ok": True})
    httpx_mock.add_response(url=url, match_headers={"Authorization": "Bearer tok-1"}, json={"again": True})
    with httpx.Client(auth=make_auth(Credentials("bob", "pw"))) as client:
        assert client.get(url).json() == {"ok": True}
        assert client.get(url).json() == {"again": True}  # cached token, no second 401
    assert [r.url.host for r in httpx_mock.get_requests()] == [REG, "auth.example.com", REG, REG]


def test_threads_share_one_token_fetch() -> None:
    fetches: list[str] = []
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example.com":
            with lock:
                fetches.append(request.url.params.get("scope", ""))
            time.sleep(0.05)
            return httpx.Response(200, json={"token": "tok-1"})
        if request.headers.get("authorization") != "Bearer tok-1":
            return httpx.Response(401, headers={"WWW-Authenticate": f'Bearer realm="{REALM}",service="{REG}"'})
        return httpx.Response(200, json={})

    auth = RegistryAuth(REG, StaticKeychain({}))
    with httpx.Client(auth=auth, transport=httpx.MockTransport(handler)) as client:
        assert client.get(f"https://{REG}/v2/").status_code == 200
        fetches.clear()
        with ThreadPoolExecutor(8) as pool:
            url = f"https://{REG}/v2/team/app/manifests/v1"
            statuses = list(pool.map(lambda _: client.get(url).status_code, range(16)))
    assert statuses == [200] * 16 and fetches == ["repository:team/app:pull"]
