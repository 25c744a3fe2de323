//! Child processes: bounded runs, dying with the test, the built binaries.

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Runs a command to completion within `timeout`, returning its output; on
/// expiry the command is killed and the test fails naming it.
pub fn run_bounded(command: &mut std::process::Command, timeout: Duration) -> std::process::Output {
    use std::process::Stdio;
    let described = format!("{command:?}");
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {described}: {error}"));
    run_bounded_child(child, timeout)
}

/// Waits for a spawned command (bounded, like [`run_bounded`]) and returns
/// its output.
pub fn run_bounded_child(
    mut child: std::process::Child,
    timeout: Duration,
) -> std::process::Output {
    let described = format!("process {}", child.id());
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() < timeout => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let output = child.wait_with_output().ok();
                let stderr = output
                    .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                    .unwrap_or_default();
                panic!(
                    "{described} did not finish within {timeout:?}; killed it. stderr: {stderr}"
                );
            }
            Err(error) => panic!("waiting for {described}: {error}"),
        }
    }
    child
        .wait_with_output()
        .unwrap_or_else(|error| panic!("reading the output of {described}: {error}"))
}

/// Makes a child process die with the test that spawned it: if the test
/// process is killed (cancelled, or stopped by a time limit), the kernel
/// sends the child SIGKILL, so no edge or worker outlives its test. Use
/// with `kill_on_drop(true)` for the ordinary ends (pass, fail, panic).
pub fn die_with_test(command: &mut tokio::process::Command) -> &mut tokio::process::Command {
    // SAFETY: prctl is async-signal-safe and changes only the child.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.kill_on_drop(true)
}

/// A binary of this workspace's build (`target/<profile>/<name>`), for tests
/// that run it as a process of its own. `cargo test --workspace` builds
/// every binary; a single package's tests may need `cargo build` first.
pub fn built_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first (cargo build --workspace)",
        path.display()
    );
    path
}
