//! Issue 23, inbound media: a worker fetches each file a customer sends
//! from (a fake) Tata's media API, outside the webhook's path, retrying
//! what may pass; the console serves it to signed-in staff only, inline
//! only for plain photo types, anything else (an SVG "image", a document)
//! as a download, never sniffed; media Tata no longer has shows as
//! expired; the person's export lists files without their bytes.

use super::replies::{PASSWORD, Rig, WAIT};
use console::auth::Role;
use serde_json::{Value, json};
use testkit::{Backend, StaffClient, Worker, eventually};

testkit::on_both_backends!(media_is_fetched_once_and_served_only_as_what_is_safe,);

const FROM: &str = "919876533333";
const PHONE: &str = "+919876533333";
const PHOTO: &[u8] = b"\xff\xd8\xff\xe0 a photo of my old car";
const SVG: &[u8] = b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>";
const PDF: &[u8] = b"%PDF-1.4 the quotation";

fn header<'a>(answer: &'a testkit::HttpResponse, name: &str) -> Option<&'a str> {
    answer
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn media_is_fetched_once_and_served_only_as_what_is_safe(backend: Backend) {
    let rig = Rig::start(backend, "media", "5000").await;
    // The photo's first download fails (Tata had a moment): tried again.
    rig.tata
        .set_media("media-photo", "image/jpeg", PHOTO, &[503]);
    rig.tata.set_media("media-svg", "image/svg+xml", SVG, &[]);
    rig.tata.set_media("media-doc", "application/pdf", PDF, &[]);
    // "media-gone" is not there: Tata's 404, as for media past 30 days.
    let worker = Worker::start(&rig.env());
    let at = chrono::Utc::now().timestamp().to_string();
    let message = |id: &str, kind: &str, member: Value| {
        let mut m = json!({"from": FROM, "id": id, "timestamp": at, "type": kind});
        m[kind] = member;
        m
    };
    let body = json!({"messages": [
        message("wamid.photo", "image", json!({"id": "media-photo", "mime_type": "image/jpeg", "sha256": "x", "caption": "my old car"})),
        message("wamid.svg", "image", json!({"id": "media-svg", "mime_type": "image/jpeg", "sha256": "x"})),
        message("wamid.doc", "document", json!({"id": "media-doc", "mime_type": "application/pdf", "sha256": "x", "filename": "Quotation Harrier.pdf"})),
        message("wamid.gone", "video", json!({"id": "media-gone", "mime_type": "video/mp4", "sha256": "x"})),
    ], "businessPhoneNumber": "+919355421616"});
    assert_eq!(
        rig.edge
            .post_json("/webhook/", &body.to_string())
            .await
            .status,
        201
    );
    let thread_path = format!("/ajax/tata-conversations/{PHONE}/");
    let file_of = |thread: &Value, id: &str| -> Value {
        thread["messages"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["id"] == id))
            .map(|m| m["content"]["file"].clone())
            .unwrap_or(Value::Null)
    };
    eventually("every file fetched or given up on", WAIT, || async {
        let thread = rig.staff.get(&thread_path).await.json();
        ["wamid.photo", "wamid.svg", "wamid.doc"]
            .iter()
            .all(|id| file_of(&thread, id)["state"] == "stored")
            && file_of(&thread, "wamid.gone")["state"] == "expired"
    })
    .await;
    let thread = rig.staff.get(&thread_path).await.json();
    let photo = file_of(&thread, "wamid.photo");
    assert_eq!(photo["inline"], "image", "{photo}");
    assert_eq!(photo["size"], PHOTO.len());
    let gone = file_of(&thread, "wamid.gone");
    assert_eq!(gone["url"], Value::Null);
    assert!(
        gone["reason"].as_str().unwrap().contains("no longer has"),
        "{gone}"
    );
    assert_eq!(
        rig.tata.media_requests("media-photo"),
        2,
        "one failed download, one that worked, and none after"
    );

    // The photo, inline, as the type Tata gave it.
    let url = photo["url"].as_str().unwrap();
    let served = rig.staff.get(url).await;
    assert_eq!(served.status, 200);
    assert_eq!(served.body, PHOTO);
    assert_eq!(header(&served, "content-type"), Some("image/jpeg"));
    assert_eq!(header(&served, "content-disposition"), Some("inline"));
    assert_eq!(header(&served, "x-content-type-options"), Some("nosniff"));
    assert!(
        header(&served, "content-security-policy").is_some_and(|p| p.contains("sandbox")),
        "{:?}",
        served.headers
    );
    // An SVG "image" is never drawn: a download, whatever it claimed.
    let svg = file_of(&thread, "wamid.svg");
    assert_eq!(svg["inline"], Value::Null, "{svg}");
    let served = rig.staff.get(svg["url"].as_str().unwrap()).await;
    assert_eq!(served.status, 200);
    assert_eq!(served.body, SVG);
    assert_eq!(
        header(&served, "content-type"),
        Some("application/octet-stream")
    );
    assert!(
        header(&served, "content-disposition").is_some_and(|d| d.starts_with("attachment")),
        "{:?}",
        served.headers
    );
    assert_eq!(header(&served, "x-content-type-options"), Some("nosniff"));
    // A document: a download under its own name.
    let doc = file_of(&thread, "wamid.doc");
    let served = rig.staff.get(doc["url"].as_str().unwrap()).await;
    assert_eq!(served.body, PDF);
    assert_eq!(
        header(&served, "content-disposition"),
        Some(
            "attachment; filename=\"Quotation_Harrier.pdf\"; filename*=UTF-8''Quotation%20Harrier.pdf"
        )
    );
    // Not stored, unknown, or no session: nothing.
    let expired = rig.staff.get("/whatsapp/media/media-gone").await;
    assert_eq!(expired.status, 404);
    assert!(String::from_utf8_lossy(&expired.body).contains("no longer has"));
    assert_eq!(rig.staff.get("/whatsapp/media/no-such").await.status, 404);
    let anonymous = testkit::http(rig.console.addr, "GET", url, &[], b"").await;
    assert_ne!(anonymous.status, 200);
    assert_ne!(anonymous.body, PHOTO);

    // The person's export lists the files, not their bytes.
    testkit::add_staff(&rig.db.url, "omar", PASSWORD, Role::Operator).await;
    let omar = StaffClient::sign_in(rig.console.addr, "omar", PASSWORD).await;
    let export = omar
        .get(&format!("/operator/person/export.json?phone=%2B{}", &FROM))
        .await;
    assert_eq!(export.status, 200);
    let export = export.json();
    let files = export["tables"]["whatsapp_media"]
        .as_array()
        .unwrap_or_else(|| panic!("no whatsapp_media in {export}"));
    assert_eq!(files.len(), 4, "{files:?}");
    assert!(files.iter().all(|f| f.get("bytes").is_none()), "{files:?}");
    worker.stop().await;
    rig.stop().await;
}
