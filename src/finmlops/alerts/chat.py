"""The chat notifier: each message on an environment's alerts topic becomes one chat post.

`handler(event, context)` is the Lambda entry point (subscribed to the SNS topic; settings from
the environment, the SSM client built on first call); `notify` does the work with the client and
settings passed in. A CloudWatch alarm reads `[prod] ALARM <name> (OK -> ALARM): <reason>`, with
its description and time; any other message, its subject and a shortened body. The post is
`{"text": ...}` JSON, which Slack incoming webhooks and Teams workflows both accept, escaped for
the service the URL's host names (`chat_payload`): whatever an alarm or message says is shown
literally, never as a mention (`<!channel>`), a link or formatting.

The webhook URL is a secret: it is read from an SSM SecureString parameter once per container
(again after a failed post, in case it was rotated), and never appears in a log line or an
error. It must be https to a public address (`Transport`, `PUBLIC_HTTPS`): loopback,
link-local (the metadata address), private and other special addresses are refused, on the
addresses the host resolves to, at connect time. One post takes at most TIMEOUT_SECONDS in
all. The emulator and the tests post to 127.0.0.1 through `loopback_transport()`, passed to
`notify` in code; the handler never does.

Malformed records are logged and skipped, never raised. A URL that cannot be had (the parameter
missing, unreadable, not a SecureString, not https) is raised before anything is posted; a
webhook that refuses a post, redirects it, resolves to a refused address, is too slow or cannot
be reached is raised after every record was tried, naming the message ids not posted. Either
way Lambda retries the event twice and then dead-letters it, and the dead-letter queue's alarm
says so.

Standard library and boto3 only (imported when first needed): the Lambda has no other library.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from http.client import HTTPConnection, HTTPException
from typing import Any, Protocol
from urllib.parse import SplitResult, urlsplit

from finmlops.contracts import Alerts

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 3000
# A non-alarm body, or an alarm's reason, within the post's bound (the header and time stay).
MAX_DETAIL_CHARS = 1500
# The total time one post may take, from connect to the last byte of the answer read.
TIMEOUT_SECONDS = 10.0
TRUNCATED = " … (truncated)"
# Keys of a JSON message whose values are not repeated in chat (a CodePipeline approval's token).
_SECRET_KEY = re.compile(r"token|secret|password|credential|signature", re.IGNORECASE)


class ParameterStore(Protocol):
    """The one SSM call the notifier makes (boto3's ssm client has it)."""

    def get_parameter(self, **kwargs: Any) -> Mapping[str, Any]: ...


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


# ------------------------------------------------------------------ what reaches the chat
class Dialect(StrEnum):
    """How the chat service reads `text`: chosen by the webhook's host (`dialect_of`)."""

    SLACK = "slack"  # mrkdwn with <...> control sequences
    MARKDOWN = "markdown"  # Teams workflows (Adaptive Card TextBlock, message text) and others


# Slack's incoming webhooks live on these hosts (api.slack.com/messaging/webhooks; GovSlack).
SLACK_HOSTS = frozenset({"hooks.slack.com", "hooks.slack-gov.com"})


def dialect_of(url: str) -> Dialect:
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    return Dialect.SLACK if host in SLACK_HOSTS else Dialect.MARKDOWN


def slack_escape(text: str) -> str:
    """`text` for Slack, shown literally.

    Slack, "Formatting text for app surfaces" (docs.slack.dev/messaging/formatting-message-text,
    section "Escaping text"): `&`, `<` and `>` are its control characters and must be sent as
    `&amp;`, `&lt;` and `&gt;`; only these three entities are decoded for display. Every
    control sequence (`<!channel>`, `<!here>`, `<@U123>`, `<#C123>`, `<!subteam^S1>`,
    `<!date^...>`, `<https://evil|bank.com>`) opens with `<`, so none survives; the formatting
    characters (`*bold*`, `_italic_`, ...) are left to `mrkdwn: false` (`chat_payload`).
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# CommonMark (spec 0.31, "Backslash escapes": any ASCII punctuation may be escaped) is what
# Adaptive Cards' TextBlock reads (Microsoft Learn, Adaptive Cards "Text features": Markdown,
# a CommonMark subset: bold, italic, lists, [Title](url) links) and Teams' message markdown.
_INLINE_MARKUP = re.compile(r"[\\`*_~]")  # emphasis, code spans, strike-through, the escape
_LINK_CLOSE = re.compile(r"\](?=[(\[:])")  # [text](url), [text][ref], [ref]: url definitions
_BLOCK_START = re.compile(r"^([ \t]*)(?:([#>+\-|])|(\d{1,9})([.)]))", re.MULTILINE)


def markdown_escape(text: str) -> str:
    """`text` for a Markdown reader (Teams), shown literally.

    `&` and `<` become entities (CommonMark decodes them for display): no HTML, no `<at>`
    mention (Teams: Adaptive Card mentions are `<at>name</at>` text with an entity; "Format
    cards in Teams"), no `<https://...>` autolink. A link needs `](`, `][` or `]:`: that `]` is
    escaped. Emphasis, code and strike-through characters are escaped, and so is a heading,
    quote, list or table marker at the start of a line. Ordinary text (`[prod] ... (OK -> ALARM)`)
    reads the same.
    """
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    text = _INLINE_MARKUP.sub(r"\\\g<0>", text)
    text = _LINK_CLOSE.sub(r"\\]", text)

    def block(match: re.Match[str]) -> str:
        indent, marker, number, delimiter = match.groups()
        return f"{indent}\\{marker}" if marker else f"{indent}{number}\\{delimiter}"

    return _BLOCK_START.sub(block, text)


def chat_payload(text: str, dialect: Dialect) -> dict[str, Any]:
    """The JSON body of one post: `text` escaped for the dialect.

    Slack: `mrkdwn: false` renders the text without mrkdwn formatting, and `unfurl_links` /
    `unfurl_media: false` show no preview of a link the text contains (chat.postMessage
    arguments, which incoming webhooks accept). Teams workflows read `text`.
    """
    if dialect is Dialect.SLACK:
        return {
            "text": slack_escape(text),
            "mrkdwn": False,
            "unfurl_links": False,
            "unfurl_media": False,
        }
    return {"text": markdown_escape(text)}


# ------------------------------------------------------------------ where posts may go
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Addresses resolved for a host: (family, socket address) pairs, as socket.getaddrinfo gives.
Resolve = Callable[[str, int], list[tuple[int, tuple[Any, ...]]]]
METADATA_ADDRESSES = frozenset({
    ipaddress.ip_address("169.254.169.254"),  # EC2 / Lambda instance metadata
    ipaddress.ip_address("fd00:ec2::254"),  # its IPv6 address
    ipaddress.ip_address("169.254.170.2"),  # the ECS / Lambda container credentials endpoint
})  # fmt: skip
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052's well-known prefix


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def why_not_public(address: IPAddress) -> str | None:
    """None for a public unicast address; else what it is.

    The IANA special-purpose address registries (RFC 6890 and its updates), as Python's
    `ipaddress` knows them: loopback, link-local (169.254.0.0/16 with the metadata address,
    fe80::/10), private (RFC 1918, fc00::/7), unspecified, multicast, reserved, and shared or
    documentation space (not `is_global`). An IPv6 address carrying an IPv4 one is judged by it.
    """
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
    if address in METADATA_ADDRESSES:
        return "the instance metadata address"
    if isinstance(address, ipaddress.IPv6Address) and (inner := _embedded_ipv4(address)):
        return why_not_public(inner)
    kinds = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),
    )
    return next((kind for kind, found in kinds if found), None)


def why_not_loopback(address: IPAddress) -> str | None:
    return None if address.is_loopback else "not loopback"


def _getaddrinfo(host: str, port: int) -> list[tuple[int, tuple[Any, ...]]]:
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [(family, sockaddr) for family, _, _, _, sockaddr in found]


def _address(sockaddr: tuple[Any, ...]) -> IPAddress:
    return ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])


class _Deadline:
    """One post's total time limit: http.client's (and urllib's) timeout bounds each socket
    operation, so a webhook that trickles a byte at a time could hold a post for ever. When
    the time is up, the connection is shut down, which ends whatever read or write waits."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = threading.Event()
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def remaining(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            self.expired.set()
            raise TimeoutError("deadline")
        return left

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
        if self._timer is None:  # from the first socket on, until the post's end
            self._timer = threading.Timer(max(self.end - time.monotonic(), 0.0), self._expire)
            self._timer.daemon = True
            self._timer.start()

    def _expire(self) -> None:
        self.expired.set()
        with self._lock:
            if self._sock is not None:
                # The plain socket's shutdown, also for a TLS socket: it ends a blocked read in
                # another thread without touching the TLS state that thread is using.
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(self._sock, socket.SHUT_RDWR)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


class _RefusedAddressError(Exception):
    """The webhook's address is not one this transport posts to."""


@dataclass(frozen=True)
class Transport:
    """How posts leave: the URL schemes and peer addresses allowed, and the total time one
    post may take (connect, TLS, request and answer together).

    `PUBLIC_HTTPS`, the only transport the Lambda uses, posts over https to public addresses
    only. The host is resolved once per post; every address it resolves to must be public, and
    the post connects to the address that was checked (never resolving the name again, so a
    DNS answer that changes in between cannot send it elsewhere) and checks the connected
    socket's peer again. TLS verifies the certificate against the URL's host name. No proxy
    from the environment is used, and no redirect is followed.
    """

    schemes: frozenset[str]
    refuse_address: Callable[[IPAddress], str | None]
    deadline_seconds: float = TIMEOUT_SECONDS
    resolve: Resolve = _getaddrinfo
    what: str = "https to a public address"

    def check_url(self, value: str, parameter: str) -> str:
        """The URL if this transport may post to it; else WebhookConfigError without the URL."""
        url = value.strip()
        try:
            parts = urlsplit(url)
            host = parts.hostname
            parts.port  # noqa: B018 (a malformed port raises here, not at the first post)
        except ValueError:
            raise WebhookConfigError(f"{parameter}: the parameter's value is not a URL") from None
        got = ""
        if parts.scheme not in self.schemes:
            got = f"a {parts.scheme!r} URL" if parts.scheme else "no URL scheme"
        elif not host:
            got = "a URL without a host"
        else:
            try:
                literal = ipaddress.ip_address(host.split("%", 1)[0])
            except ValueError:
                literal = None  # a name: its addresses are checked when it is resolved
            reason = self.refuse_address(literal) if literal is not None else None
            if reason:
                got = f"a URL whose host is an address that is {reason}"
        if got:
            must = " or ".join(f"{scheme}://" for scheme in sorted(self.schemes))
            raise WebhookConfigError(
                f"{parameter}: the webhook URL must start with {must} and name a host the "
                f"notifier may post to ({self.what}); the parameter holds {got}"
            )
        return url

    def post(self, url: str, payload: Mapping[str, Any]) -> None:
        """POST `payload` as JSON; WebhookError (without the URL) unless the answer is 2xx."""
        parts = urlsplit(url)
        deadline = _Deadline(self.deadline_seconds)
        try:
            status, answer = self._exchange(parts, json.dumps(payload).encode(), deadline)
        except _RefusedAddressError as exc:
            raise WebhookError(str(exc)) from None
        except (OSError, HTTPException) as exc:
            # Each socket operation's own timeout is the time left, so a timeout is the deadline.
            if deadline.expired.is_set() or isinstance(exc, TimeoutError):
                raise WebhookError(
                    f"the webhook did not answer within {self.deadline_seconds:g} s"
                ) from None
            why = f"the webhook could not be reached: {type(exc).__name__}: {exc}"
            raise WebhookError(_redacted(why, url)) from None
        finally:
            deadline.cancel()
        if deadline.expired.is_set():
            raise WebhookError(f"the webhook did not answer within {self.deadline_seconds:g} s")
        if not 200 <= status < 300:
            why = f"the webhook answered {status}" + (f": {answer}" if answer else "")
            raise WebhookError(_redacted(why, url))

    def _checked_addresses(self, host: str, port: int) -> tuple[int, tuple[Any, ...]]:
        found = self.resolve(host, port)
        if not found:
            raise _RefusedAddressError("the webhook's host resolves to no address")
        for _, sockaddr in found:
            if reason := self.refuse_address(_address(sockaddr)):
                raise _RefusedAddressError(
                    f"the webhook's host resolves to an address that is {reason}: not posted "
                    f"(only {self.what})"
                )
        return found[0]

    def _exchange(self, parts: SplitResult, body: bytes, deadline: _Deadline) -> tuple[int, str]:
        host = parts.hostname or ""
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        family, sockaddr = self._checked_addresses(host, port)
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            deadline.watch(sock)
            sock.settimeout(deadline.remaining())
            sock.connect(sockaddr)
            if reason := self.refuse_address(_address(sock.getpeername())):
                raise _RefusedAddressError(f"the webhook's connected peer is {reason}: not posted")
            if tls:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
                deadline.watch(sock)
            sock.settimeout(deadline.remaining())
            connection = HTTPConnection(host, port)
            connection.sock = sock  # the checked, connected socket: http.client never resolves
            path = parts.path or "/"
            connection.request(
                "POST",
                f"{path}?{parts.query}" if parts.query else path,
                body=body,
                headers={"Content-Type": "application/json"},
            )
            response = connection.getresponse()
            answer = response.read(4096)  # bounded: the deadline covers this read too
            if response.status < 300:
                return response.status, ""
            return response.status, answer[:200].decode("utf-8", "replace").strip()
        finally:
            sock.close()


PUBLIC_HTTPS = Transport(frozenset({"https"}), why_not_public)


def loopback_transport(
    deadline_seconds: float = TIMEOUT_SECONDS, resolve: Resolve = _getaddrinfo
) -> Transport:
    """For the offline emulator and the tests only: http or https to a loopback address, and
    nowhere else. The Lambda's handler always posts with `PUBLIC_HTTPS`; no setting,
    environment variable or parameter value chooses another transport, so a deployment cannot
    open this by accident. `resolve` lets a test give a name (`hooks.slack.com`) a loopback
    address, offline."""
    return Transport(
        frozenset({"http", "https"}),
        why_not_loopback,
        deadline_seconds,
        resolve,
        "the emulator's and the tests' loopback opening: loopback addresses only",
    )


# The webhook URL by parameter name, as read: once per container.
_webhook_urls: dict[str, str] = {}


def forget_webhook_urls() -> None:
    """Make the next call read the parameter again (after a failed post; tests)."""
    _webhook_urls.clear()


def check_webhook_url(value: str, parameter: str, transport: Transport = PUBLIC_HTTPS) -> str:
    """The URL if `transport` may post to it (https to a public host); else WebhookConfigError."""
    return transport.check_url(value, parameter)


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


def webhook_url(ssm: ParameterStore, parameter: str, transport: Transport = PUBLIC_HTTPS) -> str:
    """The webhook URL held by `parameter` (read once per container), checked for `transport`."""
    if parameter not in _webhook_urls:
        _webhook_urls[parameter] = _read_parameter(ssm, parameter)
    return transport.check_url(_webhook_urls[parameter], parameter)


def _redacted(text: str, url: str) -> str:
    path = urlsplit(url).path
    text = text.replace(url, "<webhook URL>")
    return text.replace(path, "<webhook path>") if len(path) > 1 else text


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
    transport: Transport = PUBLIC_HTTPS,
) -> dict[str, int]:
    """Post one chat message per SNS record; the counts of posted, skipped and failed records.

    The URL is read only when there is something to post; WebhookConfigError, before any post,
    when it cannot be had or `transport` may not post to it. DeliveryError, after every record
    was tried, when a post failed. `transport` is `PUBLIC_HTTPS` in the Lambda (`handler`);
    only the emulator and the tests pass `loopback_transport()`.
    """
    notices, skipped = _notices(event)
    summary = {"posted": 0, "skipped": skipped, "failed": 0}
    if not notices:
        return summary
    url = webhook_url(ssm, parameter, transport)
    dialect = dialect_of(url)
    failed: dict[str, str] = {}
    for notice in notices:
        try:
            text = format_message(notice, environment=environment)
            transport.post(url, chat_payload(text, dialect))
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
    # Always the public https transport: nothing the deployment sets can open another.
    return notify(
        event, ssm=_ssm(), parameter=parameter, environment=environment, transport=PUBLIC_HTTPS
    )
