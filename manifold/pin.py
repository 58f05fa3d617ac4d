"""Pin image references in Dockerfiles, compose files and Kubernetes manifests to index digests.

Found with line-oriented regexes (no YAML library), so a rewrite changes nothing but the
reference itself: comments, quoting, indentation, line endings and every other byte survive.

Dockerfile (``Dockerfile``, ``Containerfile``, ``*.Dockerfile``, ``Dockerfile.*``; or any file
whose first instruction is ``FROM``/``ARG``)::

    from-line  = *WSP "FROM" 1*WSP *( flag 1*WSP ) image [ 1*WSP "AS" 1*WSP stage ] *WSP
    flag       = "--" name [ "=" value ]            ; --platform=$BUILDPLATFORM

  skipped: ``scratch``, earlier stage names (case-insensitive, as Docker matches them),
  images with ``$`` (ARG substitution), comment lines, continuation lines (after ``\\`` or
  the ``# escape=`` character).

YAML (compose, Kubernetes; ``*.yml``, ``*.yaml`` and anything that is not a Dockerfile)::

    image-line = indent [ "-" 1*WSP ] key *WSP ":" 1*WSP value *WSP [ "#" comment ]
    key        = "image" | '"image"' | "'image'"
    value      = reference | '"' reference '"' | "'" reference "'"

  skipped: block-scalar content (``key: |``, ``- >``), values with ``$`` or ``{`` (compose
  interpolation, Helm templates).

Each reference becomes ``name:tag@sha256:<digest>``, the name spelled as the user wrote it
(``node:20`` stays ``node:20``) and ``:latest`` written out when no tag was given. The digest
is what the tag points at now (a HEAD), i.e. the index for a multi-arch image, never a
per-architecture child. A reference that already has ``@sha256:…`` is left alone, so pinning
is idempotent.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

from .digest import Digest
from .errors import InvalidInputError, InvalidReferenceError, NotFoundError
from .reference import DEFAULT_TAG, Reference

__all__ = [
    "Change",
    "FileReport",
    "Occurrence",
    "PinReport",
    "file_kind",
    "find_references",
    "pin_files",
    "pinned_text",
    "rewrite",
]

# --- grammar, from named pieces -------------------------------------------------------------
_WSP = r"[ \t]"
_FLAG = r"--[A-Za-z][A-Za-z0-9-]*(?:=\S*)?"
_TOKEN = r"[^\s]+"
_FROM_RE = re.compile(
    rf"^(?P<lead>{_WSP}*FROM{_WSP}+(?:{_FLAG}{_WSP}+)*)(?P<image>{_TOKEN})"
    rf"(?:{_WSP}+AS{_WSP}+(?P<stage>{_TOKEN}))?{_WSP}*$",
    re.IGNORECASE,
)
_INSTRUCTION_RE = re.compile(rf"^{_WSP}*(?P<word>[A-Za-z]+)(?:{_WSP}|$)")
_ESCAPE_RE = re.compile(rf"^#{_WSP}*escape{_WSP}*={_WSP}*(?P<char>[\\`]){_WSP}*$", re.IGNORECASE)
_KEY = r"""(?P<kq>["']?)image(?P=kq)"""
_VALUE = r"""[^\s"'#]+"""
_IMAGE_RE = re.compile(
    rf"""^(?P<lead>{_WSP}*(?:-{_WSP}+)?{_KEY}{_WSP}*:{_WSP}+)(?P<q>["']?)(?P<image>{_VALUE})(?P=q)"""
    rf"""(?:{_WSP}*|{_WSP}+#.*)$"""
)
_BLOCK_INDICATOR = rf"""[|>][-+0-9]*{_WSP}*(?:#.*)?$"""
_KEY_BLOCK_RE = re.compile(rf""":{_WSP}*{_BLOCK_INDICATOR}""")  # key: |
_ITEM_BLOCK_RE = re.compile(rf"""^(?P<indent>{_WSP}*)-{_WSP}+{_BLOCK_INDICATOR}""")  # - |
_LINE_RE = re.compile(r"[^\n]*\n|[^\n]+")

DOCKERFILE, YAML = "dockerfile", "yaml"


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One image reference in a file: where it is (1-based line; offsets into the text) and as written."""

    line: int
    start: int
    end: int
    text: str
    #: why it cannot be pinned (an invalid reference), else None
    problem: str | None = None

    @property
    def pinned(self) -> bool:
        return "@" in self.text


def _lines(text: str) -> Iterator[tuple[int, int, str]]:
    """(line number, offset, line without its end-of-line characters); only ``\\n`` ends a line."""
    for number, m in enumerate(_LINE_RE.finditer(text), start=1):
        yield number, m.start(), m.group().rstrip("\r\n")


def file_kind(path: str, text: str) -> str:
    """``dockerfile`` or ``yaml``, from the file name, else from the first instruction."""
    name = os.path.basename(path).lower()
    if name in ("dockerfile", "containerfile") or name.endswith((".dockerfile", ".containerfile")):
        return DOCKERFILE
    if name.startswith(("dockerfile.", "containerfile.")):
        return DOCKERFILE
    if name.endswith((".yml", ".yaml")):
        return YAML
    for _n, _o, line in _lines(text):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = _INSTRUCTION_RE.match(line)
        return DOCKERFILE if m and m["word"].upper() in ("FROM", "ARG") else YAML
    return YAML


def _occurrence(number: int, offset: int, m: re.Match[str]) -> Occurrence:
    image = m["image"]
    problem = None
    try:
        Reference.parse(image)
    except InvalidReferenceError as e:
        problem = e.message
    return Occurrence(number, offset + m.start("image"), offset + m.end("image"), image, problem)


def _dockerfile(text: str) -> list[Occurrence]:
    out: list[Occurrence] = []
    stages: set[str] = set()
    escape, continued, directives = "\\", False, True
    for number, offset, line in _lines(text):
        stripped = line.strip()
        if directives and stripped.startswith("#"):
            m = _ESCAPE_RE.match(stripped)
            if m:
                escape = m["char"]
            continue
        directives = False
        if stripped.startswith("#") or (continued and not stripped):
            continue
        was_continued, continued = continued, stripped.endswith(escape)
        if was_continued:
            continue
        m = _FROM_RE.match(line)
        if m is None:
            continue
        image = m["image"]
        if "$" not in image and image.lower() != "scratch" and image.lower() not in stages:
            out.append(_occurrence(number, offset, m))
        if m["stage"]:
            stages.add(m["stage"].lower())
    return out


def _indent(line: str) -> int:
    """The column of a line's content, a ``- `` sequence marker counting as indentation."""
    return len(line) - len(line.lstrip(" \t-"))


def _block_opened(line: str) -> int | None:
    """For a line that opens a block scalar, the indent its content must exceed."""
    if line.lstrip().startswith("#"):
        return None
    m = _ITEM_BLOCK_RE.match(line)
    if m:
        return len(m["indent"])
    return _indent(line) if _KEY_BLOCK_RE.search(line) else None


def _yaml(text: str) -> list[Occurrence]:
    out: list[Occurrence] = []
    block: int | None = None  # indent of the key that opened a block scalar
    for number, offset, line in _lines(text):
        if block is not None:
            if not line.strip() or len(line) - len(line.lstrip(" \t")) > block:
                continue
            block = None
        block = _block_opened(line)
        m = _IMAGE_RE.match(line)
        if m is None:
            continue
        image = m["image"]
        if "$" in image or "{" in image or image.startswith(("&", "*", "!")):
            continue
        out.append(_occurrence(number, offset, m))
    return out


def find_references(text: str, kind: str) -> list[Occurrence]:
    """Every image reference in ``text`` (a ``dockerfile`` or ``yaml`` file), in order."""
    if kind == DOCKERFILE:
        return _dockerfile(text)
    if kind == YAML:
        return _yaml(text)
    raise ValueError(f"kind must be {DOCKERFILE!r} or {YAML!r}, not {kind!r}")


def pinned_text(text: str, digest: Digest) -> str:
    """``node:20`` → ``node:20@sha256:…``; ``node`` → ``node:latest@sha256:…`` (spelling kept)."""
    ref = Reference.parse(text)
    if ref.digest is not None:
        return text
    return f"{text}@{digest}" if ref.tag is not None else f"{text}:{DEFAULT_TAG}@{digest}"


def rewrite(text: str, replacements: Mapping[int, tuple[int, str]]) -> str:
    """Replace ``text[start:end]`` for each ``start -> (end, new)``; everything else kept byte for byte."""
    parts, pos = [], 0
    for start in sorted(replacements):
        end, new = replacements[start]
        parts += [text[pos:start], new]
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


# --- files and the registry ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    path: str
    line: int
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class FileReport:
    path: str
    occurrences: tuple[Occurrence, ...]

    @property
    def unpinned(self) -> tuple[Occurrence, ...]:
        return tuple(o for o in self.occurrences if not o.pinned and o.problem is None)

    @property
    def invalid(self) -> tuple[Occurrence, ...]:
        return tuple(o for o in self.occurrences if o.problem is not None)


@dataclass(frozen=True, slots=True)
class PinReport:
    files: tuple[FileReport, ...]
    changes: tuple[Change, ...] = ()

    @property
    def unpinned(self) -> list[tuple[str, Occurrence]]:
        return [(f.path, o) for f in self.files for o in f.unpinned]


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InvalidInputError(f"cannot read {path!r}: {e.strerror}") from None
    return data.decode("utf-8", "surrogateescape")


def _write_atomic(path: str, text: str) -> None:
    target = os.path.realpath(path)
    directory = os.path.dirname(target) or "."
    try:
        mode = os.stat(target).st_mode & 0o7777
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".manifold-pin-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(text.encode("utf-8", "surrogateescape"))
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError as e:
        raise InvalidInputError(f"cannot write {path!r}: {e.strerror}") from None


def _key(text: str) -> str:
    """One lookup per distinct image: ``node`` and ``docker.io/library/node:latest`` are one."""
    return str(Reference.parse(text).docker_ref())


def _lookup(client: Any, text: str, where: str) -> Digest:
    """The digest ``text``'s tag points at now: one HEAD (an index for a multi-arch image)."""
    ref = Reference.parse(text)
    info = client.open(ref).head_manifest(ref.ref)
    if info is None:
        raise NotFoundError(f"{where}: {text} not found ({ref.name}:{ref.ref})", hint="nothing was written")
    return info.digest


def pin_files(client: Any, paths: Sequence[str], *, check: bool = False) -> PinReport:
    """Find the references in ``paths``; unless ``check``, pin them and write the files.

    All or nothing: every distinct reference is looked up (concurrently) before any file is
    written, and a failed lookup raises with nothing written.
    """
    texts = {p: _read(p) for p in dict.fromkeys(paths)}
    files = tuple(FileReport(p, tuple(find_references(t, file_kind(p, t)))) for p, t in texts.items())
    report = PinReport(files)
    if check:
        return report
    first: dict[str, tuple[str, str]] = {}  # canonical reference -> (as written, FILE:LINE)
    for path, occ in report.unpinned:
        first.setdefault(_key(occ.text), (occ.text, f"{path}:{occ.line}"))
    keys = list(first)
    digests = dict(zip(keys, client.map(lambda k: _lookup(client, *first[k]), keys)))
    changes: list[Change] = []
    new_texts: dict[str, str] = {}
    for f in files:
        replacements = {}
        for occ in f.unpinned:
            new = pinned_text(occ.text, digests[_key(occ.text)])
            replacements[occ.start] = (occ.end, new)
            changes.append(Change(f.path, occ.line, occ.text, new))
        if replacements:
            new_texts[f.path] = rewrite(texts[f.path], replacements)
    for path, text in new_texts.items():
        _write_atomic(path, text)
    return PinReport(files, tuple(changes))
