//! Self-tests of the tus test harness: the Node tus server, the fault proxy and the scripted
//! server behave as the destination's tests will rely on. They need Node.js and `npm ci`.

mod common;
#[path = "support_tus/mod.rs"]
mod support_tus;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use common::pattern;
use support_tus::{
    checksum_header, http_request, FaultProxy, HttpConnection, ScriptedResponse, ScriptedServer,
    TusLikeState, TusServer,
};

const TUS: (&str, &str) = ("Tus-Resumable", "1.0.0");
const OCTETS: (&str, &str) = ("Content-Type", "application/offset+octet-stream");

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Creates an upload of `len` bytes named `name` and returns its URL.
async fn create(endpoint: &str, len: usize, name: &str, auth: Option<&str>) -> String {
    let length = len.to_string();
    let metadata = format!("filename {}", b64(name));
    let mut headers = vec![
        TUS,
        ("Upload-Length", length.as_str()),
        ("Upload-Metadata", metadata.as_str()),
    ];
    if let Some(auth) = auth {
        headers.push(("Authorization", auth));
    }
    let created = http_request("POST", endpoint, &headers, Vec::new())
        .await
        .expect("POST");
    assert_eq!(created.status, 201, "creation: {}", created.text());
    created.header("location").expect("Location").to_owned()
}

#[tokio::test]
async fn node_server_answers_options_with_its_version_and_extensions() {
    let server = TusServer::builder().max_size(1 << 30).start().await;
    let options = http_request("OPTIONS", &server.endpoint(), &[], Vec::new())
        .await
        .expect("OPTIONS");
    assert_eq!(options.status, 204);
    assert_eq!(options.header("tus-version"), Some("1.0.0"));
    assert_eq!(options.header("tus-resumable"), Some("1.0.0"));
    assert_eq!(options.header("tus-max-size"), Some("1073741824"));
    let extensions = options.header("tus-extension").expect("Tus-Extension");
    for extension in [
        "creation",
        "creation-with-upload",
        "termination",
        "expiration",
    ] {
        assert!(
            extensions.split(',').any(|e| e == extension),
            "{extensions}"
        );
    }
}

#[tokio::test]
async fn node_server_expiration_dates_new_uploads() {
    let server = TusServer::builder()
        .expiration(Duration::from_secs(3600))
        .start()
        .await;
    let created = http_request(
        "POST",
        &server.endpoint(),
        &[TUS, ("Upload-Length", "10")],
        Vec::new(),
    )
    .await
    .expect("POST");
    assert_eq!(created.status, 201);
    let expires = created.header("upload-expires").expect("Upload-Expires");
    assert!(expires.ends_with("GMT"), "{expires}");
}

#[tokio::test]
async fn node_server_round_trip_stores_identical_bytes() {
    let server = TusServer::start().await;
    let bytes = pattern(300_000, 1);
    let url = create(&server.endpoint(), bytes.len(), "round trip.bin", None).await;

    // Two PATCHes on one keep-alive connection, then HEAD.
    let mut conn = HttpConnection::connect(server.addr())
        .await
        .expect("connect");
    let (first, second) = bytes.split_at(100_000);
    let patched = conn
        .request(
            "PATCH",
            &url,
            &[TUS, OCTETS, ("Upload-Offset", "0")],
            first.to_vec(),
        )
        .await
        .expect("PATCH 1");
    assert_eq!(patched.status, 204, "{}", patched.text());
    assert_eq!(patched.header("upload-offset"), Some("100000"));
    let patched = conn
        .request(
            "PATCH",
            &url,
            &[TUS, OCTETS, ("Upload-Offset", "100000")],
            second.to_vec(),
        )
        .await
        .expect("PATCH 2");
    assert_eq!(patched.header("upload-offset"), Some("300000"));
    let head = conn
        .request("HEAD", &url, &[TUS], Vec::new())
        .await
        .expect("HEAD");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("upload-offset"), Some("300000"));
    assert_eq!(head.header("upload-length"), Some("300000"));

    let stored = server
        .file_by_name("round trip.bin")
        .expect("stored upload");
    assert!(url.ends_with(&stored.id), "{url} names {}", stored.id);
    assert_eq!(stored.size, Some(300_000));
    assert_eq!(stored.offset, 300_000);
    assert!(stored.is_complete());
    assert!(
        stored.bytes() == bytes,
        "the stored bytes differ from the source"
    );
    assert_eq!(server.uploaded_files().len(), 1);
}

