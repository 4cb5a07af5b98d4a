-- zipf.lua: wrk script of bench/locality. Thread i connects to the L7 switch
-- of node i (mod N), as the L4 level would spread clients, and asks for
-- /obj/K with K drawn from a Zipf distribution of exponent ALPHA over NFILES
-- objects (K = 0 the most popular). Environment:
--   LOC_PORTS "P1 P2 ..."  the L7 switches' ports on 127.0.0.1
--   LOC_NFILES, LOC_ALPHA, LOC_SEED (each thread draws from SEED + its index)

local ports = {}
for p in string.gmatch(os.getenv("LOC_PORTS") or "", "%d+") do ports[#ports + 1] = p end
local nthreads = 0

function setup(thread)
	nthreads = nthreads + 1
	local port = ports[(nthreads - 1) % #ports + 1]
	thread.addr = wrk.lookup("127.0.0.1", port)[1]
	thread:set("tid", nthreads)
end

local cdf, paths, n

function init(args)
	n = tonumber(os.getenv("LOC_NFILES") or "4000")
	local alpha = tonumber(os.getenv("LOC_ALPHA") or "0.8")
	local seed = tonumber(os.getenv("LOC_SEED") or "1")
	cdf, paths = {}, {}
	local s = 0
	for k = 1, n do
		s = s + 1 / k ^ alpha
		cdf[k] = s
		paths[k] = string.format("/obj/%d", k - 1)
	end
	for k = 1, n do cdf[k] = cdf[k] / s end
	math.randomseed(seed * 1000 + tid)
end

function request()
	local u = math.random()
	local lo, hi = 1, n
	while lo < hi do
		local mid = math.floor((lo + hi) / 2)
		if cdf[mid] < u then lo = mid + 1 else hi = mid end
	end
	return wrk.format("GET", paths[lo])
end
