"""The doc check: every command, repository path and Python name that README.md and docs/ show
is checked against what the code and the tools accept, with no network, no AWS, and without
running the command.

What is read: every fenced block and inline code span, every link, and repository paths in the
prose, found with markdown-it (the CommonMark parser, with GFM tables). A fenced line is a
command when it starts with a program this check knows (after a `$ ` prompt, `VAR=value`
assignments, or the tree characters of a diagram); every `$ ` line of a `console` block must
be one. An inline span is a command when it starts with such a program and has arguments.

How each kind is checked:

- `finmlops ...`, `cfn-lint ...` (console scripts) and `python -m <project module> ...`: the
  program runs up to its own argparse `parse_args` and stops there (`_stop_after_parsing`), so
  the real parsers judge the line: an unknown subcommand or option fails, and so does an
  abbreviation of an option. Fenced commands must be complete (a subcommand chosen, required
  arguments given); an inline span may name a command without its required arguments.
- `make TARGET [VAR=value]`: make's own dry run (`make -n`) says whether the target exists, and
  each project command of its recipe is then checked as above (so `make demo ARGS=...` checks
  ARGS against `finmlops.demo`). A variable must be one the Makefile uses.
- `aws SERVICE OPERATION --options`: against botocore's service model, named as the AWS CLI
  names them (aws-cli `awscli/clidriver.py`: `xform_name(operation_name, '-')` for operations
  and input members); the CLI's global options (AWS CLI User Guide, "Command line options") and
  its pagination options are allowed. A fenced command must give every required member.
- `npx cdk ...` / `cdk ...`: against the CDK CLI's own command table
  (`node_modules/aws-cdk/lib/cli/cli-type-registry.json` after `npm ci`, which buildspec.yml runs
  before the tests: commands, aliases and options); without node_modules, against the command
  names of that file for the version package.json pins (`CDK_COMMANDS`).
- Paths: `src/`, `cdk/`, `docs/`, ... in spans, links and prose exist (globs must match; `<...>`
  matches anything); `tests/x.py::test_name` names a function the file defines; a relative link
  resolves from the page, and its `#anchor` is a heading of the target.
- Python names: `finmlops.x.y` (and `finmlops_cdk`, `finmlops_pipelines`) import and resolve; a
  signature shown as `name(a, *, b=True)` matches the function's parameters and defaults; a
  Python block compiles, its `from finmlops... import` names exist and its calls of them bind.

Placeholders are allowed where an argument value goes: `<anything>`, `...`, shell variables
(`$X`, `${X}`) and ALL-CAPS words (`SHA`, `VERSION`, `NAME=VALUE`). When a parser refuses one
(an `int` option, a `choices` list), the check gives that option a value it accepts and parses
again. In a synopsis, `[a | b]` means each alternative, `[--opt value]` is checked as written,
`[... ...]` with dots is dropped, a trailing `...` means "and more", and `approve/reject` in a
subcommand position means each of the two.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import functools
import importlib
import importlib.metadata
import importlib.util
import inspect
import io
import json
import os
import re
import runpy
import shlex
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent


def doc_files(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


# --------------------------------------------------------------------------------------------
# Reading the docs


@dataclass(frozen=True)
class Snippet:
    """One piece of a doc: a fenced block, an inline code span, a link target or prose."""

    source: str  # the doc, relative to the repository
    line: int  # 1-based line where the piece starts
    kind: str  # "fence", "span", "link", "text"
    text: str
    lang: str = ""

    def where(self) -> str:
        return f"{self.source}:{self.line}"


_MARKDOWN = MarkdownIt("commonmark").enable("table")


def read_snippets(path: Path, root: Path = ROOT) -> list[Snippet]:
    source = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    snippets: list[Snippet] = []
    for token in _MARKDOWN.parse(text):
        if token.type == "fence" and token.map:
            info = token.info.strip().split(" ")[0]
            snippets.append(Snippet(source, token.map[0] + 2, "fence", token.content, info))
        elif token.type == "inline" and token.map:
            start, end = token.map
            block = "\n".join(lines[start:end])
            cursor = 0
            for child in token.children or []:
                if child.type == "code_inline":
                    # Find the span in the source to name its line: a span may wrap lines.
                    words = [re.escape(w) for w in child.content.split()]
                    found = re.compile(r"\s+".join(words)).search(block, cursor) if words else None
                    offset = found.start() if found else cursor
                    cursor = found.end() if found else cursor
                    line = start + 1 + block.count("\n", 0, offset)
                    snippets.append(Snippet(source, line, "span", child.content))
                elif child.type == "link_open":
                    href = str(child.attrs.get("href", ""))
                    offset = block.find(f"]({href}", cursor)
                    line = start + 1 + block.count("\n", 0, max(offset, 0))
                    snippets.append(Snippet(source, line, "link", href))
                elif child.type == "text":
                    offset = block.find(child.content.split("\n")[0], cursor)
                    line = start + 1 + block.count("\n", 0, max(offset, 0))
                    snippets.append(Snippet(source, line, "text", child.content))
    return snippets


@functools.cache
def repository_snippets() -> tuple[Snippet, ...]:
    return tuple(s for path in doc_files() for s in read_snippets(path))


# --------------------------------------------------------------------------------------------
# Which snippets are commands


@dataclass(frozen=True)
class Command:
    where: str
    text: str  # as the doc shows it
    words: tuple[str, ...]  # split as the shell splits, synopsis brackets expanded
    complete: bool  # a fenced command must be whole; an inline span may name a command


# Programs this check parses. Console scripts are run up to their argparse parse; other
# programs have their own checker below.
ARGPARSE_SCRIPTS = {"finmlops": "finmlops", "cfn-lint": "cfn-lint"}
PYTHONS = {"python", "python3", "python3.11"}
PROJECT_PACKAGES = ("finmlops", "finmlops_cdk", "finmlops_pipelines")
# Programs the docs show that no check here parses, and why; a `$ ` line of a console block
# with another program fails until it is checked or listed here.
UNCHECKED = {
    "pip": "the installer; its options are pip's",
    "npm": "`npm ci` installs the pinned CDK CLI; no option to check",
    "git": "Git's own commands (`git verify-commit`), named as Git documents them",
    "grep": "a search the reader runs over the repository",
    "mlflow": "MLflow's click CLI (`mlflow ui`), printed by the demo as MLflow documents it",
    "export": "the shell's builtin: sets a variable (FINMLOPS_MODEL) for the session",
}
_PROGRAM_PREFIX = re.compile(r"^(?:\.venv/bin/)?(?P<name>[\w.-]+)$")


def program_of(word: str) -> str:
    found = _PROGRAM_PREFIX.match(word)
    return found.group("name") if found else word


def known_program(word: str) -> bool:
    name = program_of(word)
    return (
        name in ARGPARSE_SCRIPTS or name in PYTHONS or name in UNCHECKED
        or name in {"make", "aws", "npx", "cdk"}
    )  # fmt: skip


_ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=\S*\s+")
_TREE = re.compile(r"^[\s├└│─┬┼]+")
_SHELL_BLOCKS = {"console", "bash", "sh", "shell", "shell-session", ""}


def _logical_lines(content: str, first_line: int) -> Iterator[tuple[int, str]]:
    """Lines of a block with backslash continuations joined, each with its first line."""
    pending: list[str] = []
    start = first_line
    for number, raw in enumerate(content.splitlines(), first_line):
        if not pending:
            start = number
        if raw.rstrip().endswith("\\"):
            pending.append(raw.rstrip()[:-1])
            continue
        pending.append(raw)
        yield start, " ".join(part.strip() for part in pending)
        pending = []
    if pending:
        yield start, " ".join(part.strip() for part in pending)


def _strip_prefixes(line: str) -> str:
    line = _TREE.sub("", line)
    while _ASSIGNMENT.match(line):
        line = _ASSIGNMENT.sub("", line, count=1)
    return line


@dataclass(frozen=True)
class Found:
    """A command line as the doc shows it, before expansion."""

    snippet: Snippet
    line: int
    text: str
    complete: bool

    def where(self) -> str:
        return f"{self.snippet.source}:{self.line}"


def command_lines(snippets: Sequence[Snippet]) -> tuple[list[Found], list[str]]:
    """The command lines of the snippets, and the `$ ` lines no check knows (with where)."""
    found: list[Found] = []
    unknown: list[str] = []
    for snippet in snippets:
        if snippet.kind == "fence" and snippet.lang in _SHELL_BLOCKS:
            for number, line in _logical_lines(snippet.text, snippet.line):
                prompted = line.startswith("$ ")
                if snippet.lang == "console" and not prompted:
                    continue  # output
                text = _strip_prefixes(line[2:] if prompted else line).strip()
                first = text.split(" ", 1)[0] if text else ""
                if not first or first.startswith("#"):
                    continue
                if known_program(first):
                    found.append(Found(snippet, number, text, complete=True))
                elif prompted or snippet.lang in {"bash", "sh", "shell"}:
                    unknown.append(f"{snippet.source}:{number}: `{text}`")
        elif snippet.kind == "span":
            text = _strip_prefixes(" ".join(snippet.text.split()))
            words = text.split(" ")
            if len(words) > 1 and known_program(words[0]):
                found.append(Found(snippet, snippet.line, text, complete=False))
    return found, unknown


# Placeholders: <anything>, ..., $VAR or ${VAR}, and words in capitals (SHA, VERSION, NAME=VALUE).
_PLACEHOLDER = re.compile(
    r"<[^<>]*>|\.\.\.|\$\{?\w+\}?|^[A-Z][A-Z0-9_]*(?:=[A-Z][A-Z0-9_]*)?$|^[\w-]*=[A-Z][A-Z0-9_]*$"
)


def is_placeholder(word: str) -> bool:
    return bool(_PLACEHOLDER.search(word))


_BRACKETS = re.compile(r"(?:(?<=\s)|^)\[([^\[\]'\"]*)\](?=\s|$)")
_ALTERNATIVES = re.compile(r"^[a-z]+(?:/[a-z]+)+$")


def expand(text: str) -> list[tuple[str, ...]]:
    """The command lines a synopsis stands for, split into words (shell rules, # comments)."""
    # A placeholder with spaces (`<reviewed policy>`) is one word.
    text = re.sub(r"<[^<>\n]*>", lambda m: m.group().replace(" ", "_"), text)
    group = _BRACKETS.search(text)
    if group:
        inner = group.group(1)
        head, tail = text[: group.start()], text[group.end() :]
        if "|" in inner:
            return [w for alt in inner.split("|") for w in expand(f"{head}{alt.strip()}{tail}")]
        return expand(f"{head}{'' if '...' in inner else inner}{tail}")
    # An unquoted `...` at the end means "and more"; a quoted one is a value.
    words = shlex.split(re.sub(r"(?<=\s)\.\.\.(?=\s*(?:#.*)?$)", "", text), comments=True)
    for index, word in enumerate(words):
        if word.startswith("-"):
            break
        if _ALTERNATIVES.match(word):
            parts = word.split("/")
            return [w for part in parts for w in expand(shlex.join([*words[:index], part, *words[index + 1 :]]))]  # fmt: skip
    return [tuple(words)]


def commands_of(snippets: Sequence[Snippet]) -> tuple[list[Command], list[str]]:
    found, unknown = command_lines(snippets)
    commands: list[Command] = []
    for line in found:
        try:
            expanded = expand(line.text)
        except ValueError as exc:  # unbalanced quotes
            unknown.append(f"{line.where()}: `{line.text}`: cannot be split as a shell line: {exc}")
            continue
        commands.extend(
            Command(line.where(), line.text, words, line.complete) for words in expanded if words
        )
    return commands, unknown


# --------------------------------------------------------------------------------------------
# argparse programs: run each up to its parse, and no further


class _Parsed(BaseException):
    """Raised right after a program's parser accepted its command line (BaseException, so a
    program's `except Exception` does not swallow it)."""


class _Refused(BaseException):
    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    seen: set[int] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    yield from _parsers(sub)


@contextlib.contextmanager
def _stop_after_parsing(complete: bool) -> Iterator[None]:
    """While active, `ArgumentParser.parse_args` parses for real, then raises `_Parsed`; a
    parse error raises `_Refused` instead of exiting. Options must be written in full
    (`allow_abbrev` off); a complete command must choose its subcommands and give its required
    arguments, an inline span need not."""
    real_parse = argparse.ArgumentParser.parse_args
    real_error = argparse.ArgumentParser.error

    def parse_args(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
        for parser in _parsers(self):
            parser.allow_abbrev = False
            for action in parser._actions:
                if isinstance(action, argparse._SubParsersAction):
                    action.required = complete
                elif not complete:
                    action.required = False
        real_parse(self, *args, **kwargs)
        raise _Parsed

    def error(self: argparse.ArgumentParser, message: str) -> Any:
        raise _Refused(self, message)

    argparse.ArgumentParser.parse_args = parse_args  # type: ignore[method-assign]
    argparse.ArgumentParser.error = error  # type: ignore[method-assign]
    try:
        yield
    finally:
        argparse.ArgumentParser.parse_args = real_parse  # type: ignore[method-assign]
        argparse.ArgumentParser.error = real_error  # type: ignore[method-assign]


_INVALID_VALUE = re.compile(
    r"^argument (?P<name>.+?): invalid (?:choice|\S+ value): '(?P<value>.*?)'"
)


def _accepted_value(action: argparse.Action) -> str | None:
    if action.choices is not None:
        return str(next(iter(action.choices)))
    for candidate in ("1", "0.5", "2026-01-01", "2026-01-01T00:00:00+00:00", "x"):
        try:
            if action.type is None or (
                callable(action.type) and action.type(candidate) is not None
            ):
                return candidate
        except (ValueError, TypeError, argparse.ArgumentTypeError):
            continue
    return None


def _fill_placeholder(refused: _Refused, args: list[str]) -> list[str] | None:
    """The arguments with the refused placeholder replaced by a value its option accepts, or
    None when the refused value is not a placeholder (a real error)."""
    found = _INVALID_VALUE.match(refused.message)
    if not found or not is_placeholder(found["value"]):
        return None
    name, value = found["name"], found["value"]
    for action in refused.parser._actions:
        names = {"/".join(action.option_strings), str(action.metavar), str(action.dest)}
        if name in names and not isinstance(action, argparse._SubParsersAction):
            replacement = _accepted_value(action)
            if replacement is None:
                return None
            for index, word in enumerate(args):
                if word == value:
                    return [*args[:index], replacement, *args[index + 1 :]]
                if word.endswith(f"={value}"):
                    return [*args[:index], word[: -len(value)] + replacement, *args[index + 1 :]]
    return None


def parse_with_program(run: Callable[[], object], argv0: str, args: Sequence[str], complete: bool) -> str | None:  # fmt: skip
    """None when the program's own parser accepts `args`, else why not."""
    current = list(args)
    for _ in range(10):
        saved = sys.argv
        sys.argv = [argv0, *current]
        printed = io.StringIO()
        try:
            with (
                _stop_after_parsing(complete),
                contextlib.redirect_stdout(io.StringIO()),
                contextlib.redirect_stderr(printed),
                warnings.catch_warnings(),
            ):
                warnings.simplefilter("ignore")
                run()
        except _Parsed:
            return None
        except _Refused as refused:
            filled = _fill_placeholder(refused, current)
            if filled is None:
                return f"{refused.parser.prog}: {refused.message}"
            current = filled
            continue
        except SystemExit as stop:
            if stop.code in (0, None):
                return None  # --help, --version
            # A parser with its own `error` (cfn-lint's) prints the reason and exits.
            said = printed.getvalue().strip().splitlines()
            return f"exit {stop.code} before parsing ended" + (f": {said[-1]}" if said else "")
        except Exception as exc:
            return f"failed before parsing: {type(exc).__name__}: {exc}"
        finally:
            sys.argv = saved
        return "returned without parsing its command line with argparse"
    return "too many placeholders refused"


def _console_script(name: str) -> Callable[[], object]:
    points = importlib.metadata.entry_points(group="console_scripts", name=name)
    point = next(iter(points), None)
    if point is None:
        raise LookupError(f"no console script {name!r} is installed")
    main: Callable[[], object] = point.load()
    return main


def _run_module(module: str) -> Callable[[], object]:
    # What `python -m module` does: run the module (or the package's __main__) as __main__.
    return lambda: runpy.run_module(module, run_name="__main__", alter_sys=True)


def check_python(words: Sequence[str], complete: bool) -> str | None:
    if len(words) >= 3 and words[1] == "-m":
        module = words[2]
        if module.split(".")[0] not in PROJECT_PACKAGES:
            return None  # another package's module (pip, pytest): not this project's to check
        try:
            found = importlib.util.find_spec(module)
        except ModuleNotFoundError:
            found = None
        if found is None:
            return f"no module {module}"
        return parse_with_program(_run_module(module), module, words[3:], complete)
    if len(words) >= 2 and words[1].endswith(".py"):
        return None if (ROOT / words[1]).is_file() else f"no file {words[1]}"
    return None  # python -c ...: inline code, nothing named to check


def check_script(words: Sequence[str], complete: bool) -> str | None:
    name = ARGPARSE_SCRIPTS[program_of(words[0])]
    return parse_with_program(_console_script(name), name, words[1:], complete)


# --------------------------------------------------------------------------------------------
# make


def check_make(words: Sequence[str], complete: bool) -> str | None:
    makefile = (ROOT / "Makefile").read_text()
    targets = [w for w in words[1:] if "=" not in w and not w.startswith("-")]
    variables = dict(w.split("=", 1) for w in words[1:] if "=" in w)
    unused = [v for v in variables if not re.search(rf"\$[({{]{re.escape(v)}[)}}]", makefile)]
    if unused:
        return f"the Makefile uses no variable {', '.join(unused)}"
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}}
    # make's dry run prints the recipe without running it (no recipe here uses $(MAKE) or +).
    result = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", *targets, *(f"{k}={v}" for k, v in variables.items())],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        return f"make: {result.stderr.strip().splitlines()[-1] if result.stderr.strip() else result.returncode}"
    for line in result.stdout.splitlines():
        try:
            recipe = shlex.split(line)
        except ValueError:
            continue
        if recipe and program_of(recipe[0]) in PYTHONS:
            problem = check_python(recipe, complete=True)
            if problem:
                return f"its recipe `{line}`: {problem}"
    return None


