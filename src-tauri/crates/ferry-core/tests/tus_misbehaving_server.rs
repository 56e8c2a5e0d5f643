//! A tus server that misbehaves, one fault at a time: a correct in-memory tus server
//! wrapped in a scripted HTTP server that bends one answer. Each case ends in a correct
//! recovery (the file arrives identical) or a clear job error, never a crash, a hang or
//! a corrupted file.

mod common;
mod support_tus;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{dirs, pattern, start, tus_config, wait_settled, write_file};
use ferry_core::{JobStatus, JobView};
use support_tus::{ScriptedRequest, ScriptedResponse, ScriptedServer, TusLikeState};

const KIB: u64 = 1024;

/// Runs one upload of `bytes` against `server` with chunks of `chunk` bytes; returns
/// the job as it settled and every event about it on the way.
async fn upload_with_events(
    server: &ScriptedServer,
    chunk: u64,
    bytes: &[u8],
) -> (JobView, Vec<JobView>) {
    let dirs = dirs();
    let engine = start(tus_config(&dirs, &server.endpoint(), |c| {
        c.chunk_size = chunk;
    }))
    .await;
    let mut rx = engine.subscribe();
    let id = engine
        .enqueue(vec![write_file(&dirs.src, "payload.bin", bytes)])
        .await
        .unwrap()
        .jobs[0];
    let events = common::collect_until(&mut rx, |e| {
        common::job_event(e, id).is_some_and(|j| j.status.is_terminal())
    })
    .await;
    engine.shutdown().await;
    let jobs: Vec<JobView> = events
        .iter()
        .filter_map(|e| common::job_event(e, id).cloned())
        .collect();
    (jobs.last().expect("the settled job").clone(), jobs)
}

/// Runs one upload of `bytes` against `server` with chunks of `chunk` bytes.
async fn upload(server: &ScriptedServer, chunk: u64, bytes: &[u8]) -> JobView {
    upload_with_events(server, chunk, bytes).await.0
}

/// A scripted server that answers like `state`, except where `bend` returns an answer.
async fn bent_server(
    state: &TusLikeState,
    bend: impl Fn(&ScriptedRequest, usize) -> Option<ScriptedResponse> + Send + Sync + 'static,
) -> ScriptedServer {
    let state = state.clone();
    let patches = AtomicUsize::new(0);
    ScriptedServer::start(move |req| {
        let nth_patch = if req.is("PATCH") {
            patches.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            0
        };
        bend(req, nth_patch).unwrap_or_else(|| state.handle(req))
    })
    .await
}

