//! Every example request of the five contracts in `docs/contracts/`, as
//! partners were given them. Placeholders the contracts ask partners to
//! replace (`your-company-uuid`, `lead-uuid-if-available`, …) are replaced
//! by real UUIDs, as a partner would.

/// Tata calls: (description, body).
pub const TATA_CALLS: &[(&str, &str)] = &[
    ("option 1, minimum", super::TATA_MINIMAL),
    ("option 2, complete", super::TATA_COMPLETE),
    (
        "example 1, curl",
        r#"{
    "call_id": "TEST-001",
    "caller_number": "+919876543210",
    "call_start_time": "2025-11-07T16:30:00Z",
    "call_status": "completed",
    "staff_name": "Test Staff",
    "disposition_code": "SALES_INQ",
    "vehicle_model": "Nexon",
    "is_lead": true,
    "lead_quality": "hot"
  }"#,
    ),
    (
        "example 2, python",
        r#"{"call_id": "TEST-001", "caller_number": "+919876543210", "call_start_time": "2025-11-07T16:30:00Z", "call_status": "completed", "staff_name": "Test Staff"}"#,
    ),
    (
        "example 3, node (toISOString)",
        r#"{"call_id":"TEST-001","caller_number":"+919876543210","call_start_time":"2025-11-07T16:30:00.000Z","call_status":"completed","staff_name":"Test Staff"}"#,
    ),
];

/// Tata WhatsApp: (description, body).
pub const TATA_WHATSAPP: &[(&str, &str)] = &[
    (
        "incoming message",
        r#"{
  "contacts": [
    {
      "profile": {
        "name": "User Name"
      },
      "wa_id": "919999999999"
    }
  ],
  "messages": {
    "from": "919999999999",
    "id": "wamid.HBgMOTE5MTA2MDg5MzQzFQIAEhggRTQzMEI1QjA5QkU0RkIwREI1MzQyQThENUQ4NkQ4RTMA",
    "timestamp": "1744109205",
    "text": {
      "body": "hi"
    },
    "type": "text"
  },
  "businessPhoneNumber": "+919355421616",
  "id": "268e8b65-59a2-45df-9006-bd4b2aedbfdc"
}"#,
    ),
    (
        "status update",
        r#"{
  "statuses": [
    {
      "id": "wamid.HBgMOTE4NDkwMDI5MTA1FQIAERgSRDkwQjFEQURDMEI5MkExNUY3AA==",
      "status": "sent",
      "timestamp": "1729161280",
      "recipient_id": "919999999999"
    }
  ],
  "businessPhoneNumber": "+919355421616"
}"#,
    ),
];

/// CarDekho's sample request.
pub const CARDEKHO: &str = r#"{
  "name": "Ravi Kumar",
  "phone_number": "9876543210",
  "car_model": "Tata Nexon EV",
  "lead_url": "https://cardekho.com/leads/123",
  "campaign": "EV Awareness Q4",
  "utm_source": "cardekho_ads"
}"#;

/// CarWale's sample request.
pub const CARWALE: &str = r#"{
  "customer_name": "Sunita Rao",
  "mobile": "9123456780",
  "vehicle_model": "Hyundai Creta",
  "page_url": "https://carwale.com/lead/456",
  "campaign": "Creta Test Drive"
}"#;

