"""Compliance scan of the synthesized templates: cfn-lint and checkov, with written reasons.

`python -m finmlops.governance.scan cdk.out` lints every `*.template.json` under the cloud
assembly with cfn-lint and the project's own rules of AWS's that cfn-lint lacks
(`--append-rules finmlops.governance.cfn_rules`: E9101-E9106, docs/compliance.md; errors fail the
scan, warnings are listed) and runs checkov
(`--framework cloudformation`) over the same files. A failed checkov check passes the scan only
when `compliance/checkov-skips.yaml` gives a reason for it, optionally scoped to resources:

    CKV_AWS_18: Access-log buckets cannot log to themselves.      # every resource
    CKV_AWS_117:
      reason: The custom-resource provider Lambdas run outside the VPC by design.
      resources: ["AWS::Lambda::Function.*Provider*"]              # fnmatch on Type.LogicalId

checkov pins many dependencies (boto3 among them), so it lives in its own virtual environment,
`.venv-checkov`, created and installed on first use with `CHECKOV_VERSION`; the project's pins
stay as they are. Exit codes: 0 clean, 1 findings without a reason or cfn-lint errors, 2 the scan
could not run (no templates, a bad reasons file, a tool that failed).
"""

from __future__ import annotations

import argparse
import fcntl
import fnmatch
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CHECKOV_VERSION = "3.3.30"
DEFAULT_CHECKOV_VENV = Path(".venv-checkov")
DEFAULT_REASONS = Path("compliance/checkov-skips.yaml")
TEMPLATE_GLOB = "*.template.json"
_STAMP = ".finmlops-checkov-version"
_CHECK_ID = re.compile(r"^CKV2?_[A-Z0-9]+_\d+$")
# cfn-lint exit status is a bit mask: 2 errors, 4 warnings, 8 informational, 1 a crash.
_CFN_LINT_CRASH = 1
# AWS's rules as cfn-lint custom rules (docs/decisions/0009): loaded by module name.
PROJECT_RULES = "finmlops.governance.cfn_rules"


class ScanError(RuntimeError):
    """The scan could not run; the message says what to fix."""


@dataclass(frozen=True)
class Reason:
    """A written reason for accepting a failed checkov check, on some or all resources."""

    check_id: str
    reason: str
    resources: tuple[str, ...] = ()

    def covers(self, finding: Finding) -> bool:
        if finding.check_id != self.check_id:
            return False
        if not self.resources:
            return True
        logical_id = finding.resource.rpartition(".")[2]
        return any(
            fnmatch.fnmatchcase(finding.resource, pattern)
            or fnmatch.fnmatchcase(logical_id, pattern)
            for pattern in self.resources
        )

    def scope(self) -> str:
        return ", ".join(self.resources) if self.resources else "all resources"


@dataclass(frozen=True)
class Finding:
    """One failed checkov check on one resource of one template."""

    check_id: str
    name: str
    resource: str
    file: str
    lines: tuple[int, int] = (0, 0)
    guideline: str = ""

    def where(self) -> str:
        line = f":{self.lines[0]}" if self.lines[0] else ""
        return f"{self.resource} ({self.file}{line})"


@dataclass(frozen=True)
class CheckovReport:
    passed: int
    failed: tuple[Finding, ...]
    skipped: int
    parsing_errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class LintMatch:
    rule: str
    level: str
    message: str
    file: str
    line: int = 0

    @property
    def is_error(self) -> bool:
        return self.level.lower() == "error"


@dataclass(frozen=True)
class Verdict:
    """Failed checks matched against the reasons: what is explained and what is not."""

    explained: tuple[tuple[Finding, Reason], ...]
    unexplained: tuple[Finding, ...]
    unused: tuple[Reason, ...]


@dataclass
class ScanResult:
    templates: list[Path]
    tools: tuple[str, ...] = ("cfn-lint", "checkov")
    lint: list[LintMatch] = field(default_factory=list)
    checkov: CheckovReport | None = None
    verdict: Verdict | None = None

    @property
    def lint_errors(self) -> list[LintMatch]:
        return [m for m in self.lint if m.is_error]

    @property
    def ok(self) -> bool:
        if self.lint_errors:
            return False
        if self.checkov is not None and self.checkov.parsing_errors:
            return False
        return self.verdict is None or not self.verdict.unexplained


