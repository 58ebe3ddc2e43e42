-- wrk script: HTTP/1.1 pipelining.
-- Every write carries DEPTH requests for the URL's path (default 16), built
-- once with wrk.format and concatenated; wrk counts each response.
-- Usage: wrk -s bench/pipeline.lua http://127.0.0.1:18080/1k.html -- 16

local req

init = function(args)
   local depth = tonumber(args[1]) or 16
   local r = {}
   for i = 1, depth do
      r[i] = wrk.format(nil, nil)   -- GET wrk.path with wrk.headers (Host, ...)
   end
   req = table.concat(r)
end

request = function()
   return req
end