# --------------------------------------------------------------------------------------------
# aws: botocore's service models, named as the AWS CLI names them

# AWS CLI User Guide, "Command line options" (cli-configure-options): the global options.
AWS_GLOBAL_VALUE_OPTIONS = {
    "--region", "--output", "--query", "--profile", "--endpoint-url", "--ca-bundle",
    "--cli-read-timeout", "--cli-connect-timeout", "--color", "--cli-binary-format",
}  # fmt: skip
AWS_GLOBAL_FLAGS = {
    "--debug", "--no-verify-ssl", "--no-paginate", "--no-sign-request", "--no-cli-pager",
    "--cli-auto-prompt", "--no-cli-auto-prompt",
}  # fmt: skip
# Every operation also takes these (awscli/clidriver.py, customizations/cliinput.py and
# generatecliskeleton.py), and paginated ones the pagination options (customizations/paginate.py).
AWS_OPERATION_OPTIONS = {"--cli-input-json", "--cli-input-yaml", "--generate-cli-skeleton"}
AWS_PAGINATION_OPTIONS = {"--starting-token", "--page-size", "--max-items"}
# The CLI's name for a service where it is not botocore's (awscli/clidriver.py names services
# by their botocore name; `s3api` is the low-level S3 command).
AWS_CLI_SERVICES = {"s3api": "s3"}


