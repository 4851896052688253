-- wrk script: POST the AdmissionReview in bench/admission/review.json, with each connection
-- waiting an exponentially distributed time (mean KW_DELAY_MS, default 50) between requests,
-- so arrivals from many connections approximate a Poisson stream at a fixed mean rate
-- (connections / mean delay) instead of synchronised bursts.
local f = assert(io.open("bench/admission/review.json", "r"))
local body = f:read("*a")
f:close()
local mean = tonumber(os.getenv("KW_DELAY_MS") or "50")

function setup(thread)
  thread:set("seed", math.random(1, 1e9))
end

function init(args)
  math.randomseed(seed)
end

function request()
  return wrk.format("POST", "/validate", {["Content-Type"] = "application/json"}, body)
end

function delay()
  return math.floor(-mean * math.log(1 - math.random()))
end