#[tokio::test]
async fn node_server_token_hook_rejects_missing_and_wrong_tokens() {
    let server = TusServer::builder().token("right-token").start().await;
    let headers = [TUS, ("Upload-Length", "1")];
    let missing = http_request("POST", &server.endpoint(), &headers, Vec::new())
        .await
        .expect("POST");
    assert_eq!(missing.status, 401);
    assert!(missing.text().contains("missing"), "{}", missing.text());
    let wrong = http_request(
        "POST",
        &server.endpoint(),
        &[
            TUS,
            ("Upload-Length", "1"),
            ("Authorization", "Bearer wrong"),
        ],
        Vec::new(),
    )
    .await
    .expect("POST");
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.text().contains("wrong bearer token"),
        "{}",
        wrong.text()
    );
    create(&server.endpoint(), 1, "ok", Some("Bearer right-token")).await;
}

#[tokio::test]
async fn node_server_restart_keeps_port_and_data() {
    let mut server = TusServer::start().await;
    let port = server.port();
    let bytes = pattern(10_000, 2);
    let url = create(&server.endpoint(), bytes.len(), "restart.bin", None).await;
    let first = http_request(
        "PATCH",
        &url,
        &[TUS, OCTETS, ("Upload-Offset", "0")],
        bytes[..4000].to_vec(),
    )
    .await
    .expect("PATCH before restart");
    assert_eq!(first.status, 204);

    server.restart().await;
    assert_eq!(server.port(), port);
    let head = http_request("HEAD", &url, &[TUS], Vec::new())
        .await
        .expect("HEAD");
    assert_eq!(head.header("upload-offset"), Some("4000"));
    let rest = http_request(
        "PATCH",
        &url,
        &[TUS, OCTETS, ("Upload-Offset", "4000")],
        bytes[4000..].to_vec(),
    )
    .await
    .expect("PATCH after restart");
    assert_eq!(rest.status, 204, "{}", rest.text());
    assert!(server.file_by_name("restart.bin").expect("stored").bytes() == bytes);

    server.kill().await;
    assert!(!server.is_running());
    assert!(
        http_request("OPTIONS", &server.endpoint(), &[], Vec::new())
            .await
            .is_err(),
        "a killed server still answers"
    );
}

#[tokio::test]
async fn proxy_forwards_and_cut_all_breaks_a_live_connection() {
    let server = TusServer::start().await;
    let proxy = FaultProxy::start(server.addr()).await;
    let endpoint = proxy.url(&server.endpoint());

    let mut conn = HttpConnection::connect(proxy.addr())
        .await
        .expect("connect");
    let options = conn
        .request("OPTIONS", &endpoint, &[], Vec::new())
        .await
        .expect("OPTIONS");
    assert_eq!(options.status, 204);
    assert_eq!(proxy.connections_accepted(), 1);
    assert!(proxy.bytes_up() > 0 && proxy.bytes_down() > 0);

    proxy.cut_all().await;
    assert_eq!(proxy.live_connections(), 0);
    let after = conn.request("OPTIONS", &endpoint, &[], Vec::new()).await;
    assert!(
        after.is_err(),
        "the cut connection still answered: {after:?}"
    );

    // A new connection goes through, and the upload URL the server hands out points back
    // at the proxy (the server builds it from the Host header).
    let url = create(&endpoint, 5, "via proxy", None).await;
    assert!(url.starts_with(&endpoint), "{url}");
    assert_eq!(proxy.connections_accepted(), 2);
}

#[tokio::test]
async fn proxy_cut_after_bytes_delivers_exactly_the_budget() {
    let server = TusServer::start().await;
    let proxy = FaultProxy::start(server.addr()).await;
    let bytes = pattern(200_000, 3);
    let url = create(&proxy.url(&server.endpoint()), bytes.len(), "cut.bin", None).await;

    let mut conn = HttpConnection::connect(proxy.addr())
        .await
        .expect("connect");
    // Budget counted from the start of this PATCH; the request head comes first.
    let head_len = proxy.bytes_up();
    proxy.cut_after_bytes(150_000);
    let cut = conn
        .request(
            "PATCH",
            &url,
            &[TUS, OCTETS, ("Upload-Offset", "0")],
            bytes.clone(),
        )
        .await;
    assert!(cut.is_err(), "the cut PATCH got an answer: {cut:?}");
    assert_eq!(proxy.bytes_up() - head_len, 150_000);

    // The server kept what reached it, a prefix of the source, and the upload resumes.
    let head = http_request("HEAD", &url, &[TUS], Vec::new())
        .await
        .expect("HEAD");
    let offset: usize = head
        .header("upload-offset")
        .expect("offset")
        .parse()
        .expect("number");
    assert!(offset > 0 && offset < 150_000, "offset {offset}");
    let rest_offset = offset.to_string();
    let rest = http_request(
        "PATCH",
        &url,
        &[TUS, OCTETS, ("Upload-Offset", rest_offset.as_str())],
        bytes[offset..].to_vec(),
    )
    .await
    .expect("resume");
    assert_eq!(rest.status, 204, "{}", rest.text());
    assert!(server.file_by_name("cut.bin").expect("stored").bytes() == bytes);
}

