"""A deployed pipeline definition matched slot by slot to the template's Fn::Sub body."""

from __future__ import annotations

import json

from finmlops.verify.definitions import match_definition

TEMPLATE = json.dumps(
    {
        "Version": "2020-12-01",
        "RoleArn": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${SageMakerRoleName}",
        "Steps": [
            {"Name": "Preprocess", "Code": "s3://${ArtifactBucket}/code/preprocess.py",
             "Output": "s3://${ArtifactBucket}/out", "Group": "${ModelPackageGroupName}",
             "Literal": "${!NotASlot}", "Count": 1},
        ],
    }
)  # fmt: skip
VALUES = {
    "AWS::Partition": "aws",
    "AWS::AccountId": "111111111111",
    "SageMakerRoleName": "credit-risk-dev-sagemaker-build",
    "ArtifactBucket": "credit-risk-artifacts-111111111111-us-east-1",
    "ModelPackageGroupName": "credit-risk-xgb",
}


def deployed(**steps: object) -> str:
    text = TEMPLATE.replace("${!NotASlot}", "${NotASlot}")
    for name, value in VALUES.items():
        text = text.replace("${" + name + "}", value)
    data = json.loads(text)
    data["Steps"][0].update(steps)
    return json.dumps(data, indent=4)


def test_the_same_definition_respaced_matches_with_one_value_per_slot() -> None:
    match = match_definition(TEMPLATE, deployed())
    assert match.equal, match.differences
    assert match.bindings == VALUES


def test_a_changed_literal_is_named_by_its_path() -> None:
    match = match_definition(TEMPLATE, deployed(Count=2))
    assert match.differences == ["Steps[0].Count: 2 deployed, 1 in the template"]


def test_an_added_and_a_removed_key_are_named() -> None:
    text = json.loads(deployed(Extra="x"))
    del text["Steps"][0]["Group"]
    differences = match_definition(TEMPLATE, json.dumps(text)).differences
    assert "Steps[0].Extra: deployed, not in the template" in differences
    assert "Steps[0].Group: in the template, not deployed" in differences


def test_one_slot_with_two_values_names_the_odd_one() -> None:
    match = match_definition(TEMPLATE, deployed(Output="s3://another-bucket/out"))
    assert match.differences == [
        "Steps[0].Output: ${ArtifactBucket} is 'another-bucket' here but "
        "'credit-risk-artifacts-111111111111-us-east-1' elsewhere"
    ]


def test_a_slot_the_template_states_must_have_that_value() -> None:
    match = match_definition(TEMPLATE, deployed(), {"ModelPackageGroupName": "other-group"})
    assert match.differences == [
        "Steps[0].Group: ${ModelPackageGroupName} is 'credit-risk-xgb' here but 'other-group' elsewhere"
    ]


def test_a_literal_escaped_slot_must_stay_literal() -> None:
    match = match_definition(TEMPLATE, deployed(Literal="filled"))
    assert match.differences == [
        "Steps[0].Literal: 'filled' deployed, '${NotASlot}' in the template"
    ]


def test_text_that_is_not_json_is_a_difference() -> None:
    assert match_definition(TEMPLATE, "not json").differences[0].startswith("deployed:")