@functools.cache
def _botocore_session() -> Any:
    import botocore.session

    return botocore.session.get_session()


def check_aws(words: Sequence[str], complete: bool) -> str | None:
    from botocore import xform_name
    from botocore.exceptions import UnknownServiceError

    positional: list[str] = []
    options: list[str] = []
    rest = list(words[1:])
    while rest:
        word = rest.pop(0)
        name = word.split("=", 1)[0]
        if name in AWS_GLOBAL_VALUE_OPTIONS:
            if "=" not in word and rest:
                rest.pop(0)
        elif name in AWS_GLOBAL_FLAGS:
            continue
        elif word.startswith("--"):
            options.append(name)
            if "=" not in word and rest and not rest[0].startswith("--"):
                rest.pop(0)
        else:
            positional.append(word)
    if len(positional) < 2:
        return "names no service and operation"
    service, operation = positional[0], positional[1]
    session = _botocore_session()
    try:
        model = session.get_service_model(AWS_CLI_SERVICES.get(service, service))
    except UnknownServiceError:
        return f"botocore has no service {service}"
    operations = {xform_name(name, "-"): name for name in model.operation_names}
    if operation not in operations:
        return f"{service} has no operation {operation}"
    operation_model = model.operation_model(operations[operation])
    members = operation_model.input_shape.members if operation_model.input_shape else {}
    allowed = set(AWS_OPERATION_OPTIONS)
    for member, shape in members.items():
        allowed.add(f"--{xform_name(member, '-')}")
        if shape.type_name == "boolean":
            allowed.add(f"--no-{xform_name(member, '-')}")
    if _paginated(model.service_name, operations[operation]):
        allowed |= AWS_PAGINATION_OPTIONS
    unknown = [o for o in options if o not in allowed]
    if unknown:
        return f"aws {service} {operation} has no option {', '.join(unknown)}"
    if complete and not {"--cli-input-json", "--cli-input-yaml"} & set(options):
        required = (
            operation_model.input_shape.required_members if operation_model.input_shape else []
        )
        missing = [
            f"--{xform_name(m, '-')}" for m in required if f"--{xform_name(m, '-')}" not in options
        ]
        if missing:
            return f"aws {service} {operation} requires {', '.join(missing)}"
    return None


