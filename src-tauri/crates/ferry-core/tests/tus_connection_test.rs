//! "Test connection" against real servers on 127.0.0.1, one outcome each: a tus server
//! that accepts the token, one that refuses it (401) or forbids it (403), a server that
//! is no tus server, a closed port, a name that does not resolve, and an https address
//! where the server speaks plain HTTP. No message carries the token.

mod common;
mod support_tus;

use std::sync::Arc;

use ferry_core::secrets::{Auth, MemorySecrets, Secret};
use ferry_core::{ConnectionProblem, CoreError};
use support_tus::{ScriptedResponse, ScriptedServer, TusServer};

const TOKEN: &str = "tok-c0nnect-8d1e";

fn destination(endpoint: &str, token: Option<&str>) -> ferry_core::TusDestination {
    let secrets = Arc::new(MemorySecrets::new());
    let dir = tempfile::tempdir().unwrap();
    let destination = common::tus_destination(endpoint, dir.path(), secrets.clone(), |c| {
        if let Some(token) = token {
            c.auth = Auth::Bearer { token: "t".into() };
            secrets.insert("t", Secret::new(token));
        }
        c.request_timeout = std::time::Duration::from_secs(10);
    });
    Arc::try_unwrap(destination).expect("one owner")
}

/// The problem a failed test reports, with its message.
async fn failure(destination: &ferry_core::TusDestination) -> (ConnectionProblem, String) {
    match destination.test_connection().await {
        Err(CoreError::ConnectionTest { problem, detail }) => {
            assert!(!detail.contains(TOKEN), "{detail}");
            (problem, detail)
        }
        other => panic!("expected a connection problem, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_right_token_passes_a_wrong_or_missing_one_is_401() {
    let server = TusServer::builder().token(TOKEN).start().await;
    let report = destination(&server.endpoint(), Some(TOKEN))
        .test_connection()
        .await
        .unwrap();
    assert!(report.versions.contains(&"1.0.0".to_owned()));
    assert!(report.extensions.contains(&"creation".to_owned()));
    assert!(report.credentials_checked);
    assert!(
        report.to_string().contains("credentials accepted"),
        "{report}"
    );

    let (problem, detail) = failure(&destination(&server.endpoint(), Some("wrong"))).await;
    assert_eq!(problem, ConnectionProblem::Unauthorized);
    assert!(
        detail.contains("401") && detail.contains("refused the credentials"),
        "{detail}"
    );
    let (problem, detail) = failure(&destination(&server.endpoint(), None)).await;
    assert_eq!(problem, ConnectionProblem::Unauthorized);
    assert!(detail.contains("wants credentials"), "{detail}");
    assert!(
        server.uploaded_files().is_empty(),
        "a connection test creates nothing"
    );
}

#[tokio::test]
async fn forbidden_is_told_apart_from_unauthorized() {
    let server = ScriptedServer::start(|request| {
        if request.is("OPTIONS") {
            ScriptedResponse::new(204)
                .header("tus-resumable", "1.0.0")
                .header("tus-version", "1.0.0")
                .header("tus-extension", "creation")
        } else {
            ScriptedResponse::new(403)
        }
    })
    .await;
    let (problem, detail) = failure(&destination(&server.endpoint(), Some(TOKEN))).await;
    assert_eq!(problem, ConnectionProblem::Forbidden);
    assert!(
        detail.contains("403") && detail.contains("not allowed"),
        "{detail}"
    );
    let head = &server.requests_with("HEAD")[0];
    assert_eq!(
        head.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str()),
        "the credentials were sent"
    );
}

#[tokio::test]
async fn a_web_server_that_is_not_tus_is_named_so() {
    let server = ScriptedServer::start(|_| {
        ScriptedResponse::new(200)
            .header("content-type", "text/html")
            .body("<html>hello</html>")
    })
    .await;
    let (problem, detail) = failure(&destination(&server.endpoint(), None)).await;
    assert_eq!(problem, ConnectionProblem::NotTus);
    assert!(detail.contains("is not a tus server"), "{detail}");
    let missing = ScriptedServer::start(|_| ScriptedResponse::new(404)).await;
    let (problem, _) = failure(&destination(&missing.endpoint(), None)).await;
    assert_eq!(problem, ConnectionProblem::NotTus);
}

#[tokio::test]
async fn a_closed_port_is_refused() {
    // Bind, note the port, close: nothing listens there any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (problem, detail) = failure(&destination(
        &format!("http://127.0.0.1:{port}/files/"),
        None,
    ))
    .await;
    assert_eq!(problem, ConnectionProblem::Refused, "{detail}");
    assert!(detail.contains("refused"), "{detail}");
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_a_name_resolution_failure() {
    let (problem, detail) = failure(&destination("http://nonexistent.invalid/files/", None)).await;
    assert_eq!(problem, ConnectionProblem::NameResolution, "{detail}");
    assert!(detail.contains("does not resolve"), "{detail}");
}

#[tokio::test]
async fn plain_http_on_an_https_address_is_a_tls_failure() {
    let server = ScriptedServer::start(|_| ScriptedResponse::new(204)).await;
    let endpoint = server.endpoint().replacen("http://", "https://", 1);
    let (problem, detail) = failure(&destination(&endpoint, None)).await;
    assert_eq!(problem, ConnectionProblem::Tls, "{detail}");
}
