-- wrk script for the thudo benchmarks: one request shape per scenario, with rotating ids.
-- Arguments (after "--"), as key=value:
--   scenario  create | patch | get | query | upsert
--   start     first sequence number (each thread takes start + index, then steps by threads)
--   threads   number of wrk threads
--   template  create/upsert: a body file in which the mark (section sign, N, section sign)
--             stands for the sequence number
--   prefix    patch/get: entity id prefix of the seeded entities
--   modulo    patch/get: how many seeded entities to rotate over; query: how many values
--   attr      patch/query: the attribute name
--   type      query: the entity type
-- done() prints one line "WRK_JSON {...}" with the counts and latency percentiles (us).

local MARK = "\194\167N\194\167"
local opts = {}
local parts = nil
local seq = 0
local step = 1
local JSON_HEADERS = { ["Content-Type"] = "application/json" }

local function parse_args(args)
  for _, arg in ipairs(args) do
    local k, v = string.match(arg, "^([^=]+)=(.*)$")
    if k then
      opts[k] = v
    end
  end
end

local function split_template(path)
  local fh = assert(io.open(path, "rb"))
  local text = fh:read("*a")
  fh:close()
  local out = {}
  local pos = 1
  while true do
    local i, j = string.find(text, MARK, pos, true)
    if not i then
      table.insert(out, string.sub(text, pos))
      return out
    end
    table.insert(out, string.sub(text, pos, i - 1))
    pos = j + 1
  end
end

local thread_count = 0
function setup(thread)
  thread:set("index", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  parse_args(args)
  step = tonumber(opts.threads or "1")
  seq = tonumber(opts.start or "0") + (index or 0)
  if opts.template then
    parts = split_template(opts.template)
  end
end

local function next_seq()
  local n = seq
  seq = seq + step
  return n
end

local builders = {}

builders.create = function(n)
  return wrk.format("POST", "/ngsi-ld/v1/entities", JSON_HEADERS, table.concat(parts, tostring(n)))
end

builders.upsert = function(n)
  local body = table.concat(parts, tostring(n))
  return wrk.format("POST", "/ngsi-ld/v1/entityOperations/upsert", JSON_HEADERS, body)
end

builders.patch = function(n)
  local id = opts.prefix .. tostring(n % tonumber(opts.modulo))
  local path = "/ngsi-ld/v1/entities/" .. id .. "/attrs/" .. opts.attr
  return wrk.format("PATCH", path, JSON_HEADERS, '{"value":' .. tostring(n) .. "}")
end

builders.get = function(n)
  local id = opts.prefix .. tostring(n % tonumber(opts.modulo))
  return wrk.format("GET", "/ngsi-ld/v1/entities/" .. id)
end

builders.query = function(n)
  local value = tostring(n % tonumber(opts.modulo))
  local path = "/ngsi-ld/v1/entities?type=" .. opts.type .. "&q=" .. opts.attr .. "==" .. value
    .. "&limit=20"
  return wrk.format("GET", path)
end

builders.health = function(_)
  return wrk.format("GET", "/health")
end

function request()
  return builders[opts.scenario](next_seq())
end

function done(summary, latency, requests)
  local e = summary.errors
  local pct = {}
  for _, p in ipairs({ 50, 90, 95, 99, 99.9 }) do
    table.insert(pct, string.format('"%s":%d', tostring(p), latency:percentile(p)))
  end
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"min":%d,"max":%d,"mean":%.1f,"stdev":%.1f,"percentiles":{%s}}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.max, latency.mean, latency.stdev, table.concat(pct, ",")))
end
