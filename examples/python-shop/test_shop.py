"""Self-test of python-shop: `python3 -m unittest -v test_shop.py` (standard library only)."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SHOP = os.path.join(HERE, "shop.py")
MB10 = 10 * 1024 * 1024


class ShopProcess:
    def __init__(self, tmp: str, stock: list[str], name: str = "shop"):
        self.db = os.path.join(tmp, f"{name}.db")
        self.log = os.path.join(tmp, f"{name}.log")
        self.stock = stock
        self.proc = None
        self.port = None

    def start(self):
        cmd = [sys.executable, SHOP, "--listen", "127.0.0.1:0", "--db", self.db,
               "--access-log", self.log, "--currency", "EUR"]
        for s in self.stock:
            cmd += ["--stock", s]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        prefix = "python-shop listening on http://127.0.0.1:"
        if not line.startswith(prefix):
            self.proc.kill()
            raise AssertionError(f"unexpected first line {line!r}; stderr: {self.proc.stderr.read()}")
        self.port = int(line[len(prefix):].strip())
        return self

    def stop(self, sig=signal.SIGTERM) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.stderr = self.proc.stderr.read()
            self.proc.stdout.close()
            self.proc.stderr.close()
            self.proc = None
        return rc

    def conn(self, timeout=10) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, headers=None, body=None, conn=None):
        c = conn or self.conn()
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r, data
        finally:
            if conn is None:
                c.close()

    def json(self, method, path, headers=None, body=None):
        h = {"Accept": "application/json", **(headers or {})}
        r, data = self.request(method, path, h, body)
        return r, json.loads(data)

    def log_entries(self) -> list[dict]:
        with open(self.log, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]


class ShopTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.shop = ShopProcess(cls.tmp.name, ["concert=5", "album=100", "rush=5", "scarce=2"]).start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.shop.stop()
        cls.tmp.cleanup()
        assert rc == 0, f"shop exited {rc}"
        assert cls.shop.stderr == "", f"shop wrote to stderr: {cls.shop.stderr!r}"

    def test_item_page_html(self):
        r, data = self.shop.request("GET", "/album", {"usher-session": "s-html", "usher-item": "album"})
        self.assertEqual(r.status, 200)
        self.assertTrue(r.getheader("Content-Type").startswith("text/html"))
        page = data.decode()
        self.assertIn('<html lang="en">', page)
        self.assertIn("<title>Album", page)
        self.assertIn("25.00 EUR", page)
        self.assertIn('<form method="post" action="/album/buy">', page)
        self.assertIn('<link rel="stylesheet" href="/static/style.css">', page)
        self.assertIn("s-html", page)
        r, css = self.shop.request("GET", "/static/style.css")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.getheader("Content-Type").startswith("text/css"))
        self.assertIn(b"body", css)

    def test_item_page_json(self):
        r, body = self.shop.json("GET", "/album", {"usher-session": "s-json", "usher-item": "album",
                                                   "usher-server": "shop-a"})
        self.assertEqual(r.status, 200)
        self.assertEqual(body["item"], "album")
        self.assertEqual(body["name"], "Album")
        self.assertEqual(body["price_cents"], 2500)
        self.assertEqual(body["currency"], "EUR")
        self.assertIsInstance(body["stock"], int)
        self.assertEqual(body["session"], "s-json")
        self.assertEqual(body["usher_item"], "album")
        self.assertEqual(body["usher_server"], "shop-a")
        r, body = self.shop.json("GET", "/album")
        self.assertIsNone(body["session"])

    def test_buy_is_idempotent_per_session(self):
        _, before = self.shop.json("GET", "/usher/stock")
        r, first = self.shop.json("POST", "/album/buy", {"usher-session": "s-buy", "usher-item": "album"})
        self.assertEqual(r.status, 201)
        self.assertEqual(r.getheader("usher-order-complete"), "1")
        self.assertEqual(first["item"], "album")
        self.assertEqual(first["receipt"], f"/receipts/{first['order']}")
        r, again = self.shop.json("POST", "/album/buy", {"usher-session": "s-buy", "usher-item": "album"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("usher-order-complete"), "1")
        self.assertEqual(again["order"], first["order"])
        _, after = self.shop.json("GET", "/usher/stock")
        self.assertEqual(after["album"], before["album"] - 1)
        # The receipt, as JSON and HTML.
        r, receipt = self.shop.json("GET", first["receipt"])
        self.assertEqual(r.status, 200)
        self.assertEqual(receipt["order"], first["order"])
        self.assertEqual(receipt["item"], "album")
        self.assertNotIn("s-buy", json.dumps(receipt))
        r, data = self.shop.request("GET", first["receipt"])
        self.assertEqual(r.status, 200)
        self.assertIn(f"#{first['order']}", data.decode())
        r, _ = self.shop.json("GET", "/receipts/999999")
        self.assertEqual(r.status, 404)

    def test_browser_buy_gets_receipt_page(self):
        r, data = self.shop.request(
            "POST", "/album/buy",
            {"usher-session": "s-browser", "Accept": "text/html",
             "Content-Type": "application/x-www-form-urlencoded"}, b"")
        self.assertEqual(r.status, 201)
        self.assertEqual(r.getheader("usher-order-complete"), "1")
        self.assertIn("Thank you", data.decode())

    def test_buy_without_session_is_400(self):
        r, body = self.shop.json("POST", "/album/buy")
        self.assertEqual(r.status, 400)
        self.assertEqual(body["error"], "no_session")
        self.assertIsNone(r.getheader("usher-order-complete"))

    def test_sold_out_is_409(self):
        for i in range(2):
            r, _ = self.shop.json("POST", "/scarce/buy", {"usher-session": f"scarce-{i}"})
            self.assertEqual(r.status, 201)
        r, body = self.shop.json("POST", "/scarce/buy", {"usher-session": "scarce-late"})
        self.assertEqual(r.status, 409)
        self.assertEqual(body["error"], "sold_out")
        self.assertIsNone(r.getheader("usher-order-complete"))
        # An earlier buyer retrying still gets their order.
        r, _ = self.shop.json("POST", "/scarce/buy", {"usher-session": "scarce-0"})
        self.assertEqual(r.status, 200)

    def test_concurrent_buys_never_oversell(self):
        results = []
        lock = threading.Lock()
        barrier = threading.Barrier(20)

        def buyer(i):
            barrier.wait()
            r, body = self.shop.json("POST", "/rush/buy", {"usher-session": f"rush-{i}"})
            with lock:
                results.append((r.status, body))

        threads = [threading.Thread(target=buyer, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        statuses = sorted(s for s, _ in results)
        self.assertEqual(len(results), 20)
        self.assertEqual(statuses.count(201), 5, statuses)
        self.assertEqual(statuses.count(409), 15, statuses)
        orders = {b["order"] for s, b in results if s == 201}
        self.assertEqual(len(orders), 5)
        _, stock = self.shop.json("GET", "/usher/stock")
        self.assertEqual(stock["rush"], 0)

    def test_download_streams(self):
        c = self.shop.conn(timeout=30)
        c.request("GET", f"/download?bytes={MB10 + 7}")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Length"), str(MB10 + 7))
        self.assertEqual(r.getheader("Content-Type"), "application/octet-stream")
        total, first = 0, None
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            if first is None:
                first = chunk[:512]
            total += len(chunk)
        self.assertEqual(total, MB10 + 7)
        self.assertEqual(first, bytes(range(256)) * 2)
        # Keep-alive: the same connection answers again.
        c.request("GET", "/healthz")
        r = c.getresponse()
        self.assertEqual((r.status, r.read()), (200, b"ok"))
        c.close()
        r, _ = self.shop.request("GET", "/download?bytes=-1")
        self.assertEqual(r.status, 400)

    def test_upload_counts(self):
        block = os.urandom(1 << 20)

        def body():
            for _ in range(10):
                yield block

        c = self.shop.conn(timeout=30)
        c.request("POST", "/upload", body=body(), headers={"Content-Length": str(MB10)})
        r = c.getresponse()
        got = json.loads(r.read())
        self.assertEqual(r.status, 200)
        self.assertEqual(got["bytes"], MB10)
        self.assertEqual(got["sha256"], hashlib.sha256(block * 10).hexdigest())
        # Chunked works too (http.client sends a generator without length as chunked).
        c.request("POST", "/upload", body=body(), encode_chunked=True)
        r = c.getresponse()
        self.assertEqual(json.loads(r.read())["bytes"], MB10)
        c.close()

    def test_echo_headers_and_slow(self):
        r, body = self.shop.json("GET", "/echo-headers?x=1", {"X-Forwarded-For": "10.0.0.1",
                                                              "usher-session": "echo"})
        self.assertEqual(r.status, 200)
        self.assertEqual(body["x-forwarded-for"], "10.0.0.1")
        self.assertEqual(body["usher-session"], "echo")
        self.assertEqual(body["path"], "/echo-headers?x=1")
        self.assertEqual(body["method"], "GET")
        t = time.monotonic()
        r, data = self.shop.request("GET", "/slow?ms=200")
        self.assertEqual((r.status, data), (200, b"slow"))
        self.assertGreaterEqual(time.monotonic() - t, 0.19)

    def test_not_found_and_health(self):
        for path in ("/nope", "/album/nope", "/t/abc/items/album", "/"):
            r, _ = self.shop.request("GET", path)
            self.assertEqual(r.status, 404, path)
        r, data = self.shop.request("GET", "/healthz")
        self.assertEqual((r.status, data), (200, b"ok"))

    def test_client_disconnect_is_harmless(self):
        s = socket.create_connection(("127.0.0.1", self.shop.port))
        s.sendall(b"GET /download?bytes=100000000 HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(1000)
        s.close()
        s = socket.create_connection(("127.0.0.1", self.shop.port))
        s.sendall(b"GARBAGE\r\n\r\n")
        s.recv(1000)
        s.close()
        r, data = self.shop.request("GET", "/healthz")
        self.assertEqual((r.status, data), (200, b"ok"))

    def test_access_log(self):
        marker = "/echo-headers?log-marker=1"
        self.shop.request("GET", marker, {"usher-session": "logged", "X-Multi": "a"})
        entries = self.shop.log_entries()
        mine = [e for e in entries if e["path"] == marker]
        self.assertEqual(len(mine), 1)
        e = mine[0]
        self.assertEqual(e["method"], "GET")
        self.assertEqual(e["status"], 200)
        self.assertEqual(e["headers"]["usher-session"], "logged")
        self.assertEqual(e["headers"]["x-multi"], "a")
        for e in entries:
            self.assertEqual(set(e) >= {"method", "path", "status", "headers"}, True, e)


class RestartTest(unittest.TestCase):
    def test_restart_keeps_stock_and_orders(self):
        with tempfile.TemporaryDirectory() as tmp:
            shop = ShopProcess(tmp, ["concert=3"]).start()
            try:
                r, first = shop.json("POST", "/concert/buy", {"usher-session": "keep"})
                self.assertEqual(r.status, 201)
            finally:
                self.assertEqual(shop.stop(), 0)
            # Same --stock again, plus a new item: the old one keeps its stock, the new one appears.
            shop.stock = ["concert=3", "album=7"]
            shop.start()
            try:
                _, stock = shop.json("GET", "/usher/stock")
                self.assertEqual(stock, {"concert": 2, "album": 7})
                r, again = shop.json("POST", "/concert/buy", {"usher-session": "keep"})
                self.assertEqual((r.status, again["order"]), (200, first["order"]))
                _, stock = shop.json("GET", "/usher/stock")
                self.assertEqual(stock["concert"], 2)
            finally:
                self.assertEqual(shop.stop(signal.SIGINT), 0)
            self.assertEqual(len(shop.log_entries()), 4)  # buy, stock, buy, stock


if __name__ == "__main__":
    unittest.main()
