-- wrk script for bench/web (python -m bench.web): one request per line of a paths file.
--
--   wrk -t1 -c<N> -d<limit> --latency -s one_click.lua <origin> -- <paths> <GET|POST> <window s>
--       <reuse 0|1> <N>
--
-- POST sends "List-Unsubscribe=One-Click" (application/x-www-form-urlencoded) to each path of the
-- file once (reuse 0: every request a different token); GET cycles through the file (reuse 1).
-- New requests are issued during the first <window> seconds after the first one and, without
-- reuse, while unused paths remain (keeping N, one per connection, in reserve: a connection told
-- to go on may issue its request after the others). Then delay() parks every connection, the
-- requests in flight complete, and the script ends wrk (SIGINT to itself, which wakes wrk's main
-- thread) once every issued request has its answer: nothing is left half-done, so the ledger can
-- be checked against the answers, and wrk's run time (which sets its latency correction) is the
-- window plus the drain, not an idle tail. -d is only a limit.
--
-- done() prints one line "BENCHWEB {json}": counts by status, the window actually used (first
-- request to last answer), and wrk's latency percentiles (microseconds), as --latency prints them.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
  int getpid(void);
  int kill(int pid, int sig);
]]
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local PARK_MS = 3600000
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("index", #threads)
end

function init(args)
  paths = {}
  for line in io.lines(args[1]) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  method = args[2]
  window = tonumber(args[3])
  reuse = args[4] == "1"
  reserve = tonumber(args[5])
  issued, answered, n200, n2xx, n3xx, n4xx, n5xx = 0, 0, 0, 0, 0, 0, 0
  first, last, stopped_by, parked, ended = 0, 0, "", false, false
  -- wrk calls request() once in the first thread to check it, and never sends that request
  checked = index ~= 1
  headers = {}
  body = nil
  if method == "POST" then
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    body = "List-Unsubscribe=One-Click"
  end
end

local function finish_when_drained()
  if parked and not ended and answered >= issued then
    ended = true
    ffi.C.kill(ffi.C.getpid(), 2) -- SIGINT: wrk stops and reports
  end
end

function delay()
  if not parked then
    if first > 0 and now() - first >= window then
      parked, stopped_by = true, "window"
    elseif not reuse and issued + reserve >= #paths then
      parked, stopped_by = true, "paths"
    end
  end
  if parked then
    finish_when_drained()
    return PARK_MS
  end
  return 0
end

function request()
  if not checked then
    checked = true
    return wrk.format(method, paths[#paths], headers, body)
  end
  issued = issued + 1
  if first == 0 then first = now() end
  local path
  if reuse then
    path = paths[(issued - 1) % #paths + 1]
  else
    path = paths[issued] -- within the file: the reserve sees to it
  end
  return wrk.format(method, path, headers, body)
end

function response(status, headers, body)
  last = now()
  answered = answered + 1
  if status == 200 then n200 = n200 + 1 end
  if status >= 200 and status < 300 then
    n2xx = n2xx + 1
  elseif status < 400 then
    n3xx = n3xx + 1
  elseif status < 500 then
    n4xx = n4xx + 1
  else
    n5xx = n5xx + 1
  end
  finish_when_drained()
end

function done(summary, latency, requests)
  local t = { issued = 0, answered = 0, n200 = 0, n2xx = 0, n3xx = 0, n4xx = 0, n5xx = 0 }
  local first_all, last_all, stopped = nil, 0, {}
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + thread:get(k) end
    local f = thread:get("first")
    if f > 0 and (first_all == nil or f < first_all) then first_all = f end
    if thread:get("last") > last_all then last_all = thread:get("last") end
    stopped[#stopped + 1] = '"' .. thread:get("stopped_by") .. '"'
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHWEB {"issued":%d,"answered":%d,"n200":%d,"n2xx":%d,"n3xx":%d,"n4xx":%d,"n5xx":%d,' ..
    '"window_s":%.6f,"stopped_by":[%s],"wrk_requests":%d,"wrk_duration_us":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,' ..
    '"timeouts":%d,"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p75":%d,' ..
    '"p90":%d,"p99":%d,"p99_9":%d}}\n',
    t.issued, t.answered, t.n200, t.n2xx, t.n3xx, t.n4xx, t.n5xx,
    (first_all and (last_all - first_all) or 0), table.concat(stopped, ","),
    summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max, latency:percentile(50), latency:percentile(75),
    latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
