"""Issue 11, requirement 4: the operator page (GET /) and /tryons.json, on
the real worker after try-ons that took each path (primary, cache, backup
after a primary failure, a failure), with the thumbnails served by a local
HTTP server and the page loaded in headless Chromium."""
import base64
import http.server
import json
import os
import shutil
import struct
import subprocess
import tempfile
import threading
import urllib.request
import zlib

import itest
from itest import free_port, time_limit

from tryon_env import BACKUP, PRIMARY, Env

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def png(w, h, rgb):
    """A w x h PNG of one colour, with a darker diagonal band."""
    rows = b""
    for y in range(h):
        row = b"\x00"
        for x in range(w):
            row += bytes(c // 3 for c in rgb) if abs(x - y) < 6 else bytes(rgb)
        rows += row

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


COLOURS = {"person": (220, 80, 60), "garment": (60, 120, 220), "result": (60, 180, 90)}


class Images:
    """Small PNGs over HTTP on 127.0.0.1; remembers which paths were fetched."""

    def __init__(self):
        self.fetched = []
        images = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                kind = self.path.strip("/").split("-")[0]
                images.fetched.append((self.path, self.headers.get("User-Agent", "")))
                body = png(64, 64, COLOURS.get(kind, (128, 128, 128)))
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.base = f"http://127.0.0.1:{self.srv.server_address[1]}"
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()
        self.thread.join(5)


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.status, dict(r.headers), r.read().decode()


def result_for(img, name):
    return {"images": [{"url": f"{img.base}/result-{name}.png"}]}


def not_blank(path):
    """The screenshot decodes and is not one flat colour: its unfiltered
    scanlines hold many distinct byte values."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    idat, i = b"", 8
    while i < len(data):
        n, t = struct.unpack(">I4s", data[i:i + 8])
        if t == b"IDAT":
            idat += data[i + 8:i + 8 + n]
        i += 12 + n
    raw = zlib.decompress(idat)
    return len(set(raw)) > 40


@time_limit(120)
def test_operator_page(s):
    img = Images()
    try:
        port = free_port()
        e = Env(s, TRYON_HTTP_ADDR=f"127.0.0.1:{port}")
        b = img.base
        # 1. primary; 2. the same pair from the cache.
        e.st.config(PRIMARY, "ok", result=result_for(img, "primary"))
        p1, g1 = f"{b}/person-1.png", f"{b}/garment-1.png"
        v1, _ = e.run(p1, g1)
        assert v1 == f"{b}/result-primary.png", v1
        v2, _ = e.run(p1, g1)
        assert v2 == v1
        # 3. the primary fails, the backup answers.
        e.st.config(PRIMARY, "status:500")
        e.st.config(BACKUP, "ok", result=result_for(img, "backup"))
        v3, _ = e.run(f"{b}/person-2.png", f"{b}/garment-2.png")
        assert v3 == f"{b}/result-backup.png", v3
        # 4. both refuse: a failure.
        e.st.config(PRIMARY, "status:422")
        e.st.config(BACKUP, "status:422")
        v4, _ = e.run(f"{b}/person-3.png", f"{b}/garment-3.png")
        assert isinstance(v4, Exception), v4
        # 5. characters that need escaping (the decoder refuses " < >, so
        # the unit test covers those), and a data: URI garment.
        e.st.config(PRIMARY, "ok", result=result_for(img, "primary"))
        hostile = f"{b}/person-4.png?a=1&b='x'"
        data_uri = "data:image/png;base64," + base64.b64encode(png(8, 8, (1, 2, 3))).decode()
        v5, _ = e.run(hostile, data_uri)
        assert v5 == f"{b}/result-primary.png", v5

        # /tryons.json: the same rows, newest first.
        code, hdr, body = get(port, "/tryons.json")
        assert code == 200 and hdr["Content-Type"].startswith("application/json")
        rows = json.loads(body)["tryons"]
        assert len(rows) == 5, rows
        paths = [r["path"] for r in rows]
        outcomes = [r["outcome"] for r in rows]
        assert paths == ["primary", "none", "backup", "cache", "primary"], paths
        assert outcomes[2:] == ["success", "cache_hit", "success"], outcomes
        assert outcomes[0] == "success" and outcomes[1] == "task_exception", outcomes
        assert rows[4]["person"] == p1 and rows[4]["garment"] == g1 and rows[4]["result"] == v1
        assert abs(rows[4]["cost"] - 0.05) < 1e-9, rows[4]
        assert rows[3]["cost"] == 0 and rows[3]["result"] == v1
        assert [c["model"] for c in rows[2]["calls"]] == ["primary", "backup"], rows[2]
        assert rows[2]["calls"][0]["outcome"] == "transient" and rows[2]["calls"][0]["status"] == 500
        assert rows[1]["result"] is None and "422" in json.dumps(rows[1]["calls"]), rows[1]
        assert rows[0]["person"] == hostile
        assert rows[0]["garment"] == "" and rows[0]["garment_data_uri"] is True
        assert rows[0]["garment_bytes"] == len(data_uri)
        assert all(r["latency"] is not None and r["latency"] >= 0 for r in rows)

        # GET /: self-contained, escaped, no secrets.
        code, hdr, page = get(port, "/")
        assert code == 200 and hdr["Content-Type"] == "text/html; charset=utf-8"
        csp = "default-src 'none'; img-src https: http:; style-src 'unsafe-inline'"
        assert f'<meta http-equiv="Content-Security-Policy" content="{csp}' in page
        if "Content-Security-Policy" in hdr:
            assert hdr["Content-Security-Policy"].startswith(csp)
        assert "<script" not in page.lower() and "<link" not in page.lower()
        assert "@import" not in page and "url(" not in page
        assert "person-4.png?a=1&amp;b=&#39;x&#39;" in page
        assert "person-4.png?a=1&b='x'" not in page
        assert f"data URI, {len(data_uri)} bytes" in page
        assert data_uri[30:60] not in page
        assert page.count('<img loading="lazy"') == 13   # 5 rows x 3, less the failure's result and the data URI
        for word in ("tryon_queue", PRIMARY, BACKUP, "closed", "cache hit ratio", "20.0% (1 of 5)",
                     "slots busy / total", "uptime", e.env.get("TRYON_HOSTNAME", "")):
            assert word in page, word
        for secret in (itest.FAL_KEY, e.r.url(7).split("@")[0]):
            assert secret not in page and secret not in body, "a secret on the page"

        # Headless Chromium renders it with the thumbnails.
        if not CHROMIUM:
            print("SKIP chromium part: no chromium (apt-get install chromium)")
            return
        out = tempfile.mkdtemp(prefix="tryon-page-")
        shot = os.path.join(out, "page.png")
        img.fetched.clear()
        args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={os.path.join(out, 'profile')}", f"--screenshot={shot}",
                "--window-size=1200,900", "--hide-scrollbars", "--virtual-time-budget=5000",
                f"http://127.0.0.1:{port}/"]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert os.path.exists(shot) and os.path.getsize(shot) > 10000, err.decode(errors="replace")[-2000:]
        assert not_blank(shot)
        got = {p.replace("%27", "'") for p, ua in img.fetched}   # Chromium sends ' as %27
        # The rows in view: each thumbnail loaded from our server.
        for p in ("/person-4.png?a=1&b='x'", "/result-primary.png", "/person-3.png", "/garment-3.png"):
            assert p in got, (p, got)
        assert any("Chrome" in ua for _, ua in img.fetched)
        keep = os.environ.get("TRYON_PAGE_SCREENSHOT")
        if keep:
            shutil.copy(shot, keep)
        shutil.rmtree(out, ignore_errors=True)
    finally:
        img.close()