# --- reasons file -------------------------------------------------------------------------------


def parse_reasons(data: Any, source: str = "<reasons>") -> list[Reason]:
    """Validate the parsed reasons file; every problem is reported at once with its check id."""
    if data is None:
        return []
    if not isinstance(data, Mapping):
        raise ScanError(f"{source}: expected a mapping of checkov check id to reason")
    reasons: list[Reason] = []
    problems: list[str] = []
    for check_id, value in data.items():
        key = str(check_id)
        if not _CHECK_ID.match(key):
            problems.append(f"{key}: not a checkov check id (like CKV_AWS_18 or CKV2_AWS_62)")
            continue
        entries = value if isinstance(value, list) else [value]
        if not entries:
            problems.append(f"{key}: no reason given")
        for entry in entries:
            reason, problem = _reason_entry(key, entry)
            if problem:
                problems.append(f"{key}: {problem}")
            elif reason is not None:
                reasons.append(reason)
    if problems:
        raise ScanError(f"invalid reasons file {source}:\n  " + "\n  ".join(problems))
    return reasons


def _reason_entry(check_id: str, entry: Any) -> tuple[Reason | None, str]:
    if isinstance(entry, str):
        text, resources = entry, []
    elif isinstance(entry, Mapping):
        unknown = sorted(set(map(str, entry)) - {"reason", "resources"})
        if unknown:
            return None, f"unknown key(s) {', '.join(unknown)}: use reason and resources"
        text = entry.get("reason", "")
        resources = entry.get("resources", [])
        if isinstance(resources, str):
            resources = [resources]
        if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
            return None, "resources must be a list of resource patterns (Type.LogicalId globs)"
    else:
        return None, "expected a reason (text) or a mapping with reason and resources"
    if not isinstance(text, str) or len(text.strip()) < 10:
        return None, "the reason must say why, in words (at least 10 characters)"
    return Reason(check_id, " ".join(text.split()), tuple(resources)), ""


def load_reasons(path: Path) -> list[Reason]:
    if not path.exists():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScanError(f"reasons file {path} is not valid YAML: {exc}") from None
    return parse_reasons(data, str(path))


def judge(failed: Sequence[Finding], reasons: Sequence[Reason]) -> Verdict:
    """Each failed check with the first reason that covers it; the rest are unexplained."""
    explained: list[tuple[Finding, Reason]] = []
    unexplained: list[Finding] = []
    used: set[Reason] = set()
    for finding in failed:
        reason = next((r for r in reasons if r.covers(finding)), None)
        if reason is None:
            unexplained.append(finding)
        else:
            explained.append((finding, reason))
            used.add(reason)
    unused = tuple(r for r in reasons if r not in used)
    return Verdict(tuple(explained), tuple(unexplained), unused)


# --- tool output --------------------------------------------------------------------------------


def parse_checkov(document: Any) -> CheckovReport:
    """checkov's JSON output: one report, a list of reports (one per framework), or the bare
    summary it prints when it found nothing to scan."""
    reports = document if isinstance(document, list) else [document]
    passed = skipped = 0
    failed: list[Finding] = []
    errors: list[str] = []
    for report in reports:
        if not isinstance(report, Mapping):
            raise ScanError(f"unexpected checkov output: {str(report)[:200]}")
        results = report.get("results")
        if not isinstance(results, Mapping):
            continue  # the bare summary of an empty scan
        # --quiet leaves the passed checks out of the results; the summary still counts them.
        summary_block = report.get("summary")
        counts: Mapping[str, Any] = summary_block if isinstance(summary_block, Mapping) else {}
        passed += int(counts.get("passed", len(results.get("passed_checks") or [])))
        skipped += int(counts.get("skipped", len(results.get("skipped_checks") or [])))
        errors.extend(str(e) for e in results.get("parsing_errors") or [])
        for check in results.get("failed_checks") or []:
            line_range = check.get("file_line_range") or [0, 0]
            failed.append(
                Finding(
                    check_id=str(check.get("check_id", "")),
                    name=str(check.get("check_name", "")),
                    resource=str(check.get("resource", "")),
                    # file_path is relative to checkov's working directory, oddly rooted.
                    file=str(check.get("file_abs_path") or check.get("file_path", "")),
                    lines=(int(line_range[0]), int(line_range[-1])),
                    guideline=str(check.get("guideline") or ""),
                )
            )
    failed.sort(key=lambda f: (f.file, f.resource, f.check_id))
    return CheckovReport(passed, tuple(failed), skipped, tuple(errors))


