"""Selection methods, registered by name. Importing this package registers the built-in methods."""

from . import facility_location, random_, rs2  # noqa: F401  (registration side effects)
from .registry import Method, get_method, methods, register

__all__ = ["Method", "get_method", "methods", "register"]
