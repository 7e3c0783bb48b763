"""A small misbehaving HTTP server on 127.0.0.1 for faults the sandbox cannot produce: pages
that loop, bodies of the wrong shape, a body dripped one byte at a time, a skewed Date header.

``BadServer(answer)`` calls ``answer(path_with_query)`` for each GET; it returns
``(status, body_bytes, headers)`` or ``("drip", body_bytes, headers)`` to send the body one
byte every ``drip_s`` seconds.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[str], tuple[Any, bytes, dict[str, str]]]


def page(resources: list[dict[str, Any]], next_href: str | None = None) -> bytes:
    return json.dumps(
        {
            "pagination": {
                "total_results": len(resources),
                "next": {"href": next_href} if next_href else None,
            },
            "resources": resources,
        }
    ).encode()


class BadServer:
    def __init__(self, answer: Answer, drip_s: float = 1.0) -> None:
        self.answer = answer
        self.drip_s = drip_s
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer.requests.append(self.path)
                status, body, headers = outer.answer(self.path)
                self.send_response_only(200 if status == "drip" else status)
                if "Date" not in headers:
                    self.send_header("Date", self.date_time_string())
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    if status == "drip":
                        for i in range(len(body)):
                            self.wfile.write(body[i : i + 1])
                            self.wfile.flush()
                            time.sleep(outer.drip_s)
                    else:
                        self.wfile.write(body)
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> BadServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
