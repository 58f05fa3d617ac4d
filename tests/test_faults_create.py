"""`manifold create` against a real registry with faults injected at chosen points (tests/faultproxy.py).

Each test runs the CLI in-process through a ``FaultProxy`` in front of a real distribution
registry. The guarantees under test (docs/guarantees.md):

* a transient fault (5xx, 429 with ``Retry-After``, a dropped connection, a truncated or
  slow body) is retried and the run succeeds;
* a permanent fault fails with the contract's exit code and a message naming the step;
* whatever happened, the tag never points at an index whose children are missing, both
  in the registry (which also refuses dangling indexes itself) and in an ``oci:`` layout
  (where nothing but manifold's ordering prevents it);
* re-running the same command once the fault is gone completes (the work is idempotent).

Backoff is shrunk to milliseconds and ``Retry-After`` values are ``0``, so no test sleeps
for real beyond the one read-timeout case.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from helpers import run, seed
import manifold.store.registry as registry_module
from faultproxy import FaultProxy
from manifold.__main__ import main
from manifold.api import Client
from manifold.auth import StaticKeychain
from manifold.copy import Copier
from manifold.create import CreateRequest, create
from manifold.digest import Digest
from manifold.models import Index, Manifest, parse_document
from manifold.options import Options
from manifold.store.base import Store
from manifold.store.layout import LayoutStore

pytestmark = pytest.mark.registry

LAYOUT = Path(__file__).resolve().parent.parent / "fixtures" / "layout"
F = f"oci:{LAYOUT}"
SOURCES = (f"{F}:app-amd64", f"{F}:app-arm64")
PLATFORMS = ["linux/amd64", "linux/arm64/v8"]
AMD64_CONFIG = "sha256:51266a758742a25df698da32585590b6d7ac845ea24d73c7ed8b7e7a031e9ead"  # 441 bytes
AMD64_LAYER = "sha256:09d1ac9e0d4b9e2fb4f2e9e4124466562d2c009bce9f5511fcf9500db8784b31"  # 150 bytes
_names = itertools.count()


# --- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream(registry_factory):
    """A registry of its own: repositories here see only this module's faults."""
    return registry_factory("faults")


@pytest.fixture
def proxy(upstream):
    with FaultProxy(upstream.host) as p:
        yield p


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch, tmp_path):
    """Millisecond backoff (the retry count is unchanged) and no credentials from the host."""
    monkeypatch.setattr(registry_module, "_BACKOFF_BASE", 0.001)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.delenv("MANIFOLD_INSECURE_REGISTRIES", raising=False)


@pytest.fixture
def repo() -> str:
    return f"faults/r{next(_names)}"






def served(store: Store, tag: str) -> list[str] | None:
    """The platforms ``tag`` serves, asserting that every child and blob it needs exists.

    ``None`` when the tag does not exist. Fails the test when the tag points at an index
    with a missing child or a child with a missing blob.
    """
    if store.head_manifest(tag) is None:
        return None
    fetched = store.get_manifest(tag)
    doc = parse_document(fetched.data, fetched.media_type)
    assert isinstance(doc, Index), f"{store.display}:{tag} is not an index"
    for d in doc.manifests:
        assert store.head_manifest(d.digest) is not None, f"{store.display}:{tag} lists a missing child {d.digest}"
        child = parse_document(store.get_manifest(d.digest).data)
        if isinstance(child, Manifest):
            for b in child.blobs:
                assert store.blob_info(b.digest) is not None, f"child {d.digest} lacks blob {b.digest}"
    return [d.platform.format_all() for d in doc.images]


def in_registry(registry, repo: str, tag: str) -> list[str] | None:
    with Client() as c:
        return served(c.open(c.parse(f"{registry.host}/{repo}")), tag)


def in_layout(path: Path, tag: str) -> list[str] | None:
    if not (path / "oci-layout").exists():
        return None
    return served(LayoutStore(path), tag)


def first_line(err: str) -> str:
    return err.splitlines()[0] if err else ""


# --- the proxy's rule windows --------------------------------------------------------------


