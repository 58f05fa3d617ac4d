"""manifold: resolve and build multi-arch container image indexes."""

__version__ = "0.1.0"
__all__ = ["__version__"]
