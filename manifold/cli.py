"""The command line: parse arguments, make one ``api`` call, render.

This is the only place that maps errors to exit codes (CLI.md) and the only
place that prints. Data goes to stdout; diagnostics, ``-v`` request lines and
progress go to stderr.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, List, Optional

import typer

from typer._click import exceptions as _cx  # typer >= 0.26 vendors click

from . import __version__
from .errors import InvalidInputError, ManifoldError
from .options import Options, RequestEvent

EPILOG_RESOLVE = """\b
Examples:
  manifold resolve node:20 --platform linux/arm64
  manifold resolve oci:fixtures/layout:app --platform arm/v7 --explain
  manifold resolve ghcr.io/org/app:1.2 -p linux/amd64 -p linux/arm64 --format json
"""

_APP_SETTINGS: dict[str, Any] = dict(
    name="manifold",
    help="Resolve and build multi-arch container images (OCI image indexes and Docker manifest lists).",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app = typer.Typer(**_APP_SETTINGS)


class State:
    def __init__(self, *, insecure: bool, verbose: int, quiet: bool) -> None:
        self.verbose = verbose
        self.quiet = quiet
        self.options = Options.from_env(
            insecure=insecure,
            on_request=self._log_request if verbose else None,
            on_progress=self._progress if (not quiet and sys.stderr.isatty()) else None,
        )
        self._client: Any = None

    @property
    def client(self):
        if self._client is None:
            from .api import Client

            self._client = Client(self.options)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    @staticmethod
    def _log_request(ev: RequestEvent) -> None:
        status = ev.status if ev.status is not None else "ERR"
        note = f" ({ev.note})" if ev.note else ""
        sys.stderr.write(f"{ev.method} {ev.url} {status} {ev.seconds * 1000:.0f}ms{note}\n")

    @staticmethod
    def _progress(what: str, done: int, total: int) -> None:
        pct = (100 * done // total) if total else 100
        end = "\n" if done >= total else ""
        sys.stderr.write(f"\r{what}: {done / 1e6:.1f}/{total / 1e6:.1f} MB ({pct}%){end}")
        sys.stderr.flush()

    def note(self, text: str) -> None:
        if not self.quiet:
            sys.stderr.write(text + "\n")

    def warn(self, text: str) -> None:
        sys.stderr.write(f"warning: {text}\n")


def _state(ctx: typer.Context) -> State:
    return ctx.find_root().obj


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"manifold {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def main(
    ctx: typer.Context,
    insecure: bool = typer.Option(False, "--insecure", help="Allow plain HTTP and unverified TLS for every registry."),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="Show each HTTP request on stderr."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Only data on stdout; no notes or progress."),
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Resolve and build multi-arch container images.

    References: node:20, ghcr.io/org/app:1.2, 127.0.0.1:5000/team/app@sha256:…,
    oci:PATH[:TAG] (OCI layout), oci-archive:FILE[:TAG].
    """
    ctx.obj = State(insecure=insecure, verbose=verbose, quiet=quiet)
    ctx.call_on_close(ctx.obj.close)


