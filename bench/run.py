#!/usr/bin/env python3
"""Side-by-side benchmark of smolproxy, Apache Traffic Server, tinyproxy, squid and a direct connection.

Starts a local nginx origin on 127.0.0.1 (a 1 KiB and a sparse 1 GiB file in a
temporary directory), starts each proxy on a loopback port, measures the
figures listed in README.md, Benchmarks (each the median of --runs runs) and prints a Markdown
report; --out also writes it to a file.  All traffic stays on loopback, every
load is bounded in time, and every process started here is killed on exit.

--scenario cache measures cache hits instead (bench/cache.py, `make bench-cache`).

Tools used: wrk (+ bench/absolute.lua), curl, python3 (bench/tunnels.py),
/proc for CPU (utime+stime) and memory (VmRSS, Pss). The origin nginx's own CPU
per request is measured beside each proxy's: the nearest thing to a floor.
"""
import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LUA = os.path.join(HERE, "absolute.lua")
TUNNELS = os.path.join(HERE, "tunnels.py")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
GIB = 1 << 30
NOFILE = 65536
PEERS = ("ats", "tinyproxy", "squid")

started = []  # Popen objects to kill on exit
ORIGIN = {"proc": None}  # the nginx origin, whose CPU per request is measured too
# --pin: the CPUs every proxy runs on (the last one); this script, and with it
# nginx, wrk and curl, keeps the others. None: not pinned.
PIN = {"proxy": None}


def proxy_preexec():
    """In a proxy's child process: the descriptor limit, and its CPU (--pin)."""
    raise_nofile()
    if PIN["proxy"]:
        os.sched_setaffinity(0, PIN["proxy"])


def pin(on):
    """Split the CPUs: the last for the proxies, the rest for the origin and
    the load. Returns a sentence for the report, or None when not pinned."""
    cpus = sorted(os.sched_getaffinity(0))
    if not on or len(cpus) < 2:
        return None
    PIN["proxy"] = {cpus[-1]}
    os.sched_setaffinity(0, set(cpus[:-1]))
    rest = ",".join(map(str, cpus[:-1]))
    return (f"Pinned: each proxy on CPU {cpus[-1]} alone (so smolproxy's default --threads is 1, as ATS "
            f"runs one net thread and squid one process); nginx, wrk and curl on CPU {rest}.")


def log(*a):
    print("[bench]", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes

def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(NOFILE, soft), max(NOFILE, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def spawn(cmd, stdout, stderr, **kw):
    p = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                         start_new_session=True, **kw)
    started.append(p)
    return p


def kill(p, grace=3.0):
    if p is None or p.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            return
        try:
            p.wait(wait)
            break
        except subprocess.TimeoutExpired:
            pass
    # the group may hold children (nginx workers) that outlive the leader
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def kill_all():
    while started:
        kill(started.pop())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=15.0):
    """Seconds until 127.0.0.1:port accepts a connection, None if proc died or timeout."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            return None
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return time.monotonic() - t0
        except OSError:
            time.sleep(0.001)
    return None


# ---------------------------------------------------------------- /proc

def tree(pid):
    """pid and all its descendants."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pid):
    """user+sys CPU seconds of the process tree (all threads)."""
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def listen_overflows():
    """Kernel count of connections dropped because a listen queue was full."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            d = dict(zip(names.split()[1:], values.split()[1:]))
            return int(d.get("ListenOverflows", 0))
    return 0


def memory_kib(pid):
    """(RSS, PSS, threads) of the process tree, in KiB."""
    rss = pss = threads = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Threads:"):
                        threads += int(line.split()[1])
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            continue
    return rss, pss, threads


# ---------------------------------------------------------------- configs

def nginx_conf(d, port):
    return f"""
worker_processes 2;
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/logs/nginx-error.log warn;
worker_rlimit_nofile {NOFILE};
events {{ worker_connections 30000; multi_accept on; }}
http {{
  access_log off;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  client_header_timeout 300s;
  client_body_temp_path {d}/nginx-tmp/body;
  proxy_temp_path {d}/nginx-tmp/proxy;
  fastcgi_temp_path {d}/nginx-tmp/fastcgi;
  uwsgi_temp_path {d}/nginx-tmp/uwsgi;
  scgi_temp_path {d}/nginx-tmp/scgi;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    root {d}/www;
  }}
}}
"""


def squid_conf(d, port):
    return f"""
