-- wrk script: each request carries one token, picked at random, of the file
-- named after `--` (one token per line), as `Authorization: Bearer`: many
-- clients, each with its own token.
--
--   wrk -t1 -c32 -d8s --latency -s tokens.lua http://127.0.0.1:PORT/path -- tokens.txt
--
-- The requests are formatted once in init(), so a request costs the load
-- generator one table lookup.

local requests = {}

function init(args)
   local path = args[1]
   if not path then
      error("usage: wrk ... -s tokens.lua URL -- TOKEN_FILE")
   end
   for token in io.lines(path) do
      if token ~= "" then
         requests[#requests + 1] =
            wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. token })
      end
   end
   if #requests == 0 then
      error("no tokens in " .. path)
   end
   math.randomseed(os.time())
end

function request()
   return requests[math.random(#requests)]
end
