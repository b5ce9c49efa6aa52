"""Reading typed dataclasses from plain dicts (parsed YAML), with one clear message per mistake.

Recipes are data: every field a recipe may set is a dataclass field with a commented default. This module turns
nested dicts into those dataclasses, checks types as far as the annotations say, and names the offending path
(`stages[1].optimizer.lr`) when something is wrong.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Union


class RecipeError(ValueError):
    """A recipe or training command that cannot be used; the message is one line for the user."""


def from_dict(cls, data: Any, where: str):
    """Build dataclass `cls` from `data`, rejecting unknown keys and values of the wrong type."""
    if isinstance(data, cls):
        return data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(f"{where}: expected a mapping, got {type(data).__name__} {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise RecipeError(f"{where}: unknown field {unknown[0]!r}; known: {', '.join(sorted(names))}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = convert(hints[f.name], data[f.name], f"{where}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RecipeError(f"{where}: missing required field {f.name!r}")
    try:
        return cls(**kwargs)
    except RecipeError:
        raise
    except (TypeError, ValueError) as err:
        raise RecipeError(f"{where}: {err}") from None


def convert(hint, value, where: str):
    """`value` as the annotated type `hint` (dataclasses, Optional/unions, lists, tuples, dicts, scalars)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None:
            if type(None) in options:
                return None
            raise RecipeError(f"{where}: must not be null")
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return convert(option, value, where)
            except RecipeError as err:
                errors.append(str(err))
        raise RecipeError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of "
                          f"{', '.join(_name(o) for o in options)}")
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise RecipeError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(hint)
        item = args[0] if args else Any
        items = [convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"{where}: expected a mapping, got {value!r}")
        key_type, value_type = typing.get_args(hint) or (Any, Any)
        return {convert(key_type, k, where): convert(value_type, v, f"{where}.{k}") for k, v in value.items()}
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RecipeError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecipeError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise RecipeError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise RecipeError(f"{where}: expected a string, got {value!r}")
        return value
    if isinstance(hint, type) and not isinstance(value, hint):
        raise RecipeError(f"{where}: expected {_name(hint)}, got {value!r}")
    return value


def to_dict(obj) -> Any:
    """A dataclass tree as plain YAML-friendly data (tuples as lists)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list | tuple):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def deep_merge(base: dict, override: dict) -> dict:
    """`override` on top of `base`, recursing into mappings; lists and scalars are replaced whole."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def set_dotted(data: dict, dotted: str, value) -> None:
    """`stages.1.steps=10` style override on parsed YAML (list items by index)."""
    parts = dotted.split(".")
    node = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise RecipeError(f"--set {dotted}: {'.'.join(parts[:i]) or 'recipe'} has no item {part}")
            part = int(part)
        elif not isinstance(node, dict):
            raise RecipeError(f"--set {dotted}: {'.'.join(parts[:i])} is not a mapping or list")
        if last:
            node[part] = value
        else:
            if isinstance(node, dict) and node.get(part) is None:
                node[part] = {}
            node = node[part]


def _name(hint) -> str:
    return getattr(hint, "__name__", str(hint))
