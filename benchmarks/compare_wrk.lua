-- The wrk script of benchmarks/compare:
--   wrk -t1 -cC -dDs --latency -s compare_wrk.lua URL -- DEPTH
-- DEPTH requests written at once on each connection, the next DEPTH once all
-- their responses are in (pipelining; 1: none). A new connection per
-- request is wrk's own -H "Connection: close". done() prints one JSON line:
-- the responses, the errors (socket connect/read/write/timeout; status: a
-- response with a status above 399) and the latency percentiles in
-- microseconds (with DEPTH > 1, a batch's: from its write to its last response;
-- wrk 4.1's percentiles then come out as 0, so compare keeps the mean and max).

local depth = 1

function init(args)
  depth = tonumber(args[1]) or 1
  if depth > 1 then
    local r = {}
    for i = 1, depth do
      r[i] = wrk.format()
    end
    local batch = table.concat(r)
    request = function()
      return batch
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, "write": %d, '
      .. '"status": %d, "timeout": %d, "p50_us": %.1f, "p90_us": %.1f, "p99_us": %.1f, "max_us": %.1f, '
      .. '"mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