@pytest.mark.parametrize(
    "nth, times, acts_on",
    [(1, 1, [1]), (2, 1, [2]), (2, 2, [2, 3]), (3, None, [3, 4, 5, 6]), (1, None, [1, 2, 3, 4, 5, 6])],
)
def test_a_rule_acts_on_its_window_of_matching_requests(upstream, nth, times, acts_on):
    with FaultProxy(upstream.host) as p:
        rule = p.add("GET", r"^/v2/$", "status", status=503, nth=nth, times=times)
        got = [httpx.get(f"http://{p.host}/v2/").status_code for _ in range(6)]
        httpx.get(f"http://{p.host}/v2/other")  # does not match
    assert [i for i, status in enumerate(got, 1) if status == 503] == acts_on
    assert rule.seen == 6 and rule.fired == len(acts_on)


# --- transient faults on the target: retried, and the run succeeds -------------------------

UPLOAD_PUT = r"/blobs/uploads/[^?]+\?.*digest="
CHILD_PUT = r"/manifests/sha256:"
INDEX_PUT = r"/manifests/v1$"

TRANSIENT = [
    pytest.param("POST", r"/blobs/uploads/$", "status", {"status": 503, "headers": {"Retry-After": "0"}}, id="upload-start-503-retry-after-0"),
    pytest.param("POST", r"/blobs/uploads/$", "drop", {}, id="upload-start-dropped"),
    pytest.param("PUT", UPLOAD_PUT, "drop", {}, id="blob-put-dropped"),
    pytest.param("PUT", UPLOAD_PUT, "status", {"status": 500}, id="blob-put-500"),
    pytest.param("PUT", UPLOAD_PUT, "status", {"status": 429, "headers": {"Retry-After": "0"}}, id="blob-put-429-retry-after-0"),
    pytest.param("HEAD", r"/blobs/sha256:", "status", {"status": 502}, id="blob-head-502"),
    pytest.param("PUT", CHILD_PUT, "status", {"status": 502}, id="child-put-502"),
    pytest.param("PUT", CHILD_PUT, "drop", {}, id="child-put-dropped"),
    pytest.param("PUT", CHILD_PUT, "drop", {"forward": True}, id="child-put-stored-then-dropped"),
    pytest.param("PUT", INDEX_PUT, "status", {"status": 503, "headers": {"Retry-After": "0"}}, id="index-put-503-retry-after-0"),
    pytest.param("PUT", INDEX_PUT, "drop", {}, id="index-put-dropped"),
    pytest.param("PUT", INDEX_PUT, "status", {"status": 500, "forward": True}, id="index-put-stored-then-500"),
]


@pytest.mark.parametrize("method, path, action, kw", TRANSIENT)
def test_a_transient_fault_on_the_target_is_retried_and_the_run_succeeds(capsys, proxy, upstream, repo, method, path, action, kw):
    rule = proxy.add(method, path, action, **kw)
    code, out, err = run(capsys, "create", f"{proxy.host}/{repo}:v1", *SOURCES)
    assert code == 0, err
    assert rule.fired == 1 and rule.seen >= 2, "the fault fired once and the retry went through the same rule"
    assert out.strip().startswith(f"{proxy.host}/{repo}@sha256:")
    assert in_registry(upstream, repo, "v1") == PLATFORMS


def test_a_slow_reply_within_the_timeout_is_no_fault(capsys, proxy, upstream, repo):
    rule = proxy.add("PUT", INDEX_PUT, "slow", delay=0.2)
    code, _out, err = run(capsys, "create", f"{proxy.host}/{repo}:v1", *SOURCES)
    assert code == 0, err
    assert rule.seen == 1 and in_registry(upstream, repo, "v1") == PLATFORMS


def test_a_reply_slower_than_the_timeout_is_retried(proxy, upstream, repo):
    """The one real wait: a body held back past the read timeout, once."""
    rule = proxy.add("GET", r"/manifests/v1$", "slow", delay=0.5)
    seed(upstream, repo, "app-amd64")
    with Client() as c:
        st = c.open(c.parse(f"{upstream.host}/{repo}"))
        single = st.get_manifest("app-amd64")
        st.put_manifest(single.data, single.media_type, tag="v1")
    with Client(Options(timeout=0.2, keychain=StaticKeychain({}))) as c:
        req = CreateRequest(target=f"{proxy.host}/{repo}:v1", sources=[SOURCES[1]], amend=True)
        res = create(req, open_store=c.open, host=c.host, sleep=lambda s: None)
    assert rule.fired == 1 and rule.seen >= 2
    assert sorted(d.platform.format_all() for d in res.index.images) == PLATFORMS
    assert in_registry(upstream, repo, "v1") == PLATFORMS


