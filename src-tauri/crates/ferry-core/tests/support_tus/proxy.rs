//! A TCP proxy that breaks the network on command: cuts, stalls, slow links, refused
//! connections. It works below HTTP, so keep-alive connections pass through untouched
//! until a fault hits them.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::HARNESS_TIMEOUT;

/// Bytes read per forwarded chunk; also the most that can slip through right after
/// [`FaultProxy::stall`] when a chunk was already being written.
const CHUNK: usize = 16 * 1024;

/// The proxy's shared state: faults to apply and counters.
struct Control {
    upstream: SocketAddr,
    delay: Mutex<Duration>,
    stalled: watch::Sender<bool>,
    /// Client→server bytes still allowed before the connection carrying them is cut.
    cut_after: Mutex<Option<u64>>,
    refuse_new: AtomicBool,
    bytes_up: watch::Sender<u64>,
    bytes_down: AtomicU64,
    accepted: watch::Sender<u64>,
    refused: AtomicU64,
    next_id: AtomicU64,
    /// Live connection tasks, so a cut can abort them and wait until their sockets closed.
    live: Mutex<HashMap<u64, JoinHandle<()>>>,
    shutdown: CancellationToken,
}

/// A fault-injecting TCP proxy on 127.0.0.1; stops on drop.
pub struct FaultProxy {
    addr: SocketAddr,
    control: Arc<Control>,
    accept_task: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on 127.0.0.1 (ephemeral port) and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind the proxy on 127.0.0.1");
        let addr = listener.local_addr().expect("proxy address");
        let control = Arc::new(Control {
            upstream,
            delay: Mutex::new(Duration::ZERO),
            stalled: watch::Sender::new(false),
            cut_after: Mutex::new(None),
            refuse_new: AtomicBool::new(false),
            bytes_up: watch::Sender::new(0),
            bytes_down: AtomicU64::new(0),
            accepted: watch::Sender::new(0),
            refused: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
            live: Mutex::new(HashMap::new()),
            shutdown: CancellationToken::new(),
        });
        let accept_task = tokio::spawn(accept_loop(listener, Arc::clone(&control)));
        Self {
            addr,
            control,
            accept_task,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `url` (an `http://127.0.0.1:PORT/...` URL of the upstream) with the proxy's address
    /// in place of the upstream's, so a client's requests go through the proxy.
    pub fn url(&self, url: &str) -> String {
        let upstream = self.control.upstream.to_string();
        assert!(
            url.contains(&upstream),
            "{url} does not point at the proxied server {upstream}"
        );
        url.replacen(&upstream, &self.addr.to_string(), 1)
    }

    /// Drops every live connection now (a TCP reset to the client, a close to the server;
    /// bytes already forwarded still reach the server); returns once their sockets are
    /// closed. New connections are still accepted.
    pub async fn cut_all(&self) {
        let tasks: Vec<JoinHandle<()>> = self
            .control
            .live
            .lock()
            .expect("connection table")
            .drain()
            .map(|(_, task)| task)
            .collect();
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            // Aborted or already finished: either way its sockets are dropped afterwards.
            let _ = task.await;
        }
    }

    /// Waits this long before forwarding each chunk, both directions (a slow link).
    pub fn set_delay(&self, delay: Duration) {
        *self.control.delay.lock().expect("delay") = delay;
    }

    /// Stops forwarding in both directions while keeping connections open (a hung
    /// network). A chunk already being written (at most 16 KiB per direction) may still
    /// arrive. New connections are accepted but stall too.
    pub fn stall(&self) {
        self.control.stalled.send_replace(true);
    }

    /// Resumes forwarding after [`Self::stall`].
    pub fn unstall(&self) {
        self.control.stalled.send_replace(false);
    }

    /// After `n` more client→server bytes (counted across connections), forwards exactly
    /// up to that byte and then cuts the connection carrying it. Applies once.
    pub fn cut_after_bytes(&self, n: u64) {
        *self.control.cut_after.lock().expect("cut budget") = Some(n);
    }

    /// While `true`, new connections are accepted and immediately reset, as a server that
    /// is down would; live connections are unaffected.
    pub fn refuse_new(&self, refuse: bool) {
        self.control.refuse_new.store(refuse, Ordering::SeqCst);
    }

    /// Client→server bytes forwarded so far, over all connections.
    pub fn bytes_up(&self) -> u64 {
        *self.control.bytes_up.borrow()
    }

    /// Server→client bytes forwarded so far.
    pub fn bytes_down(&self) -> u64 {
        self.control.bytes_down.load(Ordering::SeqCst)
    }

    /// Connections accepted and forwarded (refused ones are not counted).
    pub fn connections_accepted(&self) -> u64 {
        *self.control.accepted.borrow()
    }

    /// Connections reset because of [`Self::refuse_new`].
    pub fn connections_refused(&self) -> u64 {
        self.control.refused.load(Ordering::SeqCst)
    }

