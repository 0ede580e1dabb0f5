"""Reading a config file: every malformed or hostile file is one ConfigError naming the file and
the key path or line, never a traceback, a silent choice or a stalled machine."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
import yaml

from finmlops.config import ConfigError, load_config, single_model_data
from finmlops.config_loader import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_EXPANDED_NODES,
    MAX_FILE_BYTES,
    LimitedSafeLoader,
    load_yaml,
)


@pytest.fixture(scope="module")
def base(config_path: Path) -> str:
    """The shipped model as a single-model file (top-level `gates:`, `model:`): the loader's
    rules are the same for a portfolio, whose paths test_portfolio.py checks."""
    data = single_model_data(yaml.safe_load(config_path.read_text(encoding="utf-8")), "credit-risk")
    return yaml.safe_dump(data, sort_keys=False)


def refused(tmp_path: Path, content: str | bytes) -> tuple[str, str]:
    """Load a file with this content; the one problem (field, reason) it is refused with."""
    path = tmp_path / "bad.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"invalid configuration {path}:")
    assert len(caught.value.problems) == 1
    return caught.value.problems[0]


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    return text[:index].count("\n") + 1


def test_a_duplicate_key_is_refused_naming_its_path_and_both_lines(
    base: str, tmp_path: Path
) -> None:
    # The case: the second min_auc (0.5) silently won, and 0.5 was deployed.
    text = base.replace("gates:\n", "gates:\n  min_auc: 0.65\n  min_auc: 0.5\n", 1)
    field, reason = refused(tmp_path, text)
    assert field == "gates.min_auc"
    first, second = line_of(text, "min_auc: 0.65"), line_of(text, "min_auc: 0.5")
    assert f"at line {second}; first at line {first}" in reason


def test_a_duplicate_top_level_key_is_refused(base: str, tmp_path: Path) -> None:
    field, reason = refused(tmp_path, base + "project: another\n")
    assert field == "project"
    assert "duplicate key 'project'" in reason


def test_a_duplicate_key_inside_a_list_item_is_refused(tmp_path: Path) -> None:
    field, _ = refused(tmp_path, "items:\n  - a: 1\n    a: 2\n")
    assert field == "items[0].a"


def test_a_merge_key_may_be_overridden_as_yaml_intends(base: str, tmp_path: Path) -> None:
    # `<<: *defaults` then an explicit key is an override, not a duplicate (YAML merge-key spec).
    text = base.replace(
        "gates:\n", "x-defaults: &gate_defaults {min_auc: 0.7}\ngates:\n  <<: *gate_defaults\n", 1
    )
    data = load_yaml(text)
    assert data["gates"]["min_auc"] == 0.65  # the explicit key of the shipped file wins


def test_an_alias_bomb_fails_fast_in_little_memory_naming_the_alias(
    base: str, tmp_path: Path
) -> None:
    # The classic "billion laughs": nine levels of nine aliases, 9**9 values once expanded.
    # Measured here before this loader: a 4.8 KB file of this shape took 35 s and 2 GB in the
    # validation that followed the load (the issue); a test cannot time itself, so it bounds
    # memory, which is what the expansion costs.
    lines = ["x-bomb:", '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"  {name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = name
    text = base + "\n".join(lines) + "\n"
    # A few KB: the default config (reason texts included) and the bomb.
    assert len(text.encode()) < 8000
    tracemalloc.start()
    try:
        field, reason = refused(tmp_path, text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024
    # Nothing is expanded: the loader adds up sizes and stops at the first alias of `f`, whose
    # 66,430 values (9**5 and the lists around them) take the document past the limit.
    assert field == "x-bomb.f[0]"
    assert reason.startswith(
        f"the document expands to more than {MAX_EXPANDED_NODES} values at alias *e on line "
        f"{line_of(text, '  f: &f')} "
    )


def test_more_aliases_than_the_limit_are_refused(tmp_path: Path) -> None:
    text = "a: &a 1\nb: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n"
    field, reason = refused(tmp_path, text)
    assert field == f"b[{MAX_ALIASES}]"
    assert reason == f"more than {MAX_ALIASES} aliases (the last at line 2)"


def test_a_few_aliases_still_load(tmp_path: Path) -> None:
    assert load_yaml("a: &a [1, 2]\nb: *a\nc: *a\n") == {"a": [1, 2], "b": [1, 2], "c": [1, 2]}


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("x: &r [1, *r]\n", "x[1]"),
        ("x: &r {a: {b: *r}}\n", "x.a.b"),
    ],
)
def test_a_recursive_structure_is_one_line_naming_the_alias(
    tmp_path: Path, text: str, field: str
) -> None:
    found, reason = refused(tmp_path, text)
    assert found == field
    assert "alias *r at line 1 refers to a node that contains it" in reason


def test_nesting_beyond_the_limit_is_refused_before_python_recurses(tmp_path: Path) -> None:
    depth = 5000  # far beyond Python's recursion limit: a RecursionError traceback before
    field, reason = refused(tmp_path, "x: " + "[" * depth + "]" * depth + "\n")
    assert f"nested deeper than {MAX_DEPTH} levels at line 1" in reason
    assert field.startswith("x[0]") and field.endswith("[...]")


def test_non_utf8_bytes_are_one_line_naming_the_byte_and_line(base: str, tmp_path: Path) -> None:
    content = base.encode() + b"# caf\xe9 (latin-1)\n"
    field, reason = refused(tmp_path, content)
    assert (field, reason) == (
        "(file)",
        f"is not UTF-8: byte 0xe9 at line {base.count(chr(10)) + 1}",
    )


def test_a_control_character_is_named_with_its_line(tmp_path: Path) -> None:
    field, reason = refused(tmp_path, "project: a\nowner: b\x07\n")
    assert field == "(file)"
    assert "line 2" in reason and "#x0007" in reason


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    field, reason = refused(tmp_path, "# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    assert field == "(file)"
    assert f"larger than {MAX_FILE_BYTES // 1024} KiB" in reason


def test_the_shipped_config_is_far_inside_every_limit(config_path: Path) -> None:
    text = config_path.read_text()
    loader = LimitedSafeLoader(text)
    try:
        loader.get_single_data()
        expanded = loader._expanded
    finally:
        loader.dispose()
    assert len(text.encode()) * 20 < MAX_FILE_BYTES
    assert expanded * 20 < MAX_EXPANDED_NODES


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: [1, 2\n", "line 2"),  # unclosed flow sequence
        ("a:\n\tb: 1\n", "line 2"),  # a tab as indentation
        ("a: *missing\n", "found undefined alias 'missing'"),
        ("a: 1\n---\nb: 2\n", "expected a single document"),
        ("a: !!python/object:os.system {}\n", "could not determine a constructor"),
    ],
)
def test_malformed_yaml_is_one_problem_with_its_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    field, reason = refused(tmp_path, text)
    assert field == "(file)"
    assert reason.startswith("is not valid YAML:")
    assert expected in reason
    assert "\n" not in reason


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda t: t.replace("min_auc: 0.65", "min_auc: .nan"), ".nan or .inf"),
        (lambda t: t + "2024-01-01: a date as a key\n", "a key that is not text"),
    ],
)
def test_values_json_cannot_carry_are_named_not_a_traceback(
    base: str, tmp_path: Path, change: object, expected: str
) -> None:
    field, reason = refused(tmp_path, change(base))  # type: ignore[operator]
    assert field == "(file)"
    assert expected in reason


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml")
    assert caught.value.problems == [("(file)", "cannot be read: No such file or directory")]


def test_the_loader_reads_what_safe_load_reads_for_a_valid_file(config_path: Path) -> None:
    # PyYAML's own SafeLoader is the oracle: within the limits, the data is the same.
    text = config_path.read_text()
    assert load_yaml(text) == yaml.safe_load(text)


def test_a_byte_order_mark_is_accepted(config_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + config_path.read_bytes())
    assert load_config(path, "credit-risk") == load_config(config_path, "credit-risk")