# --- permanent faults on the target: exit code, a message naming the step, no dangling tag ----

PERMANENT = [
    pytest.param("PUT", INDEX_PUT, "status", {"status": 500}, 5, ["PUT manifest", ":v1"], id="index-put-500"),
    pytest.param("PUT", INDEX_PUT, "drop", {}, 5, ["PUT manifest", ":v1", "cannot reach"], id="index-put-dropped"),
    pytest.param("PUT", INDEX_PUT, "status", {"status": 403}, 4, ["PUT manifest", ":v1", "push access denied"], id="index-put-403"),
    pytest.param(
        "PUT", INDEX_PUT, "status",
        {"status": 400, "headers": {"Content-Type": "application/json"},
         "body": json.dumps({"errors": [{"code": "MANIFEST_INVALID", "message": "manifest invalid"}]}).encode()},
        5, ["PUT manifest", ":v1", "manifest invalid"], id="index-put-400-manifest-invalid",
    ),  # fmt: skip
    pytest.param("PUT", CHILD_PUT, "status", {"status": 503, "headers": {"Retry-After": "0"}}, 5, ["PUT manifest", "@sha256:"], id="child-put-503"),
    pytest.param(
        "PUT", CHILD_PUT, "status", {"status": 401, "headers": {"WWW-Authenticate": 'Basic realm="test"'}},
        4, ["PUT manifest", "@sha256:", "push access denied"], id="child-put-401",
    ),  # fmt: skip
    pytest.param("PUT", UPLOAD_PUT, "status", {"status": 500}, 5, ["upload blob sha256:"], id="blob-put-500"),
    pytest.param("PUT", UPLOAD_PUT, "drop", {}, 5, ["upload blob sha256:", "cannot reach"], id="blob-put-dropped"),
    pytest.param("POST", r"/blobs/uploads/$", "status", {"status": 429, "headers": {"Retry-After": "0"}}, 5, ["upload blob sha256:", "429"], id="upload-start-429"),
    pytest.param("HEAD", r"/blobs/sha256:", "status", {"status": 502}, 5, ["HEAD blob sha256:", "502"], id="blob-head-502"),
]


@pytest.mark.parametrize("method, path, action, kw, exit_code, words", PERMANENT)
def test_a_permanent_fault_fails_with_its_exit_code_naming_the_step(capsys, proxy, upstream, repo, method, path, action, kw, exit_code, words):
    proxy.add(method, path, action, times=None, **kw)
    code, out, err = run(capsys, "create", f"{proxy.host}/{repo}:v1", *SOURCES)
    assert code == exit_code, err
    assert out == "" and err.startswith("error:") and "Traceback" not in err
    assert all(w in first_line(err) for w in words), err
    assert in_registry(upstream, repo, "v1") in (None, PLATFORMS)  # absent, or complete (stored, reply lost)


@pytest.mark.parametrize("method, path, action, kw, exit_code, words", PERMANENT)
def test_rerunning_after_a_permanent_fault_completes(capsys, proxy, upstream, repo, method, path, action, kw, exit_code, words):
    proxy.add(method, path, action, times=None, **kw)
    args = ("create", f"{proxy.host}/{repo}:v1", *SOURCES)
    assert run(capsys, *args)[0] == exit_code
    proxy.clear()
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert in_registry(upstream, repo, "v1") == PLATFORMS


def test_a_failed_amend_leaves_the_old_index_complete(capsys, proxy, upstream, repo):
    target = f"{proxy.host}/{repo}:v1"
    assert run(capsys, "create", target, SOURCES[0])[0] == 0
    proxy.add("PUT", CHILD_PUT, "status", status=500, times=None)
    code, _out, err = run(capsys, "create", target, "--amend", f"{F}:app-armv7")
    assert code == 5, err
    assert in_registry(upstream, repo, "v1") == ["linux/amd64"]
    proxy.clear()
    assert run(capsys, "create", target, "--amend", f"{F}:app-armv7")[0] == 0
    assert in_registry(upstream, repo, "v1") == ["linux/amd64", "linux/arm/v7"]


