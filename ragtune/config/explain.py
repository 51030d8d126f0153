"""Pydantic's validation errors in a person's words: the dotted parameter key an error is about
(`retrieval.alpha`, not pydantic's location with union members and constraint tags) and what the key allows
("a number in [0, 1]", "one of 'hybrid', 'rrf'"). ragtune.config.schema words its ParamsError with these."""

from __future__ import annotations

from collections.abc import Mapping
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo


def describe(error: Mapping[str, Any], root: type[BaseModel]) -> str:
    """One pydantic error of `root`'s validation as "= <value> is not allowed: <what is allowed>"."""
    loc = error["loc"]
    if error["type"] == "extra_forbidden":
        return f"is not a known parameter (known here: {', '.join(_known_keys(loc[:-1], root))})"
    if error["type"] == "missing":
        return "is missing"
    field = _field_at(loc, root)
    allowed = _allowed(field) if field is not None else error["msg"].removeprefix("Input should be ")
    return f"= {error.get('input')!r} is not allowed: must be {allowed}"


def _allowed(field: FieldInfo) -> str:
    """What a field accepts, in words: "a number in [0, 1]", "an integer >= 1 or null", "one of 'a', 'b'"."""
    annotation, optional = field.annotation, False
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (Union, UnionType) and len(args) < len(get_args(annotation)):
        optional, annotation = True, args[0] if len(args) == 1 else Union[tuple(args)]  # noqa: UP007 (built at run time)
    text = _words(annotation, list(field.metadata))
    return text + (" or null" if optional else "")


def _words(annotation: Any, metadata: list) -> str:
    """One type in words; unions as "a or b", lists as "a list of …" (with their length bounds)."""
    if get_origin(annotation) in (Union, UnionType):
        return " or ".join(_words(member, []) for member in get_args(annotation))
    if get_origin(annotation) is Annotated:
        annotation, *extra = get_args(annotation)
        metadata += [m for e in extra for m in getattr(e, "metadata", [e])]
    if get_origin(annotation) is Literal:
        text = "one of " + ", ".join(repr(v) for v in get_args(annotation))
    elif get_origin(annotation) is list:
        shortest = max((getattr(m, "min_length", None) or 0 for m in metadata), default=0)
        text = (
            (f"a list of {shortest}+ " if shortest else "a list of ")
            + _words(get_args(annotation)[0], []).removeprefix("a ").removeprefix("an ")
            + "s"
        )
    else:
        text = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
            annotation, getattr(annotation, "__name__", str(annotation))
        )
        bounds = {
            name: getattr(m, name)
            for m in metadata
            for name in ("gt", "ge", "lt", "le", "pattern")
            if getattr(m, name, None) is not None
        }
        low = ("[", bounds["ge"]) if "ge" in bounds else ("(", bounds["gt"]) if "gt" in bounds else None
        high = (bounds["le"], "]") if "le" in bounds else (bounds["lt"], ")") if "lt" in bounds else None
        if low and high:
            text += f" in {low[0]}{low[1]}, {high[0]}{high[1]}"
        else:
            text += "".join(
                f" {symbol} {bounds[name]}"
                for name, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))
                if name in bounds
            )
        if "pattern" in bounds:
            text += f" matching {bounds['pattern']}"
    return text


def key(loc: tuple, root: type[BaseModel]) -> str:
    """The dotted parameter key of an error location (pydantic adds union members and constraint names)."""
    return ".".join(key_parts(loc, root))


def key_parts(loc: tuple, root: type[BaseModel]) -> list[str]:
    parts, model = [], root
    for part in loc:
        if model is not None and isinstance(part, str) and part in model.model_fields:
            parts.append(part)
            model = submodel(model.model_fields[part].annotation)
        elif model is None or isinstance(part, int):
            if not parts or not isinstance(part, str) or not _is_type_tag(part):
                parts.append(str(part))
        elif isinstance(part, str) and not _is_type_tag(part):
            parts.append(part)  # an unknown key
    return parts


def _is_type_tag(part: str) -> bool:
    return (
        part in {"int", "float", "str", "bool", "none"}
        or part.startswith(("constrained-", "function-", "literal[", "list[", "dict[", "union["))
        or part[:1].isupper()
    )


def submodel(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _model_at(parts: list[str], root: type[BaseModel]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = root
    for part in parts:
        if model is None or part not in model.model_fields:
            return None
        model = submodel(model.model_fields[part].annotation)
    return model


def _field_at(loc: tuple, root: type[BaseModel]) -> FieldInfo | None:
    parts = key_parts(loc, root)
    model = _model_at(parts[:-1], root) if parts else None
    return model.model_fields.get(parts[-1]) if model is not None else None


def _known_keys(loc: tuple, root: type[BaseModel]) -> list[str]:
    model = _model_at(key_parts(loc, root), root)
    return sorted(model.model_fields) if model is not None else []
