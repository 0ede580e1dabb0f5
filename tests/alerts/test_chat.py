"""The chat notifier against SSM (moto) and a real webhook on loopback: one post per alert, junk
skipped, every failure raised (so Lambda retries and dead-letters), the URL never shown.

The webhook is on 127.0.0.1, which the Lambda's transport (`PUBLIC_HTTPS`) refuses: these tests
post through `loopback_transport()`, the test-only opening, and
`test_the_lambda_refuses_the_loopback_webhook_the_other_tests_post_to` shows the Lambda's path
refusing the same URL. Escaping, address checks and the deadline: tests/alerts/test_chat_safety.py.
"""

from __future__ import annotations

import ast
import contextlib
import json
import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from finmlops.alerts import chat
from finmlops.alerts.chat import (
    MAX_MESSAGE_CHARS,
    PUBLIC_HTTPS,
    DeliveryError,
    WebhookConfigError,
    check_webhook_url,
    loopback_transport,
    notify,
)
from finmlops.contracts import Alerts

PARAMETER = "/credit-risk/alerts/chat-webhook"
TOPIC = "arn:aws:sns:us-east-1:123456789012:credit-risk-prod-alerts"
SECRET_PATH = "/services/T0000/B0000/s3cr3t-webhook-token"


@dataclass
class Webhook:
    """A chat webhook on 127.0.0.1: records each POSTed JSON body, answers `status`."""

    url: str
    posts: list[dict[str, Any]] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    status: int = 200
    fail_when: str = ""  # a post whose text contains this is answered 500

    def texts(self) -> list[str]:
        return [post["text"] for post in self.posts]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            hook.posts.append(body)
            hook.content_types.append(self.headers["Content-Type"])
            failing = hook.fail_when and hook.fail_when in body["text"]
            status = 500 if failing else hook.status
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "https://example.com/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"no" if status >= 300 else b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}{SECRET_PATH}"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield hook
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def fresh_container() -> Iterator[None]:
    """Each test is a cold Lambda container: no cached URL, no cached client."""
    chat.forget_webhook_urls()
    chat._ssm.cache_clear()
    yield
    chat.forget_webhook_urls()
    chat._ssm.cache_clear()


@pytest.fixture(scope="module")
def moto_ssm() -> Iterator[Any]:
    """One moto SSM for the module (a client costs 0.1 s); each test starts without the parameter."""
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")


@pytest.fixture
def ssm(moto_ssm: Any) -> Iterator[Any]:
    yield moto_ssm
    with contextlib.suppress(moto_ssm.exceptions.ParameterNotFound):
        moto_ssm.delete_parameter(Name=PARAMETER)


def _store(ssm: Any, url: str, *, kind: str = "SecureString") -> None:
    ssm.put_parameter(Name=PARAMETER, Value=url, Type=kind, Overwrite=True)


def _record(message: str, *, subject: str | None = None, message_id: str = "m-1") -> dict:
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": f"{TOPIC}:0f1e2d3c",
        "Sns": {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": TOPIC,
            "Subject": subject,
            "Message": message,
            "Timestamp": "2026-11-28T23:05:00.123Z",
            "SignatureVersion": "1",
            "Signature": "c2lnbmF0dXJl",
            "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/cert.pem",
            "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
            "MessageAttributes": {},
        },
    }


def _alarm(**changes: Any) -> str:
    alarm = {
        "AlarmName": "credit-risk-prod-data-drift",
        "AlarmDescription": "Share of drifted features in production inputs is too high",
        "AWSAccountId": "123456789012",
        "AlarmConfigurationUpdatedTimestamp": "2026-11-28T20:00:00.000+0000",
        "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints [0.5] were "
        "greater than or equal to the threshold (0.3)",
        "StateChangeTime": "2026-11-28T23:05:00.000+0000",
        "Region": "US East (N. Virginia)",
        "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:credit-risk-prod-data-drift",
        "OldStateValue": "OK",
        "OKActions": [],
        "AlarmActions": [TOPIC],
        "InsufficientDataActions": [],
        "Trigger": {
            "MetricName": "dataset_drift_share",
            "Namespace": "finmlops/drift",
            "Statistic": "MAXIMUM",
            "Dimensions": [{"value": "credit-risk-xgb", "name": "ModelPackageGroup"}],
            "Period": 3600,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "Threshold": 0.3,
            "TreatMissingData": "missing",
        },
    }
    alarm.update(changes)
    return json.dumps(alarm)


