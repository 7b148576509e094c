"""The `cache` scenario of bench/run.py (`make bench-cache`): smolproxy with
its shared cache on beside squid with its cache on, both answering hits.

The nginx origin serves the 1 KiB and the sparse 1 GiB file with
`Cache-Control: max-age=3600` (and its own ETag and Last-Modified), and logs
every request it gets, so the report can show that the timed phases were
hits (no origin request). Each proxy fetches both objects once (the fill,
a miss), then:

  hit 1 KiB   wrk keep-alive, --conns connections, --duration s per run:
              requests/s, p99, and the proxy's CPU µs per hit (/proc)
  hit 1 GiB   curl -o /dev/null through the proxy: MB/s and the proxy's
              CPU-s per GiB, beside curl straight to nginx (direct)

squid: `cache_mem 64 MB` with objects up to 64 KB in memory (so the 1 KiB
object is a memory hit) and a `ufs` cache_dir of 4 GB in the temporary
directory (the 1 GiB object is a disk hit), one process (-N).
smolproxy: `--cache-dir` in the temporary directory, `--cache-size 5G` (an
object may take a quarter of it), `--cache-mem 64M`. Loopback only, every
run bounded in time, every process killed on exit, the directory removed.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SMALL, BIG = "small.bin", "big.bin"
# Freshness the origin gives both objects: well beyond the benchmark.
MAX_AGE = 3600
# Longest one curl of the 1 GiB object may take (fill or hit).
CURL_MAX_S = 120


def nginx_conf(R, d, port):
    """run.py's origin, plus Cache-Control on every file and an access log."""
    conf = R.nginx_conf(d, port)
    for old, new in (("access_log off;", f"access_log {d}/logs/origin-access.log;"),
                     (f"root {d}/www;", f'root {d}/www;\n    add_header Cache-Control "max-age={MAX_AGE}";')):
        assert old in conf, f"run.py's nginx_conf no longer has {old!r}"
        conf = conf.replace(old, new)
    return conf


def squid_conf(d, port):
    # maximum_object_size must come before cache_dir, which takes its limit.
    return f"""
http_port 127.0.0.1:{port}
workers 1
visible_hostname localhost
pid_filename {d}/logs/squid-cache-{port}.pid
cache_log {d}/logs/squid-cache.log
access_log none
cache_store_log none
cache_mem 64 MB
maximum_object_size_in_memory 64 KB
maximum_object_size 2 GB
cache_dir ufs {d}/squid-cache 4096 16 256
coredump_dir {d}/logs
pinger_enable off
max_filedescriptors {65536}
shutdown_lifetime 0 seconds
http_access allow all
"""


def origin_requests(d):
    try:
        with open(os.path.join(d, "logs", "origin-access.log"), "rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def curl(R, s, origin_port, name, head=False):
    """One GET of /name, through s when it is a proxy: (ok, bytes, seconds, cpu-s, headers)."""
    cmd = ["curl", "-sS", "-o", "/dev/null", "--max-time", str(CURL_MAX_S),
           "-w", "%{size_download} %{time_total}"]
    if head:
        cmd += ["-D", "/dev/stderr"]
    if s.proxy:
        cmd += ["-x", f"http://127.0.0.1:{s.port}"]
    cmd.append(f"http://127.0.0.1:{origin_port}/{name}")
    c0 = R.cpu_seconds(s.proc.pid) if s.proxy else 0
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=CURL_MAX_S + 30)
    cpu = (R.cpu_seconds(s.proc.pid) - c0) if s.proxy else None
    try:
        size, secs = out.stdout.split()
        size, secs = int(size), float(secs)
    except ValueError:
        size, secs = 0, 0.0
    return out.returncode == 0, size, secs, cpu, out.stderr


def hit_small(R, s, origin_port, a, d):
    host = f"127.0.0.1:{origin_port}"
    if s.proxy:
        url, target = f"http://127.0.0.1:{s.port}/", f"http://{host}/{SMALL}"
    else:
        url, target = f"http://{host}/", f"/{SMALL}"
    o0 = origin_requests(d)
    c0 = R.cpu_seconds(s.proc.pid) if s.proxy else 0
    r = R.wrk(url, target, host, False, a.conns, a.duration)
    cpu = (R.cpu_seconds(s.proc.pid) - c0) if s.proxy else None
    n = r["requests"]
    out = {"rps": n / (r["duration_us"] / 1e6), "p99_ms": r["p99_us"] / 1000,
           "cpu_us": cpu / n * 1e6 if (cpu is not None and n) else None,
           "errors": sum(r[k] for k in r if k.startswith("err_")), "requests": n,
           "origin": origin_requests(d) - o0 if s.proxy else None}
    R.log(f"  {s.name} 1 KiB hits: {out}")
    return out