/// Call capture: (description, body).
pub const CALL_CAPTURE: &[(&str, &str)] = &[
    (
        "basic example",
        r#"{
    "company_id": "123e4567-e89b-12d3-a456-426614174000",
    "caller_number": "+919876543210",
    "recipient_number": "+919123456789",
    "duration_seconds": 180,
    "outcome": "follow_up",
    "notes": "Customer interested in service"
  }"#,
    ),
    (
        "example 1, minimal",
        r#"{"company_id":"123e4567-e89b-12d3-a456-426614174000","caller_number":"+919876543210","recipient_number":"+919123456789","duration_seconds":180,"outcome":"completed"}"#,
    ),
    (
        "example 2, complete",
        r#"{"company_id":"123e4567-e89b-12d3-a456-426614174000","lead_id":"234e5678-e89b-12d3-a456-426614174001","employee_id":"345e6789-e89b-12d3-a456-426614174002","outcome":"follow_up","notes":"Customer interested in premium package. Needs time to discuss with spouse.","call_date":"2025-11-25T10:30:00Z","caller_number":"+919876543210","recipient_number":"+919123456789","duration_seconds":320,"recording_url":"https://your-system.com/recordings/12345.mp3","call_status":"completed","start_time":"2025-11-25T10:30:00Z","end_time":"2025-11-25T10:35:20Z","external_call_id":"CALL-12345","external_system":"YourDialer","next_follow_up":"2025-11-27","next_follow_up_time":"14:00:00","auto_call_followup":true,"call_details":{"campaign_id":"CAMP-001","agent_name":"John Doe","disposition":"interested","tags":["premium","follow-up-needed"]}}"#,
    ),
    (
        "example 3, python (isoformat + Z)",
        r#"{"company_id": "123e4567-e89b-12d3-a456-426614174000", "caller_number": "+919876543210", "recipient_number": "+919123456789", "duration_seconds": 180, "outcome": "follow_up", "notes": "Customer interested in service", "call_date": "2025-11-25T10:30:00.123456Z", "external_call_id": "CALL-12345", "call_status": "completed"}"#,
    ),
    (
        "example 4, php",
        r#"{"company_id":"123e4567-e89b-12d3-a456-426614174000","caller_number":"+919876543210","recipient_number":"+919123456789","duration_seconds":180,"outcome":"follow_up","notes":"Customer interested in service","call_date":"2025-11-25T10:30:00Z","external_call_id":"CALL-12345"}"#,
    ),
    (
        "testing curl",
        r#"{
    "company_id": "123e4567-e89b-12d3-a456-426614174000",
    "caller_number": "+919876543210",
    "recipient_number": "+919123456789",
    "duration_seconds": 60,
    "outcome": "follow_up",
    "notes": "Test call"
  }"#,
    ),
];

/// One CRM example: the path under `/api/v1/webhooks`, the body, the
/// documented success message, and the fields its `data` must hold.
pub struct CrmExample {
    /// Path under `/api/v1/webhooks`.
    pub path: &'static str,
    /// Request body.
    pub body: &'static str,
    /// The documented `message`.
    pub message: &'static str,
    /// Keys the documented `data` has.
    pub data_keys: &'static [&'static str],
}

