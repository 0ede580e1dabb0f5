"""The deployment manifest the endpoint stacks are built from.

The promotion pipeline resolves an approved version into a `DeploymentManifest` file and runs
`cdk synth -c manifest=<file>`; nothing here or in a construct looks anything up in AWS. Without a
manifest the app synthesizes against `default_manifest`: version 1 of the configured group, with
real names and no placeholders, so every template can be built and checked (docs/cdk.md).
"""

from __future__ import annotations

import re
from pathlib import Path

from finmlops.config import Config, Portfolio
from finmlops.contracts import ApprovalRecord, DeploymentManifest
from finmlops.naming import names

# arn:<partition>:sagemaker:<region>:<account>:model-package/<group>/<version>
_PACKAGE_ARN = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/(?P<group>[a-z0-9-]+)/(?P<v>\d+)$"
)
DEFAULT_SOURCE = "default-for-synth"
# Where the model build writes its outputs in the registry (dev) artifact bucket.
BASELINE_PREFIX = "model-build/"


class ManifestError(ValueError):
    """A manifest the endpoint stacks cannot be built from; names the file and the field."""


def default_manifest(config: Config) -> DeploymentManifest:
    """Version 1 of the group in the dev account: lets synth run before any approval.

    Its baseline folder is named after this default (`model-build/default-for-synth/...`): no
    build writes there, so a stack deployed from it monitors nothing until a resolved manifest
    replaces it, and it is never mistaken for a real version's baseline.
    """
    dev = names(config, "dev")
    arn = dev.model_packages_arn.removesuffix("*") + "1"
    # The endpoint deploys the package by ARN; image and artifact are known once resolved.
    return DeploymentManifest(
        model_package_arn=arn,
        model_package_group=config.model.package_group,
        version=1,
        image_uri="",
        model_data_url="",
        data_fingerprint="",
        approval=ApprovalRecord(approved_by="", approved_at="", reason=""),
        drift_baseline_uri=f"s3://{dev.artifact_bucket}/{BASELINE_PREFIX}{DEFAULT_SOURCE}/baseline/baseline",
        extra={"source": DEFAULT_SOURCE},
    )


def drift_baseline(manifest: DeploymentManifest, config: Config, source: str) -> str:
    """The manifest's drift baseline folder, checked: present (promotion writes it from the
    version's registered DriftCheckBaselines) and under the registry's model-build outputs, the
    only prefix the monitoring role may read (finmlops_cdk.endpoint.grant_registry_read)."""
    uri = manifest.drift_baseline_uri.rstrip("/")
    if not uri:
        raise ManifestError(
            f"{source}: drift_baseline_uri is empty: the monitoring stack runs drift against the "
            "deployed version's registered baseline; resolve the manifest with `finmlops promote "
            "resolve` from a version that has DriftCheckBaselines"
        )
    allowed = f"s3://{names(config, 'dev').artifact_bucket}/{BASELINE_PREFIX}"
    if not uri.startswith(allowed):
        raise ManifestError(
            f"{source}: drift_baseline_uri {uri!r} is not under {allowed}, where the model build "
            "writes baselines and the monitoring role may read"
        )
    return uri


def validate_manifest(manifest: DeploymentManifest, config: Config, source: str) -> None:
    match = _PACKAGE_ARN.match(manifest.model_package_arn)
    if match is None:
        raise ManifestError(
            f"{source}: model_package_arn {manifest.model_package_arn!r} is not a model package ARN"
        )
    if manifest.model_package_group != config.model.package_group:
        raise ManifestError(
            f"{source}: model_package_group {manifest.model_package_group!r} is not the "
            f"configured group {config.model.package_group!r}"
        )
    if match.group("group") != config.model.package_group.lower():
        raise ManifestError(
            f"{source}: model_package_arn names group {match.group('group')!r}, "
            f"not {config.model.package_group!r}"
        )
    if int(match.group("v")) != manifest.version:
        raise ManifestError(
            f"{source}: version {manifest.version} does not match the ARN's {match.group('v')}"
        )
    drift_baseline(manifest, config, source)
    if config.monitoring.max_auc_drop is not None and not is_default(manifest):
        auc = manifest.validated_auc
        if auc is None or not 0.5 <= auc <= 1.0:
            raise ManifestError(
                f"{source}: validated_auc is {auc!r}: the quality monitor judges each window's "
                "AUC drop against the version's validated AUC (monitoring.max_auc_drop); "
                "resolve the manifest with `finmlops promote resolve`, which reads it from the "
                "version's recorded evaluation"
            )
    dev = config.environments.dev
    if f":{dev.region}:{dev.account}:" not in manifest.model_package_arn:
        raise ManifestError(
            f"{source}: model_package_arn is not in the registry (dev) account {dev.account} "
            f"in {dev.region}"
        )


def load_manifest(path: str | Path, config: Config | Portfolio) -> DeploymentManifest:
    """Read and check a manifest: against the config's model, or, for a portfolio, against
    the model whose registry group the manifest names."""
    file = Path(path)
    try:
        manifest = DeploymentManifest.from_json(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"{file}: cannot be read: {exc.strerror}") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise ManifestError(f"{file}: not a deployment manifest: {exc}") from None
    if isinstance(config, Portfolio):
        owners = [
            c for c in config.configs if c.model.package_group == manifest.model_package_group
        ]
        if not owners:
            raise ManifestError(
                f"{file}: model_package_group {manifest.model_package_group!r} is the group of "
                f"no model of the portfolio ({', '.join(config.names)})"
            )
        config = owners[0]
    validate_manifest(manifest, config, str(file))
    return manifest


def is_default(manifest: DeploymentManifest) -> bool:
    return bool(manifest.extra.get("source") == DEFAULT_SOURCE)
