"""The chat notifier on the synthesized templates of every environment (cdk/alerts.py)."""

from __future__ import annotations

from typing import Any

import pytest

from finmlops.contracts import Alerts

ENVIRONMENTS = ("tooling", "dev", "stage", "prod")
PARAMETER = "/credit-risk/alerts/chat-webhook"


def _notifier(synth: Any, env: str) -> tuple[str, dict[str, Any]]:
    functions = [
        (lid, r)
        for _, _, lid, r in synth.resources("AWS::Lambda::Function", env)
        if r["Properties"].get("Handler") == Alerts.HANDLER
    ]
    assert len(functions) == 1, (env, functions)
    return functions[0]


def _statements(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    return [
        s
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::ManagedPolicy" and {"Ref": role_id} in r["Properties"]["Roles"]
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_alerts_topic_feeds_one_chat_notifier_with_its_own_dead_letter_queue(
    platform: Any, config: Any, env: str
) -> None:
    template = platform.templates[env]["Data"]
    lid, function = _notifier(platform, env)
    props = function["Properties"]
    assert props["Environment"]["Variables"] == {
        Alerts.ENV_WEBHOOK_PARAMETER: PARAMETER,
        Alerts.ENV_ENVIRONMENT: env,
    }
    assert "KmsKeyArn" in props  # environment variables encrypted with the ops key
    # Reserved only when the config asks (functions.reserved_concurrency; off by default).
    assert "ReservedConcurrentExecutions" not in props
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert "TargetArn" in props["DeadLetterConfig"]
    (invoke_config,) = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventInvokeConfig"
        and r["Properties"]["FunctionName"] == {"Ref": lid}
    ]
    assert invoke_config["Properties"]["MaximumRetryAttempts"] == 2
    (subscription,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::SNS::Subscription" and r["Properties"]["Protocol"] == "lambda"
    ]
    assert subscription["Endpoint"] == {"Fn::GetAtt": [lid, "Arn"]}
    assert "deadLetterTargetArn" in subscription["RedrivePolicy"]
    (topic,) = [lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::SNS::Topic"]
    assert subscription["TopicArn"] == {"Ref": topic}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_notifier_may_read_its_one_parameter_and_never_holds_the_url(
    platform: Any, config: Any, env: str
) -> None:
    template = platform.templates[env]["Data"]
    _, function = _notifier(platform, env)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = _statements(template, role_id)
    ssm = [s for s in statements if any(str(a).startswith("ssm:") for a in _list(s["Action"]))]
    account = config.environments.by_name(env).account
    assert ssm == [
        {
            "Sid": "ReadWebhookUrl",
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": f"arn:aws:ssm:us-east-1:{account}:parameter{PARAMETER}",
        }
    ]
    # The URL lives only in the SecureString parameter: no template names a webhook host.
    assert "hooks." not in str(template)


def test_sns_may_dead_letter_into_the_ops_key_queues_of_its_own_account(platform: Any) -> None:
    template = platform.templates["prod"]["Data"]
    (ops_key,) = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::KMS::Key" and "alerts" in r["Properties"]["Description"]
    ]
    (services,) = [
        s
        for s in ops_key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Sid") == "AllowAwsServicesOfThisAccount"
    ]
    assert "sns.amazonaws.com" in services["Principal"]["Service"]
    assert services["Condition"] == {"StringEquals": {"aws:SourceAccount": "333333333333"}}


def test_without_a_webhook_parameter_there_is_no_notifier(variant: Any) -> None:
    handlers = {
        r["Properties"].get("Handler") for *_, r in variant.resources("AWS::Lambda::Function")
    }
    assert Alerts.HANDLER not in handlers
    assert not [
        r
        for *_, r in variant.resources("AWS::SNS::Subscription")
        if r["Properties"]["Protocol"] == "lambda"
    ]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