def _event(*records: Any) -> dict[str, Any]:
    return {"Records": list(records)}


LOOPBACK = loopback_transport()


def _notify(ssm: Any, event: Any, environment: str = "prod") -> dict[str, int]:
    return notify(event, ssm=ssm, parameter=PARAMETER, environment=environment, transport=LOOPBACK)


def test_an_alarm_becomes_one_post_with_its_state_name_reason_and_environment(ssm, webhook):
    _store(ssm, webhook.url)
    subject = 'ALARM: "credit-risk-prod-data-drift" in US East (N. Virginia)'

    summary = _notify(ssm, _event(_record(_alarm(), subject=subject)))

    assert summary == {"posted": 1, "skipped": 0, "failed": 0}
    assert webhook.content_types == ["application/json"]
    assert webhook.texts() == [
        "[prod] ALARM credit-risk-prod-data-drift (OK -> ALARM): Threshold Crossed: 1 out of "
        "the last 1 datapoints [0.5] were greater than or equal to the threshold (0.3)\n"
        "Share of drifted features in production inputs is too high\n"
        "At 2026-11-28T23:05:00.000+0000 in US East (N. Virginia)"
    ]


def test_an_alarm_returning_to_ok_says_so(ssm, webhook):
    _store(ssm, webhook.url)
    recovered = _alarm(NewStateValue="OK", OldStateValue="ALARM", AlarmDescription=None)

    _notify(ssm, _event(_record(recovered)), environment="stage")

    (text,) = webhook.texts()
    assert text.startswith("[stage] OK credit-risk-prod-data-drift (ALARM -> OK): Threshold")
    assert "None" not in text


def test_a_plain_text_message_is_posted_with_its_subject(ssm, webhook):
    _store(ssm, webhook.url)
    record = _record("Promotion of credit-risk-xgb/3 to prod finished.", subject="Deployed")

    _notify(ssm, _event(record))

    assert webhook.texts() == [
        "[prod] Deployed\nPromotion of credit-risk-xgb/3 to prod finished.\n"
        "At 2026-11-28T23:05:00.123Z"
    ]


def test_a_message_without_subject_or_environment_is_labelled_with_its_topic(ssm, webhook):
    _store(ssm, webhook.url)

    _notify(ssm, _event(_record("disk almost full")), environment="")

    (text,) = webhook.texts()
    assert text.startswith(
        "[credit-risk-prod-alerts] Message on credit-risk-prod-alerts\ndisk almost full"
    )


def test_other_json_is_posted_as_readable_lines_without_its_token(ssm, webhook):
    _store(ssm, webhook.url)
    approval = {
        "region": "us-east-1",
        "consoleLink": "https://console.aws.amazon.com/codesuite/codepipeline/pipelines/p/view",
        "approval": {
            "pipelineName": "credit-risk-promotion",
            "stageName": "Prod",
            "actionName": "ApproveProd",
            "token": "1a2b3c4d-approval-token",
            "expires": "2026-12-05T23:05Z",
            "externalEntityLink": None,
            "customData": "Approve deployment of credit-risk-xgb/3 to prod",
        },
    }
    subject = "APPROVAL NEEDED: AWS CodePipeline credit-risk-promotion for action ApproveProd"

    _notify(ssm, _event(_record(json.dumps(approval), subject=subject)))

    (text,) = webhook.texts()
    assert text.startswith(f"[prod] {subject}\nregion: us-east-1\n")
    assert "approval.pipelineName: credit-risk-promotion" in text
    assert "approval.customData: Approve deployment of credit-risk-xgb/3 to prod" in text
    assert "approval.token: (redacted)" in text
    assert "1a2b3c4d" not in text