def _paginated(service: str, operation: str) -> bool:
    from botocore.exceptions import DataNotFoundError

    try:
        _botocore_session().get_paginator_model(service).get_paginator(operation)
    except (DataNotFoundError, ValueError):
        return False
    return True


# --------------------------------------------------------------------------------------------
# npx cdk: the CDK CLI's command table

CDK_REGISTRY = ROOT / "node_modules" / "aws-cdk" / "lib" / "cli" / "cli-type-registry.json"
# The command names and aliases of `cli-type-registry.json` in npm aws-cdk 2.1148.1 (the
# version package.json pins), for a checkout without node_modules. The registry is read instead
# whenever `npm ci` has installed it (buildspec.yml does, before the tests).
CDK_VERSION = "2.1148.1"
CDK_COMMANDS = frozenset({
    "ack", "acknowledge", "bootstrap", "cli-telemetry", "context", "deploy", "destroy",
    "diagnose", "diff", "doc", "docs", "doctor", "drift", "explore", "flags", "gc", "import",
    "init", "list", "ls", "lsp", "metadata", "migrate", "notices", "orphan", "publish-assets",
    "refactor", "rollback", "synth", "synthesize", "validate", "watch",
})  # fmt: skip


def _names(option: str, spec: dict[str, Any]) -> set[str]:
    aliases = spec.get("alias") or []
    return {option, *([aliases] if isinstance(aliases, str) else aliases)}


