#!/usr/bin/env python3
"""python-shop: a small shop written in plain Python, to stand behind `usher gate`.

Standard library only (Python 3.11+). It is the "any existing shop" of usher's spec: it knows
nothing about tickets or queues. The gate in front of it forwards only requests that carry a live
session and adds three request headers:

    usher-session   an opaque session id (one per admitted buyer and item)
    usher-item      the item the session was admitted for
    usher-server    the gate's server id

The shop ends an order by answering a buy with `usher-order-complete: 1` on a 2xx response.

Usage:
    python3 shop.py --listen 127.0.0.1:0 --db shop.db --access-log access.log \
        --stock concert=5 --stock album=100 [--currency EUR]

Once bound it prints exactly one line to stdout and flushes it:
    python-shop listening on http://127.0.0.1:PORT

Routes (item X lives under /X):
    GET  /X                 item page (HTML; JSON with Accept: application/json)
    POST /X/buy             buy one X for the usher-session (idempotent per session and item)
    GET  /receipts/ID       receipt (HTML or JSON)
    GET  /usher/stock       {"X": stock, ...}
    GET  /healthz           200 ok
    GET  /static/style.css  the stylesheet
    GET  /download?bytes=N  N bytes streamed in 64 KiB chunks; byte i is i % 256
    POST /upload            counts the body (Content-Length or chunked): {"bytes": N, "sha256": ...}
    GET  /slow?ms=N         sleeps N ms, then 200 slow
    GET  /echo-headers      every request header received, plus "path" and "method"

Every request is appended to --access-log as one JSON line:
    {"ts": ..., "method": ..., "path": <raw request target>, "status": ..., "headers": {...}}
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import re
import signal
import socket
import sqlite3
import sys
import threading
import time
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 64 * 1024
# Byte i of every download is i % 256, so a client can check what it received.
PATTERN = bytes(range(256)) * (CHUNK // 256)
MAX_DOWNLOAD = 2 * 1024 * 1024 * 1024  # 2 GiB
MAX_SLOW_MS = 10 * 60 * 1000
MAX_FORM_BODY = 64 * 1024  # what a buy may carry (a browser form posts a few bytes)
MAX_DRAIN = 1024 * 1024  # an unread body up to this is skipped; beyond it the connection closes
DEFAULT_PRICE_CENTS = 2500
SESSION_MAX_LEN = 512
ITEM_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
RESERVED = {"receipts", "usher", "healthz", "static", "download", "upload", "slow", "echo-headers", "t"}

STYLE = b"""\
:root { color-scheme: light dark; --accent: #2f6fde; }
* { box-sizing: border-box; }
body { font: 16px/1.5 system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .5rem; }
.price { font-size: 1.3rem; font-weight: 600; }
.stock { color: #666; }
.soldout { color: #b3261e; font-weight: 600; }
button { font: inherit; padding: .6rem 1.4rem; border: 0; border-radius: .4rem;
         background: var(--accent); color: #fff; cursor: pointer; }
button[disabled] { background: #999; cursor: not-allowed; }
.usher { margin-top: 2rem; font-size: .8rem; color: #777; word-break: break-all; }
code { font-size: .9em; }
"""


class Shop:
    """The catalogue, the stock and the orders, in one SQLite file."""

    def __init__(self, db_path: str, currency: str):
        self.db_path = db_path
        self.currency = currency
        self._local = threading.local()

    def conn(self) -> sqlite3.Connection:
        """One connection per thread (the server runs a thread per client connection)."""
        c = getattr(self._local, "conn", None)
        if c is None:
            # isolation_level=None: no implicit transactions; every write below opens its own
            # BEGIN IMMEDIATE. timeout is SQLite's busy timeout, for concurrent writers.
            c = sqlite3.connect(self.db_path, timeout=30, isolation_level=None, check_same_thread=False)
            c.row_factory = sqlite3.Row
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=FULL")  # a 2xx order survives kill -9 and power loss
            c.execute("PRAGMA foreign_keys=ON")
            self._local.conn = c
        return c

    def init(self, stock: dict[str, int]) -> None:
        c = self.conn()
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute(
                """CREATE TABLE IF NOT EXISTS items (
                       id          TEXT PRIMARY KEY,
                       name        TEXT NOT NULL,
                       price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
                       stock       INTEGER NOT NULL CHECK (stock >= 0)
                   )"""
            )
            c.execute(
                """CREATE TABLE IF NOT EXISTS orders (
                       id         INTEGER PRIMARY KEY AUTOINCREMENT,
                       item       TEXT NOT NULL REFERENCES items(id),
                       session    TEXT NOT NULL,
                       server     TEXT,
                       created_at TEXT NOT NULL,
                       UNIQUE (session, item)
                   )"""
            )
            # An existing item keeps its stock: a restart never refills what was sold.
            for item, n in stock.items():
                c.execute(
                    "INSERT OR IGNORE INTO items (id, name, price_cents, stock) VALUES (?, ?, ?, ?)",
                    (item, display_name(item), DEFAULT_PRICE_CENTS, n),
                )
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def item(self, item_id: str):
        return self.conn().execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()

    def stock(self) -> dict[str, int]:
        rows = self.conn().execute("SELECT id, stock FROM items ORDER BY id").fetchall()
        return {r["id"]: r["stock"] for r in rows}

    def order(self, order_id: int):
        return self.conn().execute(
            """SELECT o.id, o.item, o.created_at, i.name, i.price_cents
               FROM orders o JOIN items i ON i.id = o.item WHERE o.id = ?""",
            (order_id,),
        ).fetchone()

    def buy(self, item_id: str, session: str, server: str | None):
        """Returns ("created" | "replayed", order row) or ("sold_out" | "unknown_item", None).

        One IMMEDIATE transaction: the write lock is taken before anything is read, so two buyers
        can never both see the last unit, and a retried buy finds the order of its first attempt.
        """
        c = self.conn()
        c.execute("BEGIN IMMEDIATE")
        try:
            if c.execute("SELECT 1 FROM items WHERE id = ?", (item_id,)).fetchone() is None:
                c.execute("ROLLBACK")
                return "unknown_item", None
            row = c.execute(
                "SELECT id FROM orders WHERE session = ? AND item = ?", (session, item_id)
            ).fetchone()
            if row is not None:
                c.execute("ROLLBACK")
                return "replayed", self.order(row["id"])
            cur = c.execute("UPDATE items SET stock = stock - 1 WHERE id = ? AND stock > 0", (item_id,))
            if cur.rowcount != 1:
                c.execute("ROLLBACK")
                return "sold_out", None
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            cur = c.execute(
                "INSERT INTO orders (item, session, server, created_at) VALUES (?, ?, ?, ?)",
                (item_id, session, server, now),
            )
            order_id = cur.lastrowid
            c.execute("COMMIT")  # durable (synchronous=FULL) before the 201 goes out
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise
        return "created", self.order(order_id)


class AccessLog:
    def __init__(self, path: str):
        self._lock = threading.Lock()
        self._file = open(path, "a", encoding="utf-8")

    def write(self, entry: dict) -> None:
        line = json.dumps(entry, separators=(",", ":"), ensure_ascii=False)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()



def display_name(item_id: str) -> str:
    words = re.split(r"[-_]+", item_id)
    return " ".join(words).capitalize()


def money(cents: int, currency: str) -> str:
    return f"{cents // 100}.{cents % 100:02d} {currency}"


def page(title: str, body: str) -> bytes:
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)} · python-shop</title>\n"
        '<link rel="stylesheet" href="/static/style.css">\n'
        f"</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    ).encode("utf-8")


class BodyError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "python-shop/1"
    sys_version = ""
    timeout = 120  # an idle keep-alive connection is closed after this
    # Set by main().
    shop: Shop
    access_log: AccessLog

    # ---- plumbing -------------------------------------------------------------------------

    def setup(self):
        super().setup()
        self._notes: list[str] = []

    def version_string(self):
        return self.server_version

    def handle_one_request(self):
        # A request that fails to parse must not be logged with the previous request's target or
        # headers (keep-alive reuses this handler object).
        self.headers = None
        self.path = ""
        self.command = None
        super().handle_one_request()

    def handle(self):
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
            self.close_connection = True

    def log_request(self, code="-", size="-"):
        # Called by send_response for every answer (send_error included): one access-log line.
        headers: dict[str, str] = {}
        msg = getattr(self, "headers", None)
        if msg is not None:
            for name, value in msg.items():
                k = name.lower()
                headers[k] = f"{headers[k]}, {value}" if k in headers else value
        entry = {
            "ts": round(time.time(), 3),
            "method": getattr(self, "command", None) or "",
            "path": getattr(self, "path", None) or "",
            "status": int(code) if str(code).isdigit() else code,
            "headers": headers,
        }
        if not entry["method"] and not entry["path"]:
            entry["requestline"] = getattr(self, "requestline", "")
        if self._notes:
            entry["note"] = "; ".join(self._notes)
            self._notes = []
        self.access_log.write(entry)

    def log_message(self, format, *args):
        # Nothing on stderr: messages (errors from send_error) go into the next access-log line.
        self._notes.append(format % args)

    def header(self, name: str) -> str | None:
        v = self.headers.get(name)
        return None if v is None else v.strip()

    def wants_json(self) -> bool:
        return "application/json" in (self.headers.get("Accept") or "").lower()

    def wants_html(self) -> bool:
        return "text/html" in (self.headers.get("Accept") or "").lower()

    def send(self, status: int, body: bytes, content_type: str, extra: dict | None = None,
             cache: str = "no-store") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if cache:
            self.send_header("Cache-Control", cache)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, obj, extra: dict | None = None) -> None:
        body = json.dumps(obj, separators=(",", ":")).encode("utf-8")
        self.send(status, body, "application/json", extra)

    def send_html(self, status: int, body: bytes, extra: dict | None = None) -> None:
        self.send(status, body, "text/html; charset=utf-8", extra)

    def send_text(self, status: int, text: str, extra: dict | None = None) -> None:
        self.send(status, text.encode("utf-8"), "text/plain; charset=utf-8", extra)

    def refuse(self, status: int, code: str, message: str, extra: dict | None = None) -> None:
        """The refusal shape of usher's wire contract; a small page for browsers asking for HTML."""
        if self.wants_html() and not self.wants_json():
            body = page(message, f"<h1>{html.escape(message)}</h1>\n<p><code>{html.escape(code)}</code></p>")
            self.send_html(status, body, extra)
        else:
            self.send_json(status, {"error": code, "message": message}, extra)

    # ---- request bodies ---------------------------------------------------------------------

    def iter_body(self):
        """Yields the request body in chunks of at most 64 KiB, never holding all of it."""
        self._body_read = True
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if te:
            if te.replace(" ", "") != "chunked":
                raise BodyError(501, "bad_request", "only chunked transfer-encoding is understood")
            yield from self._iter_chunked()
            return
        cl = self.headers.get("Content-Length")
        if cl is None:
            return
        if not is_digits(cl):
            raise BodyError(400, "bad_request", "bad Content-Length")
        left = int(cl)
        while left > 0:
            data = self.rfile.read(min(CHUNK, left))
            if not data:
                raise ConnectionResetError("body cut short")
            left -= len(data)
            yield data

    def _iter_chunked(self):
        while True:
            line = self.rfile.readline(1025)
            if not line.endswith(b"\n"):
                raise BodyError(400, "bad_request", "bad chunk header")
            size_s = line.split(b";", 1)[0].strip()
            try:
                size = int(size_s, 16)
            except ValueError:
                raise BodyError(400, "bad_request", "bad chunk size") from None
            if size == 0:
                for _ in range(101):  # trailers, up to an empty line
                    t = self.rfile.readline(8193)
                    if t in (b"\r\n", b"\n", b""):
                        return
                raise BodyError(400, "bad_request", "too many trailers")
            while size > 0:
                data = self.rfile.read(min(CHUNK, size))
                if not data:
                    raise ConnectionResetError("body cut short")
                size -= len(data)
                yield data
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise BodyError(400, "bad_request", "bad chunk end")

    def read_small_body(self, limit: int) -> bytes:
        cl = self.headers.get("Content-Length")
        if cl is not None and is_digits(cl) and int(cl) > limit:
            self.close_connection = True
            raise BodyError(413, "payload_too_large", "request body too large")
        out = bytearray()
        for chunk in self.iter_body():
            out += chunk
            if len(out) > limit:
                self.close_connection = True
                raise BodyError(413, "payload_too_large", "request body too large")
        return bytes(out)

    def finish_body(self) -> None:
        """Keep the connection in step: skip a small unread body, or close after a large one."""
        if self._body_read:
            return
        te = self.headers.get("Transfer-Encoding")
        cl = self.headers.get("Content-Length")
        if not te and (cl is None or cl.strip() == "0"):
            return
        if not te and is_digits(cl) and int(cl) > MAX_DRAIN:
            self.close_connection = True
            return
        try:
            n = 0
            for chunk in self.iter_body():
                n += len(chunk)
                if n > MAX_DRAIN:
                    self.close_connection = True
                    return
        except BodyError:
            self.close_connection = True

    # ---- dispatch -----------------------------------------------------------------------------

    def do_GET(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def do_OPTIONS(self):
        self.dispatch()

    def dispatch(self):
        self._body_read = False
        self._started = False
        try:
            self.route()
        except BodyError as e:
            self.close_connection = True
            self._body_read = True
            if not self._started:
                self.refuse(e.status, e.code, e.message, {"Connection": "close"})
            return
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
            self.close_connection = True
            return
        except Exception as e:  # a bug: answer 500 if nothing went out yet, never crash the server
            self.close_connection = True
            self._notes.append(f"error: {type(e).__name__}: {e}")
            if not self._started:
                try:
                    self.refuse(500, "internal", "internal error", {"Connection": "close"})
                except OSError:
                    pass
            return
        self.finish_body()

    def send_response(self, code, message=None):
        self._started = True
        super().send_response(code, message)

    def route(self):
        target = urllib.parse.urlsplit(self.path)
        path = target.path or "/"
        query = urllib.parse.parse_qs(target.query)
        method = "GET" if self.command == "HEAD" else self.command

        def only(*methods):
            if method in methods:
                return True
            self.refuse(405, "method_not_allowed", "method not allowed",
                        {"Allow": ", ".join(methods + (("HEAD",) if "GET" in methods else ()))})
            return False

        if path == "/healthz":
            if only("GET"):
                self.send_text(200, "ok")
            return
        if path == "/static/style.css":
            if only("GET"):
                self.send(200, STYLE, "text/css; charset=utf-8", cache="public, max-age=3600")
            return
        if path == "/usher/stock":
            if only("GET"):
                self.send_json(200, self.shop.stock())
            return
        if path == "/echo-headers":
            out: dict[str, str] = {}
            for name, value in self.headers.items():
                k = name.lower()
                out[k] = f"{out[k]}, {value}" if k in out else value
            out["path"] = self.path
            out["method"] = self.command
            self.send_json(200, out)
            return
        if path == "/download":
            if only("GET"):
                self.download(query)
            return
        if path == "/upload":
            if only("POST", "PUT"):
                self.upload()
            return
        if path == "/slow":
            if only("GET", "POST"):
                ms = int_param(query, "ms", 0, MAX_SLOW_MS, default=0)
                if ms is None:
                    self.refuse(400, "bad_request", f"ms must be an integer 0..{MAX_SLOW_MS}")
                    return
                time.sleep(ms / 1000)
                self.send_text(200, "slow")
            return
        m = re.fullmatch(r"/receipts/([0-9]{1,18})", path)
        if m:
            if only("GET"):
                self.receipt(int(m.group(1)))
            return
        parts = path.strip("/").split("/")
        if len(parts) in (1, 2) and ITEM_ID.match(parts[0]) and parts[0] not in RESERVED:
            item_id = parts[0]
            if len(parts) == 1 or parts[1] == "":
                if self.shop.item(item_id) is None:
                    self.refuse(404, "unknown_item", f"no item {item_id}")
                elif only("GET"):
                    self.item_page(item_id)
                return
            if parts[1] == "buy":
                if self.shop.item(item_id) is None:
                    self.refuse(404, "unknown_item", f"no item {item_id}")
                elif only("POST"):
                    self.buy(item_id)
                return
        self.refuse(404, "not_found", "not found")

    # ---- pages --------------------------------------------------------------------------------

    def usher_line(self) -> str:
        session = self.header("usher-session")
        item = self.header("usher-item")
        server = self.header("usher-server")
        if session is None and item is None and server is None:
            return '<p class="usher">No usher headers received.</p>'
        return (
            '<p class="usher">usher-session: <code id="usher-session">'
            f"{html.escape(session or '-')}</code> · usher-item: <code id=\"usher-item\">"
            f"{html.escape(item or '-')}</code> · usher-server: <code id=\"usher-server\">"
            f"{html.escape(server or '-')}</code></p>"
        )

    def item_page(self, item_id: str):
        it = self.shop.item(item_id)
        cur = self.shop.currency
        if self.wants_json():
            self.send_json(200, {
                "item": it["id"],
                "name": it["name"],
                "price_cents": it["price_cents"],
                "currency": cur,
                "stock": it["stock"],
                "session": self.header("usher-session"),
                "usher_item": self.header("usher-item"),
                "usher_server": self.header("usher-server"),
            })
            return
        left = it["stock"]
        stock_line = (f'<p class="stock">{left} left</p>' if left > 0
                      else '<p class="soldout">Sold out</p>')
        button = ('<button type="submit">Buy now</button>' if left > 0
                  else '<button type="submit" disabled>Sold out</button>')
        body = (
            f"<h1>{html.escape(it['name'])}</h1>\n"
            f'<p class="price">{html.escape(money(it["price_cents"], cur))}</p>\n'
            f"{stock_line}\n"
            f'<form method="post" action="/{html.escape(item_id)}/buy">{button}</form>\n'
            f"{self.usher_line()}"
        )
        self.send_html(200, page(it["name"], body))

    def buy(self, item_id: str):
        self.read_small_body(MAX_FORM_BODY)  # a browser form posts a few bytes; they are not used
        session = self.header("usher-session")
        if not session:
            self.refuse(400, "no_session", "a buy needs the usher-session header (sent by usher gate)")
            return
        if len(session) > SESSION_MAX_LEN:
            self.refuse(400, "bad_request", "usher-session header too long")
            return
        outcome, row = self.shop.buy(item_id, session, self.header("usher-server"))
        if outcome == "unknown_item":
            self.refuse(404, "unknown_item", f"no item {item_id}")
            return
        if outcome == "sold_out":
            self.refuse(409, "sold_out", f"{display_name(item_id)} is sold out")
            return
        status = 201 if outcome == "created" else 200
        complete = {"usher-order-complete": "1"}
        receipt = f"/receipts/{row['id']}"
        if self.wants_json():
            self.send_json(status, {
                "order": row["id"],
                "item": row["item"],
                "receipt": receipt,
                "replayed": outcome == "replayed",
            }, {**complete, "Location": receipt})
        else:
            self.send_html(status, self.receipt_html(row), {**complete, "Location": receipt})

    def receipt_html(self, row) -> bytes:
        body = (
            f"<h1>Thank you!</h1>\n"
            f"<p>Order <strong>#{row['id']}</strong>: one {html.escape(row['name'])}, "
            f"{html.escape(money(row['price_cents'], self.shop.currency))}.</p>\n"
            f'<p class="stock">Placed {html.escape(row["created_at"])}. '
            f'<a href="/receipts/{row["id"]}">Keep this receipt</a>.</p>'
        )
        return page(f"Receipt #{row['id']}", body)

    def receipt(self, order_id: int):
        row = self.shop.order(order_id)
        if row is None:
            self.refuse(404, "unknown_order", f"no order {order_id}")
            return
        # The session is deliberately not shown: receipts are an open path at the gate.
        if self.wants_json():
            self.send_json(200, {
                "order": row["id"],
                "item": row["item"],
                "name": row["name"],
                "price_cents": row["price_cents"],
                "currency": self.shop.currency,
                "created_at": row["created_at"],
            })
        else:
            self.send_html(200, self.receipt_html(row))

    # ---- bulk transfer ------------------------------------------------------------------------

    def download(self, query):
        n = int_param(query, "bytes", 0, MAX_DOWNLOAD, default=None)
        if n is None:
            self.refuse(400, "bad_request", f"bytes must be an integer 0..{MAX_DOWNLOAD}")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command == "HEAD":
            return
        view = memoryview(PATTERN)
        left = n
        while left > 0:
            k = min(CHUNK, left)
            self.wfile.write(view[:k])
            left -= k

    def upload(self):
        n = 0
        digest = hashlib.sha256()
        for chunk in self.iter_body():
            n += len(chunk)
            digest.update(chunk)
        self.send_json(200, {"bytes": n, "sha256": digest.hexdigest()})


def is_digits(s: str | None) -> bool:
    """ASCII digits only (str.isdigit() also accepts things like '²'), at most 18 of them."""
    return s is not None and re.fullmatch(r"[0-9]{1,18}", s.strip()) is not None


def int_param(query, name: str, lo: int, hi: int, default: int | None) -> int | None:
    values = query.get(name)
    if not values:
        return default
    v = values[0]
    if not is_digits(v):
        return None
    n = int(v)
    return n if lo <= n <= hi else None


def parse_listen(s: str) -> tuple[str, int]:
    host, sep, port = s.rpartition(":")
    if not sep or not is_digits(port) or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"--listen wants HOST:PORT, got {s!r}")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def parse_stock(s: str) -> tuple[str, int]:
    item, sep, n = s.partition("=")
    if not sep or not is_digits(n):
        raise argparse.ArgumentTypeError(f"--stock wants ITEM=N, got {s!r}")
    if not ITEM_ID.match(item) or item in RESERVED:
        raise argparse.ArgumentTypeError(
            f"item id {item!r} must match {ITEM_ID.pattern} and not be one of {sorted(RESERVED)}")
    return item, int(n)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        # Connection errors are the client's business; anything else is a bug worth seeing.
        exc = sys.exc_info()[1]
        if isinstance(exc, (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class Server6(Server):
    address_family = socket.AF_INET6


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="A small shop to put behind `usher gate`.")
    ap.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 3000),
                    help="HOST:PORT to bind (port 0 picks a free port); default 127.0.0.1:3000")
    ap.add_argument("--db", required=True, help="SQLite file for catalogue, stock and orders")
    ap.add_argument("--access-log", required=True, help="file to append one JSON line per request to")
    ap.add_argument("--stock", type=parse_stock, action="append", default=[], metavar="ITEM=N",
                    help="create ITEM with N in stock on first start (an existing item keeps its stock)")
    ap.add_argument("--currency", default="EUR", help="currency shown with prices (default EUR)")
    args = ap.parse_args(argv)

    shop = Shop(args.db, args.currency)
    shop.init(dict(args.stock))
    log = AccessLog(args.access_log)
    Handler.shop = shop
    Handler.access_log = log

    host, port = args.listen
    cls = Server6 if ":" in host else Server
    server = cls((host, port), Handler)
    bound_host, bound_port = server.server_address[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    loop = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                            name="serve", daemon=True)
    loop.start()
    print(f"python-shop listening on http://{shown}:{bound_port}", flush=True)
    while not stop.wait(0.5):
        if not loop.is_alive():
            return 1
    server.shutdown()
    server.server_close()
    return 0  # handler threads still running are daemons; every log line was flushed as written


if __name__ == "__main__":
    sys.exit(main())
