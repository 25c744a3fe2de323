//! `console user …`, `console team …` and `console rule …`: accounts, teams
//! and routing rules are made, listed, changed and removed from the command
//! line, with the password on
//! standard input only.

use std::io::Write as _;
use std::process::{Command, Stdio};
use testkit::{Backend, TestDb};

fn console(db: &TestDb, args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_console"))
        .args(args)
        .env("DATABASE_URL", &db.url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run console");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = testkit::run_bounded_child(child, std::time::Duration::from_secs(60));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn staff_accounts_are_managed_from_the_command_line() {
    let db = TestDb::create(Backend::Sqlite).await;
    let (ok, text) = console(&db, &["user", "list"], "");
    assert!(ok && text.trim().is_empty(), "no default account: {text}");
    let (ok, text) = console(&db, &["user", "add", "asha", "--password-stdin"], "short\n");
    assert!(!ok && text.contains("at least 12"), "{text}");
    let (ok, text) = console(
        &db,
        &[
            "user",
            "add",
            "asha",
            "--password-stdin",
            "--role",
            "operator",
        ],
        "a long enough password\n",
    );
    assert!(ok, "{text}");
    let (ok, text) = console(
        &db,
        &["user", "add", "asha", "--password-stdin"],
        "another long password\n",
    );
    assert!(!ok && text.contains("exists already"), "{text}");
    let (ok, text) = console(
        &db,
        &["user", "add", "bad name", "--password-stdin"],
        "a long enough password\n",
    );
    assert!(!ok && text.contains("user name"), "{text}");
    let (_, text) = console(&db, &["user", "list"], "");
    assert!(text.contains("asha\toperator"), "{text}");
    let hash = db
        .count("SELECT COUNT(*) FROM staff_users WHERE password_hash LIKE '$argon2id$%'")
        .await;
    assert_eq!(hash, 1, "stored as an argon2id hash");
    let (ok, text) = console(
        &db,
        &["user", "set-password", "asha", "--password-stdin"],
        "a brand new password\n",
    );
    assert!(ok, "{text}");
    let (ok, text) = console(&db, &["user", "remove", "asha"], "");
    assert!(ok, "{text}");
    let (ok, text) = console(&db, &["user", "remove", "asha"], "");
    assert!(!ok && text.contains("no user"), "{text}");
    let (ok, text) = console(
        &db,
        &["user", "add", "x", "--role", "boss", "--password-stdin"],
        "a long enough password\n",
    );
    assert!(!ok && text.contains("--role"), "{text}");
    db.drop().await;
}

#[tokio::test]
async fn teams_and_members_are_set_up_from_the_command_line() {
    let db = TestDb::create(Backend::Sqlite).await;
    let password = "a long enough password\n";
    let (ok, text) = console(&db, &["team", "add", "MG sales", "--default"], "");
    assert!(ok, "{text}");
    let (ok, text) = console(&db, &["team", "add", "Tata sales", "--max-open", "20"], "");
    assert!(ok, "{text}");
    let (ok, text) = console(&db, &["team", "add", "MG sales"], "");
    assert!(!ok && text.contains("exists already"), "{text}");
    let (_, text) = console(&db, &["team", "list"], "");
    assert!(text.contains("MG sales\tdefault\tno cap"), "{text}");
    assert!(text.contains("Tata sales\t\tat most 20 open"), "{text}");
    // A member of a team that does not exist is refused, naming it.
    let (ok, text) = console(
        &db,
        &[
            "user",
            "add",
            "ravi",
            "--password-stdin",
            "--team",
            "Kia sales",
        ],
        password,
    );
    assert!(!ok && text.contains("no team \"Kia sales\""), "{text}");
    let (ok, text) = console(
        &db,
        &[
            "user",
            "add",
            "mona",
            "--password-stdin",
            "--role",
            "manager",
            "--team",
            "MG sales,Tata sales",
        ],
        password,
    );
    assert!(ok, "{text}");
    let (ok, text) = console(
        &db,
        &[
            "user",
            "add",
            "ravi",
            "--password-stdin",
            "--team",
            "MG sales",
        ],
        password,
    );
    assert!(ok, "{text}");
    let (ok, text) = console(
        &db,
        &[
            "user",
            "change",
            "ravi",
            "--team",
            "Tata sales",
            "--on-duty",
            "true",
            "--tata-staff-id",
            "EMP-101",
        ],
        "",
    );
    assert!(ok, "{text}");
    let (_, text) = console(&db, &["user", "list"], "");
    assert!(
        text.contains("mona\tmanager\tMG sales,Tata sales\toff duty"),
        "{text}"
    );
    assert!(text.contains("ravi\tsales\tTata sales\ton duty"), "{text}");
    // A partner id belongs to one account.
    let (ok, text) = console(
        &db,
        &["user", "change", "mona", "--tata-staff-id", "EMP-101"],
        "",
    );
    assert!(!ok && text.contains("belongs to \"ravi\""), "{text}");
    // Moving the default: one default team at a time.
    let (ok, text) = console(&db, &["team", "change", "Tata sales", "--default"], "");
    assert!(ok, "{text}");
    assert_eq!(
        db.count("SELECT COUNT(*) FROM teams WHERE is_default = true")
            .await,
        1
    );
    // Routing rules, scripted too.
    let (ok, text) = console(
        &db,
        &[
            "rule",
            "add",
            "--team",
            "MG sales",
            "--source",
            "tata_whatsapp",
            "--line",
            "093554 21616",
            "--position",
            "1",
        ],
        "",
    );
    assert!(ok, "{text}");
    let (ok, text) = console(
        &db,
        &["rule", "add", "--team", "MG sales", "--source", "fax"],
        "",
    );
    assert!(!ok && text.contains("no source \"fax\""), "{text}");
    let (ok, text) = console(&db, &["rule", "add", "--team", "Kia sales"], "");
    assert!(!ok && text.contains("no team"), "{text}");
    let (_, text) = console(&db, &["rule", "list"], "");
    assert!(
        text.contains("\t1\ttata_whatsapp\t+919355421616\tMG sales"),
        "{text}"
    );
    let rule_id = text.split('\t').next().unwrap().trim().to_owned();
    let (ok, text) = console(&db, &["team", "remove", "MG sales"], "");
    assert!(ok, "{text}");
    let (_, text) = console(&db, &["rule", "list"], "");
    assert!(text.trim().is_empty(), "a removed team's rules go: {text}");
    let (ok, text) = console(&db, &["rule", "remove", &rule_id], "");
    assert!(!ok && text.contains("no rule"), "{text}");
    let (_, text) = console(&db, &["user", "list"], "");
    assert!(text.contains("mona\tmanager\tTata sales\t"), "{text}");
    db.drop().await;
}
