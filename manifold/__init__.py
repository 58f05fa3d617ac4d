"""manifold: resolve and build multi-arch container image indexes.

The public library API, imported lazily (``import manifold`` costs nothing until a
name is used)::

    from manifold import Client, Platform

    with Client() as c:
        [r] = c.resolve("node:20", ["linux/arm64"])
        print(r.manifest.digest)

See docs/library.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "AuthError": "manifold.errors",
    "Client": "manifold.api",
    "ConflictError": "manifold.errors",
    "CreateRequest": "manifold.create",
    "Descriptor": "manifold.models",
    "Digest": "manifold.digest",
    "Index": "manifold.models",
    "IntegrityError": "manifold.errors",
    "InvalidInputError": "manifold.errors",
    "LayoutReference": "manifold.reference",
    "Manifest": "manifold.models",
    "ManifoldError": "manifold.errors",
    "NoMatchingManifestError": "manifold.errors",
    "NotFoundError": "manifold.errors",
    "Options": "manifold.options",
    "Platform": "manifold.platform",
    "Reference": "manifold.reference",
    "RegistryError": "manifold.errors",
    "combine": "manifold.build",
    "create": "manifold.create",
    "host_platform": "manifold.host",
    "only": "manifold.match",
    "parse_any": "manifold.reference",
    "parse_document": "manifold.models",
    "select": "manifold.resolve",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'manifold' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover
    from .api import Client
    from .build import combine
    from .create import CreateRequest, create
    from .digest import Digest
    from .errors import (
        AuthError,
        ConflictError,
        IntegrityError,
        InvalidInputError,
        ManifoldError,
        NoMatchingManifestError,
        NotFoundError,
        RegistryError,
    )
    from .host import host_platform
    from .match import only
    from .models import Descriptor, Index, Manifest, parse_document
    from .options import Options
    from .platform import Platform
    from .reference import LayoutReference, Reference, parse_any
    from .resolve import select
