"""`make demo`: the whole lifecycle, offline, against an embedded AWS (moto on 127.0.0.1).

synthesize tooling and dev -> deploy them into the emulator from their templates -> run the
synthesized model-build pipeline on the real data -> refused self-approval -> approval ->
approval event (twice) -> promotion to stage and prod, each synthesized from its manifest and
deployed -> production traffic, held-out rows then a shift derived from the data and v1's importances
-> drift job -> alarm and SNS alert -> late labels for both windows, model quality and its alarm
-> retraining only if the drift alarm fired, on the labelled windows -> v2 against v1 on the same
labelled rows -> the approver's decision -> promotion -> rollback with a stated reason -> the
author's disguise refused by STS -> evidence. Access is decided by AWS's rules on the synthesized policies (docs/emulator.md).

`--build-only` runs just the model build locally through the same step code (no emulator).
`--keep-running` leaves the emulator up afterwards so a person can explore it with the CLI,
and prints the `finmlops verify` command of each environment.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finmlops.config import (
    Config,
    ConfigError,
    Portfolio,
    dataset_path,
    default_config_path,
    load_portfolio,
)

# The profile of the emulator's own keys (moto never issued them: the accounts' administrator).
EMULATOR_PROFILE = "emulator"


class Progress:
    """One line per stage with its elapsed time, flushed so `make` shows it as it happens. Steps
    that run in parallel report from their own threads: each line is written whole."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self._lock = threading.Lock()

    def __call__(self, message: str) -> None:
        line = f"[{time.perf_counter() - self.start:6.1f}s] {message}\n"
        with self._lock:
            sys.stdout.write(line)
            sys.stdout.flush()


