"""A Python app's reading of cookies (http.cookies.SimpleCookie).

Usage: python3 peer.py PORT TOKEN
"""
import http.cookies
import http.server
import json
import sys

PORT, TOKEN = int(sys.argv[1]), sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    def session(self):
        jar = http.cookies.SimpleCookie()
        try:
            jar.load("; ".join(self.headers.get_all("Cookie") or []))
        except http.cookies.CookieError:
            return None  # what a framework does with a header it cannot read
        return jar["legacy_session"].value if "legacy_session" in jar else None

    def answer(self, status, body, kind="text/plain"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?")[0]
        session = self.session()
        if path == "/health":
            self.answer(200, "ok")
        elif path == "/echo":
            self.answer(200, json.dumps({"session": session}), "application/json")
        elif path == "/whoami":
            if session == TOKEN:
                self.answer(200, '{"id":"victim"}', "application/json")
            else:
                self.answer(401, '{"error":"not logged in"}', "application/json")
        elif path == "/secret":
            if session == TOKEN:
                self.answer(200, "secret of the victim")
            else:
                self.answer(401, "please log in")
        else:
            self.answer(404, "not found")

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
