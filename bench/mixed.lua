-- Mixed sources, every request unique (rough load for the issue notes).
counter = 0
local threads = 0
setup = function(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
init = function(args)
  math.randomseed(os.time() * 100 + (tid or 0) * 7919)
end
local key = "measure-partner-key-0001"
request = function()
  counter = counter + 1
  local id = string.format("%d-%d-%d", tid or 0, math.random(1, 1000000000), counter)
  local phone = string.format("+9198%08d", math.random(0, 99999999))
  local kind = counter % 5
  if kind == 0 then
    return wrk.format("POST", "/api/webhook/", {["Content-Type"] = "application/json"},
      string.format('{"call_id":"M-%s","caller_number":"%s","call_start_time":"2025-11-07T16:30:00Z","call_status":"completed","disposition_code":"SALES_INQ"}', id, phone))
  elseif kind == 1 then
    return wrk.format("POST", "/webhook/", {["Content-Type"] = "application/json"},
      string.format('{"contacts":[{"profile":{"name":"User"},"wa_id":"%s"}],"messages":{"from":"%s","id":"wamid.M%s","timestamp":"1744109205","text":{"body":"hi"},"type":"text"}}', phone:sub(2), phone:sub(2), id))
  elseif kind == 2 then
    return wrk.format("POST", "/admin/mg-digital-leads/source/cardekho", {["Content-Type"] = "application/json", ["X-API-Key"] = key},
      string.format('{"name":"Ravi %s","phone_number":"%s","car_model":"Nexon EV"}', id, phone))
  elseif kind == 3 then
    return wrk.format("POST", "/functions/v1/webhook-call-capture", {["Content-Type"] = "application/json", ["x-api-key"] = key},
      string.format('{"company_id":"123e4567-e89b-12d3-a456-426614174000","caller_number":"%s","outcome":"completed","external_call_id":"X-%s","external_system":"Dialer"}', phone, id))
  else
    return wrk.format("POST", "/api/v1/webhooks/incoming/lead/create", {["Content-Type"] = "application/json"},
      string.format('{"event":"new_lead","source":"website","data":{"first_name":"L%s","phone":"%s"}}', id, phone))
  end
end
