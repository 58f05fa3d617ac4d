"""Check an index the way a CI gate should (field.md §2 rows 16-17, §4 item 2).

Two halves, as everywhere in manifold:

- ``check_entries(index, require)`` is pure: it looks only at the index document, so
  ``create`` can run it on the index it is about to push.
- ``verify_index(store, fetched, …)`` adds what needs the store: every child is fetched
  once (concurrently, bounded) and compared with what the index claims.

Finding codes (``error`` findings fail the check, ``warning`` findings are reported only):

======================  ========  ==========================================================
code                    severity  meaning
======================  ========  ==========================================================
missing-child           error     the store does not hold a manifest the index lists
size-mismatch           error     the manifest (or its config) is not the size its descriptor says
mediatype-mismatch      error     the manifest's media type is not the one its descriptor says
digest-mismatch         error     the bytes the store returned do not hash to the digest
invalid-child           error     the child (or its config) cannot be parsed, or is refused
schema                  error     the index or a child breaks the OCI/Docker schema (JSON path
                                  and reason given; see ``schema.py``)
missing-config          error     an image manifest's config blob is missing
platform-mismatch       error     the entry's platform is not its image config's (containerd 2.2
                                  silently skips such an entry: Azure/AgentBaker#8815)
duplicate-platform      error     two entries share a normalised platform
dangling-attestation    error     an attestation entry's ``vnd.docker.reference.digest`` is not
                                  an image of the index
missing-platform        error     a required platform is not listed
nested-index            error     an entry is itself an index (breaks many consumers)
docker-list-oci-child   warning   a Docker manifest list holds OCI manifests
no-platform             warning   an image entry without a platform
empty-index             warning   the index lists no manifests (valid, but nothing can be pulled)
======================  ========  ==========================================================

Platforms are compared after normalisation (``arm64`` = ``arm64/v8``, ``arm`` = ``arm/v7``),
with os.version. A required platform is present when an entry lists it exactly; when the
requirement gives no os.version (or os.features), any entry's os.version (or features) will do.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from . import mediatypes as mt
from .digest import Digest
from .errors import IntegrityError, NotFoundError, UnsupportedDocumentError
from .models import Descriptor, Index, Manifest, config_platform, parse_document
from .platform import Platform
from .store.base import Fetched, Store

__all__ = [
    "ERROR",
    "Finding",
    "Report",
    "WARNING",
    "check_entries",
    "run_verify",
    "satisfies",
    "verify_image",
    "verify_index",
]

log = logging.getLogger(__name__)

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: str
    digest: str | None
    platform: str | None
    message: str

    def __post_init__(self) -> None:
        if self.severity not in (ERROR, WARNING):
            raise ValueError(f"severity must be {ERROR!r} or {WARNING!r}, not {self.severity!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "digest": self.digest,
            "platform": self.platform,
            "message": self.message,
        }

    def __str__(self) -> str:
        """``platform-mismatch linux/arm64 sha256:…: image config says linux/amd64``."""
        head = " ".join(x for x in (self.code, self.platform, self.digest) if x)
        return f"{head}: {self.message}"


@dataclass(frozen=True, slots=True)
class Report:
    reference: str
    digest: Digest
    media_type: str
    #: entries of the index checked (1 for a single image)
    entries: int
    findings: tuple[Finding, ...] = ()
    #: for a single image: the platform its config declares
    image_platform: Platform | None = None

    @property
    def ok(self) -> bool:
        return not any(f.severity == ERROR for f in self.findings)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == ERROR)

    def summary(self, repository: str) -> str:
        """``OK <repo>@<digest>: N entries verified``, or ``FAIL …: E errors, W warnings``."""
        where = f"{repository}@{self.digest}"
        warnings = len(self.findings) - len(self.errors)
        tail = f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
        if self.ok:
            if self.image_platform is not None:
                return f"OK {where}: image for {self.image_platform.format_all()} verified{tail}"
            return f"OK {where}: {_entries(self.entries)} verified{tail}"
        n = len(self.errors)
        return f"FAIL {where}: {n} error{'s' if n != 1 else ''}{tail} in {_entries(self.entries)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "digest": str(self.digest),
            "mediaType": self.media_type,
            "ok": self.ok,
            "findings": [f.to_json() for f in self.findings],
        }


def _entries(n: int) -> str:
    return f"{n} entr{'y' if n == 1 else 'ies'}"


# --- pure checks ------------------------------------------------------------------


def satisfies(have: Platform, want: Platform) -> bool:
    """``have`` provides ``want`` (see ``Platform.provides``)."""
    return have.provides(want)


def _is_oci(media_type: str) -> bool:
    return mt.base(media_type).startswith("application/vnd.oci.")


def check_entries(
    index: Index, require: Sequence[Platform] = (), *, resolved: Mapping[Digest, Platform] | None = None
) -> list[Finding]:
    """The checks that need only the index document (no I/O), in entry order, then requirements.

    ``resolved`` gives the config platform of entries that list none (``verify_index``
    reads them), so such an entry can satisfy a required platform.
    """
    per_entry = _entry_findings(index)
    return _empty(index) + [f for found in per_entry for f in found] + _required(index.manifests, require, resolved or {})


def _empty(index: Index) -> list[Finding]:
    if index.manifests:
        return []
    return [Finding("empty-index", WARNING, None, None, "the index lists no manifests; nothing can be pulled from it")]


_NESTED = "entry is itself an index; many clients cannot use a nested index"
_NO_PLATFORM = "image entry without a platform; clients consider it only after every platform match"


def _entry_findings(index: Index) -> list[list[Finding]]:
    """The structural findings of each entry, by position."""
    out: list[list[Finding]] = []
    images = {d.digest for d in index.manifests if not d.is_attestation}
    docker_list = mt.base(index.media_type) == mt.DOCKER_LIST
    first: dict[tuple, Descriptor] = {}  # normalised platform -> first entry listing it
    for d in index.manifests:
        found: list[Finding] = []

        def add(code: str, severity: str, message: str) -> None:
            found.append(Finding(code, severity, str(d.digest), d.platform_text or None, message))

        if d.is_index:
            add("nested-index", ERROR, _NESTED)
        if docker_list and _is_oci(d.media_type):
            add("docker-list-oci-child", WARNING, f"a Docker manifest list entry of type {d.media_type}")
        if d.is_attestation:
            subject = d.subject
            if not subject:
                add("dangling-attestation", ERROR, "attestation entry without vnd.docker.reference.digest")
            elif not Digest.is_valid(subject) or Digest.parse(subject) not in images:
                add("dangling-attestation", ERROR, f"attestation for {subject}, which is not an image in this index")
        elif d.platform is None:
            if not d.is_index:
                add("no-platform", WARNING, _NO_PLATFORM)
        elif not d.platform.is_unknown():
            other = first.setdefault(d.platform.key, d)
            if other is not d:
                shown = d.platform.normalize().format_all()
                add("duplicate-platform", ERROR, f"{shown} is already listed by {other.digest} ({other.platform_text})")
        out.append(found)
    return out


def _required(
    entries: Sequence[Descriptor], require: Sequence[Platform], resolved: Mapping[Digest, Platform]
) -> list[Finding]:
    listed = []
    for d in entries:
        if d.is_attestation:
            continue
        p = d.platform if d.platform is not None else resolved.get(d.digest)
        if p is not None and not p.is_unknown():
            listed.append(p)
    out, seen = [], set()
    for want in require:
        if want.key in seen:
            continue
        seen.add(want.key)
        if not any(satisfies(p, want) for p in listed):
            available = ", ".join(dict.fromkeys(p.format_all() for p in listed)) or "(none)"
            message = f"required but not listed (available: {available})"
            out.append(Finding("missing-platform", ERROR, None, want.format_all(), message))
    return out


# --- checks that read the store ------------------------------------------------------


@dataclass(slots=True)
class _Probe:
    """What the store holds for one child digest."""

    missing: bool = False
    media_type: str | None = None
    size: int | None = None
    config_platform: Platform | None = None
    problems: list[Finding] = field(default_factory=list)


def _probe(store: Store, d: Descriptor, deep: bool) -> _Probe:
    """HEAD the child, or (``deep``: an image entry) GET it and its config."""
    digest = str(d.digest)
    try:
        if not deep:
            info = store.head_manifest(d.digest)
            if info is None:
                return _Probe(missing=True)
            return _Probe(media_type=info.media_type, size=info.size)
        fetched = store.get_manifest(d.digest)
        probe = _Probe(media_type=fetched.media_type, size=fetched.size, problems=_schema(fetched, digest))
        doc = parse_document(fetched.data, fetched.media_type, what=f"manifest {digest}")
        if isinstance(doc, Manifest):
            _probe_config(store, doc, probe, digest)
        return probe
    except NotFoundError:
        return _Probe(missing=True)
    except IntegrityError as e:
        return _Probe(problems=[Finding(_integrity_code(e), ERROR, digest, None, e.message)])
    except UnsupportedDocumentError as e:
        return _Probe(problems=[Finding("invalid-child", ERROR, digest, None, e.message)])


def _schema(fetched: Fetched, digest: str) -> list[Finding]:
    from .schema import validate_document

    return [Finding("schema", ERROR, digest, None, f"{path}: {msg}") for path, msg in validate_document(fetched.data, fetched.media_type)]


def _integrity_code(e: IntegrityError) -> str:
    text = e.message.lower()
    if "digest mismatch" in text or "does not match the body" in text:
        return "digest-mismatch"
    return "size-mismatch" if "size mismatch" in text else "invalid-child"


def _probe_config(store: Store, doc: Manifest, probe: _Probe, digest: str) -> None:
    cfg = doc.config
    try:
        data = store.get_blob(cfg.digest)
    except NotFoundError:
        message = f"config blob {cfg.digest} not found"
        probe.problems.append(Finding("missing-config", ERROR, digest, None, message))
        return
    if len(data) != cfg.size:
        message = f"config {cfg.digest} is {len(data)} bytes, the manifest says {cfg.size}"
        probe.problems.append(Finding("size-mismatch", ERROR, digest, None, message))
    if mt.is_config(cfg.media_type):
        probe.config_platform = config_platform(data, what=f"config {cfg.digest} of {digest}")


def _compare(d: Descriptor, probe: _Probe) -> list[Finding]:
    digest, plat = str(d.digest), d.platform_text or None
    if probe.missing:
        return [Finding("missing-child", ERROR, digest, plat, "not found in the store")]
    out = [Finding(f.code, f.severity, f.digest, plat, f.message) for f in probe.problems]
    if probe.size is not None and probe.size != d.size:
        message = f"the index says {d.size} bytes, the manifest has {probe.size}"
        out.append(Finding("size-mismatch", ERROR, digest, plat, message))
    if probe.media_type and mt.base(probe.media_type) != mt.base(d.media_type):
        message = f"the index says {d.media_type}, the store holds {probe.media_type}"
        out.append(Finding("mediatype-mismatch", ERROR, digest, plat, message))
    actual = probe.config_platform
    if actual is not None and d.platform is not None and not d.is_attestation and not _same_platform(d.platform, actual):
        out.append(Finding("platform-mismatch", ERROR, digest, plat, f"image config says {actual.format_all()}"))
    return out


def _same_platform(entry: Platform, config: Platform) -> bool:
    e, c = entry.normalize(), config.normalize()
    return (e.os, e.architecture, e.variant, e.os_version) == (c.os, c.architecture, c.variant, c.os_version)


def verify_index(
    store: Store,
    fetched: Fetched,
    *,
    require: Sequence[Platform] = (),
    concurrency: int = 8,
    reference: str | None = None,
) -> Report:
    """Verify the index (or single image) ``fetched`` read from ``store``.

    Every child is read once: image entries by GET (plus their config blob, to compare
    platforms), attestation and index entries by HEAD. Network failures propagate; what
    the store holds (or lacks) becomes findings.
    """
    reference = reference or f"{store.display}@{fetched.digest}"
    doc = parse_document(fetched.data, fetched.media_type, what=f"manifest of {reference}")
    if isinstance(doc, Manifest):
        return verify_image(store, fetched, doc, require=require, reference=reference)
    # one probe per distinct digest; deep (GET + config) when any entry needs the platform check
    work: dict[Digest, Descriptor] = {}
    deep: dict[Digest, bool] = {}
    for d in doc.manifests:
        work.setdefault(d.digest, d)
        deep[d.digest] = deep.get(d.digest, False) or (mt.is_manifest(d.media_type) and not d.is_attestation)
    digests = list(work)

    def run(digest: Digest) -> _Probe:
        return _probe(store, work[digest], deep[digest])

    if len(digests) <= 1 or concurrency <= 1:
        probes = [run(x) for x in digests]
    else:
        with ThreadPoolExecutor(max_workers=min(concurrency, len(digests)), thread_name_prefix="manifold-verify") as pool:
            probes = list(pool.map(run, digests))
    by_digest = dict(zip(digests, probes))
    resolved = {x: p.config_platform for x, p in by_digest.items() if p.config_platform is not None}
    findings: list[Finding] = _schema(fetched, str(fetched.digest)) + _empty(doc)
    for d, structural in zip(doc.manifests, _entry_findings(doc)):
        findings += structural + _compare(d, by_digest[d.digest])
    findings += _required(doc.manifests, require, resolved)
    log.debug("verified %s: %d entries, %d findings", reference, len(doc.manifests), len(findings))
    return Report(reference, fetched.digest, fetched.media_type, len(doc.manifests), tuple(findings))


def verify_image(
    store: Store, fetched: Fetched, doc: Manifest, *, require: Sequence[Platform] = (), reference: str
) -> Report:
    """A single image serves only its own platform: read its config and check the requirements."""
    probe = _Probe()
    try:
        _probe_config(store, doc, probe, str(fetched.digest))
    except IntegrityError as e:
        probe.problems.append(Finding(_integrity_code(e), ERROR, str(fetched.digest), None, e.message))
    except UnsupportedDocumentError as e:
        probe.problems.append(Finding("invalid-child", ERROR, str(fetched.digest), None, e.message))
    findings = _schema(fetched, str(fetched.digest)) + list(probe.problems)
    actual = probe.config_platform
    seen = set()
    for want in require:
        if want.key in seen:
            continue
        seen.add(want.key)
        if actual is None or not satisfies(actual, want):
            has = actual.format_all() if actual is not None else "an unknown platform"
            findings.append(
                Finding("missing-platform", ERROR, None, want.format_all(), f"required, but this single image serves only {has}")
            )
    return Report(reference, fetched.digest, fetched.media_type, 1, tuple(findings), actual)


def run_verify(client: Any, text: str, require: Sequence[str] = ()) -> Report:
    """``manifold verify``: parse the platforms (exit 2 before any request), fetch, verify."""
    wanted = [client.platform(p) for p in require]
    ref, store, fetched = client.fetch(text)
    return verify_index(
        store, fetched, require=wanted, concurrency=client.options.concurrency, reference=client.display(ref)
    )

