"""Command-line flags from a dataclass: every field is a ``--flag`` whose help is the field's docstring.

CleanRL writes its arguments as a ``@dataclass Args`` and lets ``tyro`` turn it into a parser; this is
the few lines of that we need, with argparse only. A field's help text is the string literal written
under it (an attribute docstring), read from the class source with :mod:`ast`::

    @dataclass
    class Args:
        epochs: int = 10
        \"\"\"Passes over the training split.\"\"\"

    args = parse(Args)          # python script.py --epochs 20

Types: ``bool`` (``--flag`` / ``--no-flag``), ``int``, ``float``, ``str``, ``X | None`` (the word
``None`` gives None) and ``dict`` (a JSON object, e.g. ``--env-kwargs '{"num_glimpses": 4}'``).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import json
import textwrap
import typing
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

__all__ = ["field_docs", "build_parser", "parse"]

T = TypeVar("T")


def field_docs(cls: type) -> dict[str, str]:
    """``{field: docstring}`` for the fields of ``cls`` that have a string literal right below them."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, following in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            docs[node.target.id] = inspect.cleandoc(following.value.value)
    return docs


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not JSON: {err}") from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def _converter(annotation: Any) -> tuple[Any, bool]:
    """(function from the command-line word to the value, whether ``None`` is allowed)."""
    optional = False
    args = typing.get_args(annotation)
    if args and type(None) in args:
        optional = True
        annotation = next(a for a in args if a is not type(None))
    origin = typing.get_origin(annotation) or annotation
    if origin is dict:
        base: Any = _json_object
    elif origin in (int, float, str):
        base = origin
    else:
        raise TypeError(f"unsupported field type {annotation!r}")
    if not optional:
        return base, False

    def convert(text: str) -> Any:
        return None if text == "None" else base(text)

    convert.__name__ = getattr(base, "__name__", "value")
    return convert, True


def _show(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict) else value


def build_parser(cls: type, description: str | None = None,
                 preset: tuple[str, Mapping[str, Any]] | None = None) -> argparse.ArgumentParser:
    """An argparse parser with one ``--kebab-case`` flag per field of the dataclass ``cls``.

    Flags left out are absent from the parsed namespace (``argparse.SUPPRESS``), so a caller can tell
    a value given on the command line from a default (presets fill in only what was not given).
    ``preset``, ``(name, values)``: the values a run gets when it names no preset, shown beside each field's
    own default where they differ.
    """
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    for field in dataclasses.fields(cls):
        flag = "--" + field.name.replace("_", "-")
        help_text = docs.get(field.name, "")
        if not help_text:
            raise ValueError(f"field {cls.__name__}.{field.name} has no docstring: every flag needs help text")
        if field.default is not dataclasses.MISSING:
            default = field.default
        else:
            default = field.default_factory()  # type: ignore[misc]
        shown = _show(default)
        if preset is not None and field.name in preset[1] and preset[1][field.name] != default:
            shown = f"{shown}; the default preset {preset[0]} sets {_show(preset[1][field.name])}"
        help_text = f"{help_text} (default: {shown})".replace("%", "%%")
        annotation = hints[field.name]
        if annotation is bool:
            parser.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction,
                                default=argparse.SUPPRESS, help=help_text)
            continue
        convert, _ = _converter(annotation)
        parser.add_argument(flag, dest=field.name, type=convert, default=argparse.SUPPRESS,
                            metavar=field.name.upper(), help=help_text)
    return parser


def parse(cls: type[T], argv: Sequence[str] | None = None, description: str | None = None,
          preset: tuple[str, Mapping[str, Any]] | None = None) -> tuple[T, set[str]]:
    """Parse ``argv`` into an instance of ``cls``; also return the names of the fields given on the command line.
    ``preset``: as :func:`build_parser`'s."""
    namespace = vars(build_parser(cls, description, preset).parse_args(argv))
    return cls(**namespace), set(namespace)  # type: ignore[call-arg]
