-- wrk script: every request unique, the six sources in turn, each body in
-- its contract's shape (ids and phone numbers random per request). Prints a
-- machine-readable summary line (percentiles in milliseconds) at the end.
counter = 0
local threads = {}
setup = function(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
init = function(args)
  math.randomseed(os.time() * 100 + (tid or 0) * 7919)
end
local key = "measure-partner-key-0001"
request = function()
  counter = counter + 1
  local id = string.format("%d-%d-%d", tid or 0, math.random(1, 1000000000), counter)
  local phone = string.format("+9198%08d", math.random(0, 99999999))
  -- BENCH_HOTSPOT set: one request in ten is about one person (one phone
  -- number, and for Tata calls one call_id in a burst of status events).
  local hot = (os.getenv("BENCH_HOTSPOT") or "") ~= "" and math.random() < 0.1
  local call_id = "M-" .. id
  if hot then
    phone = "+919800000000"
    call_id = "M-HOT"
  end
  -- BENCH_SOURCE=0..5 sends that source only (0 Tata calls, 1 WhatsApp,
  -- 2 CarDekho, 3 CarWale, 4 call capture, 5 CRM); unset, all six in turn.
  local kind = tonumber(os.getenv("BENCH_SOURCE") or "") or counter % 6
  if kind == 0 then
    return wrk.format("POST", "/api/webhook/", {["Content-Type"] = "application/json"},
      string.format('{"call_id":"%s","caller_number":"%s","call_start_time":"2025-11-07T16:30:00Z","call_status":"completed","disposition_code":"SALES_INQ"}', call_id, phone))
  elseif kind == 1 then
    return wrk.format("POST", "/webhook/", {["Content-Type"] = "application/json"},
      string.format('{"contacts":[{"profile":{"name":"User"},"wa_id":"%s"}],"messages":{"from":"%s","id":"wamid.M%s","timestamp":"1744109205","text":{"body":"hi"},"type":"text"}}', phone:sub(2), phone:sub(2), id))
  elseif kind == 2 then
    return wrk.format("POST", "/admin/mg-digital-leads/source/cardekho", {["Content-Type"] = "application/json", ["X-API-Key"] = key},
      string.format('{"name":"Ravi %s","phone_number":"%s","car_model":"Nexon EV"}', id, phone))
  elseif kind == 3 then
    return wrk.format("POST", "/admin/mg-digital-leads/source/carwale", {["Content-Type"] = "application/json", ["X-API-Key"] = key},
      string.format('{"name":"Asha %s","phone_number":"%s","car_model":"Harrier"}', id, phone))
  elseif kind == 4 then
    return wrk.format("POST", "/functions/v1/webhook-call-capture", {["Content-Type"] = "application/json", ["x-api-key"] = key},
      string.format('{"company_id":"123e4567-e89b-12d3-a456-426614174000","caller_number":"%s","outcome":"completed","external_call_id":"X-%s","external_system":"Dialer"}', phone, id))
  else
    return wrk.format("POST", "/api/v1/webhooks/incoming/lead/create", {["Content-Type"] = "application/json"},
      string.format('{"event":"new_lead","source":"website","data":{"first_name":"L%s","phone":"%s"}}', id, phone))
  end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT rps=%.0f p50=%.2f p99=%.2f p999=%.2f requests=%d non2xx=%d socket_errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
