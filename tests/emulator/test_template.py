"""The emulator reads the pipeline definition out of the synthesized template, not a copy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finmlops.emulator.world.template import load_pipeline, pipelines_in


def template(body: str) -> dict[str, object]:
    return {
        "Resources": {
            "Bucket": {"Type": "AWS::S3::Bucket"},
            "Build": {
                "Type": "AWS::SageMaker::Pipeline",
                "Properties": {
                    "PipelineName": "credit-risk-model-build",
                    "PipelineDefinition": {
                        "PipelineDefinitionBody": {
                            "Fn::Sub": [body, {"ArtifactBucket": {"Ref": "Bucket"}}]
                        }
                    },
                },
            },
        }
    }


def test_definition_and_its_variables_come_from_the_template(tmp_path: Path) -> None:
    path = tmp_path / "Dev.template.json"
    path.write_text(
        json.dumps(template('{"Uri": "s3://${ArtifactBucket}/x", "Acct": "${AWS::AccountId}"}'))
    )
    pipeline = load_pipeline(path, "credit-risk-model-build")
    assert pipeline.variables == ("ArtifactBucket",)
    filled = pipeline.fill({"ArtifactBucket": "b", "AWS::AccountId": "123456789012"})
    assert json.loads(filled) == {"Uri": "s3://b/x", "Acct": "123456789012"}


def test_missing_variable_value_is_named() -> None:
    (pipeline,) = pipelines_in(template("${ArtifactBucket}"))
    with pytest.raises(KeyError, match="ArtifactBucket"):
        pipeline.fill({})


def test_unknown_pipeline_name_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(template("{}")))
    with pytest.raises(LookupError, match="no AWS::SageMaker::Pipeline named 'other'"):
        load_pipeline(path, "other")