def test_children_go_before_the_index_and_the_index_before_extra_tags(capsys, proxy, upstream, repo):
    code, _out, err = run(capsys, "create", f"{proxy.host}/{repo}:v1", *SOURCES, "--tag", "latest")
    assert code == 0, err
    writes = [(e.method, e.target) for e in proxy.log if e.method in ("PUT", "POST")]
    index_at = writes.index(("PUT", f"/v2/{repo}/manifests/v1"))
    children = [i for i, (m, t) in enumerate(writes) if "/manifests/sha256:" in t or "/blobs/uploads/" in t]
    assert len(children) == 2 + 4 * 2  # 2 manifests; 4 blobs (2 configs, 2 layers), each a POST and a PUT
    assert max(children) < index_at < writes.index(("PUT", f"/v2/{repo}/manifests/latest"))


# --- faults on the source side, into an oci: layout (nothing there refuses a dangling index) ---

SOURCE_TRANSIENT = [
    pytest.param("GET", r"/manifests/app-arm64$", "truncate", {}, id="source-manifest-truncated"),
    pytest.param("GET", r"/manifests/app-arm64$", "drop", {}, id="source-manifest-dropped"),
    pytest.param("GET", r"/blobs/sha256:", "status", {"status": 500}, id="blob-get-500"),
    pytest.param("GET", rf"/blobs/{AMD64_LAYER}", "truncate", {}, id="layer-truncated-mid-body"),
    pytest.param("GET", rf"/blobs/{AMD64_CONFIG}", "truncate", {"nth": 2}, id="config-truncated-on-copy"),
    pytest.param("GET", rf"/blobs/{AMD64_LAYER}", "drop", {}, id="layer-dropped"),
]


@pytest.fixture
def source_repo(upstream, repo) -> str:
    seed(upstream, repo, "app-amd64", "app-arm64")
    return repo


@pytest.mark.parametrize("method, path, action, kw", SOURCE_TRANSIENT)
def test_a_transient_fault_on_a_source_is_retried_into_a_layout(capsys, monkeypatch, proxy, source_repo, tmp_path, method, path, action, kw):
    monkeypatch.setattr(registry_module, "CHUNK_SIZE", 32)  # a truncated body has passed some chunks on
    rule = proxy.add(method, path, action, **kw)
    out_dir = tmp_path / "out"
    src = f"{proxy.host}/{source_repo}"
    code, _out, err = run(capsys, "create", f"oci:{out_dir}:v1", f"{src}:app-amd64", f"{src}:app-arm64")
    assert code == 0, err
    assert rule.fired == 1 and rule.seen >= 2
    assert in_layout(out_dir, "v1") == PLATFORMS


def test_a_transient_fault_on_an_index_sources_child_is_retried(capsys, proxy, upstream, repo, tmp_path):
    """An index source's children are read by digest: a 503 there is retried."""
    seed(upstream, repo, "app-buildx-amd64", "app-buildx-arm64")
    rule = proxy.add("GET", r"/manifests/sha256:", "status", status=503, headers={"Retry-After": "0"})
    out_dir = tmp_path / "out"
    src = f"{proxy.host}/{repo}"
    code, _out, err = run(capsys, "create", f"oci:{out_dir}:v1", f"{src}:app-buildx-amd64", f"{src}:app-buildx-arm64")
    assert code == 0, err
    assert rule.fired == 1 and rule.seen >= 2
    assert in_layout(out_dir, "v1") == PLATFORMS


def test_a_resumed_blob_asks_for_the_rest_with_a_range(capsys, monkeypatch, proxy, source_repo, tmp_path):
    monkeypatch.setattr(registry_module, "CHUNK_SIZE", 32)
    proxy.add("GET", rf"/blobs/{AMD64_LAYER}", "truncate")
    code, _out, err = run(capsys, "create", f"oci:{tmp_path / 'out'}:v1", f"{proxy.host}/{source_repo}:app-amd64")
    assert code == 0, err
    first, again = proxy.requests("GET", AMD64_LAYER)
    assert "range" not in first.headers and again.headers["range"] == "bytes=64-"  # 75 of 150 bytes sent: 2 whole chunks
    assert again.status == 206


