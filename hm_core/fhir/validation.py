"""Everything served (and, later, accepted) is checked against the FHIR R4 definitions with
`fhir.resources`' R4B models, which accept R4 JSON for every type we serve; the top-level
`fhir.resources` classes are R5 and would reject R4."""

from __future__ import annotations

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