MALFORMED = [
    ("not a record", "Records[1]: expected an object"),
    ({"EventSource": "aws:s3", "Sns": {"Message": "x"}}, "Records[1].EventSource"),
    ({"EventSource": "aws:sns"}, "Records[1].Sns: expected an object"),
    ({"Sns": "text"}, "Records[1].Sns: expected an object"),
    ({"Sns": {"Subject": "no message"}}, "Records[1].Sns.Message: expected a string"),
    ({"Sns": {"Message": {"AlarmName": "x"}}}, "Records[1].Sns.Message: expected a string"),
    ({"Sns": {"Message": "x", "Subject": 7}}, "Records[1].Sns.Subject: expected a string"),
]


@pytest.mark.parametrize(("record", "problem"), MALFORMED)
def test_a_malformed_record_is_logged_and_skipped_and_the_others_are_posted(
    ssm, webhook, caplog, record, problem
):
    _store(ssm, webhook.url)
    good = [_record(f"message {n}", subject="S", message_id=f"m-{n}") for n in (1, 2)]

    with caplog.at_level(logging.INFO, logger=chat.__name__):
        summary = _notify(ssm, _event(good[0], record, good[1]))

    assert summary == {"posted": 2, "skipped": 1, "failed": 0}
    assert [t.split("\n")[1] for t in webhook.texts()] == ["message 1", "message 2"]
    (skipped,) = [json.loads(r.getMessage()) for r in caplog.records if r.levelname == "WARNING"]
    assert skipped["result"] == "skipped"
    assert skipped["record"] == "Records[1]"
    assert problem in skipped["reason"]


@pytest.mark.parametrize("event", [None, [], "text", {}, {"Records": "x"}])
def test_a_malformed_event_is_logged_and_reads_no_parameter(event, caplog):
    class NoSsm:
        def get_parameter(self, **kwargs: Any) -> Any:
            raise AssertionError("nothing to post: the parameter must not be read")

    with caplog.at_level(logging.INFO, logger=chat.__name__):
        summary = notify(event, ssm=NoSsm(), parameter=PARAMETER, environment="prod")

    assert summary == {"posted": 0, "skipped": 1, "failed": 0}
    assert "malformed event" in caplog.text


def test_a_webhook_answering_500_raises_after_trying_every_record_naming_the_message_id(
    ssm, webhook, caplog
):
    _store(ssm, webhook.url)
    webhook.fail_when = "first"
    event = _event(
        _record("first alert", message_id="m-first"),
        _record("second alert", message_id="m-second"),
    )

    with caplog.at_level(logging.INFO, logger=chat.__name__), pytest.raises(DeliveryError) as err:
        _notify(ssm, event)

    assert len(webhook.posts) == 2  # the second record was tried after the first failed
    assert err.value.failed == {"m-first": "the webhook answered 500: no"}
    assert err.value.summary == {"posted": 1, "skipped": 0, "failed": 1}
    assert "m-first" in str(err.value) and PARAMETER in str(err.value)
    assert "m-second" not in str(err.value)
    assert "s3cr3t" not in str(err.value) + caplog.text


def test_an_unreachable_webhook_raises_naming_the_message_id(ssm):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _store(ssm, f"http://127.0.0.1:{port}{SECRET_PATH}")

    with pytest.raises(DeliveryError, match="m-1: the webhook could not be reached") as err:
        _notify(ssm, _event(_record("alert")))

    assert "s3cr3t" not in str(err.value)


def test_a_redirect_is_a_failure_not_a_post(ssm, webhook):
    _store(ssm, webhook.url)
    webhook.status = 302

    with pytest.raises(DeliveryError, match="answered 302"):
        _notify(ssm, _event(_record("alert")))

    assert len(webhook.posts) == 1  # not followed to https://example.com/elsewhere


