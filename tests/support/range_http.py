"""A local HTTP file server that honours ``Range: bytes=N-`` and can drop a connection mid-file (for
download tests)."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator, Mapping


@contextmanager
def serve_files(
    files: dict[str, bytes], truncate_once: Mapping[str, int] | None = None
) -> Iterator[tuple[str, list[str]]]:
    """Serve ``{path: content}`` on localhost; yields ``(base_url, log of "path range" requests)``.

    :param truncate_once: ``{path: n}``: the first request of ``path`` announces the full length but sends
        only ``n`` bytes, then closes the connection (a dropped download).
    """
    log: list[str] = []
    to_truncate = dict(truncate_once or {})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            path = self.path.lstrip("/")
            data = files.get(path)
            rng = self.headers.get("Range")
            log.append(f"{path} {rng}")
            if data is None:
                self.send_response(404)
                self.end_headers()
                return
            if rng and rng.startswith("bytes="):
                start = int(rng[len("bytes=") :].split("-")[0])
                body = data[start:]
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                body = data
                self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if path in to_truncate:
                self.wfile.write(body[: to_truncate.pop(path)])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def do_HEAD(self) -> None:  # noqa: N802
            data = files.get(self.path.lstrip("/"))
            self.send_response(404 if data is None else 200)
            self.send_header("Content-Length", str(0 if data is None else len(data)))
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", log
    finally:
        server.shutdown()
        server.server_close()