http_port 127.0.0.1:{port}
workers 1
visible_hostname localhost
pid_filename {d}/logs/squid.pid
cache_log {d}/logs/squid-cache.log
access_log none
cache_store_log none
cache deny all
cache_mem 0 MB
coredump_dir {d}/logs
pinger_enable off
max_filedescriptors {NOFILE}
shutdown_lifetime 0 seconds
http_access allow all
"""


def ats_conf(d, port):
    """Apache Traffic Server as a plain forward proxy: cache off, one net
    thread, no remap rules needed, loopback only, every port allowed for
    CONNECT, logging off; all its files under d (its own port's directory)."""
    return {
        "records.config": f"""
CONFIG proxy.config.http.server_ports STRING {port}:ipv4:ip-in=127.0.0.1
CONFIG proxy.config.admin.user_id STRING #-1
CONFIG proxy.config.url_remap.remap_required INT 0
CONFIG proxy.config.http.cache.http INT 0
CONFIG proxy.config.exec_thread.autoconfig INT 0
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.accept_threads INT 0
CONFIG proxy.config.task_threads INT 1
CONFIG proxy.config.local_state_dir STRING {d}/run
CONFIG proxy.config.log.logfile_dir STRING {d}/log
CONFIG proxy.config.log.logging_enabled INT 0
CONFIG proxy.config.http.connect_ports STRING 1-65535
CONFIG proxy.config.net.connections_throttle INT 30000
CONFIG proxy.config.http.keep_alive_no_activity_timeout_in INT 300
CONFIG proxy.config.http.transaction_no_activity_timeout_in INT 300
CONFIG proxy.config.hostdb.host_file.path STRING /etc/hosts
""",
        "storage.config": f"{d}/cache 64M\n",
        "ip_allow.yaml": """ip_allow:
  - apply: in
    ip_addrs: 127.0.0.1
    action: allow
    methods: ALL
  - apply: out
    ip_addrs: 127.0.0.1
    action: allow
    methods: ALL
""",
        "remap.config": "",
        "plugin.config": "",
    }


def tinyproxy_conf(d, port, origin_port):
    return f"""
User nobody
Group nogroup
Port {port}
Listen 127.0.0.1
Timeout 600
MaxClients 20000
Allow 127.0.0.1
ConnectPort {origin_port}
LogFile "{d}/logs/tinyproxy.log"
LogLevel Critical
PidFile "{d}/logs/tinyproxy.pid"
"""


# ---------------------------------------------------------------- subjects

class Subject:
    """One thing to measure: a proxy, or the direct connection (proxy=False)."""

    def __init__(self, name, cmd=None, binary=None, version=""):
        self.name, self.cmd, self.binary, self.version = name, cmd, binary, version
        self.proxy = cmd is not None
        self.port = None
        self.proc = None
        self.err = None

    def start(self, tmp, tag=""):
        self.port = free_port()
        cmd = self.cmd(self.port)
        self.err = open(os.path.join(tmp, "logs", f"{self.name}{tag}.stderr"), "ab")
        t0 = time.monotonic()
        self.proc = spawn(cmd, self.err, self.err, preexec_fn=proxy_preexec)
        up = wait_port(self.port, self.proc)
        if up is None:
            kill(self.proc)
            raise RuntimeError(f"{self.name} did not start: {' '.join(cmd)}")
        return time.monotonic() - t0

    def stop(self):
        kill(self.proc)
        self.proc = None
        if self.err:
            self.err.close()


# ---------------------------------------------------------------- figures

def wrk(url, target, host, close, conns, seconds, threads=2):
    env = dict(os.environ, BENCH_TARGET=target, BENCH_HOST=host, BENCH_CLOSE="1" if close else "0")
    cmd = ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{seconds}s", "--timeout", "5s",
           "-s", LUA, url]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 30)
    for line in out.stdout.splitlines():
        if line.startswith("JSON "):
            return json.loads(line[5:])
    raise RuntimeError(f"wrk gave no result: {out.stdout} {out.stderr}")


def fig_http(s, origin_port, close, a, runs_n=1, warm=False):
    """Figures 1 and 2: wrk through the proxy; median rps, p99, CPU µs/request."""
    host = f"127.0.0.1:{origin_port}"
    if s.proxy:
        url, target = f"http://127.0.0.1:{s.port}/", f"http://{host}/small.bin"
    else:
        url, target = f"http://{host}/", "/small.bin"
    if warm:
        wrk(url, target, host, close, a.conns, 1)
    runs = []
    ngx = ORIGIN["proc"]
    for _ in range(runs_n):
        c0 = cpu_seconds(s.proc.pid) if s.proxy else 0
        o0 = cpu_seconds(ngx.pid) if ngx else 0
        r = wrk(url, target, host, close, a.conns, a.duration)
        cpu = (cpu_seconds(s.proc.pid) - c0) if s.proxy else None
        ocpu = (cpu_seconds(ngx.pid) - o0) if ngx else None
        n = r["requests"]
        errs = sum(r[k] for k in r if k.startswith("err_"))
        runs.append({"rps": n / (r["duration_us"] / 1e6), "p99_ms": r["p99_us"] / 1000,
                     "cpu_us": (cpu / n * 1e6) if (cpu is not None and n) else None,
                     "origin_cpu_us": (ocpu / n * 1e6) if (ocpu is not None and n) else None,
                     "errors": errs, "requests": n,
                     "error_kinds": {k[4:]: r[k] for k in r if k.startswith("err_") and r[k]}})
        log(f"  {s.name} {'close' if close else 'keep-alive'}: {runs[-1]}")
    return runs