def hit_big(R, s, origin_port, d):
    o0 = origin_requests(d)
    ok, size, secs, cpu, err = curl(R, s, origin_port, BIG)
    ok = ok and size == R.GIB
    out = {"mbps": size / secs / 1e6 if ok and secs else None,
           "cpu_per_gib": cpu / (size / R.GIB) if (ok and cpu is not None) else None,
           "ok": ok, "origin": origin_requests(d) - o0 if s.proxy else None, "err": err.strip()[:200]}
    R.log(f"  {s.name} 1 GiB hit: {out}")
    return out


def fill(R, s, origin_port, d, notes):
    """Fetch both objects once through the proxy (misses that store them),
    then once more to record what the proxy says about a repeat."""
    res = {}
    for name in (SMALL, BIG):
        ok, size, secs, cpu, err = curl(R, s, origin_port, name)
        if not ok:
            raise RuntimeError(f"fill of /{name} failed: {err.strip()[:200]}")
        if name == BIG:
            res["fill_mbps"] = size / secs / 1e6 if secs else None
            res["fill_cpu"] = cpu / (size / R.GIB) if size else None
    time.sleep(0.5)  # let a store finish its commit
    o0 = origin_requests(d)
    ok, size, secs, cpu, headers = curl(R, s, origin_port, SMALL, head=True)
    said = [h.strip() for h in headers.splitlines()
            if h.lower().startswith(("cache-status:", "x-cache:", "age:"))]
    notes.append(f"{s.name}: a repeat of the 1 KiB GET after the fill said "
                 f"{'; '.join(said) or 'nothing about the cache'}; origin requests: {origin_requests(d) - o0}.")
    return res


# What the report says about the set-up (the module's doc, as one paragraph).
SETUP = (
    "All on 127.0.0.1. A local nginx origin serves a 1 KiB file and a sparse 1 GiB file with "
    f"`Cache-Control: max-age={MAX_AGE}` (plus its ETag and Last-Modified) and logs every request, "
    "so the origin-request rows show the timed phases were all hits. Each proxy first fetches both "
    "objects once (the fill: a miss that stores), then each run times 1 KiB hits with wrk "
    "(keep-alive) and one 1 GiB hit with curl; direct is the same without a proxy. CPU is the "
    "proxy's user+sys from /proc. squid: `cache_mem 64 MB`, objects up to 64 KB in memory (the "
    "1 KiB object is a memory hit), a 4 GB `ufs` cache_dir in a temporary directory (the 1 GiB "
    "object is a disk hit), one process (-N). smolproxy: `--cache-dir` in a temporary directory, "
    "`--cache-size 5G` (an object may take a quarter), `--cache-mem 64M`. "
    "Requests/s and MB/s depend on the machine's other load; CPU per hit much less. The direct "
    "1 KiB figure is nginx writing its access log line per request (the proxies' hits write none)."
)

ROWS = [
    ("keep-alive hit, GET 1 KiB, %d conns: requests/s", "rps", ",.0f", True),
    ("keep-alive hit: p99 latency (ms)", "p99", ".2f", False),
    ("keep-alive hit: wrk errors", "err", ",.0f", False),
    ("**proxy CPU µs per 1 KiB hit**", "cpu_us", ".1f", False),
    ("origin requests during the 1 KiB hit runs (0 = all hits)", "origin_small", ",.0f", False),
    ("1 GiB hit (curl): MB/s", "mbps", ",.0f", True),
    ("**proxy CPU-s per GiB served from the cache**", "cpu_gib", ".2f", False),
    ("origin requests during the 1 GiB hits (0 = all hits)", "origin_big", ",.0f", False),
    ("1 GiB fill (the first fetch, a miss stored): MB/s", "fill_mbps", ",.0f", True),
    ("proxy CPU-s per GiB filled", "fill_cpu", ".2f", False),
]


