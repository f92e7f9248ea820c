-- wrk script of bench/pg/run: each request reads another user's tasks, GET /api/{user_id}/tasks
-- with that user's JWT, cycling through every user of WRK_USERS_FILE ("user_id token" lines), each
-- wrk thread starting at a random place. Prints a one-line JSON summary (latencies in microseconds).
local users_file = os.getenv("WRK_USERS_FILE")
local paths, auths, n, i

function init(args)
  paths, auths = {}, {}
  for line in io.lines(users_file) do
    local id, token = line:match("^(%S+)%s+(%S+)$")
    if id then
      paths[#paths + 1] = "/api/" .. id .. "/tasks"
      auths[#auths + 1] = "Bearer " .. token
    end
  end
  n = #paths
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 1000)
  i = math.random(n)
end

function request()
  i = i % n + 1
  return wrk.format("GET", paths[i], { ["Authorization"] = auths[i] })
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"non2xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,' ..
    '"p50":%d,"p90":%d,"p99":%d,"max":%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
