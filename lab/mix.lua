-- mix.lua: the lab's workload for wrk. Keep-alive requests over a mix of
-- paths that the cluster's content rules partition: 40% /images/iK.jpg
-- (4..32 KiB, the "images" group), 40% /static/sK.css (1 KiB) and 20% /
-- (a few bytes), K uniform in 0..63. With WRK_MIX=large in the
-- environment, the large objects instead: /large/lK.bin, K uniform in
-- 0..14 (256 KiB << K % 5: 256 KiB to 4 MiB, 1.55 MiB on average), in the
-- "rest" group. With WRK_CLOSE=1 every request carries "Connection:
-- close" (one connection per request, HTTP/1.0 style). The summary line
-- (mix: requests N errors N p99_us N bytes N us N) gives what the
-- responses carried, heads included, and the run's length.
local close = os.getenv("WRK_CLOSE") == "1"
local large = os.getenv("WRK_MIX") == "large"
local n = 0

function setup(thread)
	thread:set("id", n)
	n = n + 1
end

function init(args)
	math.randomseed(12345 + id)
end

function request()
	local path
	if large then
		path = "/large/l" .. math.random(0, 14) .. ".bin"
	else
		local r = math.random(100)
		local k = math.random(0, 63)
		if r <= 40 then
			path = "/images/i" .. k .. ".jpg"
		elseif r <= 80 then
			path = "/static/s" .. k .. ".css"
		else
			path = "/"
		end
	end
	if close then
		return wrk.format("GET", path, { ["Connection"] = "close" })
	end
	return wrk.format("GET", path)
end

done = function(summary, latency, requests)
	io.write(string.format("mix: requests %d errors %d p99_us %d bytes %d us %d\n",
		summary.requests, summary.errors.connect + summary.errors.read +
		summary.errors.write + summary.errors.status + summary.errors.timeout,
		latency:percentile(99), summary.bytes, summary.duration))
end
