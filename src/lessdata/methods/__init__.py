"""Selection methods, registered by name. Importing this package registers the built-in methods."""

from . import (  # noqa: F401  (registration side effects)
    adacore,
    colm,
    contrastive,
    crest,
    crust,
    epic,
    facility_location,
    geometric,
    glister,
    gradmatch,
    greedi,
    kmq,
    less,
    llm_scores,
    objectives,
    random_,
    rs2,
    s2l,
    scores,
)
from .registry import Method, get_method, methods, register
from .selection import select

__all__ = ["Method", "get_method", "methods", "register", "select"]
