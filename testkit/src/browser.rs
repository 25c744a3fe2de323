//! A headless Chromium through ChromeDriver, and where screenshots go.

use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpStream;

use crate::*;

/// Where tests leave artefacts for people to look at (screenshots):
/// `target/test-artefacts/`.
pub fn artefact_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let target = exe
        .parent()
        .and_then(std::path::Path::parent)
        .and_then(std::path::Path::parent)
        .expect("target dir");
    let dir = target.join("test-artefacts");
    std::fs::create_dir_all(&dir).expect("create the artefact directory");
    dir
}

/// A real headless Chromium (Debian's `chromium`), driven through
/// ChromeDriver (`chromium-driver`) over WebDriver. Both are started by the
/// test on loopback and die with it; `scripts/services.sh browser` installs
/// them.
pub struct Browser {
    /// The WebDriver session.
    pub client: fantoccini::Client,
    driver: tokio::process::Child,
    profile: TempDir,
}

impl Browser {
    /// Starts ChromeDriver on a free port and opens a headless session.
    pub async fn start() -> Self {
        let driver_path = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("chromedriver is missing: run scripts/services.sh browser");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let driver = die_with_test(&mut tokio::process::Command::new(driver_path))
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        eventually(
            "chromedriver listening",
            Duration::from_secs(30),
            || async { TcpStream::connect(("127.0.0.1", port)).await.is_ok() },
        )
        .await;
        let profile = TempDir::new();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,800",
                    format!("--user-data-dir={}", profile.path.display()),
                ],
            }),
        );
        let connector = hyper_util_client::client::legacy::connect::HttpConnector::new();
        let client = within(
            "a WebDriver session",
            Duration::from_secs(60),
            fantoccini::ClientBuilder::new(connector)
                .capabilities(capabilities)
                .connect(&url),
        )
        .await
        .expect("open a Chromium session");
        Self {
            client,
            driver,
            profile,
        }
    }

    /// Fills the console's sign-in form on the current page, submits it,
    /// and waits for a signed-in page.
    pub async fn submit_sign_in(&self, username: &str, password: &str) {
        use fantoccini::Locator;
        let wait = Duration::from_secs(60);
        let form = self
            .client
            .wait()
            .at_most(wait)
            .for_element(Locator::Css("form.login"))
            .await
            .expect("the sign-in form");
        for (field, value) in [("username", username), ("password", password)] {
            form.find(Locator::Css(&format!("input[name={field}]")))
                .await
                .expect("a sign-in field")
                .send_keys(value)
                .await
                .expect("typing into the sign-in form");
        }
        form.find(Locator::Css("button[type=submit]"))
            .await
            .expect("the sign-in button")
            .click()
            .await
            .expect("signing in");
        self.client
            .wait()
            .at_most(wait)
            .for_element(Locator::Css("header.top"))
            .await
            .expect("a signed-in page");
    }

    /// Runs axe-core (vendored in `testkit/vendor/axe-core`, injected here,
    /// never served by the console) on the current page and fails the test
    /// on any WCAG 2 A or AA violation, naming the rule, what it asks and
    /// the elements. `what` names the page in the failure.
    pub async fn assert_accessible(&self, what: &str) {
        const AXE: &str = include_str!("../vendor/axe-core/axe.min.js");
        let loaded = within(
            "axe-core's injection",
            Duration::from_secs(30),
            self.client.execute(
                &format!("if (!window.axe) {{ {AXE}\n }} return typeof window.axe;"),
                vec![],
            ),
        )
        .await
        .expect("inject axe-core");
        assert_eq!(loaded, "object", "axe-core did not load on {what}");
        let run = "const done = arguments[arguments.length - 1]; \
            axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}, resultTypes: ['violations']}) \
              .then((r) => done(r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ') + ': ' + n.failureSummary)})))) \
              .catch((e) => done([{id: 'axe-error', help: String(e), nodes: []}]));";
        let violations = within(
            "axe-core's run",
            Duration::from_secs(60),
            self.client.execute_async(run, vec![]),
        )
        .await
        .expect("run axe-core");
        let violations = violations.as_array().cloned().unwrap_or_default();
        assert!(
            violations.is_empty(),
            "accessibility violations on {what}:\n{}",
            violations
                .iter()
                .map(|v| format!(
                    "- {} ({}): {}\n    {}",
                    v["id"],
                    v["impact"],
                    v["help"],
                    v["nodes"]
                        .as_array()
                        .map(|n| n
                            .iter()
                            .map(|n| n.as_str().unwrap_or_default().replace('\n', " "))
                            .collect::<Vec<_>>()
                            .join("\n    "))
                        .unwrap_or_default()
                ))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    /// Saves a screenshot as `target/test-artefacts/{name}.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = within(
            "a screenshot",
            Duration::from_secs(30),
            self.client.screenshot(),
        )
        .await
        .expect("screenshot");
        let path = artefact_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }

    /// Ends the session and the driver.
    pub async fn stop(mut self) {
        let _ = within(
            "closing the browser",
            Duration::from_secs(30),
            self.client.close(),
        )
        .await;
        let _ = self.driver.start_kill();
        let _ = within(
            "chromedriver to exit",
            Duration::from_secs(30),
            self.driver.wait(),
        )
        .await;
        drop(self.profile);
    }
}
