"""The `finmlops` command: one argparse program; each area adds its subcommands with a register
function (see `_registrations`), and shares the options, clients, output and exit codes here.

Exit codes scripts can rely on (docs/cli.md): 0 ok, 1 refused (a check or gate said no), 2 usage
or configuration error, 3 not found, 4 AWS error (service, credentials, network), 5 unexpected
error.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from finmlops.config import Config, ConfigError, Portfolio, default_config_path, load_portfolio

if TYPE_CHECKING:
    import boto3


class ExitCode(IntEnum):
    OK = 0
    REFUSED = 1
    USAGE = 2
    NOT_FOUND = 3
    AWS_ERROR = 4
    UNEXPECTED = 5


class UsageError(Exception):
    """Bad arguments or configuration (exit 2); the message names the option or field."""


if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]
    # A register function adds one top-level command (with its subcommands) to the program; each
    # leaf parser takes `parents=[common]` and sets `run=<function(Context) -> int>`.
    Register = Callable[[Subparsers, argparse.ArgumentParser], None]


def version() -> str:
    """This installation's version, from the package metadata (pyproject.toml's `version`)."""
    try:
        return importlib.metadata.version("finmlops")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (the finmlops package is not installed)"


def config_not_found(path: Path, *, named: bool) -> str:
    """What to say when there is no configuration file where one was looked for."""
    if named:
        return f"no configuration file at {path} (--config)"
    return (
        f"no configuration file at {path} (the default, config/platform.yaml in the current "
        "directory); pass --config PATH"
    )


def _registrations() -> list[Register]:
    # Imported here, not at the top, because the command modules import this module's helpers.
    from finmlops.buildrun import register_build
    from finmlops.registry.commands import (
        register_audit,
        register_inventory,
        register_promote,
        register_registry,
    )
    from finmlops.verify.commands import register_verify

    return [
        register_registry,
        register_promote,
        register_audit,
        register_inventory,
        register_build,
        register_verify,
    ]


# The model a shell session works on, as AWS_PROFILE is the profile: `--model` wins over it.
MODEL_VARIABLE = "FINMLOPS_MODEL"
MODEL_HELP = (
    "the model (its key under `models:` in the config) a command acts on; needed only when the "
    f"config has several (default: ${MODEL_VARIABLE}). Commands across the portfolio (registry "
    "list, promote status, inventory export) take every model without it, and only this one "
    "with it"
)


def common_options() -> argparse.ArgumentParser:
    """Options every leaf command accepts, after its name: `finmlops registry list --json`."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument(
        "--config",
        type=Path,
        default=None,
        help="platform configuration (default: config/platform.yaml in the current directory)",
    )
    group.add_argument("--region", help="AWS region (default: the tooling region of the config)")
    group.add_argument(
        "--endpoint-url",
        help="send every AWS call here, e.g. the offline emulator http://127.0.0.1:5000",
    )
    group.add_argument("--profile", help="AWS named profile whose credentials to use")
    group.add_argument("--json", action="store_true", help="print JSON for scripts")
    # SUPPRESS: a leaf's default must not overwrite `finmlops --model NAME <command>`.
    group.add_argument("--model", metavar="NAME", default=argparse.SUPPRESS, help=MODEL_HELP)
    return common


def add_leaf(
    commands: Subparsers,
    common: argparse.ArgumentParser,
    name: str,
    help_text: str,
    run: Callable[[Context], int],
) -> argparse.ArgumentParser:
    """Add one runnable command: it takes the common options and calls `run(ctx)`."""
    parser = commands.add_parser(name, parents=[common], help=help_text, description=help_text)
    parser.set_defaults(run=run)
    return parser


