"""The compliance scan: cfn-lint and checkov on a cloud assembly, every failed check with a reason.

The reasons logic is tested on hand-written checkov output; one test runs both tools for real on
a small hand-written CloudFormation template. That test installs checkov into its own venv
(`.venv-checkov` at the repository root, reused afterwards) through the same function
`make scan` uses: it never skips.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from finmlops.governance import scan
from finmlops.governance.scan import (
    Finding,
    Reason,
    ScanError,
    judge,
    parse_checkov,
    parse_reasons,
)

REPO = Path(__file__).resolve().parents[2]

# A small template in the shape CDK writes: a well-configured bucket, and a queue and a bucket
# that each fail checkov checks.
TEMPLATE: dict[str, Any] = {
    "Resources": {
        "DataKey1A2B3C4D": {
            "Type": "AWS::KMS::Key",
            "Properties": {
                "EnableKeyRotation": True,
                "KeyPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {
                                "AWS": {
                                    "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"
                                }
                            },
                            "Action": "kms:*",
                            "Resource": "*",
                        }
                    ],
                },
            },
        },
        "AccessLogsBucket83982689": {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "VersioningConfiguration": {"Status": "Enabled"},
            },
        },
        "EventsQueue4A7E3555": {"Type": "AWS::SQS::Queue", "Properties": {}},
    }
}


def _finding(check_id: str, resource: str) -> Finding:
    return Finding(check_id, "a check", resource, "/Stack.template.json")


def _checkov_report(failed: list[tuple[str, str]], passed: int = 3) -> dict[str, Any]:
    return {
        "check_type": "cloudformation",
        "results": {
            "failed_checks": [
                {
                    "check_id": check_id,
                    "check_name": f"name of {check_id}",
                    "resource": resource,
                    "file_path": "/Stack.template.json",
                    "file_line_range": [3, 9],
                    "guideline": None,
                }
                for check_id, resource in failed
            ]
        },
        "summary": {"passed": passed, "failed": len(failed), "skipped": 0, "parsing_errors": 0},
    }


def test_a_reason_can_be_text_or_scoped_to_resources() -> None:
    reasons = parse_reasons(
        {
            "CKV_AWS_18": "Access-log buckets cannot log to themselves.",
            "CKV_AWS_27": {
                "reason": "The events queue holds no data, only resource ids.",
                "resources": ["AWS::SQS::Queue.EventsQueue*"],
            },
            "CKV2_AWS_62": [
                {
                    "reason": "Event notifications are not used on log buckets.",
                    "resources": "AccessLogs*",
                }
            ],
        }
    )
    assert reasons == [
        Reason("CKV_AWS_18", "Access-log buckets cannot log to themselves."),
        Reason(
            "CKV_AWS_27",
            "The events queue holds no data, only resource ids.",
            ("AWS::SQS::Queue.EventsQueue*",),
        ),
        Reason("CKV2_AWS_62", "Event notifications are not used on log buckets.", ("AccessLogs*",)),
    ]


def test_every_problem_of_a_reasons_file_is_reported_at_once() -> None:
    with pytest.raises(ScanError) as error:
        parse_reasons(
            {
                "CKV_AWS_18": "",
                "ckv-aws-1": "lower case is not a check id",
                "CKV_AWS_27": {"reason": "The queue holds no data.", "scope": ["x"]},
                "CKV_AWS_21": {"resources": ["A*"]},
            },
            "compliance/checkov-skips.yaml",
        )
    message = str(error.value)
    assert message.startswith("invalid reasons file compliance/checkov-skips.yaml:")
    assert "CKV_AWS_18: the reason must say why, in words" in message
    assert "ckv-aws-1: not a checkov check id" in message
    assert "CKV_AWS_27: unknown key(s) scope: use reason and resources" in message
    assert "CKV_AWS_21: the reason must say why" in message


def test_a_failed_check_without_a_written_reason_is_unexplained() -> None:
    failed = [
        _finding("CKV_AWS_27", "AWS::SQS::Queue.EventsQueue4A7E3555"),
        _finding("CKV_AWS_27", "AWS::SQS::Queue.JobsQueue11AA22BB"),
        _finding("CKV_AWS_18", "AWS::S3::Bucket.AccessLogsBucket83982689"),
    ]
    scoped = Reason("CKV_AWS_27", "The events queue holds no data.", ("*.EventsQueue*",))
    unused = Reason("CKV_AWS_21", "Versioning is off on the scratch bucket.")
    verdict = judge(failed, [scoped, unused])
    assert verdict.explained == ((failed[0], scoped),)
    assert verdict.unexplained == (failed[1], failed[2])
    assert verdict.unused == (unused,)


def test_a_resource_pattern_matches_the_logical_id_alone_too() -> None:
    reason = Reason("CKV_AWS_18", "Access-log buckets cannot log to themselves.", ("AccessLogs*",))
    assert reason.covers(_finding("CKV_AWS_18", "AWS::S3::Bucket.AccessLogsBucket83982689"))
    assert not reason.covers(_finding("CKV_AWS_18", "AWS::S3::Bucket.DataBucketE3889A50"))
    assert not reason.covers(_finding("CKV_AWS_19", "AWS::S3::Bucket.AccessLogsBucket83982689"))


def test_checkov_output_is_read_in_each_of_its_shapes() -> None:
    single = parse_checkov(_checkov_report([("CKV_AWS_27", "AWS::SQS::Queue.Q")], passed=5))
    assert single.passed == 5
    assert single.failed == (
        Finding(
            "CKV_AWS_27", "name of CKV_AWS_27", "AWS::SQS::Queue.Q", "/Stack.template.json", (3, 9)
        ),
    )
    several = parse_checkov(
        [
            _checkov_report([("CKV_AWS_27", "AWS::SQS::Queue.Q")]),
            _checkov_report([("CKV_AWS_18", "AWS::S3::Bucket.B")]),
        ]
    )
    # Sorted by file, then resource, so the summary reads the same on every run.
    assert [f.check_id for f in several.failed] == ["CKV_AWS_18", "CKV_AWS_27"]
    assert several.passed == 6
    empty = parse_checkov({"passed": 0, "failed": 0, "skipped": 0, "resource_count": 0})
    assert (empty.passed, empty.failed) == (0, ())


def test_a_missing_cloud_assembly_says_to_synthesize_first(tmp_path: Path) -> None:
    with pytest.raises(ScanError, match=r"synthesize first \(make synth\)"):
        scan.find_templates(tmp_path / "cdk.out")
    (tmp_path / "cdk.out").mkdir()
    with pytest.raises(ScanError, match=r"no \*\.template\.json under"):
        scan.find_templates(tmp_path / "cdk.out")


def test_scan_fails_on_a_bad_reasons_file_before_running_any_tool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reasons = tmp_path / "skips.yaml"
    reasons.write_text("CKV_AWS_18: too short\n")
    assert scan.main([str(tmp_path / "absent"), "--reasons", str(reasons)]) == 2
    assert "CKV_AWS_18: the reason must say why" in capsys.readouterr().err


def test_real_scan_fails_until_every_failed_check_has_a_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # checkov is installed on first use into the venv `make scan` uses; later runs reuse it.
    started = time.perf_counter()
    checkov = scan.ensure_checkov(REPO / scan.DEFAULT_CHECKOV_VENV)
    print(f"checkov venv ready in {time.perf_counter() - started:.1f} s: {checkov}")
    assembly = tmp_path / "cdk.out"
    nested = assembly / "assembly-Dev"
    nested.mkdir(parents=True)
    (nested / "DevData.template.json").write_text(json.dumps(TEMPLATE, indent=1))
    (nested / "manifest.json").write_text("{}")
    reasons = tmp_path / "checkov-skips.yaml"
    reasons.write_text(
        "CKV_AWS_27:\n"
        "  reason: The events queue carries resource ids only, never customer data.\n"
        "  resources: ['AWS::SQS::Queue.EventsQueue*']\n"
    )

    result = scan.scan(
        assembly, reasons_file=reasons, checkov_venv=REPO / scan.DEFAULT_CHECKOV_VENV
    )

    assert result.templates == [nested / "DevData.template.json"]
    assert result.lint_errors == []
    assert result.checkov is not None and result.verdict is not None
    failed = {(f.check_id, f.resource) for f in result.checkov.failed}
    assert ("CKV_AWS_27", "AWS::SQS::Queue.EventsQueue4A7E3555") in failed
    assert [reason.check_id for _f, reason in result.verdict.explained] == ["CKV_AWS_27"]
    unexplained = {f.check_id for f in result.verdict.unexplained}
    assert unexplained, "the access-log bucket has no logging, which checkov fails"
    assert "CKV_AWS_27" not in unexplained
    assert not result.ok
    summary = scan.summary(result, assembly)
    assert "verdict    FAIL" in summary
    for check_id in unexplained:
        assert f"NO REASON {check_id}" in summary

    # Writing a reason for each remaining check makes the same findings pass.
    written = [
        *scan.load_reasons(reasons),
        *(Reason(c, "Accepted for this hand-written test template.") for c in sorted(unexplained)),
    ]
    assert judge(result.checkov.failed, written).unexplained == ()


def test_cfn_lint_errors_fail_the_scan(tmp_path: Path) -> None:
    assembly = tmp_path / "cdk.out"
    assembly.mkdir()
    broken = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"Colour": "red"}}}}
    (assembly / "Broken.template.json").write_text(json.dumps(broken))
    result = scan.scan(assembly, reasons_file=tmp_path / "none.yaml", tools=("cfn-lint",))
    assert [m.rule for m in result.lint_errors] == ["E3002"]
    assert not result.ok
    assert "ERROR E3002" in scan.summary(result, assembly)


def test_the_repository_reasons_file_is_valid_and_scoped() -> None:
    reasons = scan.load_reasons(REPO / scan.DEFAULT_REASONS)
    assert reasons, "compliance/checkov-skips.yaml has no reasons"
    # Every acceptance in the repository names the resources it covers, never a whole check.
    assert all(r.resources for r in reasons), [r.check_id for r in reasons if not r.resources]


def test_the_scan_runs_the_project_rules_and_their_errors_fail_it(tmp_path: Path) -> None:
    # A model package group policy that names one account twice: SageMaker rejects it (E9101).
    assembly = tmp_path / "cdk.out"
    assembly.mkdir()
    group = {
        "Resources": {
            "Group": {
                "Type": "AWS::SageMaker::ModelPackageGroup",
                "Properties": {
                    "ModelPackageGroupName": "credit-risk-xgb",
                    "ModelPackageGroupPolicy": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {
                                    "AWS": ["222222222222", "arn:aws:iam::222222222222:root"]
                                },
                                "Action": "sagemaker:DescribeModelPackage",
                                "Resource": "*",
                            }
                        ],
                    },
                },
            }
        }
    }
    (assembly / "Data.template.json").write_text(json.dumps(group))
    result = scan.scan(assembly, reasons_file=tmp_path / "none.yaml", tools=("cfn-lint",))
    assert [m.rule for m in result.lint_errors] == ["E9101"]
    assert not result.ok
    assert "ERROR E9101" in scan.summary(result, assembly)
    assert "Duplicate principal" in result.lint_errors[0].message
