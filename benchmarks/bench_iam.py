"""IAM evaluator benchmark: load a synthesized assembly, then decide many requests on it.

Prints (never asserts) the time to load every stage's roles and resource policies and the time
per decision over a mix of requests (identity-only, cross-account with a resource policy, a KMS
key policy, a trust policy), as the insider tests and the emulator make them.

    .venv/bin/python benchmarks/bench_iam.py [--cdk-out cdk.out] [--decisions 2000]

Without --cdk-out it synthesizes the repository's platform into a temporary folder first
(several seconds, not counted).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from finmlops.iam import Platform

DEV = "111111111111"
VERSION = f"arn:aws:sagemaker:us-east-1:{DEV}:model-package/credit-risk-xgb/3"
ARTIFACT = "arn:aws:s3:::credit-risk-artifacts-111111111111-us-east-1/model-build/run/model.tar.gz"


def synthesize(outdir: Path) -> Path:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from finmlops_cdk.app import build_app

    from finmlops.config import load_config

    root = Path(__file__).resolve().parents[1]
    config = load_config(root / "config" / "platform.yaml", "credit-risk")
    build_app(config, outdir=str(outdir), root=root).synth()
    return outdir


def requests(platform: Platform) -> list[tuple[str, str, str, dict[str, object]]]:
    lifecycle = platform.role("credit-risk-dev-registry-lifecycle").session_arn("p")
    approver = platform.role("ModelRiskApprover").session_arn("bob")
    model = platform.role("credit-risk-prod-model").session_arn("sm")
    key = next(r.arn for r in platform.resources if "alias/credit-risk-dev-data" in r.aliases)
    return [
        (
            lifecycle,
            "sagemaker:UpdateModelPackage",
            VERSION,
            {
                "sagemaker:ModelLifeCycle:stage": "Production",
                "sagemaker:ModelLifeCycle:stageStatus": "Deployed",
            },
        ),
        (
            approver,
            "sagemaker:UpdateModelPackage",
            VERSION,
            {"sagemaker:ModelApprovalStatus": "Approved"},
        ),
        (model, "sagemaker:DescribeModelPackage", VERSION, {}),
        (model, "s3:GetObject", ARTIFACT, {"aws:SecureTransport": True}),
        (model, "kms:Decrypt", key, {"kms:ViaService": "s3.us-east-1.amazonaws.com"}),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cdk-out", type=Path)
    parser.add_argument("--decisions", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cdk_out = args.cdk_out or synthesize(Path(tmp) / "cdk.out")
        loads = []
        for _ in range(3):
            start = time.perf_counter()
            platform = Platform.load(cdk_out)
            loads.append(time.perf_counter() - start)
        mix = requests(platform)
        start = time.perf_counter()
        for i in range(args.decisions):
            principal, action, resource, context = mix[i % len(mix)]
            platform.decide(principal, action, resource, context)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - start
        can = time.perf_counter()
        for _ in range(args.decisions // 10):
            platform.can_assume(
                f"arn:aws:iam::{DEV}:user/bob",
                platform.role("ModelRiskApprover").arn,
                {"aws:MultiFactorAuthPresent": True},
            )
        assume = (time.perf_counter() - can) / (args.decisions // 10)
    print(f"roles {len(platform.roles)}, resources with policies {len(platform.resources)}")
    print(f"load: median {statistics.median(loads) * 1000:.0f} ms over 3 loads")
    print(
        f"decide: {args.decisions} decisions in {elapsed * 1000:.0f} ms "
        f"({elapsed / args.decisions * 1e6:.0f} us each)"
    )
    print(f"can_assume: {assume * 1e6:.0f} us each")


if __name__ == "__main__":
    main()
