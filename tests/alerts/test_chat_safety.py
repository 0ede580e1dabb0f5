"""What an alarm's author cannot make the chat notifier do: mention a channel, show a link of
their choosing, or format the text (escaping, per Slack's and Teams' own rules); and where a post
cannot go or how long it may take: https to public addresses only, checked on the addresses the
host resolves to when the post connects, and one total time limit per post.

Every webhook here is a real server on 127.0.0.1. A name (`hooks.slack.com`) is given a loopback
address by the transport's resolver, offline: the test-only `loopback_transport(resolve=...)`
posts there; the Lambda's `PUBLIC_HTTPS` refuses the same address.
"""

from __future__ import annotations

import html
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest
from markdown_it import MarkdownIt

from finmlops.alerts.chat import (
    PUBLIC_HTTPS,
    DeliveryError,
    Dialect,
    Notice,
    Transport,
    WebhookError,
    chat_payload,
    dialect_of,
    format_message,
    loopback_transport,
    markdown_escape,
    slack_escape,
    why_not_public,
)

SLACK_HOST = "hooks.slack.com"
TEAMS_HOST = "prod-00.westeurope.logic.azure.com"

# What an insider who can name or describe an alarm might write.
HOSTILE = (
    "<!channel> <!here> <!everyone> <@U0123ABCD> <#C0123ABCD> <!subteam^S0123|@risk> "
    "<https://evil.example/login|https://bank.example.com> <!date^1392734382^{date}|x> "
    "[bank.example.com](https://evil.example/login) [ref][r] ![p](https://evil.example/p.png) "
    '<https://evil.example> <at>General</at> <a href="https://evil.example">bank</a> '
    "**urgent** *now* _please_ ~gone~ `code` \\* &amp; & 1 < 2 > 0 A&B"
)
HOSTILE_LINES = (
    "# heading\n> quote\n- item\n+ item\n1. first\n2) second\n| a | b |\n[r]: https://evil.example\n"
    "    indented"
)


@dataclass
class Server:
    """A webhook on 127.0.0.1 that records each POST and answers 200."""

    port: int
    posts: list[dict[str, Any]] = field(default_factory=list)
    connections: int = 0


