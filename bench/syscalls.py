#!/usr/bin/env python3
"""System calls per request, counted by strace (`make syscalls`).

Starts the local nginx origin of bench/run.py (1 KiB file), the release
smolproxy with `--threads 1 -q`, and counts with `strace -c -f` attached to
every thread of the proxy:

  keep-alive   wrk, 1 thread, 10 keep-alive connections, a fixed count of
               GETs of the 1 KiB file in absolute form
  close        the same with `Connection: close`: one client connection
               (and, without a shared pool, one origin connection) per request
  tunnel       a CONNECT tunnel carrying --tunnel-mib MiB of the sparse 1 GiB
               file (curl -p): calls per MiB, and, in a separate run without
               strace, the proxy's CPU seconds per GiB
  idle tunnels 1,000 idle CONNECT tunnels held open (bench/tunnels.py hold),
               strace attached for a fixed number of seconds (after the
               origin connections pooled by the HTTP runs have expired)

Prints a table: system calls per request (per idle second for the tunnels),
by call. Counts do not depend on the machine's load the way CPU time does,
though a busier proxy batches a little more (fewer waits per request).
All traffic stays on 127.0.0.1; every process started here is killed on exit.
"""
import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import shutil
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the benchmark's process and nginx helpers)

STRACE_SETTLE = 0.5  # seconds for strace to attach to every thread
T0 = time.monotonic()


def tids(pid):
    return [int(t) for t in os.listdir(f"/proc/{pid}/task")]


def strace_start(pid, out):
    cmd = ["strace", "-c", "-f", "-o", out]
    for t in tids(pid):
        cmd += ["-p", str(t)]
    p = run.spawn(cmd, subprocess.DEVNULL, subprocess.DEVNULL)
    time.sleep(STRACE_SETTLE)
    return p


def strace_stop(p, out):
    """Detach strace; return {syscall: (calls, errors)}."""
    os.kill(p.pid, signal.SIGINT)
    p.wait(30)
    counts = {}
    with open(out) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 5 or not parts[0][0].isdigit() or parts[-1] == "total":
                continue
            name = parts[-1]
            calls = int(parts[3])
            errors = int(parts[4]) if len(parts) == 6 else 0
            counts[name] = (calls, errors)
    return counts


