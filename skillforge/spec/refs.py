"""``$ref`` s of untrusted schemas: resolved only inside the schema, and never in an endless loop.

:data:`REGISTRY` is the ``referencing`` registry every validator is built with: its retrieval always
refuses, so no schema can make skillforge fetch a URL or read a file. :func:`ref_problems` finds, up
front, every ``$ref``/``$dynamicRef`` that points outside the schema (``http:``, ``file:``, a relative
path), that does not resolve, or that leads back to where it started without descending into the
value (``{"$ref": "#/properties/a"}`` as the schema of ``a``): validation would recurse forever.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import referencing.exceptions
from referencing import Registry, Resource
from referencing._core import Resolver
from referencing.jsonschema import DRAFT202012

from skillforge.spec.limits import short

#: Keywords whose subschemas apply to the same value (not to a part of it).
_IN_PLACE = ("allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas")


def _refuse(uri: str) -> Resource[Any]:
    """Registry retrieval: never. Only refs inside the schema itself resolve."""
    raise LookupError(f"refusing to retrieve {short(uri)}: only refs inside the schema are allowed")


REGISTRY: Registry[Any] = Registry(retrieve=_refuse)  # type: ignore[call-arg]


def _in_place_children(node: Mapping[str, Any]) -> Iterator[Any]:
    for key in _IN_PLACE:
        value = node.get(key)
        if isinstance(value, list):
            yield from value
        elif isinstance(value, Mapping):
            yield from value.values() if key == "dependentSchemas" else [value]


def _walk(resource: Resource[Any], resolver: Resolver[Any], edges: dict[int, list[int]]) -> Iterator[str]:
    contents = resource.contents
    if isinstance(contents, Mapping):
        children = [id(c) for c in _in_place_children(contents) if isinstance(c, Mapping)]
        targets = edges.setdefault(id(contents), children)
        for key in ("$ref", "$dynamicRef"):
            if key not in contents:
                continue
            ref = contents[key]
            if not isinstance(ref, str) or not ref.startswith("#"):
                yield (f"{key} {short(ref)} points outside the schema: only refs inside it "
                       "('#/$defs/...') are allowed, nothing is fetched or read")
                continue
            try:
                target = resolver.lookup(ref).contents
            except referencing.exceptions.Unresolvable:
                yield f"{key} {short(ref)} does not resolve inside the schema"
                continue
            if isinstance(target, Mapping):
                targets.append(id(target))
    for sub in resource.subresources():
        yield from _walk(sub, resolver.in_subresource(sub), edges)


def _has_cycle(edges: dict[int, list[int]]) -> bool:
    """Whether the graph of in-place steps (refs and same-value applicators) has a cycle."""
    done: set[int] = set()
    for start in edges:
        if start in done:
            continue
        on_path = {start}
        stack = [(start, iter(edges.get(start, ())))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.discard(node)
                done.add(node)
            elif child in on_path:
                return True
            elif child not in done:
                on_path.add(child)
                stack.append((child, iter(edges.get(child, ()))))
    return False


def ref_problems(schema: Mapping[str, Any]) -> list[str]:
    """Every ``$ref``/``$dynamicRef`` of ``schema`` that points outside it or does not resolve, and
    a ref cycle that never descends into the value."""
    resource = DRAFT202012.create_resource(schema)
    edges: dict[int, list[int]] = {}
    problems = list(_walk(resource, REGISTRY.resolver_with_root(resource), edges))
    if not problems and _has_cycle(edges):
        problems.append("a $ref leads back to itself without descending into the value: validation would "
                        "never end")
    return problems