def summarise(R, res):
    out = {}
    small, big = res.get("small", []), [r for r in res.get("big", []) if r["ok"]]
    if small:
        out["rps"] = R.med(r["rps"] for r in small)
        out["p99"] = R.med(r["p99_ms"] for r in small)
        out["err"] = sum(r["errors"] for r in small)
        out["cpu_us"] = R.med(r["cpu_us"] for r in small)
        out["cpu_us_range"] = R.spread(r["cpu_us"] for r in small)
        if any(r["origin"] is not None for r in small):
            out["origin_small"] = sum(r["origin"] or 0 for r in small)
    if big:
        out["mbps"] = R.med(r["mbps"] for r in big)
        out["cpu_gib"] = R.med(r["cpu_per_gib"] for r in big)
        out["cpu_gib_range"] = R.spread(r["cpu_per_gib"] for r in big)
        if any(r["origin"] is not None for r in big):
            out["origin_big"] = sum(r["origin"] or 0 for r in big)
    for k in ("fill_mbps", "fill_cpu"):
        if res.get(k) is not None:
            out[k] = res[k]
    return out


def report(R, subjects, figs, notes, a, cmdline):
    names = [s.name for s in subjects]
    L = ["# Cache benchmark", "",
         f"Date: {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC  ",
         f"Machine: {R.machine()}  ",
         f"Command: `{cmdline}`  ",
         f"Load average (1 min) at start and end: {a.load_start} and {R.loadavg()}  ",
         f"Versions: {'; '.join(s.version for s in subjects if s.version)}",
         "",
         SETUP,
         "",
         f"| figure (median of {a.runs} runs; CPU rows: min–max in brackets) | " + " | ".join(names) + " |",
         "|---|" + "---:|" * len(names)]
    for label, key, spec, _ in ROWS:
        cells = []
        for n in names:
            c = R.fmt(figs[n].get(key), spec)
            rng = figs[n].get(key + "_range")
            if rng:
                c += f" ({format(rng[0], spec)}–{format(rng[1], spec)})"
            cells.append(c)
        if any(c != "—" for c in cells):
            L.append(f"| {label.replace('%d', str(a.conns))} | " + " | ".join(cells) + " |")
    f, sq, d = figs.get("smolproxy", {}), figs.get("squid", {}), figs.get("direct", {})

    def ratio(x, y):
        return x / y if (x is not None and y) else None
    L += ["", "Targets for smolproxy (issue 11):", "", "| target | measured | met |", "|---|---:|:-:|"]
    for text, r, ok in (
            ("1 KiB hit requests/s ≥ 2× squid", ratio(f.get("rps"), sq.get("rps")), lambda r: r >= 2),
            ("proxy CPU per 1 KiB hit ≤ 0.5× squid", ratio(f.get("cpu_us"), sq.get("cpu_us")), lambda r: r <= 0.5),
            ("1 GiB hit MB/s ≥ 0.9× direct", ratio(f.get("mbps"), d.get("mbps")), lambda r: r >= 0.9),
            ("1 GiB hit MB/s vs squid (no target)", ratio(f.get("mbps"), sq.get("mbps")), None),
            ("CPU-s per GiB hit vs squid (no target)", ratio(f.get("cpu_gib"), sq.get("cpu_gib")), None)):
        met = "—" if r is None or ok is None else ("yes" if ok(r) else "**no**")
        L.append(f"| {text} | {R.fmt(r, '.2f', '×')} | {met} |")
    if notes:
        L += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(L) + "\n"


