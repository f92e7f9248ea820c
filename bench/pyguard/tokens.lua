-- wrk script: each request takes the next (user id, token) pair of tokens.txt, in turn, so every
-- request carries a token the server has to verify (distinct tokens) unless BENCH_SAME_TOKEN is set.
local pairs_ = {}
local i = 0

function init(args)
  local file = assert(io.open(os.getenv("BENCH_TOKENS"), "r"))
  for line in file:lines() do
    local user, token = line:match("^(%S+) (%S+)$")
    if user then pairs_[#pairs_ + 1] = { user, token } end
  end
  file:close()
  if os.getenv("BENCH_SAME_TOKEN") then pairs_ = { pairs_[1] } end
  i = math.random(#pairs_)
end

function request()
  i = i % #pairs_ + 1
  local p = pairs_[i]
  return wrk.format("GET", "/api/" .. p[1] .. "/tasks", { ["Authorization"] = "Bearer " .. p[2] })
end

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. "\n")
  end
end

function done(summary, latency, requests)
  io.write(string.format("RESULT %d %d %.1f %.1f %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