@functools.cache
def cdk_cli() -> tuple[dict[str, set[str] | None], set[str]]:
    """Each command (and alias) with its options, or None when only names are known; and the
    global options."""
    if not CDK_REGISTRY.exists():
        return dict.fromkeys(CDK_COMMANDS), set()
    registry = json.loads(CDK_REGISTRY.read_text())
    global_options = {n for o, s in registry["globalOptions"].items() for n in _names(o, s)}
    commands: dict[str, set[str] | None] = {}
    for name, spec in registry["commands"].items():
        options = {n for o, s in spec.get("options", {}).items() for n in _names(o, s)}
        for alias in [name, *(spec.get("aliases") or [])]:
            commands[alias] = options
    return commands, global_options | {"help", "h", "version"}


def check_cdk(words: Sequence[str], complete: bool) -> str | None:
    words = list(words[1:] if program_of(words[0]) == "npx" else words)
    if program_of(words[0]) != "cdk":
        return None  # another npx package
    commands, global_options = cdk_cli()
    options = [w for w in words[1:] if w.startswith("-")]
    command = next((w for w in words[1:] if not w.startswith("-")), None)
    if command is None and not complete:
        return None  # `npx cdk ...` names the CLI
    if command is None or command not in commands:
        return f"the CDK CLI has no command {command or '(none)'}"
    known = commands[command]
    if known is None:
        return None  # names only: node_modules is not installed
    allowed = known | global_options
    unknown = []
    for option in options:
        name = option.lstrip("-").split("=", 1)[0]
        # yargs: --no-X negates a boolean; a short option may carry its value (-cKEY=VALUE).
        if name in allowed or name.removeprefix("no-") in allowed or option[:2] in {f"-{a}" for a in allowed if len(a) == 1}:  # fmt: skip
            continue
        unknown.append(option)
    if unknown:
        return f"cdk {command} has no option {', '.join(unknown)}"
    return None


CHECKERS: dict[str, Callable[[Sequence[str], bool], str | None]] = {
    "make": check_make,
    "aws": check_aws,
    "npx": check_cdk,
    "cdk": check_cdk,
    **dict.fromkeys(PYTHONS, check_python),
    **dict.fromkeys(ARGPARSE_SCRIPTS, check_script),
}


@functools.cache
def check_command(name: str, words: tuple[str, ...], complete: bool) -> str | None:
    # Cached: the docs repeat commands (`make synth` a dozen times).
    return CHECKERS[name](words, complete)


def check_commands(commands: Sequence[Command], program: Callable[[str], bool]) -> list[str]:
    problems = []
    for command in commands:
        name = program_of(command.words[0])
        if not program(name) or name not in CHECKERS:
            continue
        problem = check_command(name, command.words, command.complete)
        if problem:
            problems.append(f"{command.where}: `{command.text}`: {problem}")
    return problems


# --------------------------------------------------------------------------------------------
# Repository paths, links and tests

# Top-level folders of the repository: a path that starts with one of them must exist.
REPOSITORY_FOLDERS = (
    "src", "cdk", "docs", "tests", "config", "docker", "benchmarks", "pipelines", "compliance",
)  # fmt: skip
# Paths of the installed package, written from inside src/ (`finmlops/steps/train.py`).
PACKAGE_FOLDERS = {"finmlops": "src/finmlops"}
_PATH_IN_PROSE = re.compile(
    rf"(?<![\w./-])((?:{'|'.join(REPOSITORY_FOLDERS)})/[\w./*-]*[\w/*])(?![\w-])"
)
# Paths the docs name although the repository has none, and why. A test fails when an entry
# exists or is no longer named, so the list only shrinks.
NAMED_BUT_ABSENT = {
    "compliance/cfn_lint_rules/": "ADR 0009 names the layout it rejected",
}
_TEST_REFERENCE = re.compile(r"^(tests/[\w/]+\.py)::(\w+)(?:::(\w+))?(?:\[.*\])?$")


def _exists(root: Path, path: str) -> bool:
    pattern = re.sub(r"<[^<>]*>|\.\.\.", "*", path.rstrip("/"))
    if "*" in pattern:
        return any(root.glob(pattern))
    target = root / pattern
    return target.is_dir() if path.endswith("/") else target.exists()


def _defined(tree: ast.Module, name: str, member: str | None) -> bool:
    for node in tree.body:
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and node.name == name
        ):
            if member is None:
                return True
            return isinstance(node, ast.ClassDef) and any(
                isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == member
                for n in node.body
            )
    return False


@functools.cache
def _module_tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def check_path(text: str, root: Path = ROOT) -> str | None:
    """None when `text` is not a repository path or names one that exists, else why not."""
    reference = _TEST_REFERENCE.match(text)
    if reference:
        path, name, member = reference.groups()
        if not (root / path).is_file():
            return f"no file {path}"
        if not _defined(_module_tree(root / path), name, member):
            return f"{path} defines no {name}{'.' + member if member else ''}"
        return None
    if any(c.isspace() for c in text) or "://" in text or text in NAMED_BUT_ABSENT:
        return None
    head = text.split("/", 1)[0]
    if head in REPOSITORY_FOLDERS and "/" in text:
        return None if _exists(root, text) else f"no {text} in the repository"
    if head in PACKAGE_FOLDERS and (text.endswith((".py", "/")) or "*" in text):
        located = f"{PACKAGE_FOLDERS[head]}/{text.split('/', 1)[1]}"
        return None if _exists(root, located) else f"no {located} in the repository"
    return None


_SLUG_DROP = re.compile(r"[^\w\- ]")


def _anchors(path: Path) -> set[str]:
    # GitHub's heading anchors: lowercase, punctuation but hyphens dropped, spaces to hyphens.
    tokens = _MARKDOWN.parse(path.read_text(encoding="utf-8"))
    anchors = set()
    for index, token in enumerate(tokens[:-1]):
        if token.type == "heading_open":
            text = tokens[index + 1].content
            anchors.add(_SLUG_DROP.sub("", text.lower()).replace(" ", "-"))
    return anchors


