//! QA review, "WebSocket Server Tests / Multiple Clients / Resource usage", server side
//! alone: what one idle connection costs the server, with the clients in a child process
//! so their own buffers and state are not counted. In a file of its own, so no other test
//! of this binary allocates in the same process meanwhile.

mod support;

use ferry_core::JobStatus;
use ferry_ws::{Client, ConnectionInfo, ServerConfig};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use support::{expect_welcome, job_view, start_scripted, within};

/// Set in the child process: `url token count` of the clients to hold open.
const CHILD: &str = "FERRY_TEST_IDLE_CLIENTS";
const CONNECTIONS: usize = 400;
/// The product's floor for one idle connection, server side.
const FLOOR: u64 = 16 * 1024;

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[tokio::test]
async fn resource_usage_an_idle_connection_costs_the_server_at_most_16_kib() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let (backend, server) = start_scripted(ServerConfig {
        max_connections: CONNECTIONS + 16,
        max_pending_handshakes: CONNECTIONS + 16,
        ..ServerConfig::default()
    })
    .await;
    // A realistic welcome: 100 jobs, about 30 KiB of JSON, more than any buffer the
    // server keeps per connection (a buffer that grew to hold it would show here).
    for id in 1..=100 {
        backend.emit_job(job_view(
            id,
            &format!("holiday-{id:03}.mov"),
            JobStatus::Uploading,
        ));
    }
    let info = server.connection_info().clone();
    // Warm up until a welcome holds every job, so the allocator has seen the sizes.
    loop {
        let mut client = Client::connect(&info).await.unwrap();
        expect_welcome(&mut client).await;
        let complete = client.state().jobs.len() == 100;
        client.close().await.unwrap();
        if complete {
            break;
        }
    }
    for _ in 0..20 {
        let mut client = Client::connect(&info).await.unwrap();
        expect_welcome(&mut client).await;
        client.close().await.unwrap();
    }

    let before = resident_bytes();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "idle_clients_held_by_the_child_process",
            "--nocapture",
        ])
        .env(CHILD, format!("{} {} {CONNECTIONS}", info.url, info.token))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The child prints `ready` once every client has its welcome.
    let stdout = child.stdout.take().unwrap();
    let ready = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line == "ready")
    });
    assert!(within("the idle clients", ready).await.unwrap());
    let per_connection = resident_bytes().saturating_sub(before) / CONNECTIONS as u64;
    assert_eq!(server.metrics().connections_open, CONNECTIONS as u64);

    drop(child.stdin.take());
    let _ = child.wait();
    assert!(
        per_connection <= FLOOR,
        "{per_connection} bytes per idle connection, server side"
    );
}

/// Not a test of its own: the child process of the test above, holding idle clients
/// until its standard input closes. Does nothing in a normal run.
#[tokio::test]
async fn idle_clients_held_by_the_child_process() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let mut parts = spec.split(' ');
    let info = ConnectionInfo {
        url: parts.next().unwrap().to_owned(),
        token: parts.next().unwrap().to_owned(),
        pid: 0,
    };
    let count: usize = parts.next().unwrap().parse().unwrap();
    let mut clients = Vec::with_capacity(count);
    for _ in 0..count {
        let mut client = Client::connect(&info).await.unwrap();
        expect_welcome(&mut client).await;
        clients.push(client);
    }
    println!("ready");
    std::io::stdout().flush().unwrap();
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    })
    .await
    .unwrap();
}