/// Every CRM example request, plus the generic endpoint's other events.
pub const CRM: &[CrmExample] = &[
    CrmExample {
        path: "/incoming/pre-lead/create",
        body: r#"{"event":"new_inquiry","source":"website","data":{"first_name":"John","last_name":"Doe","email":"john.doe@example.com","phone":"+1234567890","company_name":"ABC Corp","source":"website","product_interest":"CRM Software","requirements":"Need enterprise CRM solution","city":"New York","state":"NY","country":"USA","address_line1":"123 Main St","address_line2":"Suite 100","zip_code":"10001","notes":"Interested in demo","lead_status":"new","industry_id":1,"region_id":1,"office_timings":"9:00 AM - 5:00 PM","timezone":"EST"}}"#,
        message: "Pre-lead created successfully",
        data_keys: &["pre_lead_id"],
    },
    CrmExample {
        path: "/incoming/pre-lead/123/update",
        body: r#"{"event":"pre_lead_update","source":"erp","data":{"first_name":"John","last_name":"Doe Updated","email":"john.updated@example.com","phone":"+1234567891","company_name":"ABC Corp Updated","product_interest":"Enterprise CRM","requirements":"Updated requirements","city":"Los Angeles","state":"CA","lead_status":"contacted","notes":"Follow up scheduled"}}"#,
        message: "Pre-lead updated successfully",
        data_keys: &["pre_lead_id"],
    },
    CrmExample {
        path: "/incoming/pre-lead/123/discard",
        body: r#"{"event":"pre_lead_discard","source":"crm","data":{"reason":"Not interested - budget constraints"}}"#,
        message: "Pre-lead discarded successfully",
        data_keys: &["pre_lead_id"],
    },
    CrmExample {
        path: "/incoming/pre-lead/123/contact/add",
        body: r#"{"event":"pre_lead_contact_add","source":"website","data":{"first_name":"Jane","last_name":"Smith","email":"jane.smith@abccorp.com","phone":"+1234567892","designation":"Procurement Manager","department":"Purchasing","is_primary":true}}"#,
        message: "Contact added successfully",
        data_keys: &["contact_id", "pre_lead_id"],
    },
    CrmExample {
        path: "/incoming/pre-lead/123/memo/add",
        body: r#"{"event":"pre_lead_memo_add","source":"crm","data":{"title":"Initial Call Summary","content":"Discussed requirements. Client needs enterprise solution with 500+ users.","memo_type":"call"}}"#,
        message: "Memo added successfully",
        data_keys: &["memo_id", "pre_lead_id"],
    },
    CrmExample {
        path: "/incoming/pre-lead/123/status/update",
        body: r#"{"event":"pre_lead_status_update","source":"crm","data":{"lead_status":"qualified","remarks":"Qualified after initial assessment"}}"#,
        message: "Pre-lead status updated successfully",
        data_keys: &["pre_lead_id", "old_status", "new_status"],
    },
    CrmExample {
        path: "/incoming/pre-lead/123/convert",
        body: r#"{"event":"pre_lead_convert","source":"crm","data":{"priority":"high","assigned_to":5,"expected_value":50000.00,"notes":"High value prospect - prioritize follow-up"}}"#,
        message: "Pre-lead converted to lead successfully",
        data_keys: &["pre_lead_id", "lead_id"],
    },
    CrmExample {
        path: "/incoming/lead/create",
        body: r#"{"event":"new_lead","source":"website","data":{"first_name":"Robert","last_name":"Johnson","email":"robert@example.com","phone":"+1234567893","company_name":"XYZ Industries","source":"referral","priority":"high","product_interest":"Enterprise Suite","requirements":"Full ERP integration needed","expected_value":100000.00,"city":"Chicago","state":"IL","country":"USA","address_line1":"456 Business Ave","zip_code":"60601","assigned_to":3,"notes":"Referred by existing customer"}}"#,
        message: "Lead created successfully",
        data_keys: &["lead_id"],
    },
    CrmExample {
        path: "/incoming/lead/789/update",
        body: r#"{"event":"lead_update","source":"erp","data":{"first_name":"Robert","last_name":"Johnson Jr.","company_name":"XYZ Industries Inc.","designation":"CEO","company_size":"500-1000","product_interest":"Enterprise Suite + Support","expected_value":150000.00,"lead_status":"proposal_sent","priority":"critical","notes":"Updated contact information"}}"#,
        message: "Lead updated successfully",
        data_keys: &["lead_id"],
    },
    CrmExample {
        path: "/incoming/lead/789/discard",
        body: r#"{"event":"lead_discard","source":"crm","data":{"reason":"Lost to competitor","loss_reason":"Price too high - went with cheaper alternative"}}"#,
        message: "Lead discarded successfully",
        data_keys: &["lead_id"],
    },
    CrmExample {
        path: "/incoming/lead/789/contact/add",
        body: r#"{"event":"lead_contact_add","source":"crm","data":{"first_name":"Sarah","last_name":"Williams","email":"sarah@xyzindustries.com","phone":"+1234567894","designation":"CTO","department":"Technology","is_primary":false}}"#,
        message: "Contact added successfully",
        data_keys: &["contact_id", "lead_id"],
    },
    CrmExample {
        path: "/incoming/lead/789/activity/add",
        body: r#"{"event":"lead_activity_add","source":"crm","data":{"activity_type":"meeting","title":"Product Demo","description":"Conducted full product demonstration for technical team","scheduled_at":"2024-01-20T14:00:00Z","completed_at":"2024-01-20T15:30:00Z","outcome":"Positive feedback, moving to proposal stage"}}"#,
        message: "Activity added successfully",
        data_keys: &["activity_id", "lead_id"],
    },
    CrmExample {
        path: "/incoming/lead/789/qualified-profile/update",
        body: r#"{"event":"lead_qualified_profile_update","source":"crm","data":{"profile_type":"qualified","company":"XYZ Industries","industry":"Manufacturing","best_time_call":"10:00 AM - 12:00 PM","timezone":"CST","mode":"hybrid","contact_name":"Robert Johnson","designation":"CEO","phone":"+1234567893","email":"robert@xyzindustries.com","need_type":"New Implementation","current_solution":"Legacy ERP System","pain_point":"Manual processes, lack of integration","budget":150000.00,"decision_timeline":"Q2 2024","decision_maker":"Board of Directors","competitor_info":"Evaluating SAP and Oracle","notes":"Strong buying signals, ready to proceed"}}"#,
        message: "Qualified profile updated successfully",
        data_keys: &["lead_id", "profile_id"],
    },
    CrmExample {
        path: "/incoming/lead/789/memo/add",
        body: r#"{"event":"lead_memo_add","source":"crm","data":{"title":"Negotiation Update","content":"Client requested 10% discount. Approved by sales manager.","memo_type":"general"}}"#,
        message: "Memo added successfully",
        data_keys: &["memo_id", "lead_id"],
    },
    CrmExample {
        path: "/incoming/lead/789/status/update",
        body: r#"{"event":"lead_status_update","source":"crm","data":{"lead_status":"negotiation","remarks":"Final pricing discussion","status_date":"2024-01-25T09:00:00Z"}}"#,
        message: "Lead status updated successfully",
        data_keys: &["lead_id", "old_status", "new_status"],
    },
    CrmExample {
        path: "/incoming/lead/789/convert",
        body: r#"{"event":"lead_convert","source":"crm","data":{"customer_code":"CUST-XYZ-001","credit_limit":100000.00,"payment_terms":"Net 30","notes":"VIP customer - premium support"}}"#,
        message: "Lead converted to customer successfully",
        data_keys: &["lead_id", "customer_id", "customer_code"],
    },
    CrmExample {
        path: "/incoming/lead/create",
        body: r#"{"event":"new_lead","source":"test","data":{"first_name":"Test","email":"test@example.com","company_name":"Test Company"}}"#,
        message: "Lead created successfully",
        data_keys: &["lead_id"],
    },
    CrmExample {
        path: "/incoming",
        body: r#"{"event":"lead_status_update","source":"crm","data":{"lead_id":789,"lead_status":"won"},"timestamp":"2024-01-15T10:30:00Z"}"#,
        message: "Lead status updated successfully",
        data_keys: &["lead_id", "old_status", "new_status"],
    },
    CrmExample {
        path: "/incoming",
        body: r#"{"event":"new_inquiry","source":"website","data":{"first_name":"John","email":"john.doe@example.com"},"timestamp":"2024-01-15T10:30:00Z"}"#,
        message: "Pre-lead created successfully",
        data_keys: &["pre_lead_id"],
    },
    CrmExample {
        path: "/incoming",
        body: r#"{"event":"order_created","source":"erp","data":{"customer_code":"CUST-XYZ-001","order_id":"ORD-1","amount":25000.00},"timestamp":"2024-01-15T10:30:00Z"}"#,
        message: "Order recorded successfully",
        data_keys: &["customer_code"],
    },
    CrmExample {
        path: "/incoming",
        body: r#"{"event":"payment_received","source":"erp","data":{"customer_id":"505","amount":10000.00,"payment_id":"PAY-1"}}"#,
        message: "Payment recorded successfully",
        data_keys: &["customer_id"],
    },
];

/// A WhatsApp text message from `from` (a wa_id, digits) to the business
/// number `+919355421616`, sent now: the body a test sends through the edge.
pub fn whatsapp_text(from: &str, wamid: &str, text: &str) -> String {
    serde_json::json!({
        "contacts": [{"profile": {"name": "Kavya Nair"}, "wa_id": from}],
        "messages": [{"from": from, "id": wamid, "timestamp": chrono::Utc::now().timestamp().to_string(), "type": "text", "text": {"body": text}}],
        "businessPhoneNumber": "+919355421616"
    })
    .to_string()
}