def check_link(snippet: Snippet, root: Path = ROOT) -> str | None:
    href = snippet.text
    if re.match(r"^[a-z][a-z0-9+.-]*:", href):
        return None  # https:, mailto:
    target, _, anchor = href.partition("#")
    page = (root / snippet.source).parent
    path = (page / target).resolve() if target else root / snippet.source
    if not path.exists():
        return f"link to {href}: no {path.relative_to(root) if path.is_relative_to(root) else path}"
    if anchor and path.suffix == ".md" and anchor not in _anchors(path):
        return f"link to {href}: {path.name} has no heading #{anchor}"
    return None


def check_paths(snippets: Sequence[Snippet], root: Path = ROOT) -> list[str]:
    problems = []
    for snippet in snippets:
        if snippet.kind == "span":
            problem = check_path(snippet.text.strip(), root)
            if problem:
                problems.append(f"{snippet.where()}: `{snippet.text}`: {problem}")
        elif snippet.kind == "link":
            problem = check_link(snippet, root)
            if problem:
                problems.append(f"{snippet.where()}: {problem}")
        elif snippet.kind == "text":
            for path in _PATH_IN_PROSE.findall(snippet.text):
                problem = check_path(path.rstrip("."), root)
                if problem:
                    problems.append(f"{snippet.where()}: {path}: {problem}")
    return problems


# --------------------------------------------------------------------------------------------
# Python names, signatures and code blocks

_DOTTED = re.compile(rf"^((?:{'|'.join(PROJECT_PACKAGES)})(?:\.[A-Za-z_]\w*)*)(?:\((.*)\))?$")


def resolve(dotted: str) -> Any:
    """The object a dotted name names: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            found = importlib.util.find_spec(module_name)
        except ModuleNotFoundError:
            found = None
        if found is None:
            continue
        value: Any = importlib.import_module(module_name)
        for index, part in enumerate(parts[cut:], cut):
            if not hasattr(value, part):
                raise LookupError(f"{'.'.join(parts[:index])} has no {part}")
            value = getattr(value, part)
        return value
    raise LookupError(f"no module {parts[0]}")


def check_signature(obj: Any, shown: str) -> str | None:
    """`shown` is a parameter list as a doc writes it (`config, *, a, b=True, ...`); each name
    must be a parameter of that kind with that default, and without `...` there are no others."""
    partial = bool(re.search(r"(^|,)\s*\.\.\.\s*(,|$)", shown))
    cleaned = ", ".join(p for p in (x.strip() for x in shown.split(",")) if p and p != "...")
    try:
        shown_args = ast.parse(f"def _({cleaned}): pass").body[0].args  # type: ignore[attr-defined]
    except SyntaxError as exc:
        return f"cannot read the parameters ({exc.msg})"
    real = inspect.signature(obj).parameters
    positional = [a.arg for a in [*shown_args.posonlyargs, *shown_args.args]]
    keyword = [a.arg for a in shown_args.kwonlyargs]
    problems = []
    for name in [*positional, *keyword]:
        if name not in real:
            problems.append(f"no parameter {name}")
        elif name in keyword and real[name].kind is not inspect.Parameter.KEYWORD_ONLY:
            problems.append(f"{name} is not keyword-only")
        elif name in positional and real[name].kind is inspect.Parameter.KEYWORD_ONLY:
            problems.append(f"{name} is keyword-only")
    defaults = dict(
        zip(
            positional[len(positional) - len(shown_args.defaults) :],
            shown_args.defaults,
            strict=True,
        )
    )
    defaults |= {
        a.arg: d
        for a, d in zip(shown_args.kwonlyargs, shown_args.kw_defaults, strict=True)
        if d is not None
    }
    for name, node in defaults.items():
        if name in real and real[name].default != ast.literal_eval(node):
            problems.append(f"{name} defaults to {real[name].default!r}, not {ast.unparse(node)}")
    if not partial:
        variadic = {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD}
        hidden = [
            n
            for n, p in real.items()
            if p.kind not in variadic and n not in {*positional, *keyword}
        ]
        if hidden:
            problems.append(f"also takes {', '.join(hidden)}")
    return "; ".join(problems) or None


def check_name(text: str) -> str | None:
    found = _DOTTED.match(text.strip())
    if not found:
        return None
    dotted, parameters = found.groups()
    try:
        obj = resolve(dotted)
    except LookupError as exc:
        return str(exc)
    if parameters is not None:
        if not callable(obj):
            return f"{dotted} is not callable"
        problem = check_signature(obj, parameters)
        return f"{dotted}({parameters}): {problem}" if problem else None
    return None


def check_python_block(code: str) -> list[tuple[int, str]]:
    """(line in the block, problem) for a Python block: it compiles, the project names it
    imports exist, and its calls of them bind to their signatures."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return [(exc.lineno or 1, f"does not compile: {exc.msg}")]
    problems: list[tuple[int, str]] = []
    imported: dict[str, Any] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and (node.module or "").split(".")[0] in PROJECT_PACKAGES
        ):
            for alias in node.names:
                try:
                    imported[alias.asname or alias.name] = resolve(f"{node.module}.{alias.name}")
                except LookupError as exc:
                    problems.append((node.lineno, str(exc)))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        target: Any = None
        if isinstance(node.func, ast.Name):
            target = imported.get(node.func.id)
        elif isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
            owner = imported.get(node.func.value.id)
            target = getattr(owner, node.func.attr, None) if owner is not None else None
            if owner is not None and target is None:
                problems.append((node.lineno, f"{node.func.value.id} has no {node.func.attr}"))
        if target is None or not callable(target):
            continue
        if any(isinstance(a, ast.Starred) for a in node.args) or any(
            k.arg is None for k in node.keywords
        ):
            continue
        try:
            inspect.signature(target).bind(
                *node.args, **{k.arg: k.value for k in node.keywords if k.arg}
            )
        except TypeError as exc:
            problems.append((node.lineno, f"{ast.unparse(node.func)}(...): {exc}"))
        except ValueError:
            continue  # no signature (a builtin)
    return problems


