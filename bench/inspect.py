#!/usr/bin/env python3
"""HTTPS inspection beside plain forwarding (issue 13): `make bench-inspect`.

All on loopback. A local nginx origin serves a 1 KiB file over HTTP and over
HTTPS on port 443 (a certificate this script makes with the openssl CLI, for 127.0.0.1 ..
127.0.0.250 and localhost, given to smolproxy-tls as --ca-roots). Clients are
Python processes (ssl module), so requests/s here are bounded by the client;
the headline is the proxy's own CPU per request or per handshake (user+sys of
the process from /proc), measured over a fixed count.

  - keep-alive: CLIENTS processes each send REQS GETs on one connection:
    plain (absolute-form http://) and inspected (CONNECT, TLS to our leaf,
    then GETs inside; the proxy keeps one verified TLS connection upstream).
  - handshakes: HANDSHAKES new inspected connections with one GET each, to
    one name (the leaf comes from the cache) and to as many distinct IP
    literals (a leaf minted for each).
  - memory: HELD inspected connections held open after one GET each; RSS
    growth of the proxy divided by HELD.

Prints a markdown table (and writes it with --out).
"""
import argparse
import multiprocessing
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as R  # noqa: E402  (spawn, kill_all, wait_port, cpu_seconds, memory_kib, free_port)

SMALL = "1k"
IPS = 250  # distinct 127.0.0.x names for minted leaves (the leaf cache holds 1,000)


def nginx_conf(d, http_port, https_port):
    listens = "\n".join(f"    listen 127.0.0.{i}:{https_port} ssl;" for i in range(1, IPS + 1))
    return f"""
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  client_body_temp_path {d}/tmp-body;
  proxy_temp_path {d}/tmp-proxy;
  fastcgi_temp_path {d}/tmp-fcgi;
  uwsgi_temp_path {d}/tmp-uwsgi;
  scgi_temp_path {d}/tmp-scgi;
  server {{
    listen 127.0.0.1:{http_port};
{listens}
    ssl_certificate {d}/origin.pem;
    ssl_certificate_key {d}/origin.key;
    root {d}/www;
  }}
}}
"""


def read_response(f):
    """Read one HTTP/1.1 response with Content-Length from file object f."""
    status = f.readline()
    length = 0
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    body = f.read(length)
    if not status.startswith(b"HTTP/1.1 200") or len(body) != length:
        raise RuntimeError(f"bad response {status!r}")


def inspected(proxy_port, host, port, cafile):
    """A TLS connection to host:port inside a CONNECT through the proxy."""
    s = socket.create_connection(("127.0.0.1", proxy_port), timeout=30)
    s.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("CONNECT closed")
        head += chunk
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"CONNECT answered {head[:40]!r}")
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx.wrap_socket(s, server_hostname=host)


def keepalive_client(args):
    mode, proxy_port, http_port, https_port, cafile, reqs = args
    if mode == "plain":
        s = socket.create_connection(("127.0.0.1", proxy_port), timeout=30)
        req = (f"GET http://127.0.0.1:{http_port}/{SMALL} HTTP/1.1\r\n"
               f"Host: 127.0.0.1:{http_port}\r\n\r\n").encode()
    else:
        s = inspected(proxy_port, "localhost", https_port, cafile)
        req = f"GET /{SMALL} HTTP/1.1\r\nHost: localhost:{https_port}\r\n\r\n".encode()
    f = s.makefile("rb")
    for _ in range(reqs):
        s.sendall(req)
        read_response(f)
    s.close()


def handshake_client(args):
    hosts, proxy_port, https_port, cafile = args
    for host in hosts:
        t = inspected(proxy_port, host, https_port, cafile)
        t.sendall(f"GET /{SMALL} HTTP/1.1\r\nHost: {host}:{https_port}\r\nConnection: close\r\n\r\n".encode())
        read_response(t.makefile("rb"))
        t.close()