fn assert_arrived(state: &TusLikeState, job: &JobView, bytes: &[u8]) {
    assert_eq!(job.status, JobStatus::Done, "{:?}", job.error);
    let upload = state.upload_by_filename("payload.bin").expect("the upload");
    assert!(upload.data == bytes, "the server's bytes differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_upload_offset_in_an_answer_is_checked_with_head_and_the_upload_recovers() {
    let state = TusLikeState::new();
    let inner = state.clone();
    let server = bent_server(&state, move |req, nth| {
        (nth == 2).then(|| inner.handle(req).set_header("Upload-Offset", 999_999_999))
    })
    .await;
    let bytes = pattern(200_000, 41);
    let job = upload(&server, 64 * KIB, &bytes).await;
    assert_arrived(&state, &job, &bytes);
    let methods: Vec<String> = server.requests().iter().map(|r| r.method.clone()).collect();
    let second_patch = methods
        .iter()
        .enumerate()
        .filter(|(_, m)| *m == "PATCH")
        .nth(1)
        .unwrap()
        .0;
    assert_eq!(methods[second_patch + 1], "HEAD", "{methods:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creation_answer_without_location_fails_the_job_clearly() {
    let state = TusLikeState::new();
    let inner = state.clone();
    let server = bent_server(&state, move |req, _| {
        req.is("POST")
            .then(|| inner.handle(req).without_header("Location"))
    })
    .await;
    let job = upload(&server, 64 * KIB, &pattern(1000, 42)).await;
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.error.unwrap();
    assert!(error.contains("without a Location header"), "{error}");
    assert!(server.requests_with("PATCH").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_413_halves_the_chunk_size_until_the_server_accepts_and_says_so() {
    let state = TusLikeState::new();
    let server = bent_server(&state, move |req, _| {
        (req.is("PATCH") && req.body.len() > 100 * 1024)
            .then(|| ScriptedResponse::new(413).header("Tus-Resumable", "1.0.0"))
    })
    .await;
    let bytes = pattern(700_000, 43);
    let (job, events) = upload_with_events(&server, 512 * KIB, &bytes).await;
    assert_arrived(&state, &job, &bytes);
    let notes: Vec<String> = events.iter().filter_map(|j| j.note.clone()).collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("(413)") && n.contains("64.0 KiB")),
        "{notes:?}"
    );
    let accepted: Vec<usize> = server
        .requests_with("PATCH")
        .iter()
        .filter(|r| r.status == Some(204))
        .map(|r| r.body_len)
        .collect();
    assert!(
        accepted.iter().all(|len| *len <= 100 * 1024),
        "{accepted:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_460_checksum_mismatch_resends_the_chunk() {
    let state = TusLikeState::new();
    let server = bent_server(&state, move |_, nth| {
        (nth == 2).then(|| ScriptedResponse::new(460).header("Tus-Resumable", "1.0.0"))
    })
    .await;
    let bytes = pattern(300_000, 44);
    let job = upload(&server, 64 * KIB, &bytes).await;
    assert_arrived(&state, &job, &bytes);
    let patches = server.requests_with("PATCH");
    assert!(
        patches.iter().all(|r| r
            .header("upload-checksum")
            .is_some_and(|v| v.starts_with("sha256 "))),
        "every PATCH carries the strongest checksum"
    );
    assert_eq!(
        patches[1].header("upload-offset"),
        patches[2].header("upload-offset"),
        "the refused chunk was sent again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_refused_for_its_checksum_again_and_again_fails_the_job() {
    let state = TusLikeState::new();
    let server = bent_server(&state, move |req, _| {
        req.is("PATCH")
            .then(|| ScriptedResponse::new(460).header("Tus-Resumable", "1.0.0"))
    })
    .await;
    let job = upload(&server, 64 * KIB, &pattern(100_000, 45)).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert!(
        job.error.as_deref().unwrap().contains("checksum mismatch"),
        "{:?}",
        job.error
    );
    assert_eq!(
        server.requests_with("PATCH").len(),
        4,
        "the first send and three resends"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_answers_are_retried_and_never_stored() {
    let state = TusLikeState::new();
    let server = bent_server(&state, move |_, nth| {
        (nth == 1).then(|| {
            ScriptedResponse::new(200).body(&b"\x00\x1b[31m<html>\xff\xfe garbage \x07"[..])
        })
    })
    .await;
    let bytes = pattern(150_000, 46);
    let job = upload(&server, 64 * KIB, &bytes).await;
    assert_arrived(&state, &job, &bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_500s_ends_in_a_clear_error_after_a_bounded_number_of_attempts() {
    let state = TusLikeState::new();
    let server = bent_server(&state, move |req, _| {
        req.is("PATCH")
            .then(|| ScriptedResponse::new(500).body("database on fire\u{7}\n"))
    })
    .await;
    let job = upload(&server, 64 * KIB, &pattern(100_000, 47)).await;
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.error.unwrap();
    assert!(
        error.contains("500 Internal Server Error") && error.contains("gave up after 9 attempts"),
        "{error}"
    );
    assert!(
        !error.contains('\u{7}'),
        "control characters are removed: {error:?}"
    );
    assert_eq!(
        server.requests_with("PATCH").len(),
        9,
        "bounded: 1 + 8 retries"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_where_204_is_due_is_accepted() {
    let state = TusLikeState::new();
    let inner = state.clone();
    let server = bent_server(&state, move |req, nth| {
        (nth > 0).then(|| inner.handle(req).with_status(200))
    })
    .await;
    let bytes = pattern(200_000, 48);
    let job = upload(&server, 64 * KIB, &bytes).await;
    assert_arrived(&state, &job, &bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_409_conflict_asks_the_server_before_sending_again() {
    let state = TusLikeState::new();
    let server = bent_server(&state, move |_, nth| {
        (nth == 2).then(|| ScriptedResponse::new(409).header("Tus-Resumable", "1.0.0"))
    })
    .await;
    let bytes = pattern(200_000, 49);
    let job = upload(&server, 64 * KIB, &bytes).await;
    assert_arrived(&state, &job, &bytes);
    let requests = server.requests();
    let conflict = requests.iter().position(|r| r.status == Some(409)).unwrap();
    assert_eq!(requests[conflict + 1].method, "HEAD", "never a blind retry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_is_honoured_and_the_upload_completes() {
    let state = TusLikeState::new();
    let server = bent_server(&state, move |_, nth| {
        (nth == 1).then(|| ScriptedResponse::new(429).header("Retry-After", 1))
    })
    .await;
    let bytes = pattern(100_000, 50);
    let job = upload(&server, 64 * KIB, &bytes).await;
    assert_arrived(&state, &job, &bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_the_server_lost_is_started_again_and_the_job_says_why() {
    let state = TusLikeState::new();
    let lost = Arc::new(AtomicUsize::new(0));
    let server = bent_server(&state, move |_, nth| {
        (nth == 3 && lost.fetch_add(1, Ordering::SeqCst) == 0)
            .then(|| ScriptedResponse::new(410).header("Tus-Resumable", "1.0.0"))
    })
    .await;
    let bytes = pattern(300_000, 51);
    let (job, events) = upload_with_events(&server, 64 * KIB, &bytes).await;
    assert_arrived(&state, &job, &bytes);
    assert_eq!(
        server.requests_with("POST").len(),
        2,
        "a second upload was created"
    );
    let restarted = events.iter().any(|j| {
        j.note
            .as_deref()
            .is_some_and(|n| n.contains("410 Gone") && n.contains("starting again"))
            && j.progress.current == 0
    });
    assert!(restarted, "the figures went back to zero with the reason");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_not_tus_is_named_as_such() {
    let server =
        ScriptedServer::start(|_| ScriptedResponse::new(200).body("<html>hello</html>")).await;
    let job = upload(&server, 64 * KIB, &pattern(10, 52)).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert!(
        job.error
            .as_deref()
            .unwrap()
            .contains("is not a tus server"),
        "{:?}",
        job.error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relative_location_is_resolved_against_the_endpoint() {
    let state = TusLikeState::new();
    let inner = state.clone();
    let server = bent_server(&state, move |req, _| {
        req.is("POST").then(|| {
            let answer = inner.handle(req);
            let location = answer.get_header("location").unwrap().to_owned();
            let path = location
                .split_once("/files/")
                .map(|(_, id)| format!("/files/{id}"))
                .unwrap();
            answer.set_header("Location", path)
        })
    })
    .await;
    let bytes = pattern(90_000, 53);
    let job = upload(&server, 64 * KIB, &bytes).await;
    assert_arrived(&state, &job, &bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_premade_upload_url_is_used_without_creation() {
    let state = TusLikeState::new();
    let server = bent_server(&state, |_, _| None).await;
    let bytes = pattern(150_000, 54);
    let created = reqwest::Client::new()
        .post(server.endpoint())
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", bytes.len())
        .header("Upload-Metadata", "filename cGF5bG9hZC5iaW4=")
        .send()
        .await
        .unwrap();
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let upload_url = reqwest::Url::parse(&server.endpoint())
        .unwrap()
        .join(&location)
        .unwrap();
    let dirs = dirs();
    let engine = start(tus_config(&dirs, &server.endpoint(), |c| {
        c.chunk_size = 64 * KIB;
        c.upload_url = Some(upload_url.clone());
    }))
    .await;
    let mut rx = engine.subscribe();
    let id = engine
        .enqueue(vec![write_file(&dirs.src, "payload.bin", &bytes)])
        .await
        .unwrap()
        .jobs[0];
    let job = wait_settled(&mut rx, id).await;
    engine.shutdown().await;
    assert_arrived(&state, &job, &bytes);
    assert_eq!(
        server.requests_with("POST").len(),
        1,
        "only the service's own creation"
    );
    assert_eq!(job.remote.as_deref(), Some(upload_url.as_str()));
}
