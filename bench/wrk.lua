-- wrk script for every case: bounds each thread's requests (wrk itself only bounds time) and, in
-- "miss" mode, gives every request a query parameter no earlier request had (`?n=<run>-<thread>-
-- <counter>`), so that each one is a cache miss at the edge.
--   wrk ... -s bench/wrk.lua <url> -- <max requests per thread> <hit|miss> <run tag>

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

local max_requests, mode, tag = 0, "hit", "0"
local counter = 0
local fixed

function init(args)
  max_requests = tonumber(args[1]) or 100000
  mode = args[2] or "hit"
  tag = args[3] or "0"
  fixed = wrk.format()
end

function request()
  counter = counter + 1
  if counter > max_requests then
    wrk.thread:stop()
  end
  if mode == "miss" then
    return wrk.format(nil, string.format("%s?n=%s-%d-%d", wrk.path, tag, id, counter))
  end
  return fixed
end
