"""The chat notifier: each message on an environment's alerts topic becomes one chat post.

`handler(event, context)` is the Lambda entry point (subscribed to the SNS topic; settings from
the environment, the SSM client built on first call); `notify` does the work with the client and
settings passed in. A CloudWatch alarm reads `[prod] ALARM <name> (OK -> ALARM): <reason>`, with
its description and time; any other message, its subject and a shortened body. The post is
`{"text": ...}` JSON, which Slack incoming webhooks and Teams workflows both accept.

The webhook URL is a secret: it is read from an SSM SecureString parameter once per container
(again after a failed post, in case it was rotated), must be https (plain http only to a loopback
host, for the emulator and tests), and never appears in a log line or an error.

Malformed records are logged and skipped, never raised. A URL that cannot be had (the parameter
missing, unreadable, not a SecureString, not https) is raised before anything is posted; a
webhook that refuses a post, redirects it or cannot be reached is raised after every record was
tried, naming the message ids not posted. Either way Lambda retries the event twice and then
dead-letters it, and the dead-letter queue's alarm says so.

Standard library and boto3 only (imported when first needed): the Lambda has no other library.
"""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from http.client import HTTPException, HTTPMessage
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

from finmlops.contracts import Alerts

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 3000
# A non-alarm body, or an alarm's reason, within the post's bound (the header and time stay).
MAX_DETAIL_CHARS = 1500
TIMEOUT_SECONDS = 10.0
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
TRUNCATED = " … (truncated)"
# Keys of a JSON message whose values are not repeated in chat (a CodePipeline approval's token).
_SECRET_KEY = re.compile(r"token|secret|password|credential|signature", re.IGNORECASE)


class ParameterStore(Protocol):
    """The one SSM call the notifier makes (boto3's ssm client has it)."""

    def get_parameter(self, **kwargs: Any) -> Mapping[str, Any]: ...


# Posts one JSON payload to the webhook URL; raises WebhookError when it is not accepted.
Post = Callable[[str, Mapping[str, Any]], None]


class WebhookConfigError(RuntimeError):
    """The webhook URL cannot be had; the message names the parameter, never the URL."""


class WebhookError(RuntimeError):
    """One post was not accepted: a non-2xx answer, a redirect, or no connection."""


class DeliveryError(RuntimeError):
    """Records not posted, after every record was tried: `failed` maps message id -> why."""

    def __init__(self, parameter: str, failed: dict[str, str], summary: dict[str, int]) -> None:
        self.failed = failed
        self.summary = summary
        reasons = "; ".join(f"{message_id}: {why}" for message_id, why in failed.items())
        tried = summary["posted"] + summary["failed"]
        super().__init__(
            f"{len(failed)} of {tried} alert(s) not posted to the chat webhook in {parameter}: "
            f"{reasons}"
        )


class MalformedRecordError(ValueError):
    """The record is not an SNS notification; the message names the field."""


@dataclass(frozen=True)
class Notice:
    """One SNS notification, as much of it as the chat message uses."""

    message_id: str
    subject: str
    message: str
    topic_arn: str = ""
    timestamp: str = ""


def _string(sns: Mapping[str, Any], name: str, where: str) -> str:
    value = sns.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedRecordError(
            f"{where}.Sns.{name}: expected a string (got {type(value).__name__})"
        )
    return value


def parse_record(record: Any, index: int) -> Notice:
    """The notification in `event["Records"][index]`; MalformedRecordError names what is wrong."""
    where = f"Records[{index}]"
    if not isinstance(record, Mapping):
        raise MalformedRecordError(f"{where}: expected an object (got {type(record).__name__})")
    source = record.get("EventSource", "aws:sns")
    if source != "aws:sns":
        raise MalformedRecordError(f"{where}.EventSource: expected 'aws:sns' (got {source!r:.80})")
    sns = record.get("Sns")
    if not isinstance(sns, Mapping):
        raise MalformedRecordError(f"{where}.Sns: expected an object (got {type(sns).__name__})")
    if not isinstance(sns.get("Message"), str):
        raise MalformedRecordError(
            f"{where}.Sns.Message: expected a string (got {type(sns.get('Message')).__name__})"
        )
    return Notice(
        message_id=_string(sns, "MessageId", where) or where,
        subject=_string(sns, "Subject", where),
        message=sns["Message"],
        topic_arn=_string(sns, "TopicArn", where),
        timestamp=_string(sns, "Timestamp", where),
    )


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - len(TRUNCATED)].rstrip() + TRUNCATED


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _json_object(message: str) -> dict[str, Any] | None:
    if not message.lstrip().startswith("{"):
        return None
    try:
        body = json.loads(message)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _flatten(body: Mapping[str, Any], prefix: str = "") -> list[str]:
    """`key: value` lines of a JSON object (nested keys dotted, secret-looking keys redacted)."""
    lines = []
    for key, value in body.items():
        name = f"{prefix}{key}"
        if _SECRET_KEY.search(str(key)):
            lines.append(f"{name}: (redacted)")
        elif isinstance(value, Mapping):
            lines.extend(_flatten(value, f"{name}."))
        elif value is None or value == "":
            continue
        else:
            lines.append(f"{name}: {value if isinstance(value, str) else json.dumps(value)}")
    return lines