def test_a_resumed_blob_whose_registry_ignores_range_skips_what_it_had(capsys, monkeypatch, proxy, source_repo, tmp_path):
    monkeypatch.setattr(registry_module, "CHUNK_SIZE", 32)
    layer = (LAYOUT / "blobs" / "sha256" / AMD64_LAYER.split(":")[1]).read_bytes()
    proxy.add("GET", rf"/blobs/{AMD64_LAYER}", "truncate")
    whole = proxy.add("GET", rf"/blobs/{AMD64_LAYER}", "status", status=200, body=layer, nth=2)
    out_dir = tmp_path / "out"
    code, _out, err = run(capsys, "create", f"oci:{out_dir}:v1", f"{proxy.host}/{source_repo}:app-amd64")
    assert code == 0, err
    assert whole.fired == 1 and in_layout(out_dir, "v1") == ["linux/amd64"]
    assert (out_dir / "blobs" / "sha256" / AMD64_LAYER.split(":")[1]).read_bytes() == layer


SOURCE_PERMANENT = [
    pytest.param("GET", rf"/blobs/{AMD64_LAYER}", "status", {"status": 500}, 5, ["GET blob", AMD64_LAYER, "500"], id="layer-500"),
    pytest.param("GET", rf"/blobs/{AMD64_LAYER}", "truncate", {}, 5, ["GET blob", AMD64_LAYER, "mid-blob"], id="layer-truncated"),
    pytest.param("GET", rf"/blobs/{AMD64_LAYER}", "corrupt", {}, 5, ["GET blob", AMD64_LAYER, "digest mismatch"], id="layer-corrupt"),
    pytest.param("GET", rf"/blobs/{AMD64_LAYER}", "status", {"status": 404}, 3, ["GET blob", AMD64_LAYER], id="layer-404"),
    pytest.param("GET", r"/manifests/app-arm64$", "corrupt", {}, 5, ["GET manifest", ":app-arm64", "does not match"], id="source-manifest-corrupt"),
    pytest.param("GET", r"/manifests/app-arm64$", "status", {"status": 404}, 3, ["GET manifest", ":app-arm64", "404"], id="source-manifest-404"),
    pytest.param("GET", r"/manifests/app-arm64$", "status", {"status": 403}, 4, ["GET manifest", ":app-arm64", "pull access denied"], id="source-manifest-403"),
]


@pytest.mark.parametrize("method, path, action, kw, exit_code, words", SOURCE_PERMANENT)
def test_a_permanent_source_fault_never_tags_a_layout(capsys, proxy, source_repo, tmp_path, method, path, action, kw, exit_code, words):
    proxy.add(method, path, action, times=None, **kw)
    out_dir = tmp_path / "out"
    src = f"{proxy.host}/{source_repo}"
    args = ("create", f"oci:{out_dir}:v1", f"{src}:app-amd64", f"{src}:app-arm64")
    code, out, err = run(capsys, *args)
    assert code == exit_code, err
    assert out == "" and err.startswith("error:") and all(w in first_line(err) for w in words), err
    assert in_layout(out_dir, "v1") is None
    proxy.clear()
    code, _out, err = run(capsys, *args)
    assert code == 0, err
    assert in_layout(out_dir, "v1") == PLATFORMS


def test_a_corrupt_child_of_an_index_source_never_tags_a_layout(capsys, proxy, upstream, repo, tmp_path):
    seed(upstream, repo, "app-buildx-amd64", "app-buildx-arm64")
    proxy.add("GET", r"/manifests/sha256:", "corrupt", times=None)
    out_dir = tmp_path / "out"
    src = f"{proxy.host}/{repo}"
    args = ("create", f"oci:{out_dir}:v1", f"{src}:app-buildx-amd64", f"{src}:app-buildx-arm64")
    code, out, err = run(capsys, *args)
    assert code == 5 and out == ""
    assert all(w in first_line(err) for w in ["GET manifest", "@sha256:", "digest mismatch"]), err
    assert in_layout(out_dir, "v1") is None
    proxy.clear()
    assert run(capsys, *args)[0] == 0
    assert in_layout(out_dir, "v1") == PLATFORMS


