-- wrk script for the Sigil benchmark: optional method and body from the environment, and a one-line JSON
-- summary at the end (latencies in microseconds) that the harness parses.
--   WRK_METHOD  request method (default GET)
--   WRK_BODY    request body (default none)
-- Headers come from wrk's -H flags.
local method = os.getenv("WRK_METHOD")
local body = os.getenv("WRK_BODY")
if method and method ~= "" then wrk.method = method end
if body and body ~= "" then wrk.body = body end

-- Count answers by status class, per thread, and add them up in done().
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok2xx = 0
  other = 0
end

function response(status, headers, body)
  if status >= 200 and status < 300 then ok2xx = ok2xx + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local n2xx, nother = 0, 0
  for _, t in ipairs(threads) do
    n2xx = n2xx + (t:get("ok2xx") or 0)
    nother = nother + (t:get("other") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"status_2xx":%d,"status_other":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes, n2xx, nother,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
