//! The lead desk's JSON API (issue 26) against the real edge, worker,
//! console, broker and database: the views and what each role sees, every
//! change a lead goes through (assign, stage, note, follow-up, duty), the
//! first response a move to contacted sets, a CRM status event that moves
//! the stage unless staff moved it later, and every refusal (401, 403,
//! 404, 400, with a message).

use console::auth::Role;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use std::time::Duration;
use testkit::{Backend, StaffClient, eventually, http};

const PASSWORD: &str = "a long enough password";
const WAIT: Duration = Duration::from_secs(60);

testkit::on_both_backends!(
    the_desk_moves_a_lead_through_owners_and_stages_and_refuses_bad_requests,
    a_crm_status_moves_the_stage_unless_a_later_change_was_made,
    managers_keep_their_teams_canned_replies_and_their_teams_read_them,
);

fn error_of(response: &testkit::HttpResponse) -> String {
    response.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn the_desk_moves_a_lead_through_owners_and_stages_and_refuses_bad_requests(
    backend: Backend,
) {
    let stack = testkit::Stack::start(backend, "desk-api", &[]).await;
    let (db, edge, console) = (&stack.db, &stack.edge, &stack.console);
    testkit::add_team(&db.url, "MG sales", true).await;
    testkit::add_member(&db.url, "asha", PASSWORD, Role::Sales, &["MG sales"], true).await;
    testkit::add_member(&db.url, "ravi", PASSWORD, Role::Sales, &["MG sales"], false).await;
    testkit::add_member(
        &db.url,
        "mona",
        PASSWORD,
        Role::Manager,
        &["MG sales"],
        false,
    )
    .await;
    testkit::add_member(&db.url, "kiran", PASSWORD, Role::Sales, &[], true).await;
    let asha = StaffClient::sign_in(console.addr, "asha", PASSWORD).await;
    let ravi = StaffClient::sign_in(console.addr, "ravi", PASSWORD).await;
    let mona = StaffClient::sign_in(console.addr, "mona", PASSWORD).await;
    let kiran = StaffClient::sign_in(console.addr, "kiran", PASSWORD).await;

    let response = edge
        .post(
            "/webhook/",
            &[],
            &testkit::examples::whatsapp_text("919833300001", "wamid.D1", "Price of the Hector?"),
        )
        .await;
    assert_eq!(response.status, 201);
    eventually("the lead assigned", WAIT, || async {
        db.count("SELECT COUNT(*) FROM leads WHERE owner_id IS NOT NULL")
            .await
            == 1
    })
    .await;

    // Asha's: in her Mine view, not in Ravi's; the manager sees it in Team
    // and All; Kiran (no team) sees nothing of it.
    let mine = asha.get("/ajax/leads/?view=mine").await;
    assert_eq!(mine.status, 200);
    let mine = mine.json();
    assert_eq!(mine["total"], 1);
    let lead = &mine["leads"][0];
    assert_eq!(lead["owner"], "asha");
    assert_eq!(lead["team"], "MG sales");
    assert_eq!(lead["stage"], "new");
    assert_eq!(lead["phone"], "+919833300001");
    assert_eq!(lead["sources"], json!(["WhatsApp"]));
    assert_eq!(lead["first_response_seconds"], Value::Null);
    let id = lead["id"].as_str().unwrap().to_owned();
    assert_eq!(ravi.get("/ajax/leads/?view=mine").await.json()["total"], 0);
    assert_eq!(mona.get("/ajax/leads/?view=team").await.json()["total"], 1);
    assert_eq!(mona.get("/ajax/leads/?view=all").await.json()["total"], 1);
    let hidden = kiran.get(&format!("/ajax/leads/{id}")).await;
    assert_eq!(
        hidden.status, 404,
        "a salesperson cannot see another's lead"
    );
    // The WhatsApp inbox follows the desk: the owner and the manager have
    // the conversation; to Kiran and to Ravi (same team, not his lead) it
    // does not exist: not listed, not readable, not answerable.
    let listed = |list: serde_json::Value| {
        list["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["phone"] == "+919833300001")
    };
    assert!(listed(asha.get("/ajax/tata-conversations/").await.json()));
    assert!(listed(mona.get("/ajax/tata-conversations/").await.json()));
    // The inbox's views: the conversation is its lead's owner's.
    let asha_mine = asha.get("/ajax/tata-conversations/?view=mine").await.json();
    assert!(listed(asha_mine.clone()));
    assert_eq!(asha_mine["conversations"][0]["owner"], "asha");
    assert_eq!(
        asha_mine["counts"],
        json!({"mine": 1, "unassigned": 0, "all": 1})
    );
    assert!(!listed(
        mona.get("/ajax/tata-conversations/?view=mine").await.json()
    ));
    assert!(!listed(
        mona.get("/ajax/tata-conversations/?view=unassigned")
            .await
            .json()
    ));
    assert_eq!(
        mona.get("/ajax/tata-conversations/?view=theirs")
            .await
            .status,
        400
    );
    let thread = "/ajax/tata-conversations/+919833300001/";
    assert_eq!(asha.get(thread).await.status, 200);
    for outsider in [&kiran, &ravi] {
        assert!(!listed(
            outsider.get("/ajax/tata-conversations/").await.json()
        ));
        assert_eq!(outsider.get(thread).await.status, 404);
        let read = outsider
            .post_json("/ajax/tata-conversations/+919833300001/read", &json!({}))
            .await;
        assert_eq!(read.status, 404);
        let reply = outsider
            .post_json(
                "/ajax/tata-send-reply/",
                &json!({"phone": "+919833300001", "message": "Hello"}),
            )
            .await;
        assert_eq!(reply.status, 404, "{}", error_of(&reply));
    }
    // An incoming message never counts as a response.
    let detail = asha.get(&format!("/ajax/leads/{id}")).await.json();
    assert_eq!(detail["first_response_seconds"], Value::Null);

    // 401, 403, 404, 400.
    let anonymous = http(console.addr, "GET", "/ajax/leads/", &[], b"").await;
    assert_eq!(anonymous.status, 401);
    let no_csrf = http(
        console.addr,
        "POST",
        &format!("/ajax/leads/{id}/notes"),
        &[
            ("Cookie", &asha.cookie),
            ("Content-Type", "application/json"),
        ],
        br#"{"text": "hi"}"#,
    )
    .await;
    assert_eq!(no_csrf.status, 403);
    let forbidden = asha.get("/ajax/leads/?view=all").await;
    assert_eq!(forbidden.status, 403);
    assert!(
        error_of(&forbidden).contains("managers"),
        "{}",
        error_of(&forbidden)
    );
    let reassign = asha
        .post_json(
            &format!("/ajax/leads/{id}/assign"),
            &json!({"owner": "ravi"}),
        )
        .await;
    assert_eq!(reassign.status, 403, "only a manager reassigns");
    let unknown = "0190a4f3-0000-7000-8000-000000000000";
    assert_eq!(
        asha.get(&format!("/ajax/leads/{unknown}")).await.status,
        404
    );
    let nobody = mona
        .post_json(
            &format!("/ajax/leads/{id}/assign"),
            &json!({"owner": "nobody"}),
        )
        .await;
    assert_eq!(nobody.status, 404);
    for (path, body, says) in [
        ("stage", json!({"stage": "sold"}), "stage is one of"),
        ("stage", json!({"stage": "lost"}), "lost_reason"),
        (
            "stage",
            json!({"stage": "lost", "lost_reason": "weather"}),
            "lost_reason is one of",
        ),
        ("notes", json!({"text": "x".repeat(4001)}), "4000"),
        ("notes", json!({"text": "   "}), "1 to 4000"),
        ("notes", json!({"words": "hi"}), "bad JSON"),
        ("follow-ups", json!({"due_at": "2020-01-01T10:00"}), "past"),
        ("follow-ups", json!({"due_at": "tomorrow"}), "due_at"),
    ] {
        let response = asha
            .post_json(&format!("/ajax/leads/{id}/{path}"), &body)
            .await;
        assert_eq!(response.status, 400, "{path} {body}");
        assert!(
            error_of(&response).contains(says),
            "{path}: {}",
            error_of(&response)
        );
    }
    assert_eq!(asha.get("/ajax/leads/?view=everything").await.status, 400);
    assert_eq!(asha.get("/ajax/leads/?overdue=maybe").await.status, 400);
    assert_eq!(asha.get("/ajax/leads/not-a-uuid").await.status, 400);

    // A move to contacted is the first response, by Asha, kept in the
    // history.
    let moved = asha
        .post_json(
            &format!("/ajax/leads/{id}/stage"),
            &json!({"stage": "contacted"}),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", error_of(&moved));
    let moved = moved.json();
    assert_eq!(moved["stage"], "contacted");
    assert!(moved["first_response_seconds"].as_i64().is_some());
    assert_eq!(moved["first_response_by"], "asha");
    assert_eq!(moved["stage_history"][0]["from"], "new");
    assert_eq!(moved["stage_history"][0]["to"], "contacted");
    assert_eq!(moved["stage_history"][0]["by"], "asha");

    // A note mentioning the manager tells her.
    let noted = asha
        .post_json(
            &format!("/ajax/leads/{id}/notes"),
            &json!({"text": "Wants the Hector on EMI, @mona please call."}),
        )
        .await;
    assert_eq!(noted.status, 201);
    assert_eq!(noted.json()["notes"][0]["author"], "asha");
    let told = mona.get("/ajax/notifications/").await.json();
    assert_eq!(told["notifications"][0]["kind"], "mention");

    // The manager reassigns to Ravi, who is told and now sees it.
    let given = mona
        .post_json(
            &format!("/ajax/leads/{id}/assign"),
            &json!({"owner": "ravi"}),
        )
        .await;
    assert_eq!(given.status, 200);
    assert_eq!(given.json()["owner"], "ravi");
    assert_eq!(ravi.get("/ajax/leads/?view=mine").await.json()["total"], 1);
    assert_eq!(asha.get(&format!("/ajax/leads/{id}")).await.status, 404);
    let told = ravi.get("/ajax/notifications/").await.json();
    assert_eq!(told["notifications"][0]["kind"], "assigned");

    // A follow-up for someone on the team; not for someone off it.
    let due = (chrono::Utc::now() + chrono::TimeDelta::hours(20)).to_rfc3339();
    let task = mona
        .post_json(
            &format!("/ajax/leads/{id}/follow-ups"),
            &json!({"due_at": due, "assignee": "ravi", "note": "EMI options"}),
        )
        .await;
    assert_eq!(task.status, 201, "{}", error_of(&task));
    let off_team = mona
        .post_json(
            &format!("/ajax/leads/{id}/follow-ups"),
            &json!({"due_at": due, "assignee": "kiran"}),
        )
        .await;
    assert_eq!(off_team.status, 400);
    let detail = ravi.get(&format!("/ajax/leads/{id}")).await.json();
    assert_eq!(detail["follow_ups"][0]["assignee"], "ravi");
    assert_eq!(detail["follow_ups"][0]["note"], "EMI options");

    // Lost with a reason, then reopened: a new clock, answered again by
    // the move to contacted.
    let lost = ravi
        .post_json(
            &format!("/ajax/leads/{id}/stage"),
            &json!({"stage": "lost", "lost_reason": "price"}),
        )
        .await;
    assert_eq!(lost.status, 200);
    assert_eq!(lost.json()["lost_reason"], "price");
    assert_eq!(
        ravi.get("/ajax/leads/?view=mine").await.json()["total"],
        0,
        "open leads only"
    );
    assert_eq!(
        ravi.get("/ajax/leads/?view=mine&stage=lost").await.json()["total"],
        1
    );
    let first_clock = detail["clock_started_at"].clone();
    let reopened = ravi
        .post_json(
            &format!("/ajax/leads/{id}/stage"),
            &json!({"stage": "qualified"}),
        )
        .await
        .json();
    assert_ne!(reopened["clock_started_at"], first_clock, "a new clock");
    assert_eq!(reopened["first_response_seconds"], Value::Null);
    assert_eq!(reopened["stage_history"].as_array().unwrap().len(), 3);

    // Routing rules: managers only.
    assert_eq!(asha.get("/desk/rules").await.status, 403);
    assert_eq!(mona.get("/desk/rules").await.status, 200);
    let team = db.uuid("SELECT id FROM teams").await.to_string();
    let fields = [
        ("position", "1"),
        ("source", "cardekho"),
        ("line", ""),
        ("team", team.as_str()),
    ];
    assert_eq!(
        asha.post_fields("/desk/rules", Some(&asha.csrf), &fields)
            .await
            .status,
        403
    );
    let added = mona
        .post_fields("/desk/rules", Some(&mona.csrf), &fields)
        .await;
    assert_eq!(added.status, 303);
    let bad = [
        ("position", "1"),
        ("source", "fax"),
        ("team", team.as_str()),
    ];
    assert_eq!(
        mona.post_fields("/desk/rules", Some(&mona.csrf), &bad)
            .await
            .status,
        400
    );
    let rules = String::from_utf8_lossy(&mona.get("/desk/rules").await.body).into_owned();
    assert!(
        rules.contains("<td>CarDekho</td>") && rules.contains("<td>MG sales</td>"),
        "{rules}"
    );

    // Duty.
    let duty = ravi
        .post_json("/ajax/me/duty", &json!({"on_duty": true}))
        .await;
    assert_eq!(duty.status, 200);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM staff_users WHERE on_duty = true AND username = 'ravi'")
            .await,
        1
    );
    assert_eq!(
        ravi.post_json("/ajax/me/duty", &json!({"on_duty": "yes"}))
            .await
            .status,
        400
    );

    stack.stop().await;
}

async fn a_crm_status_moves_the_stage_unless_a_later_change_was_made(backend: Backend) {
    let stack = testkit::Stack::start(backend, "desk-crm", &[]).await;
    let (db, edge, console) = (&stack.db, &stack.edge, &stack.console);
    testkit::add_team(&db.url, "MG sales", true).await;
    testkit::add_member(&db.url, "asha", PASSWORD, Role::Sales, &["MG sales"], true).await;
    testkit::add_member(&db.url, "ravi", PASSWORD, Role::Sales, &["MG sales"], false).await;
    testkit::change_staff(
        &db.url,
        "ravi",
        testkit::StaffChange {
            crm_user_id: Some("9".into()),
            ..Default::default()
        },
    )
    .await;
    let ravi = StaffClient::sign_in(console.addr, "ravi", PASSWORD).await;
    let crm = |path: String, body: Value| {
        let edge = &edge;
        async move {
            let response = edge
                .post_json(&format!("/api/v1/webhooks{path}"), &body.to_string())
                .await;
            assert_eq!(response.status, 201, "{path}: {:?}", response.json());
            response.json()["data"].clone()
        }
    };
    let processed = |n: i64| {
        let db = &db;
        async move {
            eventually(&format!("{n} processed"), WAIT, || async {
                db.count("SELECT COUNT(*) FROM webhook_log WHERE status = 'processed'")
                    .await
                    >= n
            })
            .await;
        }
    };
    // The CRM creates the lead, contacted, assigned to its user 9: Ravi.
    let created = crm(
        "/incoming/lead/create".into(),
        json!({"event": "new_lead", "source": "website", "data": {"first_name": "Robert", "phone": "+919855500001", "lead_status": "contacted", "assigned_to": 9}}),
    )
    .await;
    let crm_lead = created["lead_id"].as_str().unwrap().to_owned();
    processed(1).await;
    eventually("the lead routed", WAIT, || async {
        db.count("SELECT COUNT(*) FROM leads WHERE routed_at IS NOT NULL")
            .await
            == 1
    })
    .await;
    let mine = ravi.get("/ajax/leads/?view=mine").await.json();
    assert_eq!(mine["total"], 1, "the CRM's assigned_to names the owner");
    // Routing kept that owner and took no round-robin turn for it.
    assert_eq!(db.count("SELECT assign_seq FROM teams").await, 0);
    let id = mine["leads"][0]["id"].as_str().unwrap().to_owned();
    let lead = ravi.get(&format!("/ajax/leads/{id}")).await.json();
    assert_eq!(lead["stage"], "contacted");
    assert_eq!(lead["stage_history"][0]["by"], "CRM: new_lead");

    // Ravi books a test drive now; the CRM's status from an hour ago
    // arrives later and changes nothing.
    let booked = ravi
        .post_json(
            &format!("/ajax/leads/{id}/stage"),
            &json!({"stage": "test_drive_booked"}),
        )
        .await;
    assert_eq!(booked.status, 200);
    let hour_ago = (chrono::Utc::now() - chrono::TimeDelta::hours(1)).to_rfc3339();
    crm(
        format!("/incoming/lead/{crm_lead}/status/update"),
        json!({"event": "lead_status_update", "data": {"lead_status": "qualified", "status_date": hour_ago}}),
    )
    .await;
    processed(2).await;
    let lead = ravi.get(&format!("/ajax/leads/{id}")).await.json();
    assert_eq!(
        lead["stage"], "test_drive_booked",
        "an older event never overwrites"
    );
    // A newer one does.
    let later = (chrono::Utc::now() + chrono::TimeDelta::seconds(1)).to_rfc3339();
    crm(
        format!("/incoming/lead/{crm_lead}/status/update"),
        json!({"event": "lead_status_update", "data": {"lead_status": "won", "status_date": later}}),
    )
    .await;
    processed(3).await;
    let lead = ravi
        .get(&format!("/ajax/leads/{id}?view=mine&stage=any"))
        .await
        .json();
    assert_eq!(lead["stage"], "won");
    let history = lead["stage_history"].as_array().unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[2]["by"], "CRM: lead_status_update");
    assert_eq!(history[1]["by"], "ravi");

    stack.stop().await;
}

/// A manager's form adding a canned reply.
async fn add_canned(
    who: &StaffClient,
    team: &str,
    shortcut: &str,
    text: &str,
) -> testkit::HttpResponse {
    who.post_fields(
        "/desk/canned",
        Some(&who.csrf),
        &[("team", team), ("shortcut", shortcut), ("text", text)],
    )
    .await
}

async fn managers_keep_their_teams_canned_replies_and_their_teams_read_them(backend: Backend) {
    let stack = testkit::Stack::start(backend, "desk-canned", &[]).await;
    let (db, console) = (&stack.db, &stack.console);
    testkit::add_team(&db.url, "MG sales", true).await;
    testkit::add_team(&db.url, "Tata sales", false).await;
    testkit::add_member(&db.url, "asha", PASSWORD, Role::Sales, &["MG sales"], true).await;
    testkit::add_member(
        &db.url,
        "ravi",
        PASSWORD,
        Role::Sales,
        &["Tata sales"],
        true,
    )
    .await;
    testkit::add_member(
        &db.url,
        "mona",
        PASSWORD,
        Role::Manager,
        &["MG sales"],
        false,
    )
    .await;
    let asha = StaffClient::sign_in(console.addr, "asha", PASSWORD).await;
    let ravi = StaffClient::sign_in(console.addr, "ravi", PASSWORD).await;
    let mona = StaffClient::sign_in(console.addr, "mona", PASSWORD).await;
    let teams = console::teams::names(&db.conn).await.unwrap();
    let team_id = |name: &str| {
        teams
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(id, _)| id.to_string())
            .unwrap()
    };
    let (mg, tata) = (team_id("MG sales"), team_id("Tata sales"));
    let text = "Hi {name}, your {vehicle} test drive is confirmed for tomorrow.";
    let add = |who, team, shortcut| add_canned(who, team, shortcut, text);
    assert_eq!(mona.get("/desk/canned").await.status, 200);
    assert_eq!(asha.get("/desk/canned").await.status, 403, "managers only");
    let added = add(&mona, &mg, "/TestDrive").await;
    assert_eq!(
        added.status,
        303,
        "{:?}",
        String::from_utf8_lossy(&added.body)
    );
    assert_eq!(
        add(&mona, &mg, "testdrive").await.status,
        409,
        "one per team"
    );
    assert_eq!(add(&mona, &mg, "test drive").await.status, 400);
    assert_eq!(
        add(&mona, &tata, "testdrive").await.status,
        403,
        "not her team"
    );
    assert_eq!(add(&ravi, &tata, "testdrive").await.status, 403, "sales");
    let refused = mona
        .post_fields(
            "/desk/canned",
            None,
            &[("team", &mg), ("shortcut", "x"), ("text", "y")],
        )
        .await;
    assert_eq!(refused.status, 403, "no CSRF token");

    // Her team uses it; another team does not see it.
    let mine = asha.get("/ajax/canned-replies").await.json();
    assert_eq!(
        mine["replies"],
        json!([{"shortcut": "testdrive", "text": text, "team": "MG sales"}])
    );
    assert_eq!(
        ravi.get("/ajax/canned-replies").await.json()["replies"],
        json!([])
    );
    let page = String::from_utf8_lossy(&mona.get("/desk/canned").await.body).into_owned();
    assert!(page.contains("/testdrive"), "{page}");

    let id = store::entities::canned_replies::Entity::find()
        .one(&db.conn)
        .await
        .unwrap()
        .unwrap()
        .id;
    assert_eq!(
        ravi.post_form(&format!("/desk/canned/{id}/delete"))
            .await
            .status,
        403
    );
    assert_eq!(
        mona.post_form(&format!("/desk/canned/{id}/delete"))
            .await
            .status,
        303
    );
    assert_eq!(
        asha.get("/ajax/canned-replies").await.json()["replies"],
        json!([])
    );
    stack.stop().await;
}