def _out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _format(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidInputError(f"invalid --format {value!r}: one of {', '.join(allowed)}")
    return value


# --- resolve ---------------------------------------------------------------


@app.command(epilog=EPILOG_RESOLVE)
def resolve(
    ctx: typer.Context,
    ref: str = typer.Argument(..., metavar="REF", help="Image reference, oci:PATH[:TAG] or oci-archive:FILE[:TAG]."),
    platform: Optional[List[str]] = typer.Option(
        None, "--platform", "-p", metavar="P", help="os/arch[/variant]; repeat for several. Default: this machine."
    ),
    fmt: str = typer.Option("text", "--format", metavar="text|json", help="Output format."),
    explain: bool = typer.Option(False, "--explain", help="Show every candidate and why the winner won."),
) -> None:
    """Which manifest a Docker/containerd client on PLATFORM pulls for REF."""
    st = _state(ctx)
    fmt = _format(fmt, ("text", "json"))
    results = st.client.resolve(ref, platform or [], check_single=explain)
    repo = st.client.repository(ref)
    from .render import json_text

    if fmt == "json":
        _out(json_text([r.to_json(explain=explain) for r in results]))
    for r in results:
        if r.warning:
            st.warn(r.warning)
        if fmt == "text":
            _out(f"{repo}@{r.manifest.digest}")
            if explain:
                _explain(st, r)


def _explain(st: State, r) -> None:
    sys.stderr.write(f"platform {r.platform.format_all()}:\n")
    for level, sel in enumerate(r.selections):
        width = max((len(c.descriptor.platform_text or "(no platform)") for c in sel.candidates), default=0)
        for c in sel.candidates:
            mark = "*" if c.chosen else ("+" if c.matched else "-")
            plat = c.descriptor.platform_text or "(no platform)"
            sys.stderr.write(f"  {'  ' * level}{mark} {plat:<{width}}  {c.descriptor.digest.short}  {c.reason}\n")
    if not r.selections:
        sys.stderr.write("  (single-platform image: a reference that is not an index resolves to itself)\n")


# --- inspect ---------------------------------------------------------------


@app.command(
    epilog="""\b
Examples:
  manifold inspect node:20
  manifold inspect oci:fixtures/layout:app --format json
  manifold inspect node:20 --platform linux/arm64 --raw | sha256sum
"""
)
def inspect(
    ctx: typer.Context,
    ref: str = typer.Argument(..., metavar="REF"),
    platform: Optional[str] = typer.Option(None, "--platform", "-p", metavar="P", help="Inspect the manifest resolve would choose."),
    raw: bool = typer.Option(False, "--raw", help="The exact bytes the store holds."),
    fmt: str = typer.Option("table", "--format", metavar="table|json", help="Output format."),
) -> None:
    """Show an index's entries (or one manifest) with digests, media types and sizes."""
    st = _state(ctx)
    fmt = _format(fmt, ("table", "json"))
    insp = st.client.inspect(ref, platform=platform)
    if raw:
        sys.stdout.buffer.write(insp.fetched.data)
        sys.stdout.flush()
        return
    if fmt == "json":
        from .render import json_text

        _out(json_text(insp.to_json()))
        return
    _out(f"Name:      {insp.reference}\nMediaType: {insp.fetched.media_type}\nDigest:    {insp.fetched.digest}\nSize:      {insp.fetched.size}")
    if insp.entries:
        from .render import columns

        rows = []
        by_digest = {str(d.digest): d for d in insp.entries}
        for d in insp.entries:
            plat = d.platform_text or "-"
            if d.is_attestation:
                subj = by_digest.get(d.subject or "")
                plat = f"attestation → {subj.platform_text if subj else d.subject}"
            rows.append([plat, str(d.digest), d.media_type, d.size])
        _out("\n" + columns(rows, ["PLATFORM", "DIGEST", "MEDIA TYPE", "SIZE"]))


# --- platforms -------------------------------------------------------------


@app.command(
    epilog="""\b
Examples:
  manifold platforms node:20
  manifold platforms oci:fixtures/layout:app --all --format json
"""
)
def platforms(
    ctx: typer.Context,
    ref: str = typer.Argument(..., metavar="REF"),
    all_: bool = typer.Option(False, "--all", help="Include attestation entries."),
    fmt: str = typer.Option("text", "--format", metavar="text|json", help="Output format."),
) -> None:
    """The platforms REF serves, one per line, in index order."""
    st = _state(ctx)
    fmt = _format(fmt, ("text", "json"))
    entries = st.client.platforms(ref, include_attestations=all_)
    if fmt == "json":
        from .render import json_text

        _out(json_text([e.platform for e in entries]))
    else:
        for line in dict.fromkeys(str(e) for e in entries):
            _out(line)


# --- check -----------------------------------------------------------------


@app.command(
    epilog="""\b
Examples:
  manifold check node:20 -p linux/amd64 -p linux/arm64
  manifold check oci:fixtures/layout:app -p linux/arm/v6 --exact
"""
)
def check(
    ctx: typer.Context,
    ref: str = typer.Argument(..., metavar="REF"),
    platform: List[str] = typer.Option(..., "--platform", "-p", metavar="P", help="Platform that must be served; repeatable."),
    exact: bool = typer.Option(False, "--exact", help="Listed exactly, without Docker's fallback."),
    fmt: str = typer.Option("text", "--format", metavar="text|json", help="Output format."),
) -> None:
    """Exit 0 when REF serves every PLATFORM, 1 otherwise."""
    st = _state(ctx)
    fmt = _format(fmt, ("text", "json"))
    lines = st.client.check(ref, platform, exact=exact)
    if fmt == "json":
        from .render import json_text

        _out(json_text([ln.to_json() for ln in lines]))
    else:
        for ln in lines:
            if ln.served:
                via = f" (as {ln.served_as})" if ln.served_as and ln.served_as != ln.platform else ""
                _out(f"{ln.platform}: {ln.digest}{via}")
            else:
                _out(f"{ln.platform}: missing")
    if not all(ln.served for ln in lines):
        raise typer.Exit(1)


# --- create ----------------------------------------------------------------


@app.command(
    epilog="""\b
Examples:
  manifold create registry.example.com/app:1.2 --amend amd64 arm64
      (expands to registry.example.com/app:1.2-amd64 and :1.2-arm64 and upserts them)
  manifold create 127.0.0.1:5000/app:1.2 sha256:… sha256:…      (CI fan-in by digest)
  manifold create ghcr.io/org/app:1.2 docker.io/org/app:1.2-amd64 oci-archive:arm64.tar
  manifold create oci:out:app oci:fixtures/layout:app-amd64 oci:fixtures/layout:app-arm64
  manifold create reg/app:1.2 reg/app@sha256:…=linux/arm/v7 --tag latest --metadata-file md.json
"""
)
def create(
    ctx: typer.Context,
    target: str = typer.Argument(..., metavar="TARGET", help="Registry tag or oci:PATH[:TAG] to write."),
    sources: Optional[List[str]] = typer.Argument(
        None, metavar="[SOURCE]...", help="Image references, bare sha256:… digests in TARGET's repository, platform words (amd64, arm/v7), or SOURCE=PLATFORM."
    ),
    amend: bool = typer.Option(False, "--amend", "--append", help="Start from the index TARGET holds; replace entries by platform."),
    media_type: str = typer.Option("auto", "--media-type", metavar="auto|oci|docker", help="auto: a Docker list only when every entry is Docker-typed and no annotation is asked for."),
    annotation: Optional[List[str]] = typer.Option(None, "--annotation", metavar="[TYPE:]KEY=VALUE", help="index:K=V, manifest-descriptor[:P]:K=V (buildx syntax); repeatable."),
    tag: Optional[List[str]] = typer.Option(None, "--tag", "-t", metavar="T", help="Also tag the index as T; repeatable."),
    platform: Optional[List[str]] = typer.Option(None, "--platform", "-p", metavar="P", help="Keep only these platforms from the sources; repeatable."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the index JSON; write nothing."),
    no_clobber: bool = typer.Option(False, "--no-clobber", help="Refuse (exit 6) if TARGET holds a different digest."),
    metadata_file: Optional[str] = typer.Option(None, "--metadata-file", metavar="F", help="Write digest, media type, size, tags and entries as JSON."),
    source_template: str = typer.Option("{tag}-{platform}", "--source-template", metavar="T", help="How a platform word names its image: fields {tag} {platform} {os} {arch} {variant}."),
) -> None:
    """Assemble an index from per-platform images and push it to TARGET."""
    from .create import CreateRequest, create as do_create

    st = _state(ctx)
    if metadata_file:
        _check_writable(metadata_file)  # before anything is pushed
    client = st.client
    req = CreateRequest(
        target=target,
        sources=sources or [],
        amend=amend,
        media_type=media_type,
        annotations=annotation or [],
        tags=tag or [],
        platforms=platform or [],
        dry_run=dry_run,
        no_clobber=no_clobber,
        source_template=source_template,
    )
    res = do_create(
        req,
        open_store=client.open,
        host=client.host,
        concurrency=st.options.concurrency,
        on_progress=st.options.on_progress,
        note=st.note,
    )
    if metadata_file:
        from .render import json_text

        _write_file(metadata_file, json_text(res.metadata()) + "\n")
    if dry_run:
        sys.stdout.write(res.data.decode("utf-8") + "\n")
        return
    for d in res.replaced:
        if not d.is_attestation:
            st.note(f"replaced {d.platform_text or 'entry'} {d.digest}")
    _out(f"{res.repository}@{res.digest}")


def _check_writable(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    problem = (
        "it is a directory" if os.path.isdir(path)
        else "no such directory" if not os.path.isdir(folder)
        else "permission denied" if not os.access(folder, os.W_OK)
        else None
    )  # fmt: skip
    if problem:
        raise InvalidInputError(f"cannot write {path}: {problem}")


def _write_file(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise InvalidInputError(f"cannot write {path}: {e.strerror}") from None


# --- login / logout ------------------------------------------------------


@app.command(
    epilog="""\b
Examples:
  echo "$GHCR_TOKEN" | manifold login ghcr.io -u my-user --password-stdin
  manifold login 127.0.0.1:5000 -u ci --password-stdin < secret.txt
"""
)
def login(
    ctx: typer.Context,
    registry: str = typer.Argument("docker.io", metavar="REGISTRY", help="Registry host[:port]; default docker.io."),
    username: str = typer.Option(..., "--username", "-u", help="User name."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password (or token) from stdin."),
) -> None:
    """Check credentials against REGISTRY and store them in the Docker config, as `docker login` does."""
    from . import auth

    st = _state(ctx)
    if not password_stdin:
        raise InvalidInputError("pass the password on stdin with --password-stdin (it never goes on the command line)")
    password = sys.stdin.read().rstrip("\r\n")
    if not password:
        raise InvalidInputError("no password on stdin")

    def verify(creds: "auth.Credentials") -> None:
        from .reference import Reference
        from .store.registry import RegistryClient

        host = Reference.parse(f"{registry}/x").api_host
        opts = Options.from_env(insecure=st.options.insecure, keychain=auth.StaticKeychain({registry: creds, host: creds}))
        client = RegistryClient(host, opts)
        try:
            client.ping()
        finally:
            client.close()

    key = auth.login(registry, username, password, verify=verify)
    _out(f"Login succeeded ({key})")


@app.command()
def logout(
    ctx: typer.Context,
    registry: str = typer.Argument("docker.io", metavar="REGISTRY"),
) -> None:
    """Remove stored credentials for REGISTRY from the Docker config."""
    from . import auth

    if auth.logout(registry):
        _out(f"Removed login credentials for {registry}")
    else:
        _state(ctx).note(f"not logged in to {registry}")


# --- running -------------------------------------------------------------------


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _one_line(text: str) -> str:
    """A message may quote user or registry input: one line, no terminal control characters."""
    return _CONTROL.sub(" ", text).strip()


def _usage_message(e: "_cx.UsageError") -> str:
    msg = _one_line(e.format_message())
    cmd = e.ctx.command_path if e.ctx is not None else "manifold"
    return f"error: {msg}\n(see '{cmd} --help')"


def _app_for(args: list[str]) -> typer.Typer:
    """The app with only the command being run (typer builds every parameter of every
    command it is given, ~1 ms each); the whole app when no known command is named."""
    name = next((a for a in args if not a.startswith("-")), None)
    chosen = [c for c in app.registered_commands if (c.name or c.callback.__name__.replace("_", "-")) == name]
    if not chosen:
        return app
    sub = typer.Typer(**_APP_SETTINGS)
    sub.registered_callback = app.registered_callback
    sub.registered_commands = chosen
    return sub


def run(args: list[str]) -> int:
    """Run the CLI; return the exit code. Never lets an expected failure become a traceback."""
    if os.environ.get("NO_COLOR"):  # no-color.org: set and not empty
        os.environ.setdefault("TERM", "dumb")
    command = typer.main.get_command(_app_for(args))
    try:
        rv = command.main(args=args, prog_name="manifold", standalone_mode=False)
    except _cx.NoArgsIsHelpError as e:
        sys.stdout.write(e.ctx.get_help() + "\n") if e.ctx is not None else None
        return 0
    except _cx.UsageError as e:
        sys.stderr.write(_usage_message(e) + "\n")
        return 2
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        sys.stderr.write("error: aborted\n")
        return 130
    except ManifoldError as e:
        sys.stderr.write(f"error: {_one_line(e.message)}\n")
        if e.hint:
            sys.stderr.write(f"  {_one_line(e.hint)}\n")
        return e.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
    return rv if isinstance(rv, int) else 0


# Commands that live in their own modules register themselves on ``app``.
from . import cli_checks  # noqa: E402,F401  (verify, matrix, pin)