def _alarm_lines(alarm: Mapping[str, Any], label: str) -> list[str]:
    new = _text(alarm["NewStateValue"])
    old = _text(alarm.get("OldStateValue")) or "?"
    reason = _shorten(_text(alarm.get("NewStateReason")), MAX_DETAIL_CHARS)
    header = f"[{label}] {new} {_text(alarm['AlarmName'])} ({old} -> {new})"
    lines = [f"{header}: {reason}" if reason else header]
    if description := _text(alarm.get("AlarmDescription")):
        lines.append(description)
    if at := _text(alarm.get("StateChangeTime")):
        region = _text(alarm.get("Region"))
        lines.append(f"At {at} in {region}" if region else f"At {at}")
    return lines


def format_message(notice: Notice, *, environment: str) -> str:
    """The chat text of one notification: plain text, at most MAX_MESSAGE_CHARS characters."""
    topic = notice.topic_arn.rsplit(":", 1)[-1]
    label = environment or topic or "alerts"
    body = _json_object(notice.message)
    if body is not None and isinstance(body.get("AlarmName"), str) and body.get("NewStateValue"):
        return _shorten("\n".join(_alarm_lines(body, label)), MAX_MESSAGE_CHARS)
    subject = notice.subject.strip() or f"Message on {topic or 'the alerts topic'}"
    detail = "\n".join(_flatten(body)) if body is not None else notice.message.strip()
    lines = [f"[{label}] {subject}"]
    if detail:
        lines.append(_shorten(detail, MAX_DETAIL_CHARS))
    if notice.timestamp:
        lines.append(f"At {notice.timestamp}")
    return _shorten("\n".join(lines), MAX_MESSAGE_CHARS)


# The webhook URL by parameter name: read once per container.
_webhook_urls: dict[str, str] = {}


def forget_webhook_urls() -> None:
    """Make the next call read the parameter again (after a failed post; tests)."""
    _webhook_urls.clear()


def check_webhook_url(value: str, parameter: str) -> str:
    """The URL if it is https (or http to a loopback host); else WebhookConfigError."""
    url = value.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (a malformed port raises here, not at the first post)
    except ValueError:
        raise WebhookConfigError(f"{parameter}: the parameter's value is not a URL") from None
    if (parts.scheme == "https" and host) or (parts.scheme == "http" and host in LOOPBACK_HOSTS):
        return url
    if not parts.scheme:
        got = "no URL scheme"
    elif not host:
        got = "a URL without a host"
    else:
        got = f"a {parts.scheme!r} URL to a host that is not loopback"
    raise WebhookConfigError(
        f"{parameter}: the webhook URL must start with https:// (plain http only to "
        f"127.0.0.1, localhost or ::1); the parameter holds {got}"
    )


def _read_parameter(ssm: ParameterStore, parameter: str) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    # botocore's parser logs every response body at DEBUG: this one holds the decrypted URL, and
    # a function log level of DEBUG (Lambda's logging config) must not print it.
    logging.getLogger("botocore.parsers").setLevel(logging.INFO)
    try:
        response = ssm.get_parameter(Name=parameter, WithDecryption=True)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ParameterNotFound":
            raise WebhookConfigError(
                f"{parameter}: no such SSM parameter; create it as a SecureString holding the "
                "chat webhook URL (docs/alerts.md)"
            ) from None
        raise WebhookConfigError(f"{parameter}: cannot read the SSM parameter: {exc}") from exc
    except BotoCoreError as exc:
        raise WebhookConfigError(f"{parameter}: cannot read the SSM parameter: {exc}") from exc
    found = response.get("Parameter") or {}
    if found.get("Type") != "SecureString":
        raise WebhookConfigError(
            f"{parameter}: must be a SecureString parameter (it is {found.get('Type')}): "
            "the webhook URL is a secret"
        )
    return str(found.get("Value", ""))


