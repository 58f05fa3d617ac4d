"""Image references: Docker's grammar and normalisation, plus OCI layout references.

Grammar (distribution/reference ``reference.go``; ``regexp.go`` builds the same
regexes from the same named pieces as below)::

    reference        := name [ ":" tag ] [ "@" digest ]
    name             := [ domain "/" ] remote-name
    domain           := host [ ":" port-number ]
    host             := domain-name | IPv4address | "[" IPv6address "]"
    domain-name      := domain-component [ "." domain-component ]*
    domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
    IPv6address      := /[a-fA-F0-9:]+/          ; no zone ids, no IPv4-mapped forms
    port-number      := /[0-9]+/
    remote-name      := path-component [ "/" path-component ]*   ; at most 255 characters
    path-component   := alpha-numeric [ separator alpha-numeric ]*
    alpha-numeric    := /[a-z0-9]+/                ; lower case only (the domain may be upper case)
    separator        := /[_.]|__|[-]+/
    tag              := /[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}/
    digest           := /[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}/
                        ; then checked by Digest.parse: sha256 (64) or sha512 (128) lower-case hex
    identifier       := /[a-f0-9]{64}/             ; a bare image ID, never a name

(An IPv4 address is matched by ``domain-name``, as upstream does.)

``Reference.parse`` is Docker's ``ParseNormalizedNamed``: a 64-hex string is refused; the first
path component is the domain if it is ``localhost``, contains ``.`` or ``:``, or has an upper-case
letter; ``index.docker.io`` becomes ``docker.io``; otherwise the domain is ``docker.io``, and a
one-component name on ``docker.io`` gets ``library/``. No ``latest`` is added (``ref`` supplies it
when a registry is asked), and a tag given with a digest is kept (``docker_ref`` drops it).
``Reference.parse_strict`` is distribution's ``Parse``: the grammar alone, no normalisation.

Deviations from upstream, on purpose:

* ``sha512`` digests are accepted (Go's ``go-digest`` registers only ``sha256`` unless ``sha512``
  is imported, so ``Parse`` refuses ``repo@sha512:…``; OCI registers both and so do we).
* A string that is exactly a sha256/sha512 digest (``sha256:<64 hex>``) is refused:
  ``ParseAnyReference`` calls it a digest-only reference and ``ParseNormalizedNamed`` would read it
  as ``docker.io/library/sha256`` tagged with the hex; neither names an image to fetch.
* An empty string says "repository name must have at least one component" in both parsers
  (``ParseNormalizedNamed`` says "invalid reference format").
* A name whose first component is taken as a domain but does not match the domain grammar
  (``foo_bar.com/app``) is refused; upstream yields a name with no domain that no client can pull.
* ``with_tag`` drops the digest, ``with_digest`` drops the tag.

OCI layout references (``LayoutReference``): ``oci:PATH[:TAG][@DIGEST]`` and
``oci-archive:FILE[:TAG][@DIGEST]``. In the last path component, ``@`` starts a digest and the last
``:`` starts a tag, so ``:`` and ``@`` may appear in PATH only before its last ``/``. The tag is an
``org.opencontainers.image.ref.name``: ``[A-Za-z0-9_][A-Za-z0-9._-]{0,127}``.

``str()`` gives the canonical form: ``Reference.parse(str(r)) == r`` for every reference made by
``parse``, ``with_tag``, ``with_digest`` and ``docker_ref``; ``LayoutReference.parse(str(l)) == l``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .digest import Digest
from .errors import InvalidDigestError, InvalidReferenceError

__all__ = [
    "DEFAULT_DOMAIN",
    "DEFAULT_TAG",
    "DOCKER_API_HOST",
    "LEGACY_DEFAULT_DOMAIN",
    "LayoutReference",
    "Reference",
    "is_loopback",
    "parse_any",
    "split_host_port",
]

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
DOCKER_API_HOST = "registry-1.docker.io"
DEFAULT_TAG = "latest"
OFFICIAL_REPO_PREFIX = "library/"
REPOSITORY_NAME_MAX = 255

# Upstream error wording (distribution/reference reference.go, normalize.go).
ERR_FORMAT = "invalid reference format"
ERR_NAME_EMPTY = "repository name must have at least one component"
ERR_UPPERCASE = "repository name must be lowercase"
ERR_TOO_LONG = f"repository name must not be more than {REPOSITORY_NAME_MAX} characters"
ERR_IDENTIFIER = "cannot specify 64-byte hexadecimal strings"
ERR_TAG = "invalid tag format"
ERR_DIGEST_ONLY = "a digest alone is not a reference"


def _optional(*res: str) -> str:
    return "(?:" + "".join(res) + ")?"


def _any_times(*res: str) -> str:
    return "(?:" + "".join(res) + ")*"


def _capture(name: str, *res: str) -> str:
    return f"(?P<{name}>" + "".join(res) + ")"


_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = _ALPHANUMERIC + _any_times(_SEPARATOR, _ALPHANUMERIC)
_REMOTE_NAME = _PATH_COMPONENT + _any_times("/", _PATH_COMPONENT)
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = _DOMAIN_COMPONENT + _any_times(r"\.", _DOMAIN_COMPONENT)
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = f"(?:{_DOMAIN_NAME}|{_IPV6})"
_OPTIONAL_PORT = r"(?::[0-9]+)?"
_DOMAIN_AND_PORT = _HOST + _OPTIONAL_PORT
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"  # Go's \w is ASCII-only; Python's is not
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_IDENTIFIER = r"[a-f0-9]{64}"
_NAME = _optional(_DOMAIN_AND_PORT, "/") + _REMOTE_NAME

# All used with fullmatch(), so no anchors (Python's "$" would also match before a final "\n").
_REFERENCE_RE = re.compile(
    _capture("name", _NAME) + _optional(":", _capture("tag", _TAG)) + _optional("@", _capture("digest", _DIGEST))
)
_ANCHORED_NAME_RE = re.compile(_optional(_capture("domain", _DOMAIN_AND_PORT), "/") + _capture("path", _REMOTE_NAME))
_DOMAIN_RE = re.compile(_DOMAIN_AND_PORT)
_REMOTE_NAME_RE = re.compile(_REMOTE_NAME)
_TAG_RE = re.compile(_TAG)
_IDENTIFIER_RE = re.compile(_IDENTIFIER)
_PORT_RE = re.compile(r"[0-9]+")


def _require_str(text: object) -> str:
    if not isinstance(text, str):
        raise InvalidReferenceError(repr(text), "not a string")
    return text


def _parse_digest(text: str, value: str) -> Digest:
    """``Digest.parse`` with its error re-raised as an ``InvalidReferenceError`` about ``text``."""
    try:
        return Digest.parse(value)
    except InvalidDigestError as e:
        raise InvalidReferenceError(text, f"invalid digest: {e.reason}") from None


def _check_digest(text: str, digest: object) -> None:
    if not isinstance(digest, Digest):
        raise TypeError(f"digest must be a Digest, not {type(digest).__name__}")
    if _parse_digest(text, str(digest)) != digest:
        raise InvalidReferenceError(text, f"invalid digest: {digest!s}")


def _split_docker_domain(name: str) -> tuple[str, str]:
    """distribution/reference ``splitDockerDomain``: (domain, remainder incl. tag/digest)."""
    maybe_domain, sep, maybe_remote = name.partition("/")
    if not sep:
        return DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name
    if maybe_domain == "localhost":
        domain, remote = maybe_domain, maybe_remote
    elif maybe_domain == LEGACY_DEFAULT_DOMAIN:
        domain, remote = DEFAULT_DOMAIN, maybe_remote
    elif "." in maybe_domain or ":" in maybe_domain or maybe_domain.lower() != maybe_domain:
        domain, remote = maybe_domain, maybe_remote
    else:
        domain, remote = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in remote:
        remote = OFFICIAL_REPO_PREFIX + remote
    return domain, remote


@dataclass(frozen=True, slots=True)
class Reference:
    """An image in a registry: ``domain/path[:tag][@digest]``."""

    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    def __post_init__(self) -> None:
        shown = f"{self.domain}/{self.path}" if self.domain else str(self.path)
        if not isinstance(self.domain, str) or not isinstance(self.path, str):
            raise TypeError("domain and path must be strings")
        if self.domain and not _DOMAIN_RE.fullmatch(self.domain):
            raise InvalidReferenceError(shown, f"{ERR_FORMAT}: invalid domain {self.domain!r}")
        if not _REMOTE_NAME_RE.fullmatch(self.path):
            if not self.path:
                raise InvalidReferenceError(shown, ERR_NAME_EMPTY)
            lowered_ok = _REMOTE_NAME_RE.fullmatch(self.path.lower())
            raise InvalidReferenceError(shown, ERR_UPPERCASE if lowered_ok else ERR_FORMAT)
        if len(self.path) > REPOSITORY_NAME_MAX:
            raise InvalidReferenceError(shown, ERR_TOO_LONG)
        if self.tag is not None and not (isinstance(self.tag, str) and _TAG_RE.fullmatch(self.tag)):
            raise InvalidReferenceError(f"{shown}:{self.tag}", ERR_TAG)
        if self.digest is not None:
            _check_digest(f"{shown}@{self.digest}", self.digest)

    @classmethod
    def parse_strict(cls, text: str) -> "Reference":
        """distribution/reference ``Parse``: the grammar, no normalisation (domain may be "")."""
        _require_str(text)
        if not text:
            raise InvalidReferenceError(text, ERR_NAME_EMPTY)
        m = _REFERENCE_RE.fullmatch(text)
        if m is None:
            lowered = text.lower()
            if lowered != text and _REFERENCE_RE.fullmatch(lowered):
                raise InvalidReferenceError(text, ERR_UPPERCASE)
            raise InvalidReferenceError(text, ERR_FORMAT)
        name = _ANCHORED_NAME_RE.fullmatch(m["name"])
        assert name is not None  # m["name"] matched the same grammar
        path = name["path"]
        if len(path) > REPOSITORY_NAME_MAX:
            raise InvalidReferenceError(text, ERR_TOO_LONG)
        digest = _parse_digest(text, m["digest"]) if m["digest"] else None
        return cls(name["domain"] or "", path, m["tag"], digest)

    @classmethod
    def parse(cls, text: str) -> "Reference":
        """Docker's ``ParseNormalizedNamed`` (see the module docstring)."""
        _require_str(text)
        if not text:
            raise InvalidReferenceError(text, ERR_NAME_EMPTY)
        if _IDENTIFIER_RE.fullmatch(text):
            raise InvalidReferenceError(text, f"invalid repository name, {ERR_IDENTIFIER}")
        if Digest.is_valid(text):
            raise InvalidReferenceError(text, f"{ERR_DIGEST_ONLY}; give a repository, e.g. NAME@{text}")
        domain, remainder = _split_docker_domain(text)
        remote = remainder.partition(":")[0]
        if remote.lower() != remote:
            raise InvalidReferenceError(text, f"{ERR_FORMAT}: repository name ({remote}) must be lowercase")
        try:
            ref = cls.parse_strict(f"{domain}/{remainder}")
        except InvalidReferenceError as e:
            raise InvalidReferenceError(text, e.reason) from None
        if ref.domain != domain:
            raise InvalidReferenceError(text, f"{ERR_FORMAT}: {domain!r} is not a valid registry host")
        return ref

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def api_host(self) -> str:
        """The host to send registry API requests to (Docker Hub's is not ``docker.io``)."""
        if self.domain in (DEFAULT_DOMAIN, LEGACY_DEFAULT_DOMAIN):
            return DOCKER_API_HOST
        return self.domain

    @property
    def ref(self) -> str:
        """What to ask the registry for: the digest if any, else the tag, else ``latest``."""
        if self.digest is not None:
            return str(self.digest)
        return self.tag or DEFAULT_TAG

    @property
    def familiar_name(self) -> str:
        """``familiarizeName``: drop ``docker.io/``, and ``library/`` when nothing nests under it."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        if self.path.startswith(OFFICIAL_REPO_PREFIX):
            rest = self.path[len(OFFICIAL_REPO_PREFIX) :]
            if "/" not in rest:
                return rest
        return self.path

    def familiar(self) -> str:
        return self.familiar_name + self._suffix()

    def with_tag(self, tag: str) -> "Reference":
        if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag):
            raise InvalidReferenceError(f"{self.name}:{tag}", ERR_TAG)
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: Digest | str) -> "Reference":
        if isinstance(digest, str):
            digest = _parse_digest(f"{self.name}@{digest}", digest)
        return replace(self, tag=None, digest=digest)

    def docker_ref(self) -> "Reference":
        """``ParseDockerRef``: digested if there is a digest (tag dropped), else tagged (``latest``)."""
        if self.digest is not None:
            return replace(self, tag=None)
        return replace(self, tag=self.tag or DEFAULT_TAG)

    def _suffix(self) -> str:
        tag = f":{self.tag}" if self.tag is not None else ""
        digest = f"@{self.digest}" if self.digest is not None else ""
        return tag + digest

    def __str__(self) -> str:
        return self.name + self._suffix()


LAYOUT_KINDS = ("oci", "oci-archive")


@dataclass(frozen=True, slots=True)
class LayoutReference:
    """An image in an OCI image layout directory (``oci``) or a tar of one (``oci-archive``)."""

    kind: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    def __post_init__(self) -> None:
        shown = f"{self.kind}:{self.path}"
        if self.kind not in LAYOUT_KINDS:
            raise InvalidReferenceError(shown, f"unknown layout kind {self.kind!r} (oci or oci-archive)")
        if not isinstance(self.path, str) or not self.path:
            raise InvalidReferenceError(shown, "empty path")
        last = self.path.rpartition("/")[2]
        if ":" in last or "@" in last:
            raise InvalidReferenceError(shown, "the last path component may not contain ':' or '@'")
        if self.tag is not None and not (isinstance(self.tag, str) and _TAG_RE.fullmatch(self.tag)):
            raise InvalidReferenceError(
                f"{shown}:{self.tag}", f"{ERR_TAG}: a tag is [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}"
            )
        if self.digest is not None:
            _check_digest(f"{shown}@{self.digest}", self.digest)

    @classmethod
    def parse(cls, text: str) -> "LayoutReference":
        """``oci:PATH[:TAG][@DIGEST]`` or ``oci-archive:FILE[:TAG][@DIGEST]``."""
        _require_str(text)
        kind, sep, rest = text.partition(":")
        if not sep or kind not in LAYOUT_KINDS:
            raise InvalidReferenceError(text, "expected oci:PATH[:TAG] or oci-archive:FILE[:TAG]")
        head, slash, last = rest.rpartition("/")
        last, at, digest_text = last.partition("@")
        tag: str | None = None
        if ":" in last:
            last, _, tag = last.rpartition(":")
        digest = _parse_digest(text, digest_text) if at else None
        try:
            return cls(kind, head + slash + last, tag, digest)
        except InvalidReferenceError as e:
            raise InvalidReferenceError(text, e.reason) from None

    @property
    def ref(self) -> str:
        if self.digest is not None:
            return str(self.digest)
        return self.tag or DEFAULT_TAG

    def with_tag(self, tag: str) -> "LayoutReference":
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: Digest | str) -> "LayoutReference":
        if isinstance(digest, str):
            digest = _parse_digest(f"{self.kind}:{self.path}@{digest}", digest)
        return replace(self, tag=None, digest=digest)

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag is not None else ""
        digest = f"@{self.digest}" if self.digest is not None else ""
        return f"{self.kind}:{self.path}{tag}{digest}"


def parse_any(text: str) -> Reference | LayoutReference:
    """``oci:…`` and ``oci-archive:…`` are layout references; anything else a registry reference."""
    _require_str(text)
    if text.startswith(tuple(f"{kind}:" for kind in LAYOUT_KINDS)):
        return LayoutReference.parse(text)
    return Reference.parse(text)


def split_host_port(host: str) -> tuple[str, int | None]:
    """Split ``host[:port]``; IPv6 brackets are removed (``[::1]:5000`` -> ``("::1", 5000)``)
    and a bare IPv6 address (``::1``) has no port, as Go's ``net.SplitHostPort`` reads them."""
    _require_str(host)
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            raise InvalidReferenceError(host, "missing ']' in IPv6 host")
        name, rest = host[1:end], host[end + 1 :]
        if not rest:
            return name, None
        if not rest.startswith(":"):
            raise InvalidReferenceError(host, "unexpected characters after ']'")
        port_text = rest[1:]
    elif host.count(":") == 1:
        name, _, port_text = host.partition(":")
    else:
        return host, None  # no port, or a bare IPv6 address
    if not _PORT_RE.fullmatch(port_text) or int(port_text) > 65535:
        raise InvalidReferenceError(host, f"invalid port {port_text!r}")
    return name, int(port_text)


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ``::1``, with or without a port (containerd ``MatchLocalhost``;
    unlike it, ``LOCALHOST`` counts too, since host names are case-insensitive)."""
    import ipaddress  # only needed here; keeps the module's import cheap

    try:
        name, _ = split_host_port(host)
    except InvalidReferenceError:
        return False
    if name.lower() == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback
