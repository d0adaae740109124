-- The readers of the mixed benchmark, for wrk (tests/bench/run.py starts it):
--
--   wrk -t8 -c8 -d SECONDS -s tests/bench/mix.lua http://127.0.0.1:PORT -- FOLDER
--
-- Each wrk thread holds one connection and is one reader: it signs its requests with the
-- cookies in FOLDER/cookies-N and sends, in turn, the requests listed in FOLDER/requests-N
-- (a kind and a path per line, drawn by run.py), each as soon as the previous answer
-- has been read. After a list page it follows the page's rel="next" link as often as
-- FOLDER/follow says. It writes each answer's kind, status, latency (microseconds, from
-- the request being sent to the answer being read) and query count to FOLDER/answers-N.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock, bench_timespec *now);
]]
local CLOCK_MONOTONIC = 1
local clock = ffi.new("bench_timespec")

local function microseconds()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1e6 + tonumber(clock.tv_nsec) / 1e3
end

local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

local folder, cookie, requests, position, follow, answers
local sent_at, sent_kind, next_page = 0, "", nil

local function read_file(path)
  local file = assert(io.open(path, "r"))
  local text = file:read("*a")
  file:close()
  return text
end

function init(args)
  folder = args[1]
  cookie = read_file(folder .. "/cookies-" .. id):gsub("%s+$", "")
  follow = tonumber(read_file(folder .. "/follow"))
  requests, position = {}, 0
  for line in io.lines(folder .. "/requests-" .. id) do
    local kind, path = line:match("^([^\t]+)\t(.+)$")
    requests[#requests + 1] = { kind, path }
  end
  math.randomseed(id + 1)
  answers = assert(io.open(folder .. "/answers-" .. id, "w"))
  answers:setvbuf("line")
end

function request()
  local kind, path
  if next_page then
    kind, path, next_page = "list, next page", next_page, nil
  else
    position = position % #requests + 1
    kind, path = requests[position][1], requests[position][2]
  end
  sent_kind, sent_at = kind, microseconds()
  return wrk.format("GET", path, { ["Cookie"] = cookie, ["X-Forwarded-Proto"] = "https" })
end

function response(status, headers, body)
  answers:write(string.format("%s\t%d\t%.0f\t%s\n", sent_kind, status, microseconds() - sent_at,
    headers["X-Bench-Queries"] or ""))
  if sent_kind == "list" and status == 200 and math.random() < follow then
    local link = body:match('rel="next" href="([^"]+)"')
    if link then
      link = link:gsub("&amp;", "&")
      next_page = link:sub(1, 1) == "?" and "/incidents/" .. link or link
    end
  end
end