def webhook_url(ssm: ParameterStore, parameter: str) -> str:
    """The checked webhook URL held by `parameter`, read once per container."""
    if parameter not in _webhook_urls:
        _webhook_urls[parameter] = check_webhook_url(_read_parameter(ssm, parameter), parameter)
    return _webhook_urls[parameter]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirected POST would be re-sent as a bodiless GET and look delivered: refuse it."""

    def redirect_request(  # noqa: PLR0917 (urllib's signature)
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


def _redacted(text: str, url: str) -> str:
    path = urlsplit(url).path
    text = text.replace(url, "<webhook URL>")
    return text.replace(path, "<webhook path>") if len(path) > 1 else text


def post_json(url: str, payload: Mapping[str, Any], *, timeout: float = TIMEOUT_SECONDS) -> None:
    """POST `payload` as JSON; WebhookError (without the URL) unless the answer is 2xx."""
    if urlsplit(url).scheme not in {"https", "http"}:
        raise ValueError("the webhook URL must be https (see check_webhook_url)")
    request = urllib.request.Request(  # noqa: S310 (http(s) only, checked above)
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    handlers: list[urllib.request.BaseHandler] = [_NoRedirects()]
    if urlsplit(url).hostname in LOOPBACK_HOSTS:
        handlers.append(urllib.request.ProxyHandler({}))  # never a proxy for a local webhook
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=timeout) as response:
            status = int(response.status)
            response.read(4096)
    except urllib.error.HTTPError as exc:
        try:
            answer = exc.read(200).decode("utf-8", "replace").strip()
        except OSError:
            answer = ""
        finally:
            exc.close()
        why = f"the webhook answered {exc.code}" + (f": {answer}" if answer else "")
        raise WebhookError(_redacted(why, url)) from None
    except (OSError, HTTPException) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        why = f"the webhook could not be reached: {type(reason).__name__}: {reason}"
        raise WebhookError(_redacted(why, url)) from None
    if not 200 <= status < 300:
        raise WebhookError(f"the webhook answered {status}")


def _log(level: int, **fields: Any) -> None:
    logger.log(level, json.dumps(fields, sort_keys=True))


def _notices(event: Any) -> tuple[list[Notice], int]:
    """The well-formed notifications of an event, and how many were skipped (each logged)."""
    if not isinstance(event, Mapping) or not isinstance(event.get("Records"), list):
        what = "Records: expected a list" if isinstance(event, Mapping) else "expected an object"
        _log(logging.WARNING, result="skipped", record="event", reason=f"malformed event: {what}")
        return [], 1
    notices, skipped = [], 0
    for index, record in enumerate(event["Records"]):
        try:
            notices.append(parse_record(record, index))
        except MalformedRecordError as exc:
            skipped += 1
            _log(logging.WARNING, result="skipped", record=f"Records[{index}]", reason=str(exc))
    return notices, skipped


def notify(
    event: Any,
    *,
    ssm: ParameterStore,
    parameter: str,
    environment: str = "",
    post: Post = post_json,
) -> dict[str, int]:
    """Post one chat message per SNS record; the counts of posted, skipped and failed records.

    The URL is read only when there is something to post; WebhookConfigError, before any post,
    when it cannot be had. DeliveryError, after every record was tried, when a post failed.
    """
    notices, skipped = _notices(event)
    summary = {"posted": 0, "skipped": skipped, "failed": 0}
    if not notices:
        return summary
    url = webhook_url(ssm, parameter)
    failed: dict[str, str] = {}
    for notice in notices:
        try:
            post(url, {"text": format_message(notice, environment=environment)})
        except WebhookError as exc:
            failed[notice.message_id] = str(exc)
            _log(logging.ERROR, result="failed", message_id=notice.message_id, reason=str(exc))
        else:
            summary["posted"] += 1
            _log(logging.INFO, result="posted", message_id=notice.message_id)
    if failed:
        summary["failed"] = len(failed)
        # The retry reads the parameter again: the URL may have been rotated since it was read.
        _webhook_urls.pop(parameter, None)
        raise DeliveryError(parameter, failed, summary)
    return summary


@cache
def _ssm() -> Any:
    import boto3

    return boto3.session.Session().client("ssm")


def handler(event: Any, context: Any) -> dict[str, int]:
    """Lambda entry point (contracts.Alerts.HANDLER)."""
    logging.getLogger("finmlops").setLevel(logging.INFO)
    parameter = os.environ.get(Alerts.ENV_WEBHOOK_PARAMETER, "").strip()
    if not parameter:
        raise WebhookConfigError(f"{Alerts.ENV_WEBHOOK_PARAMETER}: environment variable is not set")
    environment = os.environ.get(Alerts.ENV_ENVIRONMENT, "").strip()
    return notify(event, ssm=_ssm(), parameter=parameter, environment=environment)
