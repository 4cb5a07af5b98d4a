-- close.lua: wrk workload for bench/l4: GET / with "Connection: close", so
-- every request is a new TCP connection through the front end. Each thread
-- stops after WRK_MAX requests (environment, default 20000), so a run is
-- bounded in connections as well as by wrk's -d.
local max = tonumber(os.getenv("WRK_MAX") or "20000")
local n = 0

function request()
	return wrk.format("GET", "/", { ["Connection"] = "close" })
end

function response(status, headers, body)
	n = n + 1
	if n >= max then
		wrk.thread:stop()
	end
end

done = function(summary, latency, requests)
	io.write(string.format("close: requests %d errors %d duration_us %d p99_us %d\n",
		summary.requests, summary.errors.connect + summary.errors.read +
		summary.errors.write + summary.errors.status + summary.errors.timeout,
		summary.duration, latency:percentile(99)))
end
