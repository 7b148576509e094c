#!/usr/bin/env python3
"""Tunnel client for the benchmarks (loopback only).

hold:   open CONNECT tunnels through a proxy up to each count of --steps in
        turn; at each step print one JSON line and keep them all idle until a
        line arrives on stdin (or --hold-max seconds pass); at the end report
        how many were still alive.
rounds: open N tunnels at once and do R keep-alive HTTP/1.1 GETs through each
        of them; report total time and failures.  Without --proxy the client
        talks to the origin directly (the no-proxy reference).

Every wait is bounded by a timeout, so the client always stops by itself.
"""
import argparse
import asyncio
import collections
import json
import resource
import sys
import time

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def hostport(s):
    host, _, port = s.rpartition(":")
    host = host.strip("[]")
    if host not in LOOPBACK:
        raise argparse.ArgumentTypeError(f"{s}: loopback addresses only")
    return host, int(port)


def raise_nofile(want=65536):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for lim in ((max(want, soft), max(want, hard)), (hard, hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, lim)
            return
        except (ValueError, OSError):
            pass


class Failure(Exception):
    pass


async def open_tunnel(proxy, target, timeout):
    """Connect to the proxy and CONNECT to target; without proxy, connect to target."""
    host, port = proxy or target
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    if proxy is None:
        return reader, writer
    try:
        auth = f"{target[0]}:{target[1]}"
        writer.write(f"CONNECT {auth} HTTP/1.1\r\nHost: {auth}\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        parts = head.split(None, 2)
        if len(parts) < 2 or parts[1] != b"200":
            raise Failure("connect-status-" + parts[1].decode("latin1") if len(parts) > 1 else "connect-garbage")
    except BaseException:
        writer.close()
        raise
    return reader, writer


def error_name(e):
    if isinstance(e, Failure):
        return str(e)
    if isinstance(e, asyncio.TimeoutError):
        return "timeout"
    if isinstance(e, asyncio.IncompleteReadError):
        return "eof"
    return type(e).__name__


async def hold(args):
    """Open tunnels up to each count in --steps; after each step print a JSON
    line and wait for a line on stdin (or --hold-max seconds)."""
    sem = asyncio.Semaphore(args.concurrency)
    errors = collections.Counter()
    loop = asyncio.get_running_loop()

    async def one():
        async with sem:
            try:
                return await open_tunnel(args.proxy, args.target, args.timeout)
            except Exception as e:  # counted, not fatal
                errors[error_name(e)] += 1
                return None

    tunnels = []
    asked = 0
    for step in args.steps:
        t0 = time.monotonic()
        try:
            got = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(step - asked))), args.open_max)
        except asyncio.TimeoutError:
            got = []
            errors["open-phase-timeout"] += 1
        asked = step
        tunnels += [t for t in got if t is not None]
        print(json.dumps({"event": "ready", "n": step, "ok": len(tunnels), "fail": step - len(tunnels),
                          "open_s": round(time.monotonic() - t0, 3), "errors": errors}), flush=True)
        try:
            await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), args.hold_max)
        except asyncio.TimeoutError:
            pass
    # A tunnel the proxy dropped while idle has its reader at EOF by now.
    await asyncio.sleep(0.05)
    alive = sum(1 for r, w in tunnels if not r.at_eof() and not w.is_closing())
    for _, w in tunnels:
        w.close()
    print(json.dumps({"event": "released", "alive": alive}), flush=True)


async def rounds(args):
    errors = collections.Counter()
    done_ok = 0
    requests_ok = 0
    auth = f"{args.target[0]}:{args.target[1]}"
    req = f"GET {args.path} HTTP/1.1\r\nHost: {auth}\r\n\r\n".encode()

    async def one():
        nonlocal done_ok, requests_ok
        writer = None
        try:
            reader, writer = await open_tunnel(args.proxy, args.target, args.timeout)
            for _ in range(args.rounds):
                writer.write(req)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), args.timeout)
                lines = head.split(b"\r\n")
                status = lines[0].split(None, 2)
                if len(status) < 2 or status[1] != b"200":
                    raise Failure("status-" + (status[1].decode("latin1") if len(status) > 1 else "garbage"))
                length = None
                for line in lines[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v.strip())
                if length is None:
                    raise Failure("no-content-length")
                await asyncio.wait_for(reader.readexactly(length), args.timeout)
                requests_ok += 1
            done_ok += 1
        except Exception as e:
            errors[error_name(e)] += 1
        finally:
            if writer is not None:
                writer.close()

    t0 = time.monotonic()
    tasks = [asyncio.ensure_future(one()) for _ in range(args.n)]
    _, pending = await asyncio.wait(tasks, timeout=args.total_max)
    for t in pending:
        t.cancel()
    if pending:
        errors["total-timeout"] += len(pending)
        await asyncio.wait(pending, timeout=5)
    elapsed = time.monotonic() - t0
    print(json.dumps({"event": "rounds", "tunnels": args.n, "ok": done_ok, "failures": args.n - done_ok,
                      "requests_ok": requests_ok, "requests_expected": args.n * args.rounds,
                      "elapsed_s": round(elapsed, 3), "errors": errors}), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["hold", "rounds"])
    p.add_argument("--proxy", type=hostport, help="proxy host:port (omit for a direct connection)")
    p.add_argument("--target", type=hostport, required=True, help="origin host:port")
    p.add_argument("-n", type=int, default=1000, help="number of tunnels (rounds mode)")
    p.add_argument("--steps", type=lambda v: [int(x) for x in v.split(",")], default=[1000],
                   help="hold mode: tunnel counts to reach in turn, e.g. 1000,10000")
    p.add_argument("--rounds", type=int, default=20, help="requests per tunnel (rounds mode)")
    p.add_argument("--path", default="/small.bin")
    p.add_argument("--concurrency", type=int, default=500, help="tunnels being opened at once (hold mode)")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds for any single step")
    p.add_argument("--open-max", type=float, default=120.0, help="seconds to open all tunnels (hold mode)")
    p.add_argument("--hold-max", type=float, default=60.0, help="seconds to hold at most (hold mode)")
    p.add_argument("--total-max", type=float, default=60.0, help="seconds for the whole rounds run")
    args = p.parse_args()
    raise_nofile()
    asyncio.run(hold(args) if args.mode == "hold" else rounds(args))


if __name__ == "__main__":
    main()
