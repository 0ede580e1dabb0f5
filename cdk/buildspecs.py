"""The build commands of the pipelines' CodeBuild actions, as inline buildspecs.

Each environment's promotion resolves the approved version (the gate again), synthesizes and
deploys it, and records it; the start-build action installs the platform the tooling stack
shipped and starts one model build; the smoke test checks the stage endpoint. Pure functions
of the names: tests read the commands from the synthesized templates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import aws_codebuild as codebuild

from finmlops.naming import Names, Role

MANIFEST_FILE = "manifest.json"
ALL_ENVIRONMENTS = "all"  # default of the TargetEnvironment variable: stage, then prod
# What the start-build action installs: the platform as the tooling stack shipped it.
PLATFORM_SOURCE: tuple[str, ...] = (
    "src",
    "pipelines",
    "cdk",
    "config",
    "pyproject.toml",
    "requirements.lock",
    "README.md",
)
# Outside the source directory, which holds the commit (data here, never run).
PLATFORM_DIR = "$HOME/finmlops-platform"
PLATFORM_VENV = "$HOME/finmlops-venv"


def install_commands() -> list[str]:
    return [
        "python -m venv .venv",
        ".venv/bin/pip install --quiet -c requirements.lock -e '.[platform]'",
        "npm ci --no-audit --no-fund",  # package.json and package-lock.json pin the CLI
    ]


def assume_role_commands(role_arn: str, session: str) -> list[str]:
    """Shell lines that switch the build's credentials to a role of another account."""
    field = "python3 -c \"import json,sys;print(json.load(sys.stdin)['{}'])\""
    return [
        f"creds=$(aws sts assume-role --role-arn {role_arn} --role-session-name {session} "
        "--query Credentials --output json)",
        *(
            f'export {var}=$(echo "$creds" | {field.format(key)})'
            for var, key in (
                ("AWS_ACCESS_KEY_ID", "AccessKeyId"),
                ("AWS_SECRET_ACCESS_KEY", "SecretAccessKey"),
                ("AWS_SESSION_TOKEN", "SessionToken"),
            )
        ),
    ]


def install_shipped_platform() -> list[str]:
    """Install the platform code the tooling stack shipped (`$PLATFORM_CODE`, a CDK asset), not
    the commit's: the action that runs it may append audit records."""
    return [
        f'aws s3 cp "$PLATFORM_CODE" {PLATFORM_DIR}.zip --quiet',
        f"mkdir -p {PLATFORM_DIR} && unzip -q {PLATFORM_DIR}.zip -d {PLATFORM_DIR}",
        f"python -m venv {PLATFORM_VENV}",
        f"{PLATFORM_VENV}/bin/pip install --quiet -c {PLATFORM_DIR}/requirements.lock "
        f"{PLATFORM_DIR}",
    ]


def check_portfolio_command() -> str:
    """The shipped platform code refuses the commit's config when it drops a model that still
    serves (`finmlops promote check-portfolio`, finmlops.registry.retirement)."""
    return (
        f"{PLATFORM_VENV}/bin/finmlops promote check-portfolio "
        '--config "$CODEBUILD_SRC_DIR/config/platform.yaml"'
    )


def start_build_commands(devs: Sequence[Names]) -> list[str]:
    """After the dev deploy: one build of this commit per model, each started as that model's
    dev build starter by the shipped platform code (the source checkout is read as data, never
    run). `devs`: each model's dev names, in the config's order.

    A build-starter role names nobody, so the commit's people as Git records them (author,
    committer, merged commits; signatures checked) go into a `build-started` audit record, written
    with this action's own role: only the SageMaker call is made as dev's starter (ADR 0014).
    """
    return [
        f"{PLATFORM_VENV}/bin/python -m finmlops.buildrun start "
        f"--config {PLATFORM_DIR}/config/platform.yaml --model {dev.model} "
        '--git-commit "$CODEBUILD_RESOLVED_SOURCE_VERSION" '
        '--provenance-from-git --repo "$CODEBUILD_SRC_DIR" '
        f"--starter-role-arn {dev.role_arn(Role.BUILD_STARTER)}"
        for dev in devs
    ]


def environment_stacks(environment: str) -> list[str]:
    """Every stack of an environment: the platform's (`<env>/<Stack>`) and each model's
    (`<env>/<model>/<Stack>`). Two patterns, so the selection holds whether or not the CLI's
    `*` crosses a `/` (stack selectors are glob patterns over the stacks' hierarchical ids)."""
    return [f"{environment}/*", f"{environment}/*/*"]


def model_stacks(n: Names) -> list[str]:
    """The stacks a model's promotion deploys: the environment's platform stacks (by id) and
    the model's own, never another model's."""
    environment = n.environment
    return [f"{environment}/Data", f"{environment}/Network", f"{environment}/{n.model}/*"]


def deploy_commands(stacks: list[str], *, app: str) -> list[str]:
    selected = " ".join(f"'{stack}'" for stack in stacks)
    return [
        f"npx cdk deploy --app {app} {selected} --require-approval never "
        "--no-notices --concurrency 2",
    ]


def resolve_command(environment: str, evidence_role_arn: str) -> str:
    """The promotion gate again (the version may have been revoked since the event), then the
    manifest: `finmlops promote resolve` of the registry package, reading the registry, the
    build's execution and the evidence as dev's evidence reader (ADR 0016)."""
    return (
        f'.venv/bin/finmlops promote resolve "$MODEL_PACKAGE_ARN" --environment {environment} '
        f"--evidence-role-arn {evidence_role_arn} --out {MANIFEST_FILE}"
    )