@pytest.fixture
def server() -> Iterator[Server]:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    state = Server(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            state.posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Counting(ThreadingHTTPServer):
        def verify_request(self, request: Any, client_address: Any) -> bool:
            state.connections += 1
            return True

    httpd = Counting(("127.0.0.1", 0), Handler)
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def resolving(names: dict[str, str], calls: list[str] | None = None) -> Any:
    """A resolver (socket.getaddrinfo's shape) that knows only `names`; records each lookup."""

    def resolve(host: str, port: int) -> list[tuple[int, tuple[Any, ...]]]:
        if calls is not None:
            calls.append(host)
        if host not in names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        address = ipaddress.ip_address(names[host])
        if address.version == 6:
            return [(socket.AF_INET6, (names[host], port, 0, 0))]
        return [(socket.AF_INET, (names[host], port))]

    return resolve


def _notice(message: str, subject: str = "Alert") -> Notice:
    return Notice(message_id="m-1", subject=subject, message=message)


# ------------------------------------------------------------------ escaping
class _Text(HTMLParser):
    """The text a reader sees in rendered HTML, and the tags it contains."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags.add(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _rendered(markdown: str) -> _Text:
    """CommonMark's reading of the text (markdown-it, the reference parser's port), as Teams'
    Adaptive Card TextBlock reads its Markdown subset: the oracle for `markdown_escape`."""
    reader = _Text()
    reader.feed(MarkdownIt("commonmark").render(markdown))
    return reader


def _words(text: str) -> list[str]:
    return text.split()


@pytest.mark.parametrize("text", [HOSTILE, HOSTILE_LINES, "plain [prod] ALARM x (OK -> ALARM)"])
def test_markdown_readers_see_the_text_literally_with_no_link_mention_or_formatting(text):
    escaped = markdown_escape(text)
    reader = _rendered(escaped)

    # Only paragraphs (and line breaks): no a, img, strong, em, code, h1, blockquote, ul, ol,
    # nor an <at> mention or any HTML the text brought.
    assert reader.tags <= {"p", "br"}, reader.tags
    assert _words("".join(reader.text)) == _words(text)


def test_ordinary_alarm_text_is_unchanged_by_markdown_escaping():
    line = "[prod] ALARM credit-risk-prod-data-drift (OK -> ALARM): 1 datapoint [0.5] (0.3)"
    assert markdown_escape(line) == line


@pytest.mark.parametrize("text", [HOSTILE, HOSTILE_LINES])
def test_slack_text_keeps_no_control_sequence_and_decodes_to_the_text(text):
    escaped = slack_escape(text)

    # Every Slack control sequence (mentions, channel links, disguised links, dates) opens with
    # `<`; `>` closes them: none is left, and Slack decodes exactly &amp; &lt; &gt;.
    assert "<" not in escaped and ">" not in escaped
    decoded = escaped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert decoded == text


def test_the_dialect_follows_the_webhook_host():
    assert dialect_of("https://hooks.slack.com/services/T/B/x") is Dialect.SLACK
    assert dialect_of("https://HOOKS.SLACK.COM./services/T/B/x") is Dialect.SLACK
    assert dialect_of("https://hooks.slack-gov.com/services/T/B/x") is Dialect.SLACK
    assert dialect_of(f"https://{TEAMS_HOST}/workflows/w/triggers/manual") is Dialect.MARKDOWN
    # A look-alike is not Slack, and gets the Markdown escaping (no looser).
    assert dialect_of("https://hooks.slack.com.evil.example/x") is Dialect.MARKDOWN


def _post_alarm(server: Server, host: str, description: str) -> dict[str, Any]:
    alarm = {
        "AlarmName": "credit-risk-prod-data-drift <!channel>",
        "AlarmDescription": description,
        "NewStateValue": "ALARM",
        "OldStateValue": "OK",
        "NewStateReason": "Threshold Crossed <@U0123ABCD>",
    }
    transport = loopback_transport(resolve=resolving({host: "127.0.0.1"}))
    text = format_message(_notice(json.dumps(alarm)), environment="prod")
    url = f"http://{host}:{server.port}/hook"
    transport.post(url, chat_payload(text, dialect_of(url)))
    (posted,) = server.posts
    return posted


def test_a_slack_post_of_a_hostile_alarm_mentions_nobody_and_links_nothing(server):
    posted = _post_alarm(server, SLACK_HOST, HOSTILE)

    assert "<" not in posted["text"] and ">" not in posted["text"]
    assert html.unescape(posted["text"]).splitlines()[1] == HOSTILE
    # mrkdwn off (no bold or italics) and no preview of any URL the text contains.
    assert posted["mrkdwn"] is False
    assert posted["unfurl_links"] is False and posted["unfurl_media"] is False


def test_a_teams_post_of_a_hostile_alarm_renders_as_its_literal_text(server):
    posted = _post_alarm(server, TEAMS_HOST, HOSTILE)

    assert set(posted) == {"text"}
    reader = _rendered(posted["text"])
    assert reader.tags <= {"p", "br"}
    assert "[prod] ALARM credit-risk-prod-data-drift <!channel> (OK -> ALARM)" in "".join(
        reader.text
    )
    assert _words(HOSTILE) == _words("".join(reader.text).splitlines()[1])


# ------------------------------------------------------------------ where a post may go
REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("::1", "loopback"),
    ("169.254.169.254", "the instance metadata address"),
    ("fd00:ec2::254", "the instance metadata address"),
    ("169.254.170.2", "the instance metadata address"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("fe80::1%2", "link-local"),
    ("10.0.0.8", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("224.0.0.251", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "private"),  # reserved (class E); Python files it under private too
    ("255.255.255.255", "private"),
    ("100.64.0.1", "not globally routable"),  # shared address space (RFC 6598)
    ("192.0.2.10", "private"),  # documentation (TEST-NET-1)
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
    ("::ffff:169.254.169.254", "the instance metadata address"),
    ("64:ff9b::a9fe:a9fe", "the instance metadata address"),  # NAT64 of 169.254.169.254
    ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
]


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_special_addresses_are_not_public(address, kind):
    assert why_not_public(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", ["52.94.236.248", "3.5.140.2", "2600:1f18:4b5::12"])
def test_public_unicast_addresses_are(address):
    assert why_not_public(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "169.254.169.254", "10.1.2.3", "fe80::1", "::1", "100.64.0.1"]
)
def test_an_https_host_resolving_to_a_special_address_gets_no_connection(server, address):
    public = Transport(
        PUBLIC_HTTPS.schemes, why_not_public, resolve=resolving({SLACK_HOST: address})
    )

    with pytest.raises(WebhookError, match="resolves to an address that is") as err:
        public.post(f"https://{SLACK_HOST}:{server.port}/services/T/B/s3cr3t", {"text": "x"})

    assert server.connections == 0 and server.posts == []
    assert "s3cr3t" not in str(err.value) and address not in str(err.value)


def test_a_host_with_one_private_address_among_public_ones_is_refused(server):
    def resolve(host: str, port: int) -> list[tuple[int, tuple[Any, ...]]]:
        return [(socket.AF_INET, ("52.94.236.248", port)), (socket.AF_INET, ("127.0.0.1", port))]

    public = Transport(PUBLIC_HTTPS.schemes, why_not_public, resolve=resolve)

    with pytest.raises(WebhookError, match="loopback"):
        public.post(f"https://{SLACK_HOST}:{server.port}/hook", {"text": "x"})
    assert server.connections == 0


def test_the_real_resolver_is_checked_too_localhost_is_refused(server):
    with pytest.raises(WebhookError, match="resolves to an address that is loopback"):
        PUBLIC_HTTPS.post(f"https://localhost:{server.port}/hook", {"text": "x"})
    assert server.connections == 0


def test_the_post_connects_to_the_checked_address_and_never_resolves_the_name_again(server):
    # `webhook.invalid` exists in no DNS (RFC 6761): the post can only have reached the server
    # through the one address the transport resolved and checked.
    lookups: list[str] = []
    transport = loopback_transport(resolve=resolving({"webhook.invalid": "127.0.0.1"}, lookups))

    transport.post(f"http://webhook.invalid:{server.port}/hook", {"text": "x"})

    assert lookups == ["webhook.invalid"]
    assert server.posts == [{"text": "x"}]


def test_the_test_opening_posts_to_loopback_only(server):
    transport = loopback_transport(resolve=resolving({SLACK_HOST: "52.94.236.248"}))

    with pytest.raises(WebhookError, match="not loopback"):
        transport.post(f"http://{SLACK_HOST}:{server.port}/hook", {"text": "x"})


# ------------------------------------------------------------------ one time limit per post
@dataclass
class Trickle:
    """Accepts one request, then answers one byte a second: `total` bytes would take that many
    seconds. `sent` counts the bytes that left before the client hung up."""

    port: int = 0
    total: int = 30
    in_body: bool = False
    sent: int = 0
    hung_up: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def trickle() -> Iterator[Trickle]:
    state = Trickle()
    listener = socket.create_server(("127.0.0.1", 0))
    state.port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(65536)
            head, body = request.split(b"\r\n\r\n", 1)
            length = int(next(
                line.split(b":")[1] for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            ))  # fmt: skip
            while len(body) < length:
                body += conn.recv(65536)
            answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % state.total
            if state.in_body:
                conn.sendall(answer)
                answer = b""
            answer = (answer + b"x" * state.total)[: state.total]
            for byte in answer:
                if stop.wait(1.0):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    state.hung_up.set()
                    return
                state.sent += 1
            state.hung_up.set()  # it sent everything: the client waited the whole trickle

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield state
    stop.set()
    listener.close()
    thread.join(timeout=5)


@pytest.mark.parametrize("in_body", [False, True], ids=["status-line", "body"])
def test_a_trickling_webhook_is_given_up_at_the_limit_not_when_it_finishes(trickle, in_body):
    trickle.in_body = in_body
    transport = loopback_transport(deadline_seconds=1.0)
    start = time.monotonic()

    with pytest.raises(WebhookError, match="did not answer within 1 s"):
        transport.post(f"http://127.0.0.1:{trickle.port}/hook", {"text": "x"})

    # A per-operation timeout would wait for all 30 one-second bytes; the post ended first and
    # hung up on the server mid-answer.
    assert time.monotonic() - start < trickle.total
    assert trickle.sent < trickle.total


def test_a_trickling_webhook_fails_the_delivery_naming_the_message(trickle, monkeypatch):
    from finmlops.alerts import chat

    class Store:
        def get_parameter(self, **kwargs: Any) -> dict[str, Any]:
            url = f"http://127.0.0.1:{trickle.port}/hook"
            return {"Parameter": {"Type": "SecureString", "Value": url}}

    chat.forget_webhook_urls()
    event = {"Records": [{"Sns": {"MessageId": "m-slow", "Message": "alert"}}]}
    try:
        with pytest.raises(DeliveryError, match="m-slow: the webhook did not answer within 1 s"):
            chat.notify(
                event,
                ssm=Store(),
                parameter="/p",
                transport=loopback_transport(deadline_seconds=1.0),
            )
    finally:
        chat.forget_webhook_urls()
