"""The examples in docs/*.md are run, so the documentation cannot drift from the code.

What is run
-----------
``console`` blocks in the pages below, unless the line before the opening fence (blank
lines skipped) is ``<!-- no-test -->`` (for examples that need a registry or a network).
A ``$ `` line is a command; the lines after it, up to the next ``$ `` line or the end of
the block, are what it must print. A command line ending in `` \\`` continues on the next.

    $ manifold ARGS            run in-process through ``manifold.__main__.main``; stdout is compared
    $ manifold ARGS 2>&1       the same, stdout and stderr compared together, in the order written
    $ echo $?                  prints the exit status of the previous command
    $ cat FILE                 prints a file an earlier command wrote

A ``manifold`` command that is not followed by ``$ echo $?`` must exit 0. A block with any
other command must be marked ``<!-- no-test -->``, or this test fails.

Each block runs in its own sandbox: the working directory is a temp dir holding a copy of
the repository's ``fixtures/`` (so ``oci:fixtures/layout:app`` resolves and nothing is
written in the repository). ``/tmp/`` in a command becomes ``.tmp/``, a fresh directory in
the sandbox with a name of the same length (table columns keep their width), and ``.tmp/``
in the output reads ``/tmp/`` again. Layout references must be ``oci:fixtures/…``,
``oci-archive:fixtures/…`` or under ``/tmp/``; opening a registry fails the test at once.
The host platform is fixed to linux/amd64 and ``NO_COLOR`` is unset, so output does not
depend on the machine.

``python`` blocks (docs/library.md has them) run the same way (cwd = the sandbox). When a ``text``
block follows one (only blank lines between them), it is the expected stdout.

Also checked: relative links between the pages lead to an existing file and heading, and the
step-summary script in docs/checks.md turns real ``matrix --format json`` output into the
Markdown table the page shows.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from manifold.__main__ import main
from manifold.platform import Platform

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = ("platforms.md", "create.md", "checks.md", "library.md", "cli.md")
#: pages other engineers write; links to them are checked only once they exist
OTHERS = ("guarantees.md",)
NO_TEST = "<!-- no-test -->"
SCRATCH = ".tmp/"  # stands in for /tmp/: same length, inside the sandbox
LAYOUT_PREFIXES = ("oci:", "oci-archive:")
ALLOWED_LAYOUTS = tuple(f"{k}{p}" for k in LAYOUT_PREFIXES for p in ("fixtures/", "/tmp/"))
HOST = Platform("linux", "amd64")

# --- reading the pages -----------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    skipped: bool
    #: for a python block: the text block that follows it (expected stdout), if any
    expected: str | None = None

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")


def blocks(page: str) -> list[Block]:
    """The fenced blocks of a page, top level and nested in lists alike."""
    lines = (DOCS / page).read_text(encoding="utf-8").splitlines()
    found: list[tuple[Block, int]] = []  # (block, index of its closing fence)
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = len(m["indent"]), m["fence"], m["info"].strip().split(" ")[0]
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            j += 1
        body = "\n".join(ln[indent:] if ln[:indent].strip() == "" else ln for ln in lines[i + 1 : j])
        before = next((ln.strip() for ln in reversed(lines[:i]) if ln.strip()), "")
        found.append((Block(page, i + 1, lang, body, before == NO_TEST), j))
        i = j + 1
    out = []
    for n, (b, end) in enumerate(found):
        if b.lang == "python" and n + 1 < len(found):
            nxt = found[n + 1][0]
            if nxt.lang == "text" and not any(ln.strip() for ln in lines[end + 1 : nxt.line - 1]):
                b = Block(b.page, b.line, b.lang, b.text, b.skipped, nxt.text)
        out.append(b)
    return out


def all_blocks(lang: str) -> list[Block]:
    return [b for page in PAGES for b in blocks(page) if b.lang == lang]


@dataclass(frozen=True)
class Step:
    command: str
    expected: str


def steps(block: Block) -> list[Step]:
    """Split a console block into commands and the output each must print."""
    out: list[Step] = []
    command: str | None = None
    expected: list[str] = []
    lines = block.text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            if command is not None:
                out.append(Step(command, "\n".join(expected)))
            command, expected = line[2:], []
            while command.endswith("\\") and i + 1 < len(lines):
                i += 1
                command = command[:-1].rstrip() + " " + lines[i].strip()
        elif command is not None:
            expected.append(line)
        i += 1
    if command is not None:
        out.append(Step(command, "\n".join(expected)))
    return out


def _normal(text: str) -> str:
    return "\n".join(ln.rstrip() for ln in text.rstrip("\n").splitlines()).rstrip("\n")


# --- the sandbox ------------------------------------------------------------------------------


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """cwd with fixtures/ and .tmp/; fixed host; no registry, no colour, no user config."""
    shutil.copytree(ROOT / "fixtures", tmp_path / "fixtures")
    (tmp_path / SCRATCH).mkdir()
    (tmp_path / "home").mkdir()
    monkeypatch.chdir(tmp_path)
    for var in ("NO_COLOR", "MANIFOLD_INSECURE_REGISTRIES", "DOCKER_AUTH_CONFIG", "REGISTRY_AUTH_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "home" / ".docker"))
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr("manifold.host.host_platform", lambda **_kw: HOST)

    def no_registry(self, host):
        raise AssertionError(f"a tested docs example opened the registry {host}: mark the block {NO_TEST}")

    monkeypatch.setattr("manifold.store.Session.client", no_registry)
    return tmp_path


def run_manifold(argv: list[str], *, merge: bool) -> tuple[int, str]:
    """Run the CLI in-process; return (exit code, stdout [+ stderr])."""
    raw_out, raw_err = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(raw_out, encoding="utf-8", write_through=True)
    err = out if merge else io.TextIOWrapper(raw_err, encoding="utf-8", write_through=True)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    out.flush()
    return code, raw_out.getvalue().decode("utf-8")


def _check_layouts(argv: list[str], block: Block) -> None:
    for arg in argv:
        for word in arg.split("="):
            if word.startswith(LAYOUT_PREFIXES) and not word.startswith(ALLOWED_LAYOUTS):
                pytest.fail(f"{block.id}: {word!r}: tested examples use oci:fixtures/… or /tmp/ layouts only")


def run_step(step: Step, last_code: int | None, block: Block) -> tuple[int | None, str]:
    argv = shlex.split(step.command)
    if argv == ["echo", "$?"]:
        assert last_code is not None, f"{block.id}: `echo $?` with no command before it"
        return None, f"{last_code}\n"
    _check_layouts(argv, block)
    argv = [a.replace("/tmp/", SCRATCH) for a in argv]
    if argv[0] == "cat" and len(argv) == 2:
        return 0, Path(argv[1]).read_text(encoding="utf-8")
    if argv[0] != "manifold":
        pytest.fail(f"{block.id}: cannot run `{step.command}`: mark the block {NO_TEST}")
    merge = argv[-1] == "2>&1"
    return run_manifold(argv[1:-1] if merge else argv[1:], merge=merge)


# --- the tests --------------------------------------------------------------------------------


CONSOLE = [b for b in all_blocks("console") if not b.skipped]


def test_every_page_has_tested_examples():
    """The parser finds the examples (so a broken parser cannot pass the other tests vacuously)."""
    tested = {b.page for b in CONSOLE} | {b.page for b in all_blocks("python")}
    assert tested == set(PAGES)


@pytest.mark.parametrize("block", CONSOLE, ids=[b.id for b in CONSOLE])
def test_console_example(block, sandbox):
    todo = steps(block)
    last: int | None = None
    for n, step in enumerate(todo):
        code, output = run_step(step, last, block)
        shown = output.replace(SCRATCH, "/tmp/")
        assert _normal(shown) == _normal(step.expected), f"{block.id}: $ {step.command}"
        shown_next = n + 1 < len(todo) and todo[n + 1].command == "echo $?"
        if code not in (0, None) and not shown_next:
            pytest.fail(f"{block.id}: `{step.command}` exited {code}; show it with `$ echo $?`")
        if code is not None:
            last = code


PYTHON = [b for b in all_blocks("python") if not b.skipped]


@pytest.mark.parametrize("block", PYTHON, ids=[b.id for b in PYTHON])
def test_python_example(block, sandbox):
    source = block.text.replace("/tmp/", SCRATCH)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(source, f"docs/{block.id}", "exec"), {"__name__": "__docs__"})
    if block.expected is not None:
        assert _normal(buf.getvalue().replace(SCRATCH, "/tmp/")) == _normal(block.expected)


# --- links ------------------------------------------------------------------------------------


def _slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading).strip().lower()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            in_code = not in_code
        if in_code or not line.startswith("#"):
            continue
        slug = _slug(line.lstrip("#"))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES)
def test_relative_links_resolve(page):
    text = (DOCS / page).read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    for m in _LINK.finditer(text):
        target = m["target"]
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        path = (DOCS / page).parent / file if file else DOCS / page
        if not path.exists() and path.name in OTHERS:
            continue
        assert path.exists(), f"{page}: link to missing {target}"
        if anchor and path.suffix == ".md":
            assert anchor in anchors(path), f"{page}: no heading #{anchor} in {file or page}"


# --- the step summary in checks.md -----------------------------------------------------------------


def test_step_summary_script_renders_the_table_shown(sandbox):
    page = (DOCS / "checks.md").read_text(encoding="utf-8")
    script = re.search(r"<<'EOF'\n(?P<body>.*?)\n\s*EOF\n", page, re.S)
    assert script, "checks.md: no step-summary heredoc"
    shown = re.search(r"the summary script writes:\n\n```markdown\n(?P<table>.*?)\n```", page, re.S)
    assert shown, "checks.md: no rendered table after the step-summary script"
    refs = re.search(r"<!-- summary-input: (?P<refs>[^>]*) -->", page)
    assert refs, "checks.md: the example says which images it ran on"
    code, data = run_manifold(["matrix", *refs["refs"].split(), "--format", "json"], merge=False)
    assert code == 1  # one of them cannot be read: the summary must show that too
    Path("matrix.json").write_text(data, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-", "matrix.json"], input=textwrap.dedent(script["body"]),
        capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert _normal(done.stdout) == _normal(shown["table"])