def wrk_count(proxy_port, origin_port, close, count, conns):
    host = f"127.0.0.1:{origin_port}"
    env = dict(os.environ, BENCH_TARGET=f"http://{host}/small.bin", BENCH_HOST=host,
               BENCH_CLOSE="1" if close else "0", BENCH_COUNT=str(count))
    cmd = ["wrk", "-t", "1", "-c", str(conns), "-d", "60s", "--timeout", "5s", "-s", run.LUA,
           f"http://127.0.0.1:{proxy_port}/"]
    # wrk waits out its duration even after the script stopped its thread:
    # end the wait when the script says the count is reached.
    w = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        w.stderr.readline()
        w.send_signal(signal.SIGINT)
        stdout, stderr = w.communicate(timeout=30)
    finally:
        if w.poll() is None:
            w.kill()
            w.wait()
    out = subprocess.CompletedProcess(cmd, w.returncode, stdout, stderr)
    for line in out.stdout.splitlines():
        if line.startswith("JSON "):
            r = json.loads(line[5:])
            errs = sum(v for k, v in r.items() if k.startswith("err_"))
            if errs:
                run.log(f"wrk errors: {r}")
            return r["requests"]
    raise RuntimeError(f"wrk gave no result: {out.stdout} {out.stderr}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", default=os.path.join(run.ROOT, "target/release/smolproxy"))
    p.add_argument("--requests", type=int, default=5000, help="requests counted per HTTP figure")
    p.add_argument("--conns", type=int, default=10, help="wrk connections")
    p.add_argument("--threads", type=int, default=1, help="smolproxy --threads")
    p.add_argument("--tunnels", type=int, default=1000)
    p.add_argument("--tunnel-mib", type=int, default=256, help="MiB through the tunnel under strace")
    p.add_argument("--idle-secs", type=float, default=5.0, help="seconds strace watches the idle tunnels")
    p.add_argument("--settle", type=float, default=5.0,
                   help="seconds between the HTTP runs and the idle tunnels (pooled connections expire)")
    p.add_argument("--json", help="write the counts to this file")
    p.add_argument("--out", help="also write the table as the system-calls section of this Markdown file "
                   "(replacing the one there; make bench keeps it)")
    a = p.parse_args()
    for tool in ("strace", "wrk"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: run `make bench-deps`")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    run.raise_nofile()
    tmp = tempfile.mkdtemp(prefix="smolproxy-syscalls-")
    os.chmod(tmp, 0o755)
    for sub in ("www", "logs", "nginx-tmp"):
        os.makedirs(os.path.join(tmp, sub))
    with open(os.path.join(tmp, "www", "small.bin"), "wb") as f:
        f.write(os.urandom(1024))
    with open(os.path.join(tmp, "www", "big.bin"), "wb") as f:
        f.truncate(run.GIB)  # sparse: reads are zero pages, no disk I/O
    results = {}
    try:
        origin_port = run.free_port()
        with open(os.path.join(tmp, "nginx.conf"), "w") as f:
            f.write(run.nginx_conf(tmp, origin_port))
        err = open(os.path.join(tmp, "logs", "nginx.stderr"), "ab")
        ngx = run.spawn([nginx, "-p", tmp, "-e", f"{tmp}/logs/nginx-error.log", "-c", f"{tmp}/nginx.conf"],
                        err, err, preexec_fn=run.raise_nofile)
        if run.wait_port(origin_port, ngx) is None:
            sys.exit(f"nginx did not start, see {tmp}/logs")
        port = run.free_port()
        cmd = [a.binary, "-q", "--threads", str(a.threads), "--listen", f"127.0.0.1:{port}",
               "--connect-ports", "any", "--max-clients", "20000"]
        perr = open(os.path.join(tmp, "logs", "smolproxy.stderr"), "ab")
        proxy = run.spawn(cmd, perr, perr, preexec_fn=run.raise_nofile)
        if run.wait_port(port, proxy) is None:
            sys.exit(f"smolproxy did not start: {' '.join(cmd)}")
        for name, close in (("keep-alive", False), ("close", True)):
            wrk_count(port, origin_port, close, 200, a.conns)  # warm up
            time.sleep(0.3)
            out = os.path.join(tmp, f"strace-{name}.txt")
            st = strace_start(proxy.pid, out)
            n = wrk_count(port, origin_port, close, a.requests, a.conns)
            counts = strace_stop(st, out)
            results[name] = {"per": n, "counts": counts}
            run.log(f"{name}: {n} requests, {time.monotonic() - T0:.1f} s")
        big = f"http://127.0.0.1:{origin_port}/big.bin"
        curl = ["curl", "-sS", "-o", "/dev/null", "--max-time", "120", "-p", "-x", f"http://127.0.0.1:{port}"]
        subprocess.run(curl + [big], timeout=150, check=True)  # warm the page cache
        c0 = run.cpu_seconds(proxy.pid)
        subprocess.run(curl + [big], timeout=150, check=True)
        cpu_per_gib = run.cpu_seconds(proxy.pid) - c0
        out = os.path.join(tmp, "strace-tunnel.txt")
        st = strace_start(proxy.pid, out)
        subprocess.run(curl + ["-r", f"0-{a.tunnel_mib * 1024 * 1024 - 1}", big], timeout=150, check=True)
        counts = strace_stop(st, out)
        results["tunnel"] = {"per": a.tunnel_mib, "counts": counts, "cpu_per_gib": cpu_per_gib}
        run.log(f"tunnel: {cpu_per_gib:.2f} CPU-s per GiB, {time.monotonic() - T0:.1f} s")
        # Let the origin connections pooled by the HTTP runs expire (4 s idle)
        # first: the idle figure is the steady state, not their closing.
        time.sleep(a.settle)
        hold = subprocess.Popen([sys.executable, run.TUNNELS, "hold", "--proxy", f"127.0.0.1:{port}",
                                 "--target", f"127.0.0.1:{origin_port}", "--steps", str(a.tunnels),
                                 "--hold-max", "60"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, start_new_session=True,
                                preexec_fn=run.raise_nofile)
        run.started.append(hold)
        ready = json.loads(hold.stdout.readline() or "{}")
        run.log(f"tunnels: {ready}, {time.monotonic() - T0:.1f} s")
        time.sleep(1.0)
        out = os.path.join(tmp, "strace-idle.txt")
        st = strace_start(proxy.pid, out)
        time.sleep(a.idle_secs)
        counts = strace_stop(st, out)
        results["idle"] = {"per": a.idle_secs, "counts": counts, "tunnels": ready.get("ok")}
        hold.stdin.write("next\n")
        hold.stdin.flush()
    finally:
        run.kill_all()
        shutil.rmtree(tmp, ignore_errors=True)
    text = table(results, a)
    print(text)
    if a.out:
        write_section(a.out, text)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


SECTION = "## System calls (make syscalls)"


def write_section(path, text):
    """Replace (or append) the system-calls section of the Markdown file at path."""
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        old = ""
    head, _, rest = old.partition(SECTION)
    head = head.rstrip("\n")
    # The sections after this one (other bench scripts' own) stay as they are.
    nxt = rest.find("\n## ")
    tail = rest[nxt + 1:] if nxt >= 0 else ""
    when = f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"
    body = (f"{SECTION}\n\nDate: {when}  \nCommand: `make syscalls`  \nLoad average (1 min): {run.loadavg()}  \n"
            f"smolproxy {run.smol_version()}\n\n{text}\n")
    with open(path, "w") as f:
        f.write((head + "\n\n" if head else "") + body + ("\n" + tail if tail else ""))
    run.log(f"wrote the system-calls section of {path}")


def table(results, a):
    cols = [("keep-alive", "per keep-alive request"), ("close", "per connection-per-request exchange"),
            ("tunnel", "per MiB through a CONNECT tunnel"),
            ("idle", f"per idle second, {results.get('idle', {}).get('tunnels')} tunnels")]
    names = sorted({n for r in results.values() for n in r["counts"]},
                   key=lambda n: -sum(r["counts"].get(n, (0, 0))[0] / r["per"] for r in results.values()))
    L = [f"System calls (strace -c -f; smolproxy --threads {a.threads}; {a.requests:,} requests, "
         f"{a.conns} wrk connections; {a.idle_secs:g} s idle); errors (mostly EAGAIN) in brackets", "",
         "| system call | " + " | ".join(c[1] for c in cols) + " |",
         "|---|" + "---:|" * len(cols)]

    def cell(key, name):
        r = results.get(key)
        if not r:
            return "—"
        calls, errs = r["counts"].get(name, (0, 0))
        if not calls:
            return "·"
        s = f"{calls / r['per']:.2f}"
        return s + (f" ({errs / r['per']:.2f})" if errs else "")
    for n in names:
        L.append(f"| {n} | " + " | ".join(cell(k, n) for k, _ in cols) + " |")
    tot = []
    for k, _ in cols:
        r = results.get(k)
        tot.append(f"**{sum(c for c, _ in r['counts'].values()) / r['per']:.2f}**" if r else "—")
    L.append("| **total** | " + " | ".join(tot) + " |")
    t = results.get("tunnel")
    if t:
        L += ["", f"CONNECT tunnel, 1 GiB without strace: {t['cpu_per_gib']:.2f} proxy CPU-s per GiB"]
    return "\n".join(L)


if __name__ == "__main__":
    sys.exit(main())
