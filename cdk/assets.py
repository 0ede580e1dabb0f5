"""Local inputs that become CDK assets: the repository root, the monitoring image, Lambda code.

Assets are staged and fingerprinted at synth; nothing is built or uploaded until deploy.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import IgnoreMode
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

MONITORING_DOCKERFILE = "docker/monitoring/Dockerfile"
# What the monitoring image's Dockerfile may COPY from the repository root.
IMAGE_CONTEXT: tuple[str, ...] = (
    "docker",
    "src",
    "config",
    "requirements.lock",
    "pyproject.toml",
    "README.md",
)

# Never part of an image build context or a Lambda bundle.
COMMON_EXCLUDES: tuple[str, ...] = (
    ".git",
    ".venv",
    "**/.venv",
    "cdk.out",
    "**/cdk.out",
    "node_modules",
    "**/__pycache__",
    "**/*.pyc",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "*.egg-info",
    "**/*.egg-info",
    "build",
    "work",
    ".demo",
    "mlruns",
)


def repo_root() -> Path:
    """The checkout this package was installed from (editable install: cdk/ sits at the root)."""
    return Path(__file__).resolve().parent.parent


class MonitoringImage(Construct):
    """The project's monitoring container (docker/monitoring/Dockerfile), built at deploy time.

    The build context is the repository root so the image can install the package from src/.
    Attribute: `asset` (image_uri, repository).
    """

    def __init__(self, scope: Construct, id_: str, *, root: Path) -> None:
        super().__init__(scope, id_)
        dockerfile = root / MONITORING_DOCKERFILE
        if not dockerfile.is_file():
            raise FileNotFoundError(
                f"{dockerfile} is missing: the monitoring image is built from it (docs/cdk.md)"
            )
        self.asset = ecr_assets.DockerImageAsset(
            self,
            "Image",
            directory=str(root),
            file=MONITORING_DOCKERFILE,
            # An allow-list: whatever else lands in the checkout (virtual environments, caches,
            # other tools) never reaches the build context or the asset hash.
            ignore_mode=IgnoreMode.DOCKER,
            exclude=["*", *(f"!{path}" for path in IMAGE_CONTEXT), *COMMON_EXCLUDES],
            platform=ecr_assets.Platform.LINUX_AMD64,
        )
        self.image_uri = self.asset.image_uri


def package_code(root: Path) -> lambda_.Code:
    """src/ as a Lambda bundle: the finmlops package (stdlib and boto3 at run time only)."""
    return lambda_.Code.from_asset(
        str(root / "src"),
        exclude=[*COMMON_EXCLUDES, "finmlops/data/*.csv", "finmlops/emulator/**"],
    )