def fig_tunnel(s, origin_port, a, runs_n=1, socks=False):
    """Figure 4: 1 GiB through a CONNECT tunnel with curl -p (or, with socks, through
    a SOCKS5 tunnel with curl --socks5); MB/s and CPU-s per GiB."""
    url = f"http://127.0.0.1:{origin_port}/big.bin"
    runs = []
    for _ in range(runs_n):
        cmd = ["curl", "-sS", "-o", "/dev/null", "--max-time", "120", "-w", "%{size_download} %{time_total}"]
        if s.proxy and socks:
            cmd += ["--socks5", f"127.0.0.1:{s.port}"]
        elif s.proxy:
            cmd += ["-p", "-x", f"http://127.0.0.1:{s.port}"]
        cmd.append(url)
        c0 = cpu_seconds(s.proc.pid) if s.proxy else 0
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=150)
        cpu = (cpu_seconds(s.proc.pid) - c0) if s.proxy else None
        try:
            size, secs = out.stdout.split()
            size, secs = int(size), float(secs)
        except ValueError:
            size, secs = 0, 0.0
        ok = out.returncode == 0 and size == GIB
        runs.append({"mbps": size / secs / 1e6 if ok else 0.0,
                     "cpu_per_gib": cpu / (size / GIB) if (cpu is not None and size) else None,
                     "ok": ok, "err": out.stderr.strip()[:200]})
        log(f"  {s.name} {'SOCKS5' if socks else 'CONNECT'} tunnel 1 GiB: {runs[-1]}")
    return runs


def fig_memory(s, tmp, origin_port, a):
    """Figure 5: a fresh proxy per run: idle memory, then while holding 1,000
    and then 10,000 idle tunnels (opened 500 at a time)."""
    runs = []
    for i in range(a.mem_runs):
        s.start(tmp, tag=f"-mem{i}")
        p = None
        try:
            time.sleep(1.0)
            rss0, pss0, thr0 = memory_kib(s.proc.pid)
            r = {"idle_rss": rss0, "idle_pss": pss0, "idle_threads": thr0}
            cmd = [sys.executable, TUNNELS, "hold", "--proxy", f"127.0.0.1:{s.port}",
                   "--target", f"127.0.0.1:{origin_port}", "--steps", "1000,10000", "--hold-max", "60"]
            p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 text=True, start_new_session=True, preexec_fn=raise_nofile)
            started.append(p)
            for key in ("h1k", "h10k"):
                ready = json.loads(p.stdout.readline() or "{}")
                time.sleep(1.5)  # let the proxy settle
                c0, t0 = cpu_seconds(s.proc.pid), time.monotonic()
                time.sleep(1.0)
                idle_cpu = (cpu_seconds(s.proc.pid) - c0) / (time.monotonic() - t0) * 100
                rss, pss, threads = memory_kib(s.proc.pid)
                ok = ready.get("ok", 0)
                r[key] = {"n": ready.get("n"), "ok": ok, "errors": dict(ready.get("errors", {})),
                          "open_s": ready.get("open_s"), "rss": rss, "pss": pss, "threads": threads,
                          "cpu_pct": idle_cpu,
                          "kib_per_tunnel": (rss - rss0) / ok if ok else None,
                          "pss_kib_per_tunnel": (pss - pss0) / ok if ok else None}
                p.stdin.write("next\n")
                p.stdin.flush()
            r["alive"] = json.loads(p.stdout.readline() or "{}").get("alive", 0)
            p.wait(30)
            r["exited"] = s.proc.poll()
        finally:
            kill(p)
            s.stop()
        log(f"  {s.name} memory: {r}")
        runs.append(r)
    return runs


