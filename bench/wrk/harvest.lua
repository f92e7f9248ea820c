-- wrk script that collects JWTs: GETs /api/auth/token as fast as the server answers and writes every
-- distinct `token` of a 200 answer to WRK_OUT, one per line. Used to give the "distinct tokens"
-- scenarios tens of thousands of real tokens in a few seconds. Run it with one thread.
local out_path = os.getenv("WRK_OUT")
local out, count

function init(args)
  out = assert(io.open(out_path, "w"))
  count = 0
end

function response(status, headers, body)
  if status == 200 then
    local token = body:match('"token"%s*:%s*"([^"]+)"')
    if token then
      out:write(token, "\n")
      count = count + 1
      if count % 1000 == 0 then out:flush() end
    end
  end
end

function done(summary, latency, requests)
  io.write(string.format('WRK_JSON {"requests":%d,"duration_us":%d}\n', summary.requests, summary.duration))
end
