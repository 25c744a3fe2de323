//! README's run command, `scripts/run-local.sh`, driven as a newcomer would:
//! with a custom `CARGO_TARGET_DIR` it finds the binaries, waits until
//! everything is ready, and the request it prints is answered 201 and
//! persisted; a bad variable makes it exit non-zero naming the variable; a
//! worker that dies takes the run down, loudly; Ctrl-C stops everything
//! and says so, exiting 0.
//!
//! It builds into a target directory of its own (a nested cargo cannot use
//! the one `cargo test` holds), so its first run takes a few minutes.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use testkit::{TempDir, eventually, http, unique_prefix, within};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

fn free_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    format!("127.0.0.1:{port}")
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The script, stopped (SIGTERM: it stops its children) when dropped, and
/// the file its standard error goes to.
struct Run(Child, PathBuf);

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(pid) = self.0.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    }
}

fn run_local(envs: &[(&str, String)], stderr: PathBuf) -> Run {
    let target = testkit::artefact_dir()
        .parent()
        .expect("target dir")
        .join("run-local-test");
    let mut command = Command::new("bash");
    command
        .arg(workspace().join("scripts/run-local.sh"))
        .current_dir(workspace())
        .env("CARGO_TARGET_DIR", &target)
        .env("RUN_PROFILE", "dev")
        .env("RUST_LOG", "warn")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        // A process group of its own, as a terminal gives a command: Ctrl-C
        // is a SIGINT to the whole group.
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).expect("stderr file"));
    Run(
        testkit::die_with_test(&mut command)
            .spawn()
            .expect("run-local.sh"),
        stderr,
    )
}

/// Reads the script's output until `marker` appears; everything read.
async fn read_until(run: &mut Run, marker: &str, limit: Duration) -> String {
    let stdout = run.0.stdout.as_mut().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = String::new();
    let found = tokio::time::timeout(limit, async {
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains(marker) {
                return true;
            }
        }
        false
    })
    .await;
    assert!(
        matches!(found, Ok(true)),
        "no {marker:?} in run-local's output:\n{seen}\n--- stderr ---\n{}",
        stderr_of(run)
    );
    seen
}

fn stderr_of(run: &Run) -> String {
    std::fs::read_to_string(&run.1).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_command_tells_the_truth() {
    let data = TempDir::new();
    let database = format!("sqlite://{}?mode=rwc", data.path.join("leads.db").display());
    let (ingest, worker_admin) = (free_addr(), free_addr());
    let envs = vec![
        ("INGEST_ADDR", ingest.clone()),
        ("CONSOLE_ADDR", free_addr()),
        ("WORKER_ADMIN_ADDR", worker_admin.clone()),
        ("EDGE_ADMIN_ADDR", free_addr()),
        ("DATABASE_URL", database.clone()),
        ("AMQP_PREFIX", unique_prefix("run-local")),
    ];

    // A bad variable: it says which, and exits non-zero.
    let mut bad = envs.clone();
    bad.push(("ADMIN_TOKEN", "too-short".into()));
    let mut run = run_local(&bad, data.path.join("bad.err"));
    let status = within(
        "run-local to refuse",
        Duration::from_secs(900),
        run.0.wait(),
    )
    .await
    .expect("wait");
    assert!(!status.success(), "a bad ADMIN_TOKEN must fail the run");
    let said = stderr_of(&run);
    assert!(said.contains("ADMIN_TOKEN"), "names the variable:\n{said}");
    assert!(
        !said.contains("too-short"),
        "never echoes a secret:\n{said}"
    );

    // The happy path: ready before it says so, and what it says works.
    let mut run = run_local(&envs, data.path.join("run.err"));
    let banner = read_until(
        &mut run,
        "Ctrl-C stops everything",
        Duration::from_secs(900),
    )
    .await;
    assert!(banner.contains("leadpipe is running"), "{banner}");
    let token = banner
        .split("ADMIN_TOKEN=")
        .nth(1)
        .and_then(|rest| rest.split([' ', ')', '\n']).next())
        .expect("the printed token")
        .to_owned();
    let body = r#"{"call_id": "TEST-001", "caller_number": "+919876543210", "call_start_time": "2025-11-07T16:30:00Z", "call_status": "completed"}"#;
    let addr = ingest.parse().unwrap();
    let answer = http(
        addr,
        "POST",
        "/api/webhook/",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .await;
    assert_eq!(
        answer.status, 201,
        "the first request after the banner is accepted"
    );
    let admin = worker_admin.parse().unwrap();
    let bearer = format!("Bearer {token}");
    eventually(
        "the call in the webhook log",
        Duration::from_secs(60),
        || async {
            let logs = http(
                admin,
                "GET",
                "/logs?call_id=TEST-001",
                &[("Authorization", &bearer)],
                b"",
            )
            .await;
            logs.status == 200 && String::from_utf8_lossy(&logs.body).contains("\"processed\"")
        },
    )
    .await;
    let db = sea_orm::Database::connect(&database).await.unwrap();
    let calls = sea_orm::ConnectionTrait::query_one_raw(
        &db,
        sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) FROM calls WHERE call_id = 'TEST-001'",
        ),
    )
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index::<i64>(0)
    .unwrap();
    assert_eq!(calls, 1, "persisted");
    db.close().await.ok();

    // The worker dies: the run stops, saying so, non-zero.
    let worker_pid = banner
        .split("pids: worker ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .expect("the worker's pid")
        .to_owned();
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &worker_pid])
            .status()
            .unwrap()
            .success()
    );
    let status = within("run-local to stop", Duration::from_secs(60), run.0.wait())
        .await
        .expect("wait");
    assert!(!status.success(), "a dead worker fails the run");
    let said = stderr_of(&run);
    assert!(
        said.contains("the worker stopped"),
        "says which process died:\n{said}"
    );

    // Ctrl-C: the terminal sends SIGINT to the script's process group. A
    // stop the user asked for says so and exits 0.
    let mut run = run_local(&envs, data.path.join("interrupted.err"));
    read_until(
        &mut run,
        "Ctrl-C stops everything",
        Duration::from_secs(900),
    )
    .await;
    let group = run.0.id().expect("the script's pid").to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", "--", &format!("-{group}")])
            .status()
            .unwrap()
            .success()
    );
    let status = within("run-local to stop", Duration::from_secs(60), run.0.wait())
        .await
        .expect("wait");
    let said = stderr_of(&run);
    assert!(status.success(), "Ctrl-C exits 0 ({status}):\n{said}");
    assert!(said.contains("stopping, as asked"), "says so:\n{said}");
    assert!(
        !said.contains("stopped (exit status"),
        "an asked-for stop reads as a crash:\n{said}"
    );
    drop(data);
}