def fig_rounds(s, origin_port, a, runs_n=1):
    """Figure 6: 1,000 tunnels x 20 keep-alive GETs; total time and failures."""
    runs = []
    for _ in range(runs_n):
        cmd = [sys.executable, TUNNELS, "rounds", "--target", f"127.0.0.1:{origin_port}",
               "-n", str(a.round_tunnels), "--rounds", "20", "--total-max", "60"]
        if s.proxy:
            cmd += ["--proxy", f"127.0.0.1:{s.port}"]
        lo = listen_overflows()
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=90, preexec_fn=raise_nofile)
        try:
            r = json.loads(out.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            r = {"elapsed_s": None, "failures": a.round_tunnels, "errors": {"client": out.stderr[-200:]}}
        r["listen_overflows"] = listen_overflows() - lo
        runs.append(r)
        log(f"  {s.name} rounds: {r}")
    return runs


def startup(s, tmp, a):
    """Figure 7: time from exec to the listening port accepting a connection."""
    times = []
    for i in range(a.mem_runs):
        times.append(s.start(tmp, tag=f"-startup{i}"))
        s.stop()
    return times


def binary_info(path):
    """(stripped size in bytes, static?) of an executable."""
    if not path or not os.path.exists(path):
        return None, None
    tmp = tempfile.mktemp(prefix="bench-strip-")
    try:
        shutil.copy(path, tmp)
        subprocess.run(["strip", tmp], capture_output=True)
        size = os.path.getsize(tmp)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    with open(path, "rb") as f:
        head = f.read(1 << 20)
    static = b"PT_INTERP" not in head and subprocess.run(
        ["readelf", "-l", path], capture_output=True, text=True).stdout.find("INTERP") < 0
    return size, static


# ---------------------------------------------------------------- report

def med(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def spread(values):
    v = [x for x in values if x is not None]
    return (min(v), max(v)) if len(v) > 1 else None


def fmt(v, spec, unit=""):
    if v is None:
        return "—"
    return format(v, spec) + unit


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // (1024 * 1024)
    return f"{os.cpu_count()} CPUs ({cpu}), {mem} GiB RAM, Linux {platform.release()}"


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def smol_version():
    """Commit of the measured code; '+changes' when src/ or the manifest differ from it."""
    v = tool_version(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", ROOT, "diff", "--quiet", "HEAD", "--", "src", "Cargo.toml", "Cargo.lock"])
    return v + ("+changes" if dirty.returncode == 1 else "")


def tool_version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout + out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


# (row label, key, format, higher is better?)
ROWS = [
    ("1. keep-alive GET 1 KiB, 50 conns: requests/s", "ka_rps", ",.0f", True),
    ("1. keep-alive: p99 latency (ms)", "ka_p99", ".2f", False),
    ("1. keep-alive: wrk errors", "ka_err", ",.0f", False),
    ("2. connection per request: requests/s", "cl_rps", ",.0f", True),
    ("2. connection per request: wrk errors", "cl_err", ",.0f", False),
    ("**3. proxy CPU µs per keep-alive request**", "ka_cpu", ".1f", False),
    ("**3. proxy CPU µs per connection-per-request**", "cl_cpu", ".1f", False),
    ("3o. origin (nginx) CPU µs per keep-alive request", "ka_ocpu", ".1f", False),
    ("3o. origin (nginx) CPU µs per connection-per-request exchange", "cl_ocpu", ".1f", False),
    ("3o. proxy ÷ origin CPU per keep-alive request", "ka_vs_origin", ".2f", False),
    ("4. 1 GiB via CONNECT tunnel (curl -p): MB/s", "tun_mbps", ",.0f", True),
    ("4. proxy CPU-s per GiB tunnelled", "tun_cpu", ".2f", False),
    ("4s. 1 GiB via SOCKS5 tunnel (curl --socks5, with --socks): MB/s", "stun_mbps", ",.0f", True),
    ("4s. proxy CPU-s per GiB tunnelled through SOCKS5", "stun_cpu", ".2f", False),
    ("5. idle RSS (KiB)", "idle_rss", ",.0f", False),
    ("5. idle PSS (KiB)", "idle_pss", ",.0f", False),
    ("5. 1,000 idle tunnels: RSS (KiB)", "h1k_rss", ",.0f", False),
    ("5. 1,000 idle tunnels: KiB per tunnel (RSS)", "h1k_per", ".1f", False),
    ("5. 10,000 idle tunnels: tunnels held", "h10k_ok", ",.0f", True),
    ("5. 10,000 idle tunnels: RSS (KiB)", "h10k_rss", ",.0f", False),
    ("5. 10,000 idle tunnels: PSS (KiB)", "h10k_pss", ",.0f", False),
    ("5. 10,000 idle tunnels: KiB per tunnel (RSS)", "h10k_per", ".1f", False),
    ("5. 10,000 idle tunnels: proxy threads", "h10k_thr", ",.0f", False),
    ("5. 10,000 idle tunnels: proxy CPU % while idle", "h10k_cpu", ".1f", False),
    ("5. RSS after all the load of 1, 2, 4 and 6, idle again (KiB)", "after_rss", ",.0f", False),
    ("6. 1,000 tunnels x 20 GETs: total time (s)", "rt_time", ".2f", False),
    ("6. 1,000 tunnels x 20 GETs: failed tunnels", "rt_fail", ",.0f", False),
    ("6. listen-queue overflows, system-wide (SYNs dropped, retried after 1 s)", "rt_lo", ",.0f", False),
    ("7. binary size, stripped (KiB)", "bin_kib", ",.0f", False),
    ("7. start-up time (ms)", "start_ms", ".1f", False),
    ("7. static build: idle PSS (KiB)", "static_idle_pss", ",.0f", False),
]


def summarise(res):
    """Collapse raw runs into one median figure per ROWS key."""
    out = {}
    ka, cl = res.get("ka"), res.get("cl")
    if ka:
        out["ka_rps"] = med(r["rps"] for r in ka)
        out["ka_p99"] = med(r["p99_ms"] for r in ka)
        out["ka_err"] = med(r["errors"] for r in ka)
        out["ka_cpu"] = med(r["cpu_us"] for r in ka)
        out["ka_cpu_range"] = spread(r["cpu_us"] for r in ka)
        out["ka_ocpu"] = med(r.get("origin_cpu_us") for r in ka)
        out["ka_vs_origin"] = med(r["cpu_us"] / r["origin_cpu_us"] for r in ka
                                  if r["cpu_us"] is not None and r.get("origin_cpu_us"))
    if cl:
        out["cl_rps"] = med(r["rps"] for r in cl)
        out["cl_err"] = med(r["errors"] for r in cl)
        out["cl_cpu"] = med(r["cpu_us"] for r in cl)
        out["cl_cpu_range"] = spread(r["cpu_us"] for r in cl)
        out["cl_ocpu"] = med(r.get("origin_cpu_us") for r in cl)
    if res.get("tun"):
        ok = [r for r in res["tun"] if r["ok"]]
        out["tun_mbps"] = med(r["mbps"] for r in ok)
        out["tun_cpu"] = med(r["cpu_per_gib"] for r in ok)
        out["tun_cpu_range"] = spread(r["cpu_per_gib"] for r in ok)
    if res.get("stun"):
        ok = [r for r in res["stun"] if r["ok"]]
        out["stun_mbps"] = med(r["mbps"] for r in ok)
        out["stun_cpu"] = med(r["cpu_per_gib"] for r in ok)
        out["stun_cpu_range"] = spread(r["cpu_per_gib"] for r in ok)
    mem = res.get("mem")
    if mem:
        out["idle_rss"] = med(r["idle_rss"] for r in mem)
        out["idle_pss"] = med(r["idle_pss"] for r in mem)
        for key in ("h1k", "h10k"):
            out[f"{key}_rss"] = med(r[key]["rss"] for r in mem)
            out[f"{key}_pss"] = med(r[key]["pss"] for r in mem)
            out[f"{key}_per"] = med(r[key]["kib_per_tunnel"] for r in mem)
            out[f"{key}_thr"] = med(r[key]["threads"] for r in mem)
            out[f"{key}_cpu"] = med(r[key]["cpu_pct"] for r in mem)
        out["h10k_ok"] = med(min(r["h10k"]["ok"], r["alive"]) for r in mem)
    if res.get("rt"):
        out["rt_time"] = med(r.get("elapsed_s") for r in res["rt"])
        out["rt_fail"] = med(r.get("failures") for r in res["rt"])
        out["rt_lo"] = med(r.get("listen_overflows") for r in res["rt"])
    if res.get("bin"):
        out["bin_kib"] = res["bin"][0] / 1024 if res["bin"][0] else None
    if res.get("after_load"):
        out["after_rss"] = res["after_load"][0]
        out["after_thr"] = res["after_load"][2]
    if res.get("static_idle"):
        out["static_idle_pss"] = res["static_idle"][1]
    if res.get("start"):
        out["start_ms"] = med(res["start"]) * 1000
    return out


def fd_cap_tunnels():
    """Tunnels a proxy can hold within the hard open-files limit (two descriptors each)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 10 ** 9 if hard == resource.RLIM_INFINITY else (hard - 10) // 2


def report(subjects, figs, notes, a, cmdline):
    names = [s.name for s in subjects]
    L = []
    L.append("| figure (median of %d runs, memory and start-up of %d; CPU rows: min–max in brackets) | %s |"
             % (a.runs, a.mem_runs, " | ".join(names)))
    L.append("|---|" + "---:|" * len(names))
    for label, key, spec, _ in ROWS:
        cells = []
        for n in names:
            c = fmt(figs[n].get(key), spec)
            rng = figs[n].get(key + "_range")
            if rng:
                c += f" ({format(rng[0], spec)}–{format(rng[1], spec)})"
            cells.append(c)
        if all(c == "—" for c in cells):
            continue
        L.append(f"| {label} | " + " | ".join(cells) + " |")
    # ratios: each proxy to the best other proxy (peer) and to direct
    proxies = [s.name for s in subjects if s.proxy and any(v is not None for v in figs[s.name].values())]
    ratio_rows = []
    for label, key, spec, higher in ROWS:
        if key in ("ka_err", "cl_err", "rt_fail", "rt_lo", "h10k_thr", "h10k_ok", "h10k_cpu", "static_idle_pss",
                   "ka_vs_origin"):
            continue
        row = []
        for n in proxies:
            v = figs[n].get(key)
            peers = [(figs[p].get(key), p) for p in proxies if p != n and (n == "smolproxy" or p != "smolproxy")]
            peers = [(x, p) for x, p in peers if x is not None]
            best = (max if higher else min)(peers) if peers else None
            d = figs.get("direct", {}).get(key)
            parts = []
            if v is not None and best and best[0]:
                parts.append(f"{v / best[0]:.2f}× {best[1]}")
            if v is not None and d:
                parts.append(f"{v / d:.2f}× direct")
            row.append(" · ".join(parts) or "—")
        if any(c != "—" for c in row):
            ratio_rows.append(f"| {label} | " + " | ".join(row) + " |")
    if ratio_rows and proxies:
        L.append("")
        L.append("Ratios: value ÷ best peer (named; for smolproxy the best of ATS, tinyproxy and squid, "
                 "for a peer the other peer), then ÷ direct where there is a direct figure. "
                 "Below 1 is better for CPU, latency, memory and time; above 1 is better for requests/s and MB/s.")
        L.append("")
        L.append("| figure | " + " | ".join(proxies) + " |")
        L.append("|---|" + "---:|" * len(proxies))
        L.extend(ratio_rows)
    if "smolproxy" in figs and figs["smolproxy"]:
        L.append("")
        L.append("Targets for smolproxy:")
        L.append("")
        L.append("| target | measured | met |")
        L.append("|---|---:|:-:|")
        f, sq, d = figs["smolproxy"], figs.get("squid", {}), figs.get("direct", {})

        def tgt(text, measured, ok):
            L.append(f"| {text} | {measured} | {'—' if ok is None else ('yes' if ok else '**no**')} |")

        def ratio(x, y):
            return x / y if (x is not None and y) else None
        r = ratio(f.get("ka_cpu"), sq.get("ka_cpu"))
        tgt("keep-alive CPU/request ≤ 0.4× squid", fmt(r, ".2f", "×"), None if r is None else r <= 0.4)
        r = ratio(f.get("ka_rps"), sq.get("ka_rps"))
        tgt("keep-alive requests/s > squid", fmt(r, ".2f", "×"), None if r is None else r > 1)
        r = ratio(f.get("cl_cpu"), sq.get("cl_cpu"))
        tgt("connection-per-request CPU/request ≤ 0.6× squid", fmt(r, ".2f", "×"), None if r is None else r <= 0.6)
        ats = figs.get("ats", {})
        r = ratio(f.get("cl_cpu"), ats.get("cl_cpu"))
        tgt("connection-per-request CPU/request ≤ 0.8× ATS", fmt(r, ".2f", "×"), None if r is None else r <= 0.8)
        r = ratio(f.get("ka_cpu"), ats.get("ka_cpu"))
        tgt("keep-alive CPU/request ≤ 0.6× ATS", fmt(r, ".2f", "×"), None if r is None else r <= 0.6)
        r = f.get("ka_vs_origin")
        tgt("keep-alive CPU/request ≤ 1.3× the origin nginx's, same run", fmt(r, ".2f", "×"),
            None if r is None else r <= 1.3)
        r = ratio(f.get("tun_mbps"), d.get("tun_mbps"))
        tgt("CONNECT throughput ≥ 0.9× direct", fmt(r, ".2f", "×"), None if r is None else r >= 0.9)
        v = f.get("tun_cpu")
        tgt("CONNECT ≤ 0.3 CPU-s per GiB", fmt(v, ".2f", " s"), None if v is None else v <= 0.3)
        v = f.get("h10k_per")
        tgt("≤ 2 KiB per idle tunnel (10,000 tunnels)", fmt(v, ".2f", " KiB"), None if v is None else v <= 2)
        # The shipped artifact is the static musl binary: judge it when it
        # was built, else the dynamic build measured above.
        v = f.get("static_idle_pss")
        which = "static build"
        if v is None:
            v, which = f.get("idle_pss"), "dynamic build"
        tgt(f"≤ 1 MiB idle (PSS, {which})", fmt(v, ",.0f", " KiB"), None if v is None else v <= 1024)
        v = f.get("h10k_ok")
        cap = fd_cap_tunnels()
        ok = None if v is None else (v >= 10000 or (cap < 10000 and v >= cap - 10))
        tgt("10,000 idle tunnels held with default threads"
            + (f" (this machine: at most ~{cap:,}, open-files cap)" if cap < 10000 else ""),
            fmt(v, ",.0f"), ok)
        v = f.get("rt_fail")
        tgt("zero failures in figure 6", fmt(v, ",.0f"), None if v is None else v == 0)
    if notes:
        L.append("")
        L.append("Notes:")
        L.append("")
        L.extend(f"- {n}" for n in notes)
    head = [
        "# Benchmarks",
        "",
        f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC  ",
        f"Machine: {machine()}  ",
        f"Command: `{cmdline}`  ",
        f"Load average (1 min) at start and end: {a.load_start} and {loadavg()}; "
        "other work on the machine inflates requests/s and latency spread more than CPU per request.  ",
        f"Versions: {'; '.join(s.version for s in subjects if s.version)}",
        "",
        "All traffic on 127.0.0.1: a local nginx origin (1 KiB file, sparse 1 GiB file), "
        "each proxy on a loopback port; client and proxies share the same "
        f"{os.cpu_count()} CPUs, so requests/s and latency depend on the client too — "
        "the proxy's own CPU per request (user+sys of the whole process from /proc) is the headline. "
        "squid: caching off, plain forwarder, one process (-N). tinyproxy: defaults, MaxClients 20000. "
        "ATS (Apache Traffic Server): forward proxy, HTTP cache off, one net thread, logging off. "
        "Origin CPU: user+sys of the nginx master and workers over the same wrk run, ÷ requests. "
        f"wrk: 2 threads, {a.conns} connections, {a.duration} s per run. "
        "Memory per tunnel = (RSS while holding − RSS just before) ÷ tunnels open; "
        "idle memory is PSS (shared library pages divided among their users), RSS beside it. "
        "See the Benchmarks section of README.md for what each figure means.",
        "",
    ]
    return "\n".join(head + L) + "\n"


# ---------------------------------------------------------------- main

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", default=os.path.join(ROOT, "target/release/smolproxy"),
                   help="smolproxy binary to measure")
    p.add_argument("--static-binary", default=os.path.join(ROOT, "target/x86_64-unknown-linux-musl/release/smolproxy"),
                   help="static build whose size is reported (figure 7), if present")
    p.add_argument("--only", default="direct,smolproxy,ats,tinyproxy,squid", help="comma-separated subjects")
    p.add_argument("--runs", type=int, help="runs of figures 1, 2, 4 and 6 (default 5, quick 1)")
    p.add_argument("--mem-runs", type=int, help="runs of figures 5 and 7 (default 3, quick 1)")
    p.add_argument("--duration", type=int, help="seconds per wrk run (default 5, quick 2)")
    p.add_argument("--conns", type=int, default=50)
    p.add_argument("--no-pin", action="store_true",
                   help="do not pin: by default each proxy runs alone on the last CPU, the rest on the others")
    p.add_argument("--round-tunnels", type=int, default=1000)
    p.add_argument("--quick", action="store_true", help="1 run, 2 s wrk runs, for development")
    p.add_argument("--socks", action="store_true",
                   help="also measure figure 4 through smolproxy's SOCKS5 (curl --socks5), beside CONNECT")
    p.add_argument("--out", help="also write the Markdown report to this file")
    p.add_argument("--json", help="write raw results to this file")
    p.add_argument("--command", help="command line to record in the report")
    p.add_argument("--scenario", choices=("proxies", "cache"), default="proxies",
                   help="proxies: the figures above; cache: hits from smolproxy's and squid's "
                        "caches (bench/cache.py, `make bench-cache`)")
    a = p.parse_args()
    a.runs = a.runs or (1 if a.quick else 5)
    a.mem_runs = a.mem_runs or min(a.runs, 3)
    a.duration = a.duration or (2 if a.quick else 5)
    a.load_start = loadavg()
    cmdline = a.command or " ".join(["python3", "bench/run.py"] + sys.argv[1:])
    raise_nofile()
    if a.scenario == "cache":
        import cache  # bench/cache.py, beside this file
        return cache.main(a, sys.modules[__name__], cmdline)

    for tool in ("wrk", "nginx", "curl"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            sys.exit(f"{tool} not found: run `make bench-deps`")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    squid = shutil.which("squid") or "/usr/sbin/squid"
    tinyproxy = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
    traffic_server = shutil.which("traffic_server") or "/usr/bin/traffic_server"

    tmp = tempfile.mkdtemp(prefix="smolproxy-bench-")
    os.chmod(tmp, 0o755)
    for sub in ("www", "logs", "nginx-tmp"):
        os.makedirs(os.path.join(tmp, sub))
    os.chmod(os.path.join(tmp, "logs"), 0o777)  # squid and tinyproxy drop privileges
    with open(os.path.join(tmp, "www", "small.bin"), "wb") as f:
        f.write(os.urandom(1024))
    with open(os.path.join(tmp, "www", "big.bin"), "wb") as f:
        f.truncate(GIB)  # sparse: reads are zero pages, no disk I/O

    def on_signal(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)

    notes = []
    pinned = pin(not a.no_pin)
    if pinned:
        notes.append(pinned)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 2 * 10000 + 100:
        notes.append(f"This machine caps open files at {hard:,} per process (hard RLIMIT_NOFILE, not raisable "
                     "here), and a proxy needs two descriptors per tunnel, so no proxy can hold all 10,000 "
                     "tunnels in figure 5: the shortfall is the machine's limit, not the proxy's.")
    try:
        origin_port = free_port()
        with open(os.path.join(tmp, "nginx.conf"), "w") as f:
            f.write(nginx_conf(tmp, origin_port))
        ngx_err = open(os.path.join(tmp, "logs", "nginx.stderr"), "ab")
        ngx = spawn([nginx, "-p", tmp, "-e", f"{tmp}/logs/nginx-error.log", "-c", f"{tmp}/nginx.conf"],
                    ngx_err, ngx_err, preexec_fn=raise_nofile)
        if wait_port(origin_port, ngx) is None:
            sys.exit(f"nginx did not start, see {tmp}/logs")
        ORIGIN["proc"] = ngx
        log(f"nginx origin on 127.0.0.1:{origin_port}, files in {tmp}/www")
        # one pass over the big file so that every subject reads it from the page cache
        subprocess.run(["curl", "-sS", "-o", "/dev/null", "--max-time", "120",
                        f"http://127.0.0.1:{origin_port}/big.bin"], timeout=150)

        def squid_cmd(port):
            conf = os.path.join(tmp, f"squid-{port}.conf")
            with open(conf, "w") as f:
                f.write(squid_conf(tmp, port))
            return [squid, "-N", "-f", conf]

        def ats_cmd(port):
            d = os.path.join(tmp, f"ats-{port}")
            for sub in ("etc", "run", "log", "cache"):
                os.makedirs(os.path.join(d, sub), exist_ok=True)
            # the package's other files (body_factory, logging.yaml, ...), then ours
            if os.path.isdir("/etc/trafficserver"):
                shutil.copytree("/etc/trafficserver", os.path.join(d, "etc"), dirs_exist_ok=True)
            for name, text in ats_conf(d, port).items():
                with open(os.path.join(d, "etc", name), "w") as f:
                    f.write(text)
            return ["env", f"PROXY_CONFIG_CONFIG_DIR={d}/etc", traffic_server]

        def tinyproxy_cmd(port):
            conf = os.path.join(tmp, f"tinyproxy-{port}.conf")
            with open(conf, "w") as f:
                f.write(tinyproxy_conf(tmp, port, origin_port))
            return [tinyproxy, "-d", "-c", conf]

        def smol_cmd(port):
            return [a.binary, "-q", "--listen", f"127.0.0.1:{port}", "--connect-ports", "any",
                    "--max-clients", "20000"] + (["--socks-ports", "any"] if a.socks else [])

        all_subjects = {
            "direct": Subject("direct", version=tool_version([nginx, "-v"])),
            "smolproxy": Subject("smolproxy", smol_cmd, a.binary, "smolproxy " + smol_version()),
            "ats": Subject("ats", ats_cmd, traffic_server, tool_version([traffic_server, "--version"])),
            "tinyproxy": Subject("tinyproxy", tinyproxy_cmd, tinyproxy, tool_version([tinyproxy, "-v"])),
            "squid": Subject("squid", squid_cmd, squid, tool_version([squid, "-v"])),
        }
        subjects = [all_subjects[n] for n in a.only.split(",")]
        raw = {s.name: {} for s in subjects}
        failed = set()

        def aborted(s, e):
            log(f"{s.name} failed: {e!r}")
            notes.append(f"{s.name}: measurement aborted: {e}")
            failed.add(s.name)
            if s.proxy:
                s.stop()

        # Phase 1, one subject at a time: start-up, binary, memory (fresh processes).
        for s in subjects:
            if not s.proxy:
                continue
            log(f"== {s.name}: start-up, binary, memory")
            res = raw[s.name]
            try:
                res["start"] = startup(s, tmp, a)
                size, static = binary_info(s.binary)
                what = "release build"
                if s.name == "smolproxy" and os.path.exists(a.static_binary):
                    ssize, sstatic = binary_info(a.static_binary)
                    if sstatic:
                        size, static, what = ssize, sstatic, "the musl build (the glibc release build is the one measured)"
                    st = Subject("smolproxy-static", lambda port: [a.static_binary] + smol_cmd(port)[1:])
                    st.start(tmp)
                    time.sleep(1.0)
                    res["static_idle"] = memory_kib(st.proc.pid)
                    st.stop()
                res["bin"] = (size, static)
                notes.append(f"{s.name} binary size: {fmt(size and size / 1024, ',.0f')} KiB stripped, "
                             f"{'static' if static else 'dynamically linked (shared libraries not counted)'}"
                             f"{', ' + what if s.name == 'smolproxy' else ''}.")
                res["mem"] = fig_memory(s, tmp, origin_port, a)
                for r in res["mem"]:
                    if min(r["h10k"]["ok"], r["alive"]) < 10000:
                        notes.append(f"{s.name}: held {r['h10k']['ok']:,} of 10,000 tunnels, "
                                     f"{r['alive']:,} still open at release; errors {r['h10k']['errors']}"
                                     f"{'; the proxy exited' if r['exited'] is not None else ''}.")
                        break
            except Exception as e:  # report what we have, go on with the next subject
                aborted(s, e)

        # Phase 2, interleaved: every proxy runs at once (idle unless measured) and
        # each run measures all subjects in turn, in a rotating order, so that a
        # burst of outside load on a shared machine hits them alike.
        live = []
        for s in subjects:
            if s.name in failed:
                continue
            try:
                if s.proxy:
                    s.start(tmp)
                else:
                    s.proc = ngx
                res = raw[s.name]
                for key in ("rt", "ka", "cl", "tun", "stun"):
                    res[key] = []
                fig_http(s, origin_port, False, a, 0, warm=True)
                live.append(s)
            except Exception as e:
                aborted(s, e)
        for i in range(a.runs):
            order = live[i % len(live):] + live[:i % len(live)] if live else []
            log(f"== run {i + 1} of {a.runs}: {', '.join(s.name for s in order)}")
            for s in order:
                if s.name in failed:
                    continue
                res = raw[s.name]
                try:
                    res["rt"] += fig_rounds(s, origin_port, a)
                    res["ka"] += fig_http(s, origin_port, False, a)
                    res["cl"] += fig_http(s, origin_port, True, a)
                    res["tun"] += fig_tunnel(s, origin_port, a)
                    if a.socks and s.name == "smolproxy":
                        res["stun"] += fig_tunnel(s, origin_port, a, socks=True)
                    if s.proxy and s.proc.poll() is not None:
                        raise RuntimeError(f"{s.name} exited during the run (status {s.proc.returncode})")
                except Exception as e:
                    aborted(s, e)
        for s in live:
            if s.proxy and s.name not in failed:
                time.sleep(0.5)
                raw[s.name]["after_load"] = memory_kib(s.proc.pid)
                s.stop()

        figs = {}
        for s in subjects:
            res = raw[s.name]
            for kind, runs in (("keep-alive", res.get("ka", [])), ("connection-per-request", res.get("cl", []))):
                kinds = {}
                for r in runs:
                    for k, v in r["error_kinds"].items():
                        kinds[k] = kinds.get(k, 0) + v
                if kinds:
                    total = sum(r["requests"] for r in runs)
                    notes.append(f"{s.name} {kind}: wrk counted errors {kinds} over {total:,} "
                                 "requests (read = the proxy closed the connection; "
                                 "status = a non-2xx answer).")
            for r in res.get("tun", []):
                if not r["ok"]:
                    notes.append(f"{s.name}: 1 GiB tunnel transfer failed: {r['err']}")
            for r in res.get("stun", []):
                if not r["ok"]:
                    notes.append(f"{s.name}: 1 GiB SOCKS5 tunnel transfer failed: {r['err']}")
            figs[s.name] = summarise(res)
        text = report(subjects, figs, notes, a, cmdline)
        print(text)
        if a.out:
            # keep the sections `make syscalls`, `make bench-cache` and `make bench-inspect` figures
            # were recorded under (from the first of them to the end)
            kept = ""
            markers = ("## System calls (make syscalls)", "## Shared cache (make bench-cache)",
                       "## HTTPS inspection (make bench-inspect)")
            if os.path.exists(a.out):
                with open(a.out) as f:
                    old = f.read()
                found = [old.index(m) for m in markers if m in old]
                if found:
                    kept = "\n" + old[min(found):]
            with open(a.out, "w") as f:
                f.write(text + kept)
            log(f"wrote {a.out}")
        if a.json:
            with open(a.json, "w") as f:
                json.dump(raw, f, indent=1, default=str)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        kill_all()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
