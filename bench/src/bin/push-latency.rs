//! How fast a pushed change reaches open pages (issue 27), run by
//! `bench/run.sh` (scenario `live`) against a running edge, worker and
//! console: signs in one account (a manager: every lead is theirs to see),
//! opens `BENCH_LIVE_CLIENTS` event streams as that many pages would, sends
//! `BENCH_LIVE_MESSAGES` WhatsApp messages through the edge at
//! `BENCH_LIVE_RATE` a second, each from a new number, and records when
//! each page hears of each message. The latency is from the edge's 201
//! (the message on disk, not yet in the database) to the page's event, so
//! it includes the drain: an upper bound on "persisted to shown".
//! Prints one `RESULT key=value …` line.
//!
//! Plain HTTP/1.0 over TCP: an event stream is then plain text until the
//! server closes it, and nothing here needs more.

use anyhow::{Context, Result, anyhow, bail};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// When each page heard of each lead first: `[page][lead id]`.
type Heard = Arc<Mutex<Vec<HashMap<String, Instant>>>>;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map_err(|_| anyhow!("{name} is not a number: {v:?}")),
        Err(_) => Ok(default),
    }
}

/// One request, the whole answer (`Connection: close`): status, head, body.
async fn exchange(addr: SocketAddr, request: String) -> Result<(u16, String, String)> {
    let mut stream = TcpStream::connect(addr).await.context("connect")?;
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .context("an answer within 30 s")??;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("no status in {head:?}"))?;
    Ok((status, head.to_owned(), body.to_owned()))
}

fn cookie(head: &str, name: &str) -> Option<String> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .filter_map(|(_, v)| v.trim().split(';').next())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// Signs in through the form; the session cookie.
async fn sign_in(console: SocketAddr, user: &str, password: &str) -> Result<String> {
    let (_, head, body) = exchange(
        console,
        format!("GET /login HTTP/1.0\r\nHost: {console}\r\n\r\n"),
    )
    .await?;
    let login = cookie(&head, "leadpipe_login_csrf").ok_or_else(|| anyhow!("no login cookie"))?;
    let token = body
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or_else(|| anyhow!("no CSRF token on the sign-in form"))?;
    let form = format!(
        "username={user}&password={}&csrf_token={token}",
        password.replace(' ', "+")
    );
    let (status, head, _) = exchange(
        console,
        format!(
            "POST /login HTTP/1.0\r\nHost: {console}\r\nCookie: {login}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        ),
    )
    .await?;
    if status != 303 {
        bail!("sign-in answered {status}");
    }
    cookie(&head, "leadpipe_session").ok_or_else(|| anyhow!("no session cookie"))
}

/// One page's event stream: records the first `message` event per lead.
async fn follow(console: SocketAddr, session: String, page: usize, heard: Heard) -> Result<()> {
    let mut stream = TcpStream::connect(console).await?;
    stream
        .write_all(
            format!("GET /ajax/events HTTP/1.0\r\nHost: {console}\r\nCookie: {session}\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut buffer = String::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let mut in_head = true;
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        let now = Instant::now();
        buffer.push_str(&String::from_utf8_lossy(&chunk[..n]));
        if in_head {
            let Some(end) = buffer.find("\r\n\r\n") else {
                continue;
            };
            if !buffer.starts_with("HTTP/1.0 200") && !buffer.starts_with("HTTP/1.1 200") {
                bail!("the event stream answered {:?}", buffer.lines().next());
            }
            buffer.drain(..end + 4);
            in_head = false;
        }
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if !block
                .lines()
                .any(|l| l == "event: message" || l == "event:message")
            {
                continue;
            }
            let lead = block
                .lines()
                .find_map(|l| l.strip_prefix("data:"))
                .and_then(|d| serde_json::from_str::<serde_json::Value>(d.trim()).ok())
                .and_then(|d| d["lead"].as_str().map(str::to_owned));
            if let Some(lead) = lead {
                let mut heard = heard.lock().map_err(|_| anyhow!("poisoned"))?;
                heard[page].entry(lead).or_insert(now);
            }
        }
    }
}

fn whatsapp(from: &str, wamid: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    serde_json::json!({
        "contacts": [{"profile": {"name": "Bench Customer"}, "wa_id": from}],
        "messages": [{"from": from, "id": wamid, "timestamp": now.to_string(), "type": "text", "text": {"body": "Is it available?"}}],
        "businessPhoneNumber": "+919355421616"
    })
    .to_string()
}

/// The processes whose CPU is measured: the console, the worker, and the
/// database's (`BENCH_CONSOLE_PID`, `BENCH_WORKER_PID`, `BENCH_DB_PIDS`
/// comma-separated; each optional).
struct Processes {
    groups: [Vec<u32>; 3],
}

impl Processes {
    fn from_env() -> Result<Processes> {
        let list = |name: &str| -> Result<Vec<u32>> {
            std::env::var(name)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| {
                    p.parse()
                        .map_err(|_| anyhow!("{name}: {p:?} is not a process id"))
                })
                .collect()
        };
        Ok(Processes {
            groups: [
                list("BENCH_CONSOLE_PID")?,
                list("BENCH_WORKER_PID")?,
                list("BENCH_DB_PIDS")?,
            ],
        })
    }
}