def test_a_plain_http_url_to_another_host_is_refused_naming_the_parameter_not_the_url(ssm, caplog):
    url = f"http://example.com{SECRET_PATH}"
    _store(ssm, url)

    with caplog.at_level(logging.DEBUG), pytest.raises(WebhookConfigError) as err:
        notify(_event(_record("alert")), ssm=ssm, parameter=PARAMETER)  # the Lambda's transport

    assert PARAMETER in str(err.value)
    assert "https://" in str(err.value)
    for part in (url, "example.com", "s3cr3t"):
        assert part not in str(err.value)
        assert part not in caplog.text


def test_a_missing_parameter_raises_naming_it(ssm):
    with pytest.raises(WebhookConfigError, match=f"{PARAMETER}: no such SSM parameter"):
        _notify(ssm, _event(_record("alert")))


def test_a_plain_string_parameter_is_refused_as_the_url_is_a_secret(ssm, webhook):
    _store(ssm, webhook.url, kind="String")

    with pytest.raises(WebhookConfigError, match="must be a SecureString") as err:
        _notify(ssm, _event(_record("alert")))

    assert "s3cr3t" not in str(err.value)
    assert webhook.posts == []


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T/B/x",
        " https://prod-00.westeurope.logic.azure.com:443/workflows/x/triggers/manual\n",
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]:9000/hook",
    ],
)
def test_https_urls_are_accepted_and_loopback_http_only_through_the_test_opening(url):
    if url.startswith("http://"):
        assert check_webhook_url(url, PARAMETER, LOOPBACK) == url.strip()
        with pytest.raises(WebhookConfigError, match="must start with https://"):
            check_webhook_url(url, PARAMETER)
    else:
        assert check_webhook_url(url, PARAMETER) == url.strip()


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.8/hook",
        "https://10.0.0.8/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fe80::1]/hook",
        "https://127.0.0.1:8443/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "http://127.0.0.1:8080/hook",
        "http://hooks.slack.com/services/T/B/x",
        "ftp://127.0.0.1/hook",
        "file:///etc/passwd",
        "https://",
        "hooks.slack.com/services/T/B/x",
        "https://host:port/hook",
        "",
    ],
)
def test_other_urls_are_refused_naming_the_parameter(url):
    with pytest.raises(WebhookConfigError, match=PARAMETER) as err:
        check_webhook_url(url, PARAMETER)
    for secret_part in ("/hook", "T/B/x", "passwd", "10.0.0.8", "meta-data"):
        assert secret_part not in str(err.value)


@pytest.fixture
def get_parameter_calls(ssm: Any) -> Iterator[list[str]]:
    """The names of the GetParameter calls made with the `ssm` client (a botocore event hook)."""
    calls: list[str] = []
    event = "before-parameter-build.ssm.GetParameter"
    ssm.meta.events.register(event, lambda params, **_: calls.append(params["Name"]), "count")
    yield calls
    ssm.meta.events.unregister(event, unique_id="count")


def test_the_url_is_read_once_per_container(ssm, webhook, get_parameter_calls):
    _store(ssm, webhook.url)
    calls = get_parameter_calls

    _notify(ssm, _event(_record("first")))
    _notify(ssm, _event(_record("second")))

    assert calls == [PARAMETER]
    assert len(webhook.posts) == 2


def test_a_failed_post_makes_the_next_invocation_read_the_parameter_again(
    ssm, webhook, get_parameter_calls
):
    _store(ssm, webhook.url)
    calls = get_parameter_calls
    webhook.status = 404  # e.g. the webhook was rotated: the parameter now holds a new one

    with pytest.raises(DeliveryError):
        _notify(ssm, _event(_record("first")))
    webhook.status = 200
    _notify(ssm, _event(_record("retried")))

    assert calls == [PARAMETER, PARAMETER]


