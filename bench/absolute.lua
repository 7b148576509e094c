-- wrk script for the proxy benchmarks.
--   BENCH_TARGET  request target: an absolute-form URL (through a proxy,
--                 e.g. http://127.0.0.1:8080/small.bin) or a path (direct).
--   BENCH_HOST    Host header value (the origin's host:port).
--   BENCH_CLOSE=1 send "Connection: close": a new connection per request.
--   BENCH_COUNT   if set, each wrk thread stops after this many responses
--                 (a fixed count, for bench/syscalls.py) and writes
--                 "DONE" to stderr, so the caller can end wrk's wait (SIGINT).
-- Prints one line "JSON {...}" with the totals and latency percentiles (µs).

local target = os.getenv("BENCH_TARGET")
local host = os.getenv("BENCH_HOST")

wrk.method = "GET"
if target and target ~= "" then wrk.path = target end
if host and host ~= "" then wrk.headers["Host"] = host end
if os.getenv("BENCH_CLOSE") == "1" then
   wrk.headers["Connection"] = "close"
end

local count = tonumber(os.getenv("BENCH_COUNT") or "")
if count then
   local seen = 0
   function response(status, headers, body)
      seen = seen + 1
      if seen == count then
         wrk.thread:stop()
         io.stderr:write("DONE\n")
         io.stderr:flush()
      end
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
      '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.status, e.timeout))
end