def parse_cfn_lint(document: Any) -> list[LintMatch]:
    if not isinstance(document, list):
        raise ScanError(f"unexpected cfn-lint output: {str(document)[:200]}")
    matches = []
    for item in document:
        location = item.get("Location", {}).get("Start", {})
        matches.append(
            LintMatch(
                rule=str(item.get("Rule", {}).get("Id", "")),
                level=str(item.get("Level", "")),
                message=str(item.get("Message", "")),
                file=str(item.get("Filename", "")),
                line=int(location.get("LineNumber", 0) or 0),
            )
        )
    return matches


# --- running the tools ----------------------------------------------------------------------------


def find_templates(cloud_assembly: Path) -> list[Path]:
    if not cloud_assembly.is_dir():
        raise ScanError(f"{cloud_assembly} is not a directory: synthesize first (make synth)")
    templates = sorted(cloud_assembly.rglob(TEMPLATE_GLOB))
    if not templates:
        raise ScanError(f"no {TEMPLATE_GLOB} under {cloud_assembly}: synthesize first (make synth)")
    return templates


def _venv_bin(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / name


def ensure_checkov(
    venv: Path = DEFAULT_CHECKOV_VENV,
    *,
    python: str = sys.executable,
    version: str = CHECKOV_VERSION,
    log: Any = None,
) -> Path:
    """The checkov executable of the dedicated venv, created and installed on first use.

    The venv is reused while its stamp names the pinned version; a different pin reinstalls.
    """
    checkov = _venv_bin(venv, "checkov")
    stamp = venv / _STAMP

    def ready() -> bool:
        return checkov.exists() and stamp.exists() and stamp.read_text().strip() == version

    if ready():
        return checkov
    venv.mkdir(parents=True, exist_ok=True)
    # Two test runs or make targets at once must not install into the same venv together.
    with (venv / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready():
            return checkov
        _install_checkov(venv, python, version, log or sys.stderr)
    return checkov


def _install_checkov(venv: Path, python: str, version: str, out: Any) -> None:
    checkov = _venv_bin(venv, "checkov")
    print(f"scan: installing checkov=={version} into {venv} (first use)", file=out, flush=True)
    started = time.perf_counter()
    if not _venv_bin(venv, "python").exists():
        _checked([python, "-m", "venv", str(venv)], "create the checkov venv")
    pip = [str(_venv_bin(venv, "python")), "-m", "pip", "--disable-pip-version-check"]
    _checked([*pip, "install", "--quiet", f"checkov=={version}"], f"install checkov=={version}")
    if not checkov.exists():
        raise ScanError(f"checkov=={version} installed but {checkov} is missing")
    (venv / _STAMP).write_text(version + "\n")
    print(f"scan: checkov ready in {time.perf_counter() - started:.0f} s", file=out, flush=True)


def _checked(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
        raise ScanError(f"could not {what} (exit {done.returncode}):\n" + "\n".join(tail))


def run_checkov(checkov: Path, templates: Sequence[Path]) -> CheckovReport:
    command = [str(checkov), "--framework", "cloudformation", "--output", "json", "--quiet"]
    command += ["--skip-download", "--compact"]
    for template in templates:
        command += ["--file", str(template)]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    # checkov exits 1 when a check failed; anything else non-zero is the tool failing.
    if done.returncode not in (0, 1):
        raise ScanError(f"checkov failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    try:
        document = json.loads(done.stdout)
    except ValueError:
        raise ScanError(f"checkov printed no JSON: {done.stdout[:500]!r}") from None
    return parse_checkov(document)


def run_cfn_lint(templates: Sequence[Path]) -> list[LintMatch]:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    command = [str(cfn_lint), "--append-rules", PROJECT_RULES, "--format", "json"]
    command += map(str, templates)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode & _CFN_LINT_CRASH:
        raise ScanError(f"cfn-lint failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    try:
        document = json.loads(done.stdout or "[]")
    except ValueError:
        raise ScanError(f"cfn-lint printed no JSON: {done.stdout[:500]!r}") from None
    return parse_cfn_lint(document)


def scan(
    cloud_assembly: Path,
    *,
    reasons_file: Path = DEFAULT_REASONS,
    checkov_venv: Path = DEFAULT_CHECKOV_VENV,
    tools: Sequence[str] = ("cfn-lint", "checkov"),
) -> ScanResult:
    reasons = load_reasons(reasons_file)  # a bad reasons file fails before any tool runs
    result = ScanResult(templates=find_templates(cloud_assembly), tools=tuple(tools))
    if "cfn-lint" in tools:
        result.lint = run_cfn_lint(result.templates)
    if "checkov" in tools:
        result.checkov = run_checkov(ensure_checkov(checkov_venv), result.templates)
        result.verdict = judge(result.checkov.failed, reasons)
    return result


# --- report -----------------------------------------------------------------------------------------


def summary(result: ScanResult, root: Path | None = None) -> str:
    def rel(path: str | Path) -> str:
        text = str(path)
        return text.removeprefix(str(root) + os.sep) if root else text

    lines = [f"compliance scan: {len(result.templates)} template(s)"]
    if "cfn-lint" in result.tools:
        errors = result.lint_errors
        others = [m for m in result.lint if not m.is_error]
        lines.append(f"  cfn-lint   {len(errors)} error(s), {len(others)} warning(s)/info")
        for match in errors:
            lines.append(f"    ERROR {match.rule} {rel(match.file)}:{match.line} {match.message}")
        for match in others:
            lines.append(
                f"    {match.level.lower()} {match.rule} {rel(match.file)}:{match.line} {match.message}"
            )
    if result.checkov is not None and result.verdict is not None:
        report, verdict = result.checkov, result.verdict
        lines.append(
            f"  checkov    {report.passed} passed, {len(report.failed)} failed "
            f"({len(verdict.explained)} with a written reason, {len(verdict.unexplained)} without)"
        )
        for error in report.parsing_errors:
            lines.append(f"    PARSE ERROR {rel(error)}")
        for finding in verdict.unexplained:
            lines.append(f"    NO REASON {finding.check_id} {finding.name}")
            lines.append(f"              at {finding.resource} ({rel(finding.file)})")
            if finding.guideline:
                lines.append(f"              see {finding.guideline}")
        counted: dict[Reason, int] = {}
        for _finding, reason in verdict.explained:
            counted[reason] = counted.get(reason, 0) + 1
        for reason, count in counted.items():
            lines.append(
                f"    accepted  {reason.check_id} x{count} ({reason.scope()}): {reason.reason}"
            )
        for reason in verdict.unused:
            lines.append(
                f"    unused    {reason.check_id} ({reason.scope()}): no failed check needs it"
            )
    lines.append("  verdict    " + ("PASS" if result.ok else "FAIL"))
    if result.verdict is not None and result.verdict.unexplained:
        lines.append(
            "  fix the resource, or write the reason in the reasons file "
            "(check id -> reason, optional resources)"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m finmlops.governance.scan", description=__doc__.splitlines()[0]
    )
    parser.add_argument("cloud_assembly", type=Path, nargs="?", default=Path("cdk.out"))
    parser.add_argument("--reasons", type=Path, default=DEFAULT_REASONS)
    parser.add_argument("--checkov-venv", type=Path, default=DEFAULT_CHECKOV_VENV)
    parser.add_argument(
        "--tools",
        default="cfn-lint,checkov",
        help="comma-separated: cfn-lint, checkov (default both)",
    )
    parser.add_argument(
        "--install-only", action="store_true", help="create the checkov venv and stop"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tools = tuple(t.strip() for t in args.tools.split(",") if t.strip())
    unknown = sorted(set(tools) - {"cfn-lint", "checkov"})
    if unknown:
        print(f"scan: unknown tool(s) {', '.join(unknown)}", file=sys.stderr)
        return 2
    try:
        if args.install_only:
            print(ensure_checkov(args.checkov_venv))
            return 0
        result = scan(
            args.cloud_assembly,
            reasons_file=args.reasons,
            checkov_venv=args.checkov_venv,
            tools=tools,
        )
    except ScanError as exc:
        print(f"scan: {exc}", file=sys.stderr)
        return 2
    print(summary(result, args.cloud_assembly.resolve()))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
