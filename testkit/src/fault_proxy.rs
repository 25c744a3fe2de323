//! A TCP proxy between a process and the broker that freezes or severs
//! connections on demand.

use std::net::SocketAddr;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::*;

/// A TCP proxy on loopback in front of a real server, able to fail the way
/// networks and peers fail:
/// - [`FaultProxy::freeze`]: from then on nothing is forwarded either way on
///   the connections open now and nothing is closed, which is what a
///   half-open connection or a frozen peer looks like to the client.
///   Connections made after a freeze pass normally, so a client that
///   notices and reconnects recovers.
/// - [`FaultProxy::sever`]: every connection is closed and new ones are
///   closed as soon as they are made, until [`FaultProxy::restore`]: the
///   server is unreachable, as when it is down.
pub struct FaultProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    generation: std::sync::Arc<std::sync::Mutex<CancellationToken>>,
    severed: std::sync::Arc<std::sync::Mutex<Option<CancellationToken>>>,
    stop: CancellationToken,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let generation = std::sync::Arc::new(std::sync::Mutex::new(CancellationToken::new()));
        // `Some(token)` while connections pass; severing cancels the token.
        let severed = std::sync::Arc::new(std::sync::Mutex::new(Some(CancellationToken::new())));
        let stop = CancellationToken::new();
        let (current, passing, stopped) = (generation.clone(), severed.clone(), stop.clone());
        tokio::spawn(async move {
            // Frozen connections are kept open here until the proxy stops.
            let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            loop {
                let (mut client, _) = tokio::select! {
                    _ = stopped.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(_) => continue,
                    },
                };
                let Some(cut) = passing.lock().expect("severed").clone() else {
                    // Severed: closed at once.
                    continue;
                };
                let frozen = current.lock().expect("generation").clone();
                let (held, stopped) = (held.clone(), stopped.clone());
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = stopped.cancelled() => {}
                        _ = cut.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = frozen.cancelled() => {
                            held.lock().expect("held").push((client, server));
                        }
                    }
                });
            }
        });
        Self {
            addr,
            generation,
            severed,
            stop,
        }
    }

    /// Freezes every connection open now; later ones pass.
    pub fn freeze(&self) {
        let mut generation = self.generation.lock().expect("generation");
        generation.cancel();
        *generation = CancellationToken::new();
    }

    /// Closes every connection and refuses new ones until [`Self::restore`].
    pub fn sever(&self) {
        if let Some(passing) = self.severed.lock().expect("severed").take() {
            passing.cancel();
        }
    }

    /// Lets connections pass again after [`Self::sever`].
    pub fn restore(&self) {
        self.severed
            .lock()
            .expect("severed")
            .get_or_insert_with(CancellationToken::new);
    }

    /// `AMQP_URL` through this proxy, when it stands in front of the test
    /// broker ([`amqp_url`]): the same credentials and vhost.
    pub fn amqp_url(&self) -> String {
        let url = TestBrokerUrl::read();
        format!(
            "{}://{}{}/{}",
            url.scheme, url.credentials, self.addr, url.path
        )
    }
}

/// [`amqp_url`] in its parts.
pub(crate) struct TestBrokerUrl {
    scheme: String,
    /// `user:password@`, or empty.
    credentials: String,
    pub(crate) host_port: String,
    /// The vhost and query, after the authority's `/`.
    path: String,
}

impl TestBrokerUrl {
    /// `TEST_AMQP_URL`, in its parts.
    pub(crate) fn read() -> Self {
        let url = amqp_url();
        let (scheme, rest) = url.split_once("://").expect("AMQP URL has a scheme");
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((credentials, host_port)) => (format!("{credentials}@"), host_port),
            None => (String::new(), authority),
        };
        Self {
            scheme: scheme.to_owned(),
            credentials,
            host_port: host_port.to_owned(),
            path: path.to_owned(),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