def test_a_source_fault_during_amend_keeps_the_layout_tag_as_it_was(capsys, proxy, source_repo, tmp_path):
    out_dir = tmp_path / "out"
    src = f"{proxy.host}/{source_repo}"
    assert run(capsys, "create", f"oci:{out_dir}:v1", f"{F}:app-armv7")[0] == 0
    before = (out_dir / "index.json").read_bytes()
    proxy.add("GET", rf"/blobs/{AMD64_LAYER}", "status", status=502, times=None)
    code, _out, err = run(capsys, "create", f"oci:{out_dir}:v1", "--amend", f"{src}:app-amd64", f"{src}:app-arm64")
    assert code == 5, err
    assert (out_dir / "index.json").read_bytes() == before
    assert in_layout(out_dir, "v1") == ["linux/arm/v7"]


# --- parallel writers into one oci: layout ---------------------------------------------------

AMEND_WORKER = """
import sys
from manifold.__main__ import main
sys.exit(main(["-q", "create", sys.argv[1], "--amend", sys.argv[2]]))
"""
EIGHT = [
    ("app-amd64", "linux/amd64"), ("app-arm64", "linux/arm64"), ("app-armv7", "linux/arm/v7"),
    ("app-ppc64le", "linux/arm/v6"), ("app-s390x", "linux/ppc64le"), ("app-amd64v3", "linux/s390x"),
    ("docker-amd64", "linux/riscv64"), ("docker-arm64", "linux/386"),
]  # fmt: skip


@pytest.mark.parametrize("rounds", [3])
def test_parallel_amends_into_one_layout_lose_no_platform(tmp_path, rounds):
    """8 processes amend one oci: tag at once (the first round also makes the layout); nothing is lost."""
    root = tmp_path / "shared"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    lost: dict[str, set[str]] = {}
    for r in range(rounds):
        target = f"oci:{root}:round{r}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", AMEND_WORKER, target, f"{F}:{fx}={label}"],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            for fx, label in EIGHT
        ]
        for p in procs:
            _out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err.decode()
        got = set(in_layout(root, f"round{r}") or [])
        lost[target] = {label for _fx, label in EIGHT} - got
    assert lost == {f"oci:{root}:round{r}": set() for r in range(rounds)}
    index = json.loads((root / "index.json").read_bytes())
    assert sorted(e["annotations"]["org.opencontainers.image.ref.name"] for e in index["manifests"]) == [
        f"round{r}" for r in range(rounds)
    ]
    assert not [n for n in os.listdir(root) if n.startswith(".tmp-")]


def test_digest_of_the_written_index_is_what_stdout_says(capsys, proxy, upstream, repo):
    proxy.add("PUT", INDEX_PUT, "drop")
    code, out, err = run(capsys, "create", f"{proxy.host}/{repo}:v1", *SOURCES)
    assert code == 0, err
    with Client() as c:
        held = c.open(c.parse(f"{upstream.host}/{repo}")).head_manifest("v1")
    assert out.strip() == f"{proxy.host}/{repo}@{held.digest}" and isinstance(held.digest, Digest)


@pytest.mark.parametrize("action, kw", [("drop", {}), ("status", {"status": 503})])
def test_a_failed_patch_chunk_resumes_where_the_registry_stopped(proxy, upstream, repo, monkeypatch, action, kw):
    monkeypatch.setattr(registry_module, "UPLOAD_CHUNK", 4000)
    data = os.urandom(12_000)
    digest = Digest.of(data)
    rule = proxy.add("PATCH", r"/blobs/uploads/", action, nth=2, **kw)
    opened = []

    def source():
        opened.append(1)
        return iter([data[i : i + 1000] for i in range(0, len(data), 1000)])

    with Client() as c:
        st = c.open(c.parse(f"{proxy.host}/{repo}"))
        assert st.put_blob(digest, len(data), source) == "uploaded"
    assert rule.fired == 1 and len(opened) == 2
    ranges = [e.headers.get("content-range") for e in proxy.requests("PATCH")]
    assert ranges == ["0-3999", "4000-7999", "4000-7999", "8000-11999"]  # resumed, not restarted
    assert len(proxy.requests("GET", "/blobs/uploads/")) == 1  # the status query
    with Client() as c:
        assert b"".join(c.open(c.parse(f"{upstream.host}/{repo}")).open_blob(digest)) == data
