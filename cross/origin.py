"""Tiny HTTP origin for cross/smoke.sh, on 127.0.0.1 only.

    python3 cross/origin.py DIR PORTFILE

Serves the files in DIR for GET, echoes the request body for POST, binds an
ephemeral port on 127.0.0.1 and writes that port number to PORTFILE once it
is listening. Exits after 300 s in any case, so a forgotten one does not linger.
"""

import http.server
import os
import sys
import threading


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


def main():
    directory, portfile = sys.argv[1], sys.argv[2]
    handler = lambda *a, **kw: Handler(*a, directory=directory, **kw)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, portfile)
    threading.Timer(300, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