def promote_commands(target: Names, dev: Names) -> list[str]:
    """Resolve the approved version, synthesize this environment with it, deploy it, record it."""
    environment = target.environment
    return [
        *only_for(environment),
        'test "$MODEL_PACKAGE_ARN" != none || { echo "no ModelPackageArn variable"; exit 1; }',
        resolve_command(environment, dev.role_arn(Role.EVIDENCE_READER)),
        f".venv/bin/python -m finmlops_cdk.app --out cdk.out --environment {environment} "
        f"--manifest {MANIFEST_FILE}",
        *deploy_commands(model_stacks(target), app="cdk.out"),
        # What the endpoint serves, read as the environment's smoke-test role (Describe of its
        # endpoint, configs and models); then the audit record, the deployment history (what
        # rollback goes back to), and the registry's ModelLifeCycle, written as dev's
        # registry-lifecycle role: it may send a lifecycle and nothing else.
        f".venv/bin/finmlops promote record --manifest {MANIFEST_FILE} "
        f"--serving-role-arn {target.role_arn(Role.SMOKE_TEST)} "
        f"--registry-role-arn {dev.role_arn(Role.REGISTRY_LIFECYCLE)} "
        '--reason "promotion pipeline $CODEBUILD_BUILD_ID"',
    ]


def only_for(environment: str) -> list[str]:
    """A rollback (`finmlops promote rollback --start-pipeline`) redeploys one environment."""
    return [
        f'if [ "$TARGET_ENVIRONMENT" != {ALL_ENVIRONMENTS} ] && '
        f'[ "$TARGET_ENVIRONMENT" != {environment} ]; then '
        f'echo "rollback of $TARGET_ENVIRONMENT: nothing to do in {environment}"; exit 0; fi',
    ]


def inline(phases: dict[str, list[str]], artifacts: dict[str, Any] | None = None) -> Any:
    spec: dict[str, Any] = {
        "version": "0.2",
        "env": {
            "variables": {
                "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
                "CDK_DISABLE_CLI_TELEMETRY": "true",
            }
        },
        "phases": {
            "install": {
                "runtime-versions": {"python": "3.11", "nodejs": "20"},
                "commands": phases.get("install", []),
            },
            "build": {"commands": phases["build"]},
        },
    }
    if artifacts:
        spec["artifacts"] = artifacts
    return codebuild.BuildSpec.from_object(spec)


def smoke_test_commands(n: Names) -> list[str]:
    """Assume the stage smoke-test role; check status and version, score one request, and check
    that no rollback alarm fires."""
    role = n.role_arn(Role.SMOKE_TEST)
    endpoint = n.endpoint_name
    region = n.env.region
    # One row of the model's width (every feature 0: a valid code for each categorical).
    payload = ",".join("0" for _ in n.config.model.features)
    alarms = " ".join(
        f"{endpoint}-rollback-{a}" for a in ("errors5xx", "modellatency", "modelerrors")
    )
    return [
        *assume_role_commands(role, "smoke-test"),
        f"aws sagemaker wait endpoint-in-service --endpoint-name {endpoint} --region {region}",
        f"config=$(aws sagemaker describe-endpoint --endpoint-name {endpoint} --region {region} "
        "--query EndpointConfigName --output text)",
        f"model=$(aws sagemaker describe-endpoint-config --endpoint-config-name $config "
        f"--region {region} --query 'ProductionVariants[0].ModelName' --output text)",
        f"served=$(aws sagemaker describe-model --model-name $model --region {region} "
        "--query PrimaryContainer.ModelPackageName --output text)",
        'test "$served" = "$MODEL_PACKAGE_ARN" || { echo "serving $served, not $MODEL_PACKAGE_ARN"; exit 1; }',
        f"printf '%s' '{payload}' > smoke.csv",
        f"aws sagemaker-runtime invoke-endpoint --endpoint-name {endpoint} --region {region} "
        "--content-type text/csv --body fileb://smoke.csv smoke.out > /dev/null",
        "python3 -c \"s=[float(v) for v in open('smoke.out').read().replace(',', ' ').split()]; "
        "assert len(s) == 1 and 0 <= s[0] <= 1, s; print('smoke test score', s[0])\"",
        f"firing=$(aws cloudwatch describe-alarms --alarm-names {alarms} --state-value ALARM "
        f"--region {region} --query 'length(MetricAlarms)' --output text)",
        'test "$firing" = "0" || { echo "rollback alarms firing: $firing"; exit 1; }',
    ]


def batch_smoke_test_commands(n: Names) -> list[str]:
    """A batch model's stage check, as its environment's smoke-test role: the batch pipeline is
    Active and tagged with the version being promoted (`promote record` has already checked that
    its scoring step reads that version's archive). No scoring run: the schedule starts those,
    on the input the bank puts there."""
    from finmlops_cdk.batch import PACKAGE_TAG, pipeline_name

    name = pipeline_name(n)
    region = n.env.region
    arn = f"arn:{n.partition}:sagemaker:{region}:{n.env.account}:pipeline/{name.lower()}"
    return [
        *assume_role_commands(n.role_arn(Role.SMOKE_TEST), "smoke-test"),
        f"status=$(aws sagemaker describe-pipeline --pipeline-name {name} --region {region} "
        "--query PipelineStatus --output text)",
        'test "$status" = Active || { echo "batch pipeline ' + name + ' is $status"; exit 1; }',
        f"tagged=$(aws sagemaker list-tags --resource-arn {arn} --region {region} "
        f"--query \"Tags[?Key=='{PACKAGE_TAG}'].Value | [0]\" --output text)",
        'test "$tagged" = "$MODEL_PACKAGE_ARN" || '
        '{ echo "batch pipeline scores with $tagged, not $MODEL_PACKAGE_ARN"; exit 1; }',
    ]
