"""``train/cli.py``: a dataclass's fields become flags whose help is each field's docstring."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from conftest import import_script

cli = import_script("cli")
build_parser, field_docs, parse = cli.build_parser, cli.field_docs, cli.parse


@dataclass
class Example:
    epochs: int = 3
    """Passes over the data."""
    rate: float = 0.5
    """A rate, in 100 % units."""
    name: str = "x"
    """Run name."""
    limit: int | None = None
    """Optional limit;
    spans two lines."""
    fast: bool = False
    """Go fast."""
    kwargs: dict = field(default_factory=dict)
    """Extra keyword arguments as JSON."""


def test_field_docs_reads_the_attribute_docstrings() -> None:
    docs = field_docs(Example)
    assert docs["epochs"] == "Passes over the data."
    assert docs["limit"] == "Optional limit;\nspans two lines."
    assert set(docs) == {"epochs", "rate", "name", "limit", "fast", "kwargs"}


def test_parse_converts_each_type_and_reports_what_was_given() -> None:
    args, given = parse(Example, ["--epochs", "7", "--limit", "None", "--fast", "--kwargs", '{"a": [1, 2]}'])
    assert args == Example(epochs=7, limit=None, fast=True, kwargs={"a": [1, 2]})
    assert given == {"epochs", "limit", "fast", "kwargs"}
    args, given = parse(Example, ["--no-fast", "--limit", "4", "--rate", "1e-3"])
    assert (args.fast, args.limit, args.rate, given) == (False, 4, 1e-3, {"fast", "limit", "rate"})
    assert parse(Example, [])[0] == Example()


def test_help_shows_docstrings_and_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    text = " ".join(build_parser(Example).format_help().split())
    assert "--epochs EPOCHS Passes over the data. (default: 3)" in text
    preset = ("quick", {"epochs": 1, "rate": Example.rate})  # only a value that differs is shown
    text = " ".join(build_parser(Example, preset=preset).format_help().split())
    assert "(default: 3; the default preset quick sets 1)" in text and "preset quick sets 0.5" not in text
    assert "A rate, in 100 % units." in text and "--fast, --no-fast" in text
    with pytest.raises(SystemExit):
        parse(Example, ["--kwargs", "[1]"])
    assert "JSON object" in capsys.readouterr().err


def test_a_field_without_docstring_is_an_error() -> None:
    @dataclass
    class Bad:
        a: int = 1

    with pytest.raises(ValueError, match="no docstring"):
        build_parser(Bad)
