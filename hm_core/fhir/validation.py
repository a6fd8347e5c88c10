"""Everything served (and, later, accepted) is checked against the FHIR R4 definitions with
`fhir.resources`' R4B models, which accept R4 JSON for every type we serve; the top-level
`fhir.resources` classes are R5 and would reject R4."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError


class InvalidResource(Exception):
    """A resource that does not validate; `problems` name each field."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p['field']}: {p['message']}" for p in problems))


@cache
def model_class(resource_type: str) -> Any:
    """The R4B model of a resource type (never of a datatype such as `Coding`), or None."""
    try:
        cls = get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError, ImportError):
        return None
    return cls if issubclass(cls, Resource) and resource_type != "Resource" else None


@cache
def resource_types() -> tuple[str, ...]:
    """Every R4 resource type the models know (for the capability statement)."""
    from fhir.resources.R4B import fhirtypes

    names = (n.removesuffix("Type") for n in dir(fhirtypes) if n.endswith("Type"))
    return tuple(sorted(n for n in names if n and model_class(n) is not None))


def validate(resource: dict[str, Any]) -> dict[str, Any]:
    """Return `resource` unchanged if it is valid R4, else raise `InvalidResource`."""
    resource_type = resource.get("resourceType")
    cls = model_class(str(resource_type)) if isinstance(resource_type, str) else None
    if cls is None:
        raise InvalidResource([{"field": "resourceType", "message": "unknown resource type"}])
    try:
        cls.model_validate(resource)
    except ValidationError as exc:
        raise InvalidResource(
            [
                {"field": ".".join(str(p) for p in e["loc"]) or "resource", "message": e["msg"]}
                for e in exc.errors()
            ]
        ) from None
    return resource


class _Validated:
    """Digests of served resources that validated, most recent last (bounded).

    A resource is served again and again with the same content (a patient's observations
    page after page, a chart reopened); pydantic's check of an Observation costs about 15
    times the canonical JSON digest that recognises it. Only content that validated is kept,
    so a resource whose mapping changes is checked again."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._digests: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, digest: bytes) -> bool:
        with self._lock:
            if digest not in self._digests:
                return False
            self._digests.move_to_end(digest)
            return True

    def add(self, digest: bytes) -> None:
        with self._lock:
            self._digests[digest] = None
            if len(self._digests) > self.size:
                self._digests.popitem(last=False)


_validated = _Validated(size=50_000)  # ~5 MB at most


def validate_served(resource: dict[str, Any]) -> dict[str, Any]:
    """`validate` for what the server answers with, skipping content already checked."""
    canonical = json.dumps(resource, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.blake2b(canonical.encode(), digest_size=16).digest()
    if not _validated.seen(digest):
        validate(resource)
        _validated.add(digest)
    return resource
