-- wrk script for the Sigil benchmark. Prints a one-line JSON summary at the end (latencies in
-- microseconds) that the harness parses. No response() callback: handing every response to Lua costs
-- wrk about 15% of its throughput, and wrk already counts answers with a status >= 400.
--   WRK_METHOD       request method (default GET)
--   WRK_BODY         request body (default none)
--   WRK_TOKENS_FILE  one bearer token per line: each request carries the next one (round robin, every
--                    wrk thread starting at a random place), so no token repeats within N requests
--   WRK_USERS_FILE   "user_id token" lines: each request reads the next user's tasks with that user's
--                    token (GET /api/{user_id}/tasks, round robin, every wrk thread starting at a random
--                    place): requests spread over many users, each with their own data and token
-- Other headers come from wrk's -H flags.
local method = os.getenv("WRK_METHOD")
local body = os.getenv("WRK_BODY")
local tokens_file = os.getenv("WRK_TOKENS_FILE")
local users_file = os.getenv("WRK_USERS_FILE")
if method and method ~= "" then wrk.method = method end
if body and body ~= "" then wrk.body = body end

if users_file and users_file ~= "" then
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
    local headers = {}
    for k, v in pairs(wrk.headers) do headers[k] = v end
    headers["Authorization"] = auths[i]
    return wrk.format("GET", paths[i], headers)
  end
elseif tokens_file and tokens_file ~= "" then
  local tokens, n, i

  function init(args)
    tokens = {}
    for line in io.lines(tokens_file) do
      if line ~= "" then tokens[#tokens + 1] = "Bearer " .. line end
    end
    n = #tokens
    i = math.random(n)
  end

  function request()
    i = i % n + 1
    local headers = {}
    for k, v in pairs(wrk.headers) do headers[k] = v end
    headers["Authorization"] = tokens[i]
    return wrk.format(nil, nil, headers)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