def main(a, R, cmdline):
    """Run the cache scenario with run.py's parsed arguments and helpers (R)."""
    for tool in ("wrk", "nginx", "curl", "squid"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            sys.exit(f"{tool} not found: run `make bench-deps`")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    squid = shutil.which("squid") or "/usr/sbin/squid"
    notes = []
    wanted = a.only.split(",")
    if "tinyproxy" in wanted:
        wanted.remove("tinyproxy")
        notes.append("tinyproxy has no cache: not measured in this scenario.")
    tmp = tempfile.mkdtemp(prefix="smolproxy-bench-cache-")
    os.chmod(tmp, 0o755)
    for sub in ("www", "logs", "nginx-tmp", "squid-cache", "smolproxy-cache"):
        os.makedirs(os.path.join(tmp, sub))
    for sub in ("logs", "squid-cache"):
        os.chmod(os.path.join(tmp, sub), 0o777)  # squid drops privileges
    with open(os.path.join(tmp, "www", SMALL), "wb") as fh:
        fh.write(os.urandom(1024))
    with open(os.path.join(tmp, "www", BIG), "wb") as fh:
        fh.truncate(R.GIB)  # sparse: the origin reads zero pages, no disk I/O
    def on_signal(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    try:
        origin_port = R.free_port()
        with open(os.path.join(tmp, "nginx.conf"), "w") as fh:
            fh.write(nginx_conf(R, tmp, origin_port))
        ngx_err = open(os.path.join(tmp, "logs", "nginx.stderr"), "ab")
        ngx = R.spawn([nginx, "-p", tmp, "-e", f"{tmp}/logs/nginx-error.log", "-c", f"{tmp}/nginx.conf"],
                      ngx_err, ngx_err, preexec_fn=R.raise_nofile)
        if R.wait_port(origin_port, ngx) is None:
            sys.exit(f"nginx did not start, see {tmp}/logs")
        R.log(f"nginx origin on 127.0.0.1:{origin_port}, files in {tmp}/www")

        def squid_cmd(port):
            conf = os.path.join(tmp, f"squid-cache-{port}.conf")
            with open(conf, "w") as fh:
                fh.write(squid_conf(tmp, port))
            # -z makes the cache_dir's swap directories, then exits.
            subprocess.run([squid, "-N", "-z", "-f", conf], capture_output=True, timeout=120)
            return [squid, "-N", "-f", conf]

        def smol_cmd(port):
            return [a.binary, "-q", "--listen", f"127.0.0.1:{port}", "--max-clients", "20000",
                    "--cache-dir", os.path.join(tmp, "smolproxy-cache"), "--cache-size", "5G",
                    "--cache-mem", "64M"]

        all_subjects = {
            "direct": R.Subject("direct", version=R.tool_version([nginx, "-v"])),
            "smolproxy": R.Subject("smolproxy", smol_cmd, a.binary, "smolproxy " + R.smol_version()),
            "squid": R.Subject("squid", squid_cmd, squid, R.tool_version([squid, "-v"])),
        }
        subjects = [all_subjects[n] for n in wanted]
        raw = {s.name: {"small": [], "big": []} for s in subjects}
        live = []
        # The direct pass also puts the big file in the page cache for everyone.
        for s in subjects:
            try:
                if s.proxy:
                    s.start(tmp)
                    raw[s.name].update(fill(R, s, origin_port, tmp, notes))
                else:
                    s.proc = ngx
                    curl(R, s, origin_port, BIG)
                R.wrk(f"http://127.0.0.1:{s.port}/" if s.proxy else f"http://127.0.0.1:{origin_port}/",
                      f"http://127.0.0.1:{origin_port}/{SMALL}" if s.proxy else f"/{SMALL}",
                      f"127.0.0.1:{origin_port}", False, a.conns, 1)  # warm-up
                live.append(s)
            except Exception as e:  # report what we have
                R.log(f"{s.name} failed: {e!r}")
                notes.append(f"{s.name}: measurement aborted: {e}")
                if s.proxy:
                    s.stop()
        for i in range(a.runs):
            order = live[i % len(live):] + live[:i % len(live)] if live else []
            R.log(f"== cache run {i + 1} of {a.runs}: {', '.join(s.name for s in order)}")
            for s in order:
                raw[s.name]["small"].append(hit_small(R, s, origin_port, a, tmp))
                raw[s.name]["big"].append(hit_big(R, s, origin_port, tmp))
        for s in live:
            for r in raw[s.name]["big"]:
                if not r["ok"]:
                    notes.append(f"{s.name}: a 1 GiB hit failed: {r['err']}")
            if s.proxy:
                s.stop()
        figs = {s.name: summarise(R, raw[s.name]) for s in subjects}
        text = report(R, subjects, figs, notes, a, cmdline)
        print(text)
        if a.out:
            with open(a.out, "w") as fh:
                fh.write(text)
            R.log(f"wrote {a.out}")
        if a.json:
            with open(a.json, "w") as fh:
                json.dump(raw, fh, indent=1, default=str)
    except KeyboardInterrupt:
        R.log("interrupted")
        return 130
    finally:
        R.kill_all()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0
