//! No secret in error messages, tracing output or Debug output: an upload and a
//! connection test with a refused token (Bearer) and a refused password (Basic) to the
//! official Node tus server, every log line at the most verbose level captured,
//! including the HTTP stack's own. Neither the token, the password nor the
//! `Authorization` value built from them appears anywhere.

mod common;
mod support_tus;

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use common::{dirs, start, wait_settled, write_file};
use ferry_core::secrets::{Auth, MemorySecrets, Secret};
use ferry_core::{EngineConfig, JobStatus};
use support_tus::TusServer;

const TOKEN: &str = "tok-red4cted-9b1f";
const PASSWORD: &str = "pw-red4cted-77c2";

/// Log lines, shared with the global subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_leave_no_trace_in_errors_logs_or_debug() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    )
    .unwrap();

    let server = TusServer::builder().token("the-right-one").start().await;
    let secrets = Arc::new(MemorySecrets::new());
    secrets.insert("t", Secret::new(TOKEN));
    secrets.insert("p", Secret::new(PASSWORD));
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("ann:{PASSWORD}"));
    let mut seen = Vec::new();

    for auth in [
        Auth::Bearer { token: "t".into() },
        Auth::Basic {
            user: "ann".into(),
            password: "p".into(),
        },
    ] {
        let dirs = dirs();
        let destination =
            common::tus_destination(&server.endpoint(), &dirs.data, secrets.clone(), |c| {
                c.auth = auth.clone();
            });
        let test = destination.test_connection().await.unwrap_err();
        seen.push(format!("{test} {test:?} {destination:?}"));
        let engine = start(EngineConfig::new(dirs.data.clone(), destination)).await;
        let mut rx = engine.subscribe();
        let report = engine
            .enqueue(vec![write_file(&dirs.src, "a.bin", b"payload")])
            .await
            .unwrap();
        let job = wait_settled(&mut rx, report.jobs[0]).await;
        assert_eq!(job.status, JobStatus::Failed);
        let error = job.error.clone().unwrap();
        assert!(error.contains("authentication failed (401)"), "{error}");
        seen.push(format!("{error} {job:?} {:?}", engine.snapshot()));
        engine.shutdown().await;
    }
    seen.push(format!("{secrets:?}"));
    let seen = seen.join("\n");
    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(
        logs.contains("authentication failed"),
        "the failures were logged: {logs}"
    );
    for needle in [TOKEN, PASSWORD, basic.as_str()] {
        assert!(!seen.contains(needle), "`{needle}` in messages: {seen}");
        assert!(!logs.contains(needle), "`{needle}` in the log");
    }
}
