//! HTTPS to the official Node tus server on 127.0.0.1, with a private certificate
//! authority made in the test: with that CA added to the destination a file arrives
//! intact; without it the certificate is not trusted, the job fails at once with a
//! message that says what to do, and no byte is stored; a certificate for another name
//! is refused even with the CA; a CA file that is not PEM is refused when the destination
//! is built, not discovered later as an untrusted server.

mod common;
mod support_tus;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{dirs, pattern, start, tus_config, wait_settled, write_file};
use ferry_core::JobStatus;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use support_tus::TusServer;

/// The names the test server's certificate is valid for; the server's endpoint uses the
/// first.
const SERVER_NAMES: &[&str] = &["127.0.0.1", "localhost"];

/// A private CA and a server certificate it signed, as files in a temporary folder.
struct Pki {
    _dir: tempfile::TempDir,
    /// The CA certificate, PEM: what a user adds to the destination.
    ca_pem: PathBuf,
    /// The same CA certificate in DER, as some tools export it.
    ca_der: PathBuf,
    /// The server's certificate (PEM), valid for the names given to [`private_pki`].
    server_cert: PathBuf,
    /// The server's private key (PEM).
    server_key: PathBuf,
}

/// Makes a CA the platform does not know and a server certificate for `server_names`
/// signed by it, so the only way a client can trust the server is by being given that CA.
fn private_pki(server_names: &[&str]) -> Pki {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Ferry test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("self-signed CA");

    let server_key = KeyPair::generate().expect("server key");
    let names: Vec<String> = server_names.iter().map(|&n| n.to_owned()).collect();
    let mut params = CertificateParams::new(names).expect("server certificate parameters");
    params
        .distinguished_name
        .push(DnType::CommonName, server_names[0]);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let server_cert = params
        .signed_by(&server_key, &*ca)
        .expect("server certificate signed by the CA");

    let dir = tempfile::tempdir().expect("folder for the certificates");
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write a certificate file");
        path
    };
    Pki {
        ca_pem: write("ca.pem", ca.pem().as_bytes()),
        ca_der: write("ca.der", ca.der()),
        server_cert: write("server.pem", server_cert.pem().as_bytes()),
        server_key: write("server-key.pem", server_key.serialize_pem().as_bytes()),
        _dir: dir,
    }
}

async fn tls_server(pki: &Pki) -> TusServer {
    TusServer::builder()
        .tls(&pki.server_cert, &pki.server_key)
        .verbose(true)
        .start()
        .await
}