#[tokio::test]
async fn proxy_stall_stops_bytes_until_unstalled() {
    let server = TusServer::start().await;
    let proxy = FaultProxy::start(server.addr()).await;
    let endpoint = proxy.url(&server.endpoint());
    let mut conn = HttpConnection::connect(proxy.addr())
        .await
        .expect("connect");
    conn.request("OPTIONS", &endpoint, &[], Vec::new())
        .await
        .expect("warm-up");

    proxy.stall();
    let (up, down) = (proxy.bytes_up(), proxy.bytes_down());
    let stalled = tokio::time::timeout(
        Duration::from_millis(300),
        conn.request("OPTIONS", &endpoint, &[], Vec::new()),
    )
    .await;
    assert!(stalled.is_err(), "a request went through a stalled proxy");
    assert_eq!((proxy.bytes_up(), proxy.bytes_down()), (up, down));
    assert_eq!(
        proxy.live_connections(),
        1,
        "stalling must keep the connection open"
    );

    // The timed-out request left the connection mid-exchange; a fresh one shows recovery.
    proxy.unstall();
    let again = http_request("OPTIONS", &endpoint, &[], Vec::new())
        .await
        .expect("after unstall");
    assert_eq!(again.status, 204);
    assert!(proxy.bytes_up() > up);
}

#[tokio::test]
async fn proxy_refuses_new_connections_on_command() {
    let server = TusServer::start().await;
    let proxy = FaultProxy::start(server.addr()).await;
    let endpoint = proxy.url(&server.endpoint());
    proxy.refuse_new(true);
    assert!(http_request("OPTIONS", &endpoint, &[], Vec::new())
        .await
        .is_err());
    assert_eq!(proxy.connections_refused(), 1);
    proxy.refuse_new(false);
    proxy.set_delay(Duration::from_millis(5));
    let ok = http_request("OPTIONS", &endpoint, &[], Vec::new())
        .await
        .expect("OPTIONS");
    assert_eq!(ok.status, 204);
}

#[tokio::test]
async fn scripted_server_records_requests_and_plays_faults() {
    let server = ScriptedServer::start(|req| {
        if req.is("GET") {
            ScriptedResponse::new(200).body("garbage \u{0}\u{1}")
        } else if req.body.len() > 1024 {
            ScriptedResponse::new(413).body("too large")
        } else if req.path == "/hang" {
            ScriptedResponse::hang_up()
        } else {
            ScriptedResponse::new(429).header("Retry-After", "1")
        }
    })
    .await;
    let big = http_request("PATCH", &server.url("/files/x"), &[TUS], vec![0u8; 4096])
        .await
        .expect("PATCH");
    assert_eq!(big.status, 413);
    let busy = http_request("POST", &server.endpoint(), &[TUS], Vec::new())
        .await
        .expect("POST");
    assert_eq!((busy.status, busy.header("retry-after")), (429, Some("1")));
    assert!(http_request("POST", &server.url("/hang"), &[], Vec::new())
        .await
        .is_err());
    server.wait_for_requests(3).await;

    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str()),
        ("PATCH", "/files/x")
    );
    assert_eq!(requests[0].body_len, 4096);
    assert_eq!(requests[0].header("tus-resumable"), Some("1.0.0"));
    assert_eq!(requests[0].status, Some(413));
    assert_eq!(requests[2].status, None);
    assert_eq!(server.requests_with("POST").len(), 2);
}

