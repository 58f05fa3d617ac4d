"""One exception root for everything manifold raises on purpose.

Every expected failure is a ``ManifoldError`` subclass that carries data and an
``exit_code`` from the CLI contract (``CLI.md``):

====  =====================================================================
code  meaning
====  =====================================================================
2     usage or invalid input (reference, platform, annotation, duplicates)
3     not found (repository, tag, manifest, blob, no matching platform)
4     authentication or authorisation refused
5     registry, network or integrity failure after retries
6     conflict (``--no-clobber``, concurrent writers not reconciled)
====  =====================================================================

The CLI is the only place that turns these into exit codes and ``error:`` lines;
the library never prints.
"""

from __future__ import annotations

import re

__all__ = [
    "AuthError",
    "ConflictError",
    "IntegrityError",
    "InvalidAnnotationError",
    "InvalidDigestError",
    "InvalidInputError",
    "InvalidPlatformError",
    "InvalidReferenceError",
    "ManifoldError",
    "NoMatchingManifestError",
    "NotFoundError",
    "RegistryError",
    "UnsupportedDocumentError",
    "redact",
]


class ManifoldError(Exception):
    """Root of every error manifold raises deliberately."""

    exit_code: int = 5

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def add_context(self, context: str) -> "ManifoldError":
        """Prefix the message with what was being done (``source node:20-arm64: …``); returns self."""
        if not self.message.startswith(context):
            self.message = f"{context}: {self.message}"
            self.args = (self.message,)
        return self


# --- exit 2: invalid input -------------------------------------------------


class InvalidInputError(ManifoldError):
    """Something the user typed (or a file they gave) is not valid."""

    exit_code = 2


class InvalidReferenceError(InvalidInputError):
    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"invalid reference {text!r}: {reason}")
        self.text = text
        self.reason = reason


class InvalidPlatformError(InvalidInputError):
    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"invalid platform {text!r}: {reason}")
        self.text = text
        self.reason = reason


class InvalidDigestError(InvalidInputError):
    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"invalid digest {text!r}: {reason}")
        self.text = text
        self.reason = reason


class InvalidAnnotationError(InvalidInputError):
    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"invalid annotation {text!r}: {reason}")
        self.text = text
        self.reason = reason


# --- exit 3: not found ----------------------------------------------------


class NotFoundError(ManifoldError):
    exit_code = 3


class NoMatchingManifestError(NotFoundError):
    """Docker's wording: ``no matching manifest for <platform> in the manifest list entries``."""

    def __init__(self, wanted: str, available: list[str], *, reference: str | None = None) -> None:
        msg = f"no matching manifest for {wanted} in the manifest list entries"
        if reference:
            msg += f" of {reference}"
        hint = "available platforms: " + (", ".join(available) if available else "(none)")
        super().__init__(msg, hint=hint)
        self.wanted = wanted
        self.available = list(available)
        self.reference = reference


# --- exit 4: auth ---------------------------------------------------------


class AuthError(ManifoldError):
    exit_code = 4


# --- exit 5: registry / integrity ---------------------------------------


_CRED_IN_URL = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")
_SECRET_PARAMS = re.compile(
    r"(?i)([?&](?:password|passwd|token|access_token|refresh_token|secret|_state|signature|x-amz-signature|x-amz-credential|sig)=)[^&#\s]*"
)


def redact(url: str) -> str:
    """Remove userinfo and secret-looking query parameters from a URL for display."""
    url = _CRED_IN_URL.sub(r"\g<scheme>", url)
    return _SECRET_PARAMS.sub(r"\1REDACTED", url)


class RegistryError(ManifoldError):
    """A registry answered with an error (or not at all).

    Carries the HTTP status (``None`` for a transport failure), the method, the URL
    with credentials redacted, and the registry's ``errors[].code`` values.
    """

    exit_code = 5

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        url: str | None = None,
        codes: tuple[str, ...] = (),
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.method = method
        self.url = redact(url) if url else None
        self.codes = tuple(codes)


class RegistryNotFoundError(RegistryError, NotFoundError):
    exit_code = 3


class RegistryAuthError(RegistryError, AuthError):
    exit_code = 4


class IntegrityError(ManifoldError):
    """Content does not match its digest or size, or is otherwise corrupt."""

    exit_code = 5


class UnsupportedDocumentError(ManifoldError):
    """A manifest that manifold refuses: too large, unknown media type, not JSON."""

    exit_code = 5


# --- exit 6: conflict -----------------------------------------------------


class ConflictError(ManifoldError):
    exit_code = 6


__all__ += ["RegistryAuthError", "RegistryNotFoundError"]
__all__.sort()