def write_file(path: Path, text: str, option: str = "--out") -> None:
    """Write a command's output file; a path that cannot be written is a usage error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{option}: cannot write {path}: {exc.strerror}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="finmlops",
        description="Model risk-grade MLOps on SageMaker: registry, approval, promotion, audit.",
        epilog="exit codes: 0 ok, 1 refused, 2 usage/config error, 3 not found, "
        "4 AWS error, 5 unexpected error (docs/cli.md)",
    )
    parser.add_argument("--version", action="version", version=f"finmlops {version()}")
    parser.add_argument("--model", metavar="NAME", default=None, help=MODEL_HELP)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    common = common_options()
    for register in _registrations():
        register(commands, common)
    return parser


@dataclass
class Context:
    """What a command needs besides its arguments: config, AWS clients and output."""

    args: argparse.Namespace
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    _portfolio: Portfolio | None = None
    _session: boto3.session.Session | None = None
    _clients: dict[str, Any] = field(default_factory=dict)

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    @property
    def model(self) -> str | None:
        """The model named with --model, else by $FINMLOPS_MODEL, or None."""
        named = getattr(self.args, "model", None) or os.environ.get(MODEL_VARIABLE)
        return str(named) if named else None

    def portfolio(self) -> Portfolio:
        """Every model of the platform configuration; a missing or invalid file, or a --model
        the file does not have, is a usage error."""
        if self._portfolio is None:
            named = getattr(self.args, "config", None)
            path = Path(named or default_config_path())
            if not path.exists():
                raise UsageError(config_not_found(path, named=named is not None))
            try:
                self._portfolio = load_portfolio(path)
                if self.model is not None:
                    self._portfolio.config(self.model)
            except ConfigError as exc:
                raise UsageError(str(exc)) from None
        return self._portfolio

    def config(self) -> Config:
        """The configuration of the one model the command acts on: --model, or the file's only
        model; with several models and none named, a usage error naming them."""
        try:
            return self.portfolio().config(self.model)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None

    def configs(self) -> tuple[Config, ...]:
        """The models a command across the portfolio acts on: --model's, or every one."""
        return (self.config(),) if self.model else self.portfolio().configs

    def platform(self) -> Config:
        """For the platform's own settings (project, accounts, buckets), whatever the model."""
        return self.portfolio().platform

    def config_of_group(self, group: str) -> Config | None:
        """The model whose registry group is `group` (a version is judged by its own model's
        block), or None when no model of the config has it. A --model naming another model is
        a usage error: the version is not that model's."""
        owner = next((c for c in self.portfolio().configs if c.model.package_group == group), None)
        if self.model is not None and (owner is None or owner.model.name != self.model):
            mine = self.config().model.package_group
            whose = f"model {owner.model.name!r}'s" if owner else "no model's"
            raise UsageError(
                f"--model {self.model}: group {group!r} is {whose} group, not this model's "
                f"({mine!r}); name the version's own model"
            )
        return owner

    def optional_config(self) -> Config | None:
        """The platform's settings if a config was named or the default file exists."""
        if getattr(self.args, "config", None) is None and not default_config_path().exists():
            return None
        return self.platform()

    def session(self) -> boto3.session.Session:
        if self._session is None:
            import boto3

            region = getattr(self.args, "region", None)
            if not region:
                config = self.optional_config()
                region = config.environments.tooling.region if config else None
            session = boto3.session.Session(
                profile_name=getattr(self.args, "profile", None), region_name=region
            )
            if not session.region_name:
                # botocore would say only "You must specify a region", at the first call.
                raise UsageError(
                    "no AWS region: pass --region REGION, or --config PATH (the default "
                    f"{default_config_path()} does not exist), or set AWS_REGION"
                )
            self._session = session
        return self._session

    def client(self, service: str) -> Any:
        """A boto3 client for the service, pointed at --endpoint-url when given."""
        if service not in self._clients:
            endpoint = getattr(self.args, "endpoint_url", None)
            # boto3's stubs type `client` per literal service name; any name is valid here.
            session = cast("Any", self.session())
            self._clients[service] = session.client(service, endpoint_url=endpoint)
        return self._clients[service]

    def client_as(
        self, service: str, role_arn: str | None, purpose: str, region: str | None = None
    ) -> Any:
        """A client for the service acting as `role_arn` (assumed through STS with this
        session's credentials), or the ordinary client when no role is named; in `region`
        when given (another environment's), else the session's."""
        session = cast("Any", self.session())
        endpoint = getattr(self.args, "endpoint_url", None)
        if not role_arn:
            if region is None or region == session.region_name:
                return self.client(service)
            return session.client(service, endpoint_url=endpoint, region_name=region)
        credentials = self.client("sts").assume_role(
            RoleArn=role_arn, RoleSessionName=f"finmlops-{purpose}"[:64]
        )["Credentials"]
        return session.client(
            service,
            endpoint_url=endpoint,
            region_name=region or session.region_name,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    def emit(self, data: Any, text: str) -> None:
        """Print `data` as JSON with --json, else the human-readable `text`."""
        if self.json:
            print(json.dumps(data, indent=2, sort_keys=True, default=str), file=self.out)
        elif text:
            print(text, file=self.out)

    def fail(self, code: ExitCode, message: str, problems: Sequence[str] = ()) -> int:
        print(f"finmlops: {message}", file=self.err)
        for problem in problems:
            print(f"  - {problem}", file=self.err)
        if self.json:
            error = {"error": code.name.lower(), "exit_code": int(code), "message": message}
            if problems:
                error["problems"] = list(problems)
            print(json.dumps(error, indent=2, sort_keys=True), file=self.out)
        return int(code)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """Rows as a fixed-width text table; columns are (key, heading) pairs."""
    if not rows:
        return "(none)"
    cells = [[_text(row.get(key)) for key, _ in columns] for row in rows]
    headings = [heading for _, heading in columns]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headings)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headings, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def _text(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if hasattr(value, "isoformat"):
        return str(value.isoformat(timespec="seconds"))
    return str(value)


def _exit_code_of(exc: BaseException) -> tuple[ExitCode, Sequence[str]] | None:
    from botocore.exceptions import BotoCoreError, ClientError

    from finmlops.registry.errors import (
        InvalidInputError,
        NotFoundError,
        RefusedError,
        RegistryError,
    )

    if isinstance(exc, RefusedError):
        return ExitCode.REFUSED, exc.problems
    known: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], ExitCode], ...] = (
        ((UsageError, InvalidInputError, ConfigError), ExitCode.USAGE),
        (NotFoundError, ExitCode.NOT_FOUND),
        ((ClientError, BotoCoreError, RegistryError), ExitCode.AWS_ERROR),
    )
    for kinds, code in known:
        if isinstance(exc, kinds):
            return code, ()
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[Context], int] | None = getattr(args, "run", None)
    if run is None:
        # A command group without its subcommand: show what it offers.
        (getattr(args, "parser", None) or parser).print_help(sys.stderr)
        return int(ExitCode.USAGE)
    ctx = Context(args)
    try:
        return run(ctx)
    except Exception as exc:
        mapped = _exit_code_of(exc)
        if mapped is None:
            traceback.print_exc(file=ctx.err)
            return ctx.fail(ExitCode.UNEXPECTED, f"unexpected error: {type(exc).__name__}: {exc}")
        code, problems = mapped
        message = str(exc).splitlines()[0] if problems else str(exc)
        return ctx.fail(code, message, problems)


if __name__ == "__main__":
    sys.exit(main())