/// Builds a tus destination for `endpoint` trusting `ca` in addition to the platform's
/// roots, and returns its error.
fn destination_error(endpoint: &str, data: &Path, ca: &Path) -> String {
    let mut config = ferry_core::TusConfig::new(endpoint.parse().expect("endpoint URL"));
    config.ca_certificate = Some(ca.to_path_buf());
    let ledger = ferry_core::resume::SqliteLedger::open(data).expect("resume ledger");
    ferry_core::TusDestination::new(
        config,
        Arc::new(ledger),
        Arc::new(ferry_core::secrets::MemorySecrets::default()),
    )
    .expect_err("a CA file that is not PEM must be refused")
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_private_ca_a_file_arrives_identical_over_https() {
    let pki = private_pki(SERVER_NAMES);
    let server = tls_server(&pki).await;
    assert!(server.endpoint().starts_with("https://127.0.0.1:"));
    let dirs = dirs();
    // Over one chunk, so the upload takes a creation and a PATCH on the TLS connection.
    let bytes = pattern(300 * 1024, 11);
    let engine = start(tus_config(&dirs, &server.endpoint(), |c| {
        c.chunk_size = 256 * 1024;
        c.ca_certificate = Some(pki.ca_pem.clone());
    }))
    .await;
    let mut rx = engine.subscribe();
    let report = engine
        .enqueue(vec![write_file(&dirs.src, "over-tls.bin", &bytes)])
        .await
        .unwrap();
    let job = wait_settled(&mut rx, report.jobs[0]).await;
    engine.shutdown().await;
    assert_eq!(
        job.status,
        JobStatus::Done,
        "{:?}\nserver:\n{}",
        job.error,
        server.stderr()
    );
    let remote = job.remote.expect("the upload URL");
    assert!(
        remote.starts_with("https://127.0.0.1:"),
        "the upload stays on HTTPS: {remote}"
    );
    let stored = server
        .file_by_name("over-tls.bin")
        .expect("the file is on the server");
    assert!(stored.is_complete());
    assert!(stored.bytes() == bytes, "the server's bytes differ");
    assert!(
        !server.stderr().contains("TLS handshake failed"),
        "{}",
        server.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_ca_the_certificate_is_not_trusted_and_nothing_is_retried_or_stored() {
    let pki = private_pki(SERVER_NAMES);
    let server = tls_server(&pki).await;
    let dirs = dirs();
    // The test defaults retry quickly and often: a certificate error taken for a network
    // error would show up as several handshakes below.
    let engine = start(tus_config(&dirs, &server.endpoint(), |_| {})).await;
    let mut rx = engine.subscribe();
    let report = engine
        .enqueue(vec![write_file(&dirs.src, "a.bin", &pattern(4096, 5))])
        .await
        .unwrap();
    let job = wait_settled(&mut rx, report.jobs[0]).await;
    engine.shutdown().await;
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.error.expect("the job's error");
    assert!(
        error.contains("TLS certificate is not trusted")
            && error.contains("Add the server's CA certificate to the destination"),
        "{error}"
    );

    assert_one_refused_handshake(&server, "unknown ca").await;
    assert!(server.uploaded_files().is_empty(), "nothing was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_ca_a_certificate_for_another_name_is_refused_once() {
    let pki = private_pki(&["uploads.ferry.test"]);
    let server = tls_server(&pki).await;
    let dirs = dirs();
    let engine = start(tus_config(&dirs, &server.endpoint(), |c| {
        c.ca_certificate = Some(pki.ca_pem.clone());
    }))
    .await;
    let mut rx = engine.subscribe();
    let report = engine
        .enqueue(vec![write_file(&dirs.src, "a.bin", &pattern(4096, 6))])
        .await
        .unwrap();
    let job = wait_settled(&mut rx, report.jobs[0]).await;
    engine.shutdown().await;
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.error.expect("the job's error");
    assert!(
        error.contains("TLS certificate is not valid for the server's name")
            && error.contains("uploads.ferry.test")
            && !error.contains("Add the server's CA certificate"),
        "{error}"
    );
    assert_one_refused_handshake(&server, "bad certificate").await;
    assert!(server.uploaded_files().is_empty(), "nothing was stored");
}

/// Asserts that the server saw exactly one handshake, which the client refused with an
/// alert saying `alert` (as OpenSSL words it), and no HTTP request.
async fn assert_one_refused_handshake(server: &TusServer, alert: &str) {
    // The server logs a failed handshake once the client has given up on the connection,
    // which can be just after the job failed: wait for the line. No attempt can follow a
    // failed job, so the count is final then.
    let handshakes = || {
        server
            .stderr()
            .lines()
            .filter(|l| l.starts_with("TLS handshake failed"))
            .count()
    };
    let deadline = tokio::time::Instant::now() + support_tus::HARNESS_TIMEOUT;
    while handshakes() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let log = server.stderr();
    assert_eq!(handshakes(), 1, "one refused handshake, no retry:\n{log}");
    assert!(
        log.to_ascii_lowercase().contains(&format!("alert {alert}")),
        "the client refused the certificate itself ({alert}):\n{log}"
    );
    assert!(
        log.lines().all(|l| l.starts_with("TLS handshake failed")),
        "no HTTP request got through:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_file_that_is_not_pem_fails_when_the_destination_is_built() {
    let pki = private_pki(SERVER_NAMES);
    let dirs = dirs();
    // The port does not matter: the destination is refused before any connection.
    let endpoint = "https://127.0.0.1:9/files/";

    let der = destination_error(endpoint, &dirs.data, &pki.ca_der);
    assert!(
        der.contains(&pki.ca_der.display().to_string())
            && der.contains("contains no PEM certificate")
            && der.contains("export the CA certificate in PEM format"),
        "{der}"
    );

    // The server's private key is PEM but holds no certificate: a likely wrong pick.
    let key = destination_error(endpoint, &dirs.data, &pki.server_key);
    assert!(
        key.contains(&pki.server_key.display().to_string())
            && key.contains("contains no PEM certificate"),
        "{key}"
    );
}