def test_the_handler_reads_its_parameter_and_environment_from_the_lambda_environment(
    ssm, webhook, monkeypatch
):
    # The handler posts with the module's PUBLIC_HTTPS; here that is the loopback opening, set
    # in Python as only a test can (the next test shows the handler's own refusing this URL).
    monkeypatch.setattr(chat, "PUBLIC_HTTPS", LOOPBACK)
    monkeypatch.setenv(Alerts.ENV_WEBHOOK_PARAMETER, PARAMETER)
    monkeypatch.setenv(Alerts.ENV_ENVIRONMENT, "prod")
    _store(ssm, webhook.url)

    first = chat.handler(_event(_record(_alarm())), None)
    ssm.delete_parameter(Name=PARAMETER)  # a warm container does not read it again
    second = chat.handler(_event(_record("still posted", subject="Note")), None)

    assert first == second == {"posted": 1, "skipped": 0, "failed": 0}
    assert webhook.texts()[0].startswith("[prod] ALARM credit-risk-prod-data-drift")
    assert webhook.texts()[1].startswith("[prod] Note\nstill posted")


def test_the_lambda_refuses_the_loopback_webhook_the_other_tests_post_to(ssm, webhook, monkeypatch):
    monkeypatch.setenv(Alerts.ENV_WEBHOOK_PARAMETER, PARAMETER)
    monkeypatch.setenv(Alerts.ENV_ENVIRONMENT, "prod")
    _store(ssm, webhook.url)
    assert chat.PUBLIC_HTTPS is PUBLIC_HTTPS  # not patched: the Lambda's own transport

    with pytest.raises(
        WebhookConfigError, match=f"{PARAMETER}: the webhook URL must start with https://"
    ) as err:
        chat.handler(_event(_record(_alarm())), None)

    assert webhook.posts == []
    assert "s3cr3t" not in str(err.value) and "127.0.0.1" not in str(err.value)


def test_the_handler_without_its_parameter_variable_raises(monkeypatch):
    monkeypatch.delenv(Alerts.ENV_WEBHOOK_PARAMETER, raising=False)

    with pytest.raises(WebhookConfigError, match=Alerts.ENV_WEBHOOK_PARAMETER):
        chat.handler(_event(_record("alert")), None)


def test_messages_are_bounded_and_keep_their_header(ssm, webhook):
    _store(ssm, webhook.url)
    long_alarm = _alarm(NewStateReason="x" * 20_000, AlarmDescription="d" * 20_000)
    long_text = _record("y" * 20_000, subject="Long", message_id="m-2")

    _notify(ssm, _event(_record(long_alarm), long_text))

    alarm_text, plain_text = webhook.texts()
    for text in (alarm_text, plain_text):
        assert len(text) <= MAX_MESSAGE_CHARS
        assert "(truncated)" in text
    assert alarm_text.startswith("[prod] ALARM credit-risk-prod-data-drift (OK -> ALARM): xxx")
    assert plain_text.startswith("[prod] Long\nyyy")
    assert plain_text.endswith("(truncated)\nAt 2026-11-28T23:05:00.123Z")  # detail bounded


LAMBDA_RUNTIME_PROVIDES = {"boto3", "botocore", "finmlops"}

_IMPORT_IN_A_FRESH_INTERPRETER = """
import sys
before = set(sys.modules)
import finmlops.alerts.chat as chat
print(chat.handler.__name__)
new = {name.split(".")[0] for name in set(sys.modules) - before}
print(" ".join(sorted(new - set(sys.stdlib_module_names))))
"""


def test_the_module_imports_only_the_standard_library_and_boto3():
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_IN_A_FRESH_INTERPRETER],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-800:]
    name, third_party = result.stdout.splitlines()
    assert name == "handler"
    assert third_party == "finmlops"  # boto3 only when AWS is first called

    # Every import statement, the deferred ones included: stdlib, boto3, botocore, contracts.
    tree = ast.parse(Path(chat.__file__).read_text())
    imported = {
        alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names
    }
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    outside = {m for m in imported if m.split(".")[0] not in sys.stdlib_module_names}
    assert outside == {"boto3", "botocore.exceptions", "finmlops.contracts"}
