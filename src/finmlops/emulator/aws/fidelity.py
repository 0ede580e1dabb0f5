"""Every patch that makes moto keep, refuse and answer what AWS does, installed together.

The embedded server and the test suite's `mock_aws` tests install the same set, so a test never
runs against a laxer AWS than the demo. Each module names the AWS behaviour it stands in for, and
its tests pin it (several show moto alone failing them).
"""

from __future__ import annotations


def install() -> None:
    from finmlops.emulator.aws import (
        access,
        custom_ids,
        identity,
        mlflow_servers,
        registry_fidelity,
        resource_policies,
        s3_fidelity,
    )

    registry_fidelity.install()  # the registry keeps what SageMaker keeps (and identity)
    s3_fidelity.install()  # S3 answers GetObjectRetention
    resource_policies.install()  # policies refused as SageMaker and S3 refuse them
    mlflow_servers.install()  # SageMaker MLflow tracking servers
    identity.install()  # who made a request, as STS and SageMaker record it (idempotent)
    custom_ids.install()  # ids named by the `_custom_id_` tag (EC2 network, KMS keys)
    access.install()  # S3 writes and registry writes decided by the pluggable access rules