def measure(pid, fn):
    c0, t0 = R.cpu_seconds(pid), time.monotonic()
    fn()
    return R.cpu_seconds(pid) - c0, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True, help="smolproxy built with --features tls")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--reqs", type=int, default=5000, help="GETs per keep-alive client")
    ap.add_argument("--handshakes", type=int, default=IPS)
    ap.add_argument("--held", type=int, default=200)
    ap.add_argument("--out")
    a = ap.parse_args()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    d = tempfile.mkdtemp(prefix="smolproxy-bench-inspect-")
    os.chmod(d, 0o755)
    os.makedirs(f"{d}/www")
    with open(f"{d}/www/{SMALL}", "wb") as fh:
        fh.write(os.urandom(1024))
    san = "DNS:localhost," + ",".join(f"IP:127.0.0.{i}" for i in range(1, IPS + 1))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", f"{d}/origin.key", "-out", f"{d}/origin.pem", "-days", "2",
                    "-subj", "/CN=bench origin", "-addext", f"subjectAltName={san}",
                    "-addext", "basicConstraints=critical,CA:FALSE"],
                   check=True, capture_output=True)
    # Inspection covers CONNECTs to port 443 only, so the origin listens
    # there (on 127.0.0.1-250), which needs root.
    if os.geteuid() != 0:
        sys.exit("bench/inspect.py: the HTTPS origin needs port 443 on loopback: run as root")
    http_port, https_port, proxy_port = R.free_port(), 443, R.free_port()
    with open(f"{d}/nginx.conf", "w") as fh:
        fh.write(nginx_conf(d, http_port, https_port))
    rows = []
    try:
        ng = R.spawn([nginx, "-c", f"{d}/nginx.conf", "-p", d], subprocess.DEVNULL, subprocess.DEVNULL)
        if R.wait_port(http_port, ng) is None:
            sys.exit("nginx did not start")
        px = R.spawn([a.binary, "--listen", f"127.0.0.1:{proxy_port}", "-q", "--inspect",
                      "--ca-dir", f"{d}/ca", "--ca-roots", f"{d}/origin.pem"],
                     subprocess.DEVNULL, subprocess.DEVNULL)
        if R.wait_port(proxy_port, px) is None:
            sys.exit("smolproxy did not start")
        cafile = f"{d}/ca/ca.pem"
        n = a.clients * a.reqs
        with multiprocessing.Pool(a.clients) as pool:
            for mode in ("plain", "inspected"):
                jobs = [(mode, proxy_port, http_port, https_port, cafile, a.reqs)] * a.clients
                pool.map(keepalive_client, [(mode, proxy_port, http_port, https_port, cafile, 50)])  # warm
                cpu, wall = measure(px.pid, lambda: pool.map(keepalive_client, jobs))
                rows.append((f"keep-alive GET 1 KiB, {mode}: requests/s ({a.clients} Python clients)",
                             f"{n / wall:,.0f}"))
                rows.append((f"**proxy CPU µs per keep-alive request, {mode}**", f"{cpu / n * 1e6:.1f}"))
            per = max(1, a.handshakes // a.clients)
            same = [["localhost"] * per for _ in range(a.clients)]
            ips = [f"127.0.0.{i}" for i in range(1, a.clients * per + 1)][: IPS]
            fresh = [ips[i::a.clients] for i in range(a.clients)]
            for label, hosts in (("one name (cached leaf)", same), ("new IP each (leaf minted)", fresh)):
                count = sum(len(h) for h in hosts)
                jobs = [(h, proxy_port, https_port, cafile) for h in hosts]
                cpu, wall = measure(px.pid, lambda: pool.map(handshake_client, jobs))
                rows.append((f"inspected connections/s, {label}", f"{count / wall:,.0f}"))
                rows.append((f"**proxy CPU µs per inspected connection, {label}**",
                             f"{cpu / count * 1e6:.0f}"))
        rss0 = R.memory_kib(px.pid)[0]
        held = []
        for _ in range(a.held):
            t = inspected(proxy_port, "localhost", https_port, cafile)
            t.sendall(f"GET /{SMALL} HTTP/1.1\r\nHost: localhost:{https_port}\r\n\r\n".encode())
            f = t.makefile("rb")
            read_response(f)
            held.append((t, f))
        time.sleep(0.5)
        rss1 = R.memory_kib(px.pid)[0]
        rows.append((f"proxy RSS growth per held inspected connection ({a.held} held), KiB",
                     f"{(rss1 - rss0) / a.held:.1f}"))
    finally:
        R.kill_all()
        shutil.rmtree(d, ignore_errors=True)
    load = os.getloadavg()[0]
    text = ("| figure (smolproxy-tls, one run) | value |\n|---|---:|\n"
            + "\n".join(f"| {k} | {v} |" for k, v in rows)
            + f"\n\nLoad average (1 min) at the end: {load:.2f}.\n")
    print(text)
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