PROGRAM = "python -m finmlops.demo"  # what `make demo ARGS="..."` runs


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description=__doc__.splitlines()[0],
        epilog='`make demo ARGS="..."` runs it with these options. Exit codes: 0 done, '
        "1 the lifecycle stopped or the build failed a gate, 2 usage or configuration error "
        "(docs/cli.md).",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="platform configuration (default: config/platform.yaml in the current directory)",
    )
    parser.add_argument("--work-dir", type=Path, default=Path(".demo"))
    parser.add_argument("--build-only", action="store_true", help="the local model build only")
    parser.add_argument("--keep-running", action="store_true", help="leave the emulator up")
    parser.add_argument("--port", type=int, default=0, help="emulator port (default: a free one)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from finmlops.cli import ExitCode, config_not_found

    args = _parse(argv)
    named = args.config is not None
    args.config = args.config or default_config_path()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if not args.config.exists():
        print(f"{PROGRAM}: {config_not_found(args.config, named=named)}", file=sys.stderr)
        return int(ExitCode.USAGE)
    progress = Progress()
    try:
        portfolio = load_portfolio(args.config)
        # The story's first model is the portfolio's first (the default, real-time model); the
        # others follow it in the same world. --build-only builds the first.
        config = portfolio.platform
        # The demo builds from local files (the emulator has no data lake): resolved and
        # confined here, so a bad path stops the demo before anything starts.
        for model in portfolio.configs:
            dataset_path(model)
    except ConfigError as exc:
        print(f"{PROGRAM}: {exc}", file=sys.stderr)
        return int(ExitCode.USAGE)
    for model in portfolio.configs:
        progress(
            f"config {args.config}: model {model.model.name}, group "
            f"{model.model.package_group}"
            + (f", {model.serving.mode} serving" if len(portfolio.configs) > 1 else "")
        )
    if not args.build_only:
        return lifecycle_demo(portfolio, args, progress)
    return build_demo(config, args, progress)


def lifecycle_demo(portfolio: Portfolio, args: argparse.Namespace, progress: Progress) -> int:
    import logging
    import shutil

    from finmlops.emulator.aws.server import embedded_aws
    from finmlops.emulator.story import STORY, Lifecycle, run_story
    from finmlops.emulator.story.portfolio import (
        INVENTORY_STAGE,
        PORTFOLIO_STORY,
        run_portfolio_story,
    )
    from finmlops.emulator.world.templates import synthesize

    config = portfolio.platform
    # The handler logs JSON per event (refusals at WARNING); the story prints each outcome.
    logging.getLogger("finmlops").setLevel(logging.ERROR)
    work = args.work_dir / "lifecycle"
    shutil.rmtree(work, ignore_errors=True)  # re-runnable: every run starts from nothing
    work.mkdir(parents=True)
    progress("synthesize tooling and dev (CDK, offline): the templates the world is deployed from")
    cdk_out = synthesize(portfolio, work / "cdk.out", ["tooling", "dev"])
    progress(f"  {cdk_out.relative_to(work)}")
    others = portfolio.configs[1:]
    descriptions = dict(STORY)
    if others:
        descriptions |= {
            f"{other.model.name}: {name}": text
            for other in others
            for name, text in PORTFOLIO_STORY
        } | dict([INVENTORY_STAGE])
    # One moto account, the config's dev account (docs/emulator.md).
    with embedded_aws(
        config.environments.dev.region, args.port or None, config.environments.dev.account
    ) as aws:
        progress(f"embedded AWS (moto) at {aws.endpoint_url}")
        lifecycle = Lifecycle(
            config,
            aws,
            work,
            progress=lambda m: _story_line(progress, descriptions, m),
            portfolio=portfolio,
        )
        try:
            summary = run_story(lifecycle, cdk_out)
            stories = run_portfolio_story(lifecycle)
        except Exception as exc:
            print(f"\nthe lifecycle stopped: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        _print_summary(config, lifecycle, work)
        for story in stories:
            story.print_summary()
        if stories:
            stages = len(summary.stages) + sum(len(s.stages) for s in stories)
            progress(f"done: {stages} stages, {len(portfolio.configs)} models")
        else:
            progress(f"done: {len(summary.stages)} stages")
        if args.keep_running:
            _keep_running(aws.endpoint_url, lifecycle, args.config, work)
        lifecycle.close()
    return 0


def _story_line(progress: Progress, descriptions: dict[str, str], message: str) -> None:
    name, sep, rest = message.partition(": ")
    # Another model's stage is "<model>: <stage>": its result line has one more ": ".
    model_stage, _, model_rest = rest.partition(": ")
    if message.endswith(" ...") and message[:-4] in descriptions:
        progress(f"> {message[:-4]}: {descriptions[message[:-4]]}")
    elif sep and name in descriptions:
        progress(f"  = {rest}")
    elif sep and f"{name}: {model_stage}" in descriptions:
        progress(f"  = {model_rest}")
    else:
        progress(f"  {message.strip()}")


def _print_summary(config: Config, lifecycle: Any, work: Path) -> None:
    summary = lifecycle.summary
    sm = lifecycle.client("sagemaker")
    print()
    print("Lifecycle summary")
    from finmlops.registry.authorship import resolve_authorship
    from finmlops.registry.promotion import observed_approval
    from finmlops.registry.versions import describe_version

    audit = lifecycle.audit()
    for label, arn in summary.versions.items():
        version = describe_version(sm, arn)
        where = version.lifecycle
        # Who AWS recorded: the build's starter (or CreatedBy); the approver the handler observed.
        authors = resolve_authorship(sm, audit, version).authors.persons()
        observed, _ = observed_approval(audit, version)
        signoff = summary.signoffs.get(label)
        print(
            f"  {label:<4} {arn.rsplit(':', 1)[-1]}  {version.status}, "
            f"created by {', '.join(a.person for a in authors) or '?'}, "
            f"validated by {signoff['validator'].rsplit('/', 1)[-1] if signoff else '-'}, "
            f"approved by {observed.approver.person if observed else '-'}, "
            f"lifecycle {where.stage if where else '-'}/{where.status if where else '-'}"
        )
    print(
        "  deployed      "
        + ", ".join(f"{env}: v{arn.rsplit('/', 1)[-1]}" for env, arn in summary.deployed.items())
    )
    print(f"  self-approval refused: {summary.refused_self_approval or '-'}")
    print(f"  disguised self-approval: {summary.refused_disguise or '-'}")
    print(f"  event handler {', '.join(summary.handler_outcomes)}")
    for window, result in summary.drift.items():
        dataset = result["dataset"]
        print(
            f"  drift         {window}: drifted={dataset['drifted']}, share {dataset['drift_share']:.2f} "
            f"(>= {config.monitoring.dataset_drift_share} is drift), features: {', '.join(result['drifted']) or 'none'}"
        )
    if summary.alarm:
        print(f"  alarm         {summary.alarm.alarm}: {summary.alarm.old} -> {summary.alarm.new}")
    if summary.revalidation:
        closed_by = [label for label, s in summary.signoffs.items() if s.get("closes")]
        print(
            f"  re-validation {summary.revalidation['record']} opened by "
            f"{summary.revalidation['alarm']}; closed by the sign-off of "
            f"{', '.join(closed_by) or 'nothing yet'}"
        )
    print(
        f"  SNS -> SQS    {len(summary.alert_messages)} alert(s): {[m['AlarmName'] + ' ' + m['NewStateValue'] for m in summary.alert_messages]}"
    )
    for post in summary.chat_posts:
        print(f"  chat webhook  {post.splitlines()[0]}")
    _print_retraining(summary)
    print(
        f"  audit         {len(summary.audit_actions)} records: {', '.join(dict.fromkeys(summary.audit_actions))}"
    )
    print(f"  audit verify  {summary.audit_verified}")
    rules = lifecycle.w.rules
    refused = rules.refused()
    print(
        f"  access rules  {len(rules.decisions)} requests decided on the synthesized policies "
        f"(STS, S3 writes, registry writes), {len(refused)} refused: "
        + ("; ".join(f"{d.action} by {d.caller.rsplit(':', 1)[-1]}" for d in refused) or "none")
    )
    for name, path in summary.paths.items():
        print(f"  {name:<13} {path}")
    from finmlops.tracking.runs import ui_command

    command = ui_command(config.tracking, work)
    if command:
        print(f"  mlflow        runs in {work / 'mlflow'}; open the UI with: {command}")


def _print_retraining(summary: Any) -> None:
    """The shift, the quality alarm, the retraining, the comparison, the decision, the rollback."""
    shift = summary.shift
    if shift:
        moved = "; ".join(
            f"{s['feature']} {s['amount']:+g}" if s["kind"] == "numeric"
            else f"{s['feature']} {s['share']:.0%} to {s['to_category']!r}"
            for s in shift["shifts"]
        )  # fmt: skip
        print(
            f"  shift         {shift['rows']} rows drawn toward v1's risk; {moved} (by v1's gain)"
        )
    for change in summary.quality_alarms:
        print(f"  quality alarm {change.alarm}: {change.old} -> {change.new} ({change.reason})")
    retraining = summary.retraining
    if retraining.get("ran"):
        print(
            f"  retraining    {retraining['rows']} rows: {retraining['v1_training_rows']} v1 training"
            f" + {retraining['labelled_production_rows']} labelled production ({retraining['input']})"
        )
    elif retraining:
        print(f"  retraining    none: {retraining['why']}")
    if summary.comparison:
        for window in summary.comparison["windows"]:
            auc = ", ".join(
                f"{k} {v:.3f}" if v is not None else f"{k} -" for k, v in window["auc"].items()
            )
            print(f"  comparison    window {window['window']}: {window['rows']} rows, AUC {auc}")
    for label, decision in summary.decisions.items():
        print(f"  decision      {label}: {decision}")
    if summary.rollback:
        print(
            f"  rollback      prod from v{summary.rollback['from'].rsplit('/', 1)[-1]} to "
            f"v{summary.rollback['to'].rsplit('/', 1)[-1]}: {summary.rollback['reason']}"
        )
    else:
        print("  rollback      none (no stated reason to leave the version in prod)")


@dataclass(frozen=True)
class ExploreCommand:
    """One command `--keep-running` prints: who runs it, why, and the line to paste."""

    who: str
    line: str


def _finmlops_program() -> str:
    """The `finmlops` script next to this interpreter (the project's .venv), as a path from the
    current directory when it is below it, so the printed lines run where `make demo` ran."""
    script = Path(sys.executable).parent / "finmlops"
    if not script.exists():
        return "finmlops"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def explore_commands(lifecycle: Any, config_path: Path, work: Path) -> list[ExploreCommand]:
    """The commands to explore the demo's world with, each signed as someone of that world.

    The people's sessions are the ones AWS would give them (an MFA session, then the role of
    their job with their own name as source identity, as the templates' trust policies
    require): alice in dev's data-scientist role, bob in the approver role, carol in tooling's
    operator role. `finmlops verify` reads every resource's configuration, which none of their
    roles may: it signs with the emulator's own keys, as an administrator of the accounts (on
    AWS, an auditor's read-only role). The credentials go to an AWS shared credentials file
    and a config file under `work/aws/` (one profile each); every line names them and its
    profile, so it works as printed in a POSIX shell, whatever AWS_* variables that shell has.
    """
    import shlex

    from finmlops.emulator.world.provision import verify_arguments
    from finmlops.naming import Role

    w = lifecycle.w
    config = lifecycle.config
    group = config.model.package_group
    endpoint = w.aws.endpoint_url
    sessions = {
        w.author.name: w.as_role(w.author, w.names["dev"].role(Role.DATA_SCIENTIST)).session,
        w.approver.name: w.as_role(w.approver, config.governance.approver_role).session,
        w.operator.name: w.as_role(w.operator, w.names["tooling"].role(Role.OPERATOR)).session,
        EMULATOR_PROFILE: w.aws.session(),
    }
    folder = work / "aws"
    folder.mkdir(parents=True, exist_ok=True)
    credentials, settings = [], []
    for profile, session in sessions.items():
        frozen = session.get_credentials().get_frozen_credentials()
        credentials += [
            f"[{profile}]",
            f"aws_access_key_id = {frozen.access_key}",
            f"aws_secret_access_key = {frozen.secret_key}",
            *([f"aws_session_token = {frozen.token}"] if frozen.token else []),
            "",
        ]
        settings += [
            f"[profile {profile}]",
            f"region = {w.aws.region}",
            f"endpoint_url = {endpoint}",
            "",
        ]
    credentials_file, config_file = folder / "credentials", folder / "config"
    credentials_file.write_text("\n".join(credentials), encoding="utf-8")
    credentials_file.chmod(0o600)
    config_file.write_text("\n".join(settings), encoding="utf-8")
    # Assignments before the command (POSIX shells): the command's own environment.
    files = (
        f"AWS_SHARED_CREDENTIALS_FILE={shlex.quote(str(credentials_file))} "
        f"AWS_CONFIG_FILE={shlex.quote(str(config_file))}"
    )
    program = shlex.quote(_finmlops_program())
    common = ["--config", str(config_path), "--endpoint-url", endpoint]
    first = f"{group}/1"
    planned: list[tuple[str, str, list[str]]] = [
        (w.author.name, "data scientist", ["registry", "list", "--group", group]),
        (w.approver.name, "approver", ["registry", "show", first]),
        (w.approver.name, "approver", ["registry", "history", "--group", group]),
        (w.operator.name, "operator", ["promote", "status"]),
        (w.operator.name, "operator", ["audit", "export"]),
        (w.operator.name, "operator", ["audit", "verify"]),
    ]
    commands = [
        ExploreCommand(
            f"{profile} ({job})",
            f"{files} {program} {shlex.join([*arguments, *common, '--profile', profile])}",
        )
        for profile, job, arguments in planned
    ]
    for environment, arguments in verify_arguments(w, config_path).items():
        commands.append(
            ExploreCommand(
                f"the emulator's own keys ({environment} as deployed vs its templates)",
                f"{files} {program} {shlex.join([*arguments, '--profile', EMULATOR_PROFILE])}",
            )
        )
    return commands


def _keep_running(endpoint: str, lifecycle: Any, config_path: Path, work: Path) -> None:
    commands = explore_commands(lifecycle, config_path, work)
    print()
    print(f"The emulator stays up at {endpoint} (Ctrl-C to stop). In another shell, here:")
    print(
        "(each line signs as the person named above it, with the session STS gave them, "
        f"written to {work / 'aws'}; AWS would end such sessions after an hour)"
    )
    who = ""
    for command in commands:
        if command.who != who:
            who = command.who
            print(f"  # {who}")
        print(f"  {command.line}")
    print(f"  local endpoints (InvokeEndpoint): {lifecycle.w.endpoints.url}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping the emulator")


def build_demo(config: Config, args: argparse.Namespace, progress: Progress) -> int:

    from finmlops.modelbuild import StepFailedError, run_local

    try:
        build = run_local(
            config,
            args.work_dir / "model-build",
            progress=progress,
        )
    except StepFailedError as exc:
        print(f"model build failed: {exc}", file=sys.stderr)
        return 1

    metrics = build.evaluation.get("binary_classification_metrics", {})
    fairness = build.evaluation.get("fairness", {})
    progress("build pipeline definition (sagemaker SDK v3, offline)")
    from finmlops_pipelines.definition import build_pipeline_definition

    definition = build_pipeline_definition(config)
    definition_path = args.work_dir / "pipeline-definition.json"
    definition_path.write_text(definition.body)

    dq = build.data_quality
    print()
    print("Model build summary")
    print(
        f"  data          {dq['rows']} rows, {dq['columns']} columns, positive share {dq['positive_share']:.2%}"
    )
    print(f"  fingerprint   {dq['data_fingerprint']}")
    if build.rows:
        print(
            f"  split         train {build.rows['train']}, validation {build.rows['validation']}, "
            f"test {build.rows['test']}"
        )
    if metrics:
        print(
            f"  metrics       AUC {metrics['auc']['value']:.4f}  Gini {metrics['gini']['value']:.4f}  "
            f"KS {metrics['ks']['value']:.4f}  Brier {metrics['brier_score']['value']:.4f}"
        )
        print(
            f"  at cut-off    {config.model.cutoff}: precision {metrics['precision']['value']:.3f}, "
            f"recall {metrics['recall']['value']:.3f}, F1 {metrics['f1']['value']:.3f}"
        )
    if fairness:
        # One line per protected group; ids and definitions JSON-quoted, so a value holding a
        # comma reads as one value.
        print(
            f"  fairness      worst disparate impact {fairness['disparate_impact']:.3f} "
            f"({json.dumps(fairness['disparate_impact_group'], ensure_ascii=False)}), worst "
            f"parity difference {fairness['statistical_parity_difference']:+.3f} "
            f"({json.dumps(fairness['statistical_parity_group'], ensure_ascii=False)})"
        )
        for group in fairness.get("groups", []):
            figures = (
                f"disparate impact {group['disparate_impact']:.3f}, parity difference "
                f"{group['statistical_parity_difference']:+.3f}"
                if group["measurable"]
                else group["reason"]
            )
            print(
                f"                {json.dumps(group['id'], ensure_ascii=False)} "
                f"{group['definition']}: {figures} ({group['protected_count']} test rows)"
            )
    print("  gates")
    for result in build.gates:
        print(f"    {result.line()}")
    print(
        f"  verdict       {'REGISTER (PendingManualApproval)' if build.passed else 'FAIL: ' + ', '.join(build.failed_gates)}"
    )
    print(f"  artifacts     {build.model_archive}")
    print(f"                {build.work_dir / 'evaluation' / 'evaluation.json'}")
    print(
        f"  pipeline      {definition_path} ({len(definition.body):,} bytes, "
        f"{len(definition.placeholders)} placeholders for CloudFormation)"
    )
    timings = ", ".join(f"{t.name} {t.seconds:.2f}s" for t in build.timings)
    progress(f"done ({timings})")
    return 0 if build.passed else 1


if __name__ == "__main__":
    sys.exit(main())
