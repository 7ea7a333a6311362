"""Test doubles for the data tests: a real loopback HTTP server and generated dataset files."""

from __future__ import annotations

import gzip
import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from bnntool.data.catalog import DatasetInfo, RemoteFile
from bnntool.data.download import RetryPolicy


@dataclass
class Served:
    """What the server sends for one path, and the faults to inject."""

    body: bytes
    cut_after: int | None = None  # close the connection after this many bytes ...
    cut_times: int = 0  # ... for this many requests
    fail_status: int = 503
    fail_times: int = 0  # answer fail_status this many times first
    honour_range: bool = True


@dataclass
class FileServer:
    url: str
    files: dict[str, Served] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)

    def serve(self, path: str, body: bytes, **faults: object) -> str:
        self.files[path] = Served(body, **faults)  # type: ignore[arg-type]
        return f"{self.url}{path}"


def _handler(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            range_header = self.headers.get("Range")
            server.requests.append((self.path, range_header))
            served = server.files.get(self.path)
            if served is None:
                self.send_error(404)
                return
            if served.fail_times > 0:
                served.fail_times -= 1
                self.send_response(served.fail_status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body, start = served.body, 0
            if range_header and served.honour_range:
                start = int(range_header.removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            payload = body[start:]
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if served.cut_times > 0 and served.cut_after is not None:
                served.cut_times -= 1
                self.wfile.write(payload[: served.cut_after])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(payload)

    return Handler


def start_server() -> tuple[FileServer, ThreadingHTTPServer]:
    """A threaded HTTP/1.1 server on a random loopback port."""
    state = FileServer(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
    return state, httpd


FAST = RetryPolicy(attempts=4, backoff_s=0.01, timeout_s=5)


def idx_images(images: np.ndarray) -> bytes:
    header = (0x803).to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in images.shape)
    return header + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray) -> bytes:
    return (
        (0x801).to_bytes(4, "big")
        + len(labels).to_bytes(4, "big")
        + labels.astype(np.uint8).tobytes()
    )


def gz(data: bytes, mtime: int = 0) -> bytes:
    return gzip.compress(data, mtime=mtime)


def remote(name: str, body: bytes, url: str = "", content: bytes | None = None) -> RemoteFile:
    return RemoteFile(
        name=name,
        url=url,
        md5=hashlib.md5(body).hexdigest(),
        sha256=hashlib.sha256(body).hexdigest(),
        size=len(body),
        content_md5=hashlib.md5(content).hexdigest() if content is not None else None,
    )


def tiny_dataset(name: str, files: dict[str, bytes], url: str, **kw: object) -> DatasetInfo:
    """A catalog entry for generated files served at ``url``/<file>."""
    return DatasetInfo(
        name=name,
        title=f"generated {name}",
        files=tuple(remote(n, b, f"{url}/{n}") for n, b in files.items()),
        classes=("a", "b"),
        image_shape=(4, 4),
        license="test",
        **kw,  # type: ignore[arg-type]
    )