/// User and system CPU ticks of each group so far (a process gone counts
/// nothing).
fn cpu_ticks(processes: &Processes) -> Result<[u64; 3]> {
    let one = |pid: u32| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                // Fields after the command name (which may hold spaces).
                let rest = stat.rsplit_once(')')?.1;
                let fields: Vec<&str> = rest.split_whitespace().collect();
                Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
            })
            .unwrap_or(0)
    };
    Ok(processes
        .groups
        .clone()
        .map(|group| group.into_iter().map(one).sum()))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> Result<()> {
    let console: SocketAddr = std::env::var("BENCH_CONSOLE")
        .context("BENCH_CONSOLE (the console's address)")?
        .parse()?;
    let edge: SocketAddr = std::env::var("BENCH_EDGE")
        .context("BENCH_EDGE (the edge's address)")?
        .parse()?;
    let user = std::env::var("BENCH_USER").context("BENCH_USER")?;
    let password = std::env::var("BENCH_PASSWORD").context("BENCH_PASSWORD")?;
    let clients: usize = env_or("BENCH_LIVE_CLIENTS", 50)?;
    let messages: usize = env_or("BENCH_LIVE_MESSAGES", 1000)?;
    let rate: u64 = env_or("BENCH_LIVE_RATE", 100)?;
    let run = std::process::id();

    let session = sign_in(console, &user, &password).await?;
    let heard: Heard = Arc::new(Mutex::new(vec![HashMap::new(); clients]));
    for page in 0..clients {
        let (session, heard) = (session.clone(), heard.clone());
        tokio::spawn(async move {
            if let Err(error) = follow(console, session, page, heard).await {
                eprintln!("page {page}: {error:#}");
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let processes = Processes::from_env()?;
    let cpu_before = cpu_ticks(&processes)?;
    let mut sent: Vec<(String, Instant)> = Vec::with_capacity(messages);
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    for i in 0..messages {
        tick.tick().await;
        // An Indian mobile number (91, then ten digits from 7), new per run.
        let from = format!("917{:05}{i:04}", run % 100_000);
        let body = whatsapp(&from, &format!("wamid.bench-live-{run}-{i}"));
        let (status, _, answer) = exchange(
            edge,
            format!(
                "POST /webhook/ HTTP/1.0\r\nHost: {edge}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        )
        .await?;
        if status != 201 {
            bail!("the edge answered {status}: {answer}");
        }
        sent.push((format!("+{from}"), Instant::now()));
    }
    let sent_all = Instant::now();

    // Every page hears of every message, or 60 s pass.
    let wait_until = Instant::now() + Duration::from_secs(60);
    loop {
        let complete = {
            let heard = heard.lock().map_err(|_| anyhow!("poisoned"))?;
            heard.iter().all(|page| page.len() >= messages)
        };
        if complete || Instant::now() > wait_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cpu_after = cpu_ticks(&processes)?;

    // Which lead each number became (the manager's lead list, searched).
    let mut lead_of: HashMap<String, String> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    for (phone, _) in &sent {
        loop {
            let (status, _, body) = exchange(
                console,
                format!(
                    "GET /ajax/leads/?view=all&stage=any&q=%2B{} HTTP/1.0\r\nHost: {console}\r\nCookie: {session}\r\n\r\n",
                    &phone[1..]
                ),
            )
            .await?;
            let found = (status == 200)
                .then(|| serde_json::from_str::<serde_json::Value>(&body).ok())
                .flatten()
                .and_then(|v| v["leads"][0]["id"].as_str().map(str::to_owned));
            if let Some(id) = found {
                lead_of.insert(phone.clone(), id);
                break;
            }
            if Instant::now() > deadline {
                bail!("{phone} never became a lead");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let heard = heard.lock().map_err(|_| anyhow!("poisoned"))?;
    let mut latencies = Vec::with_capacity(clients * messages);
    let mut missing = 0usize;
    for page in heard.iter() {
        for (phone, at) in &sent {
            match lead_of.get(phone).and_then(|lead| page.get(lead)) {
                Some(seen) => latencies.push(seen.saturating_duration_since(*at)),
                None => missing += 1,
            }
        }
    }
    latencies.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    // CPU per message, in µs, of each process group over the sending and
    // the pushing (not the sign-in nor the lookups after).
    let hz = 100.0; // USER_HZ, as /proc reports ticks (100 on Linux)
    let per_message = |i: usize| {
        (cpu_after[i] - cpu_before[i]) as f64 / hz * 1_000_000.0 / messages.max(1) as f64
    };
    println!(
        "RESULT clients={clients} messages={messages} rate={rate} events={} missing={missing} p50_ms={:.0} p90_ms={:.0} p99_ms={:.0} max_ms={:.0} send_seconds={:.1} console_cpu_us={:.0} worker_cpu_us={:.0} db_cpu_us={:.0}",
        latencies.len(),
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 90.0)),
        ms(percentile(&latencies, 99.0)),
        ms(latencies.last().copied().unwrap_or_default()),
        sent_all.duration_since(sent[0].1).as_secs_f64(),
        per_message(0),
        per_message(1),
        per_message(2),
    );
    Ok(())
}
