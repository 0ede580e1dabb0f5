"""The lifecycle `make demo` runs, once per test session (about two minutes): the end-to-end
tests and `finmlops verify` against its world read the same run. The same story on the second
data set (`docs/examples/credit_data.yaml`, its own accounts) runs once more for the end-to-end
tests, which take each story in turn (`story` in test_lifecycle_e2e.py).

Its state lives in moto's in-process backends, which a `mock_aws` test resets: the modules that
read it (`test_lifecycle_e2e.py`, `test_lifecycle_verify.py`) sort next to each other, and
`story` refuses to hand over a world whose registry group was wiped meanwhile.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from finmlops.config import Config


@pytest.fixture(scope="session")
def story_run(
    config: Config, platform: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, Any]]:
    """The story in a world deployed from the session's synthesized platform (tooling and dev
    as `make synth` writes them: the demo synthesizes the same without compliance packs);
    stage and prod are synthesized by each promotion from its manifest, as in the demo."""
    from pathlib import Path

    from finmlops.config import load_portfolio
    from finmlops.emulator.world.templates import synthesize

    # The world holds every model of the shipped portfolio, as `make demo` deploys it; the
    # story is the first model's. The platform fixture synthesizes the first model alone (the
    # template tests read it), so a portfolio of several is synthesized here, as the demo does.
    portfolio = load_portfolio(config.source_file) if config.source_file else None
    work = tmp_path_factory.mktemp("lifecycle")
    cdk_out = Path(platform.outdir)
    if portfolio is not None and len(portfolio.configs) > 1:
        cdk_out = synthesize(portfolio, work / "cdk.out", ["tooling", "dev"])
    yield from _run_story(config, cdk_out, work, portfolio)


def _run_story(
    config: Config, cdk_out: Any, work: Any, portfolio: Any = None
) -> Iterator[tuple[Any, Any]]:
    """The whole story in the world deployed from `cdk_out`, held open for the session."""
    from finmlops.emulator.aws.server import embedded_aws
    from finmlops.emulator.story import Lifecycle, run_story

    dev = config.environments.dev
    with embedded_aws(dev.region, account=dev.account) as aws:
        lifecycle = Lifecycle(config, aws, work, portfolio=portfolio)
        try:
            summary = run_story(lifecycle, cdk_out)
            yield lifecycle, summary
        finally:
            # At the session's end a mock_aws test may have reset moto: the captures still
            # buffered then have no bucket to go to, and no test reads them any more.
            with contextlib.suppress(ClientError):
                lifecycle.close()


@pytest.fixture
def story(story_run: tuple[Any, Any], config: Config) -> tuple[Any, Any]:
    lifecycle, _ = story_run
    groups = lifecycle.client("sagemaker").list_model_package_groups()[
        "ModelPackageGroupSummaryList"
    ]
    if config.model.package_group not in {g["ModelPackageGroupName"] for g in groups}:
        pytest.fail("the lifecycle's world was reset by a mock_aws test run in between")
    return story_run


EXAMPLE_CONFIG = "docs/examples/credit_data.yaml"


@pytest.fixture(scope="session")
def credit_story_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """The whole story on modeldata's credit_data, by its config alone, as
    `make demo ARGS="--config docs/examples/credit_data.yaml"` runs it (tooling and dev
    synthesized from that config, no compliance packs)."""
    from pathlib import Path

    from finmlops.config import load_config
    from finmlops.emulator.world.templates import synthesize

    config = load_config(Path(__file__).parents[2] / EXAMPLE_CONFIG)
    work = tmp_path_factory.mktemp("credit-lifecycle")
    yield from _run_story(config, synthesize(config, work / "cdk.out", ["tooling", "dev"]), work)


@pytest.fixture(scope="session")
def portfolio_story_run(config: Config, request: pytest.FixtureRequest) -> tuple[Any, Any]:
    """The other models' stories (`run_portfolio_story`) in `story_run`'s world, after the first
    model's whole story, as `make demo` runs them: the shipped batch model built, approved by
    its own approver, promoted, scored nightly and monitored, then the inventory."""
    from finmlops.config import load_portfolio
    from finmlops.emulator.story.portfolio import run_portfolio_story

    assert config.source_file is not None
    shipped = load_portfolio(config.source_file)
    if not any(c.serving.batch for c in shipped.configs):
        pytest.fail(f"{config.source_file} has no batch model: the portfolio story needs one")
    lifecycle, _ = request.getfixturevalue("story_run")
    return lifecycle, run_portfolio_story(lifecycle)