    /// Connections open right now.
    pub fn live_connections(&self) -> usize {
        self.control
            .live
            .lock()
            .expect("connection table")
            .values()
            .filter(|t| !t.is_finished())
            .count()
    }

    /// Waits until at least `n` client→server bytes were forwarded in total (for example
    /// to cut an upload midway); panics after the harness timeout.
    pub async fn wait_bytes_up(&self, n: u64) {
        let mut rx = self.control.bytes_up.subscribe();
        tokio::time::timeout(HARNESS_TIMEOUT, rx.wait_for(|&b| b >= n))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the proxy forwarded {} of the {n} expected bytes within {HARNESS_TIMEOUT:?}",
                    self.bytes_up()
                )
            })
            .expect("proxy counters live as long as the proxy");
    }

    /// Waits until at least `n` connections were accepted; panics after the harness timeout.
    pub async fn wait_connections(&self, n: u64) {
        let mut rx = self.control.accepted.subscribe();
        tokio::time::timeout(HARNESS_TIMEOUT, rx.wait_for(|&c| c >= n))
            .await
            .unwrap_or_else(|_| panic!("fewer than {n} connections within {HARNESS_TIMEOUT:?}"))
            .expect("proxy counters live as long as the proxy");
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.control.shutdown.cancel();
        self.accept_task.abort();
        for (_, task) in self.control.live.lock().expect("connection table").drain() {
            task.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, control: Arc<Control>) {
    loop {
        let accepted = tokio::select! {
            () = control.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((client, _)) = accepted else {
            continue;
        };
        if control.refuse_new.load(Ordering::SeqCst) {
            control.refused.fetch_add(1, Ordering::SeqCst);
            // A reset rather than a clean close: closer to a refused connection.
            let _ = client.set_zero_linger();
            drop(client);
            continue;
        }
        control.accepted.send_modify(|n| *n += 1);
        let id = control.next_id.fetch_add(1, Ordering::SeqCst);
        // Held while spawning so the task cannot remove its entry before it exists.
        let mut live = control.live.lock().expect("connection table");
        let task = tokio::spawn(connection(id, client, Arc::clone(&control)));
        live.insert(id, task);
    }
}

/// How one direction of a connection ended.
enum Ended {
    /// The sender closed its side; the other direction may go on.
    Eof,
    /// A fault (or an I/O error) ends the whole connection.
    Cut,
}

async fn connection(id: u64, client: TcpStream, control: Arc<Control>) {
    let upstream = tokio::select! {
        () = control.shutdown.cancelled() => None,
        s = TcpStream::connect(control.upstream) => s.ok(),
    };
    if let Some(server) = upstream {
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        // A cut resets the client's socket (zero linger), so the client fails at once as on
        // a broken network, but closes the server's side gracefully: every byte forwarded
        // reaches the server, which makes what it stored predictable.
        let _ = client.set_zero_linger();
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        let up = pump(client_read, server_write, true, &control);
        let down = pump(server_read, client_write, false, &control);
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        while !(up_done && down_done) {
            let ended = tokio::select! {
                () = control.shutdown.cancelled() => Ended::Cut,
                e = &mut up, if !up_done => { up_done = true; e }
                e = &mut down, if !down_done => { down_done = true; e }
            };
            if matches!(ended, Ended::Cut) {
                break;
            }
        }
    } else {
        // The upstream is down: the client sees its connection reset.
        let _ = client.set_zero_linger();
    }
    control.live.lock().expect("connection table").remove(&id);
}

async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    upstream: bool,
    control: &Control,
) -> Ended {
    let mut buf = vec![0u8; CHUNK];
    let mut stalled = control.stalled.subscribe();
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) => {
                // Pass the half-close on; the other direction keeps flowing.
                let _ = to.shutdown().await;
                return Ended::Eof;
            }
            Ok(n) => n,
            Err(_) => return Ended::Cut,
        };
        if stalled.wait_for(|s| !*s).await.is_err() {
            return Ended::Cut;
        }
        let delay = *control.delay.lock().expect("delay");
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
            // A stall may have begun during the delay.
            if stalled.wait_for(|s| !*s).await.is_err() {
                return Ended::Cut;
            }
        }
        let (forward, cut) = if upstream {
            let mut budget = control.cut_after.lock().expect("cut budget");
            match *budget {
                Some(left) if (n as u64) >= left => {
                    *budget = None;
                    (left as usize, true)
                }
                Some(left) => {
                    *budget = Some(left - n as u64);
                    (n, false)
                }
                None => (n, false),
            }
        } else {
            (n, false)
        };
        if to.write_all(&buf[..forward]).await.is_err() {
            return Ended::Cut;
        }
        if upstream {
            control.bytes_up.send_modify(|b| *b += forward as u64);
        } else {
            control
                .bytes_down
                .fetch_add(forward as u64, Ordering::SeqCst);
        }
        if cut {
            // A FIN after the last allowed byte: the server gets exactly the budget.
            let _ = to.shutdown().await;
            return Ended::Cut;
        }
    }
}