def check_names(snippets: Sequence[Snippet]) -> list[str]:
    problems = []
    for snippet in snippets:
        if snippet.kind == "span":
            problem = check_name(snippet.text)
            if problem:
                problems.append(f"{snippet.where()}: `{snippet.text}`: {problem}")
        elif snippet.kind == "fence" and snippet.lang == "python":
            for line, problem in check_python_block(snippet.text):
                problems.append(f"{snippet.source}:{snippet.line + line - 1}: {problem}")
    return problems


# --------------------------------------------------------------------------------------------
# The checks over README.md and docs/


@functools.cache
def repository_commands() -> tuple[tuple[Command, ...], tuple[str, ...]]:
    commands, unknown = commands_of(repository_snippets())
    return tuple(commands), tuple(unknown)


def _count(program: Callable[[str], bool]) -> int:
    return sum(program(program_of(c.words[0])) for c in repository_commands()[0])


def test_every_shell_line_of_the_docs_is_a_command_this_check_parses_or_lists() -> None:
    commands, unknown = repository_commands()
    assert len(commands) > 50  # the extractor finds the docs' commands at all
    assert list(unknown) == []


def test_every_finmlops_and_project_module_command_parses_with_the_programs_own_parser() -> None:
    def program(name: str) -> bool:
        return name in ARGPARSE_SCRIPTS or name in PYTHONS

    assert _count(program) > 20
    assert check_commands(repository_commands()[0], program) == []


def test_every_make_command_names_a_target_and_its_recipe_parses() -> None:
    assert _count(lambda name: name == "make") > 5
    assert check_commands(repository_commands()[0], lambda name: name == "make") == []


def test_every_aws_cli_command_is_an_operation_with_options_of_the_service_model() -> None:
    assert _count(lambda name: name == "aws") >= 3
    assert check_commands(repository_commands()[0], lambda name: name == "aws") == []


def test_every_cdk_command_is_one_the_pinned_cdk_cli_has() -> None:
    assert _count(lambda name: name in {"npx", "cdk"}) >= 3
    assert check_commands(repository_commands()[0], lambda name: name in {"npx", "cdk"}) == []


def test_every_repository_path_link_and_named_test_exists() -> None:
    snippets = repository_snippets()
    assert sum(bool(_TEST_REFERENCE.match(s.text)) for s in snippets) > 20
    assert check_paths(snippets) == []


def test_paths_named_but_absent_are_still_named_and_still_absent() -> None:
    for path in NAMED_BUT_ABSENT:
        named = any(path in s.text for s in repository_snippets() if s.kind in {"span", "text"})
        assert named, f"no doc names {path} any more: drop it from NAMED_BUT_ABSENT"
        assert not _exists(ROOT, path), f"{path} exists now: drop it from NAMED_BUT_ABSENT"


def test_every_python_name_signature_and_code_block_resolves() -> None:
    snippets = repository_snippets()
    assert sum(bool(_DOTTED.match(s.text)) for s in snippets if s.kind == "span") > 20
    assert check_names(snippets) == []


def test_the_fallback_cdk_command_list_is_the_pinned_cli_version() -> None:
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]
    assert pinned == CDK_VERSION, (
        "refresh CDK_COMMANDS from the new version's cli-type-registry.json"
    )
    if not CDK_REGISTRY.exists():
        pytest.skip("node_modules not installed (npm ci): the fallback is all there is")
    assert set(cdk_cli()[0]) == CDK_COMMANDS


# --------------------------------------------------------------------------------------------
# The check itself: each kind of staleness fails, naming the file and line

BROKEN_DOC = """\
# A page

```console
$ finmlops registry approve 1 --reason "ok"
$ finmlops registry aprove 1 --reason "typo"
$ finmlops registry list --bogus
$ finmlops registry list --stat Approved
$ finmlops verify --environment qa
$ finmlops verify --environment dev --endpoint-url http://127.0.0.1:<port>
$ finmlops audit export --format <format> --out audit.csv
$ finmlops registry approve 1
$ curl https://example.com
```

```
python -m finmlops.buildrun start --git-commit SHA --author WHO
python -m finmlops.monitoring [drift | merge | nonsense] [--option value ...]
make demo ARGS=--keep-running
make demo ARGS="--port <port>"
make nothing-here
make demo ARGS=--no-such-option
make test FOO=1
aws sts assume-role --role-arn arn --role-session-name "$USER_NAME" --source-identity "$USER_NAME"
aws sts assume-role --role-arn arn
aws sagemaker create-presigned-mlflow-tracking-server-url --tracking-server-name x --region us-east-1 --query AuthorizedUrl --output text
aws sagemaker describe-everything
aws iam create-policy --policy-name x --policy-document file://p.json --colour blue
npx cdk bootstrap aws://<dev>/<region> --trust <tooling> --cloudformation-execution-policies <reviewed policy>
npx cdk bootstrapp aws://1/us-east-1
cfn-lint --append-rules finmlops.governance.cfn_rules cdk.out/*.template.json
cfn-lint --append-rule finmlops.governance.cfn_rules cdk.out/*.template.json
```

Inline: `finmlops registry approve/reject`, `finmlops promote rollback/sttus`,
`make demo ARGS=--build-only`, `cdk deploy --role-arn`, `aws cloudwatch enable-alarm-actions`.

Paths: `src/finmlops/cli.py`, `src/finmlops/no_such.py`, `docs/*.md`, `finmlops/steps/train.py`,
`tests/test_docs.py::test_every_repository_path_link_and_named_test_exists`,
`tests/test_docs.py::test_that_was_renamed`, [the deploy page](docs/deploy.md),
[a lost page](docs/lost.md), [an anchor](docs/deploy.md#bootstrap-each-account),
[a lost anchor](docs/deploy.md#no-such-heading), and in prose benchmarks/bench_gone.py.

Names: `finmlops.naming`, `finmlops.cli.build_parser`, `finmlops.cli.no_such_thing`,
`finmlops.monitoring.baseline_step.main(argv)`, `finmlops.monitoring.baseline_step.main(args)`,
`finmlops.cli.write_file(path, text, option="--out")`, `finmlops.cli.write_file(path, text)`,
`finmlops.cli.write_file(path, text, option="-o")`.

```python
from finmlops.cli import build_parser, no_such_name
from finmlops.config import load_config

build_parser(1)
load_config("config/platform.yaml")
```
"""


