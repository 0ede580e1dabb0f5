"""A chat webhook on 127.0.0.1 for the offline lifecycle: it keeps every JSON body posted to it.

The chat notifier (`finmlops.alerts.chat`) posts only over https to public addresses; the story
hands it `loopback_transport()`, the emulator's and the tests' opening to 127.0.0.1, so this
server can stand in for Slack or Teams without a network.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from finmlops.emulator.aws.server import LOOPBACK


class LocalWebhook:
    """`start()`, then post to `url`; `posts` holds the decoded bodies in arrival order."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("start() the webhook first")
        return f"http://{LOOPBACK}:{self._server.server_address[1]}/hooks/chat"

    def start(self) -> LocalWebhook:
        posts, lock = self.posts, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    document = json.loads(body)
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                with lock:
                    posts.append(document)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the lifecycle prints its own progress."""

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