#[tokio::test]
async fn tus_like_state_round_trips_with_checksums() {
    let state = TusLikeState::new();
    let server = ScriptedServer::start({
        let state = state.clone();
        move |req| state.handle(req)
    })
    .await;
    let options = http_request("OPTIONS", &server.endpoint(), &[], Vec::new())
        .await
        .expect("OPTIONS");
    assert_eq!(
        options.header("tus-checksum-algorithm"),
        Some("sha1,md5,sha256,crc32")
    );

    let bytes = pattern(40_000, 4);
    // creation-with-upload carries the first 10 000 bytes.
    let sha1 = checksum_header("sha1", &bytes[..10_000]);
    let created = http_request(
        "POST",
        &server.endpoint(),
        &[
            TUS,
            OCTETS,
            ("Upload-Length", "40000"),
            ("Upload-Metadata", &format!("filename {}", b64("c.bin"))),
            ("Upload-Checksum", &sha1),
        ],
        bytes[..10_000].to_vec(),
    )
    .await
    .expect("POST");
    assert_eq!(
        (created.status, created.header("upload-offset")),
        (201, Some("10000"))
    );
    let url = created.header("location").expect("Location").to_owned();

    let mut offset = 10_000;
    for (algorithm, end) in [("md5", 20_000), ("sha256", 30_000), ("crc32", 40_000)] {
        let chunk = &bytes[offset..end];
        let at = offset.to_string();
        // A corrupted checksum first: 460 and nothing appended.
        let wrong = checksum_header(algorithm, b"other bytes");
        let refused = http_request(
            "PATCH",
            &url,
            &[
                TUS,
                OCTETS,
                ("Upload-Offset", &at),
                ("Upload-Checksum", &wrong),
            ],
            chunk.to_vec(),
        )
        .await
        .expect("PATCH");
        assert_eq!(refused.status, 460, "{algorithm}");
        let good = checksum_header(algorithm, chunk);
        let accepted = http_request(
            "PATCH",
            &url,
            &[
                TUS,
                OCTETS,
                ("Upload-Offset", &at),
                ("Upload-Checksum", &good),
            ],
            chunk.to_vec(),
        )
        .await
        .expect("PATCH");
        assert_eq!(accepted.status, 204, "{algorithm}: {}", accepted.text());
        offset = end;
        assert_eq!(
            accepted.header("upload-offset"),
            Some(offset.to_string().as_str())
        );
    }
    assert_eq!(state.checksum_mismatches(), 3);
    let stale = http_request(
        "PATCH",
        &url,
        &[TUS, OCTETS, ("Upload-Offset", "0")],
        vec![1],
    )
    .await
    .expect("PATCH");
    assert_eq!(stale.status, 409);

    let head = http_request("HEAD", &url, &[TUS], Vec::new())
        .await
        .expect("HEAD");
    assert_eq!(head.header("upload-offset"), Some("40000"));
    let upload = state.upload_by_filename("c.bin").expect("upload");
    assert!(upload.is_complete() && upload.data == bytes);

    let deleted = http_request("DELETE", &url, &[TUS], Vec::new())
        .await
        .expect("DELETE");
    assert_eq!(deleted.status, 204);
    let gone = http_request("HEAD", &url, &[TUS], Vec::new())
        .await
        .expect("HEAD");
    assert_eq!(gone.status, 404);
}

#[tokio::test]
async fn tus_like_state_wraps_with_one_injected_fault() {
    // "The first two PATCHes get a 500; the creation answer lacks Location on the 2nd POST."
    let state = TusLikeState::new();
    let patches = AtomicUsize::new(0);
    let posts = AtomicUsize::new(0);
    let server = ScriptedServer::start({
        let state = state.clone();
        move |req| {
            if req.is("PATCH") && patches.fetch_add(1, Ordering::SeqCst) < 2 {
                return ScriptedResponse::new(500).body("storm");
            }
            let response = state.handle(req);
            if req.is("POST") && posts.fetch_add(1, Ordering::SeqCst) == 1 {
                return response.without_header("Location");
            }
            response
        }
    })
    .await;
    let url = create(&server.endpoint(), 3, "f", None).await;
    for expected in [500, 500, 204] {
        let r = http_request(
            "PATCH",
            &url,
            &[TUS, OCTETS, ("Upload-Offset", "0")],
            b"abc".to_vec(),
        )
        .await
        .expect("PATCH");
        assert_eq!(r.status, expected);
    }
    let second = http_request(
        "POST",
        &server.endpoint(),
        &[TUS, ("Upload-Length", "1")],
        Vec::new(),
    )
    .await
    .expect("POST");
    assert_eq!(second.status, 201);
    assert!(second.header("location").is_none());
    assert_eq!(state.uploads()[0].data, b"abc");
}