def at(fragment: str) -> str:
    """Where the page shows `fragment` first, as the check names it (page.md:LINE)."""
    return f"page.md:{BROKEN_DOC[: BROKEN_DOC.index(fragment)].count(chr(10)) + 1}"


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> list[Snippet]:
    page = tmp_path_factory.mktemp("docs") / "page.md"
    page.write_text(BROKEN_DOC)
    return read_snippets(page)


def _problems(broken: list[Snippet], program: Callable[[str], bool]) -> list[str]:
    commands, _ = commands_of(broken)
    return check_commands(commands, program)


def _where(problems: list[str]) -> list[str]:
    return [p.split(": ", 1)[0] for p in problems]


def test_a_misspelt_subcommand_an_unknown_or_abbreviated_option_and_a_bad_choice_fail_by_line(
    broken: list[Snippet],
) -> None:
    problems = _problems(broken, lambda name: name == "finmlops")
    assert _where(problems) == [
        at("registry aprove"), at("list --bogus"), at("--stat "), at("environment qa"),
        at("approve 1\n"), at("rollback/sttus"),
    ]  # fmt: skip
    assert "invalid choice: 'aprove'" in problems[0]
    assert "unrecognized arguments: --bogus" in problems[1]
    assert "unrecognized arguments: --stat" in problems[2]  # --status, abbreviated
    assert "invalid choice: 'qa'" in problems[3]
    # Fenced, a command must be whole; inline, `finmlops registry approve/reject` may name it.
    assert "required: --reason" in problems[4]
    assert "invalid choice: 'sttus'" in problems[5]
    _, unknown = commands_of(broken)
    assert unknown == [f"{at('curl')}: `curl https://example.com`"]


def test_other_argparse_programs_are_judged_by_their_own_parsers(broken: list[Snippet]) -> None:
    problems = _problems(broken, lambda name: name == "cfn-lint")
    assert _where(problems) == [at("--append-rule ")]
    assert "unrecognized arguments: --append-rule" in problems[0]


def test_project_modules_parse_with_their_parsers_and_synopses_expand(
    broken: list[Snippet],
) -> None:
    problems = _problems(broken, lambda name: name in PYTHONS)
    assert _where(problems) == [
        at("python -m finmlops.buildrun"),
        at("python -m finmlops.monitoring"),
    ]
    assert "unrecognized arguments: --author" in problems[0]
    assert "'nonsense'" in problems[1]


def test_make_targets_variables_and_the_demo_args_are_checked(broken: list[Snippet]) -> None:
    problems = _problems(broken, lambda name: name == "make")
    assert _where(problems) == [at("make nothing"), at("make demo ARGS=--no-such"), at("FOO=1")]
    assert "No rule to make target" in problems[0]
    assert "unrecognized arguments: --no-such-option" in problems[1]
    assert "no variable FOO" in problems[2]


def test_aws_operations_options_and_required_members_come_from_botocore(
    broken: list[Snippet],
) -> None:
    problems = _problems(broken, lambda name: name == "aws")
    assert _where(problems) == [
        at("aws sts assume-role --role-arn arn\n"), at("describe-everything"), at("--colour"),
    ]  # fmt: skip
    assert "requires --role-session-name" in problems[0]
    assert "no operation describe-everything" in problems[1]
    assert "no option --colour" in problems[2]


def test_cdk_commands_and_options_come_from_the_cli(broken: list[Snippet]) -> None:
    problems = _problems(broken, lambda name: name in {"npx", "cdk"})
    assert _where(problems) == [at("bootstrapp")]
    assert "no command bootstrapp" in problems[0]
    if CDK_REGISTRY.exists():
        assert (
            check_cdk(["npx", "cdk", "deploy", "--trust", "1"], True)
            == "cdk deploy has no option --trust"
        )


def test_missing_paths_links_anchors_and_renamed_tests_fail_by_line(broken: list[Snippet]) -> None:
    problems = check_paths(broken)
    assert _where(problems) == [
        at("`src/finmlops/no_such"), at("test_that_was_renamed"), at("(docs/lost"),
        at("no-such-heading"), at("bench_gone"),
    ]  # fmt: skip
    assert "no src/finmlops/no_such.py" in problems[0]
    assert "defines no test_that_was_renamed" in problems[1]
    assert "docs/lost.md" in problems[2]
    assert "no heading #no-such-heading" in problems[3]
    assert "benchmarks/bench_gone.py" in problems[4]


def test_python_names_signatures_and_blocks_are_resolved(broken: list[Snippet]) -> None:
    problems = check_names(broken)
    assert _where(problems) == [
        at("no_such_thing"), at("main(args)"), at("write_file(path, text)`"),
        at('option="-o"'), at("no_such_name"), at("build_parser(1)"),
    ]  # fmt: skip
    assert "has no no_such_thing" in problems[0]
    assert "no parameter args" in problems[1]
    assert "also takes option" in problems[2]
    assert "option defaults to '--out', not '-o'" in problems[3]
    assert "has no no_such_name" in problems[4]
    assert "too many positional arguments" in problems[5]


def test_placeholders_are_values_and_nothing_else() -> None:
    for word in (
        "<port>",
        "http://127.0.0.1:<port>",
        "...",
        "$USER_NAME",
        "${X}",
        "SHA",
        "NAME=VALUE",
    ):
        assert is_placeholder(word), word
    for word in ("dev", "Approved", "--reason", "credit-risk-xgb", "2026-01-01"):
        assert not is_placeholder(word), word
    assert expand("finmlops audit verify [--group G] [--json]") == [
        ("finmlops", "audit", "verify", "--group", "G", "--json")
    ]
    assert expand("cmd --threshold MinAuc <value> ...") == [
        ("cmd", "--threshold", "MinAuc", "<value>")
    ]
