//! The OS keyring for real: a Secret Service (gnome-keyring-daemon) on a D-Bus session
//! bus, as `scripts/test-keyring.sh` sets one up with a temporary home.
//!
//! A secret stored through [`KeyringSecrets`] is read back through new entries, updated
//! and deleted, and `secret-tool`, in a process of its own, sees each change: the
//! secret is in the Secret Service, not in the keyring crate's memory. A destination
//! added with a Bearer token uploads to the official Node tus server started with
//! `--token`, the token read from the keyring; afterwards neither the data folder, its
//! database, the configuration file nor the log holds the token.

mod common;
mod support_tus;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use common::{pattern, wait_settled, write_file};
use ferry_core::destinations::{
    add_destination, remove_destination, AuthKind, DestinationRegistry, DestinationSettings, Target,
};
use ferry_core::secrets::{KeyringSecrets, Secret, SecretStore, APP_IDENTIFIER};
use ferry_core::{EngineConfig, JobStatus};
use support_tus::TusServer;

/// What `secret-tool` finds for `account` under the app's service, in a separate
/// process talking to the Secret Service itself.
fn secret_tool_lookup(account: &str) -> Option<String> {
    let output = Command::new("secret-tool")
        .args(["lookup", "service", APP_IDENTIFIER, "username", account])
        .output()
        .expect("secret-tool runs (libsecret-tools)");
    output
        .status
        .success()
        .then(|| String::from_utf8(output.stdout).expect("UTF-8 secret"))
}

fn random_id(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service: run scripts/test-keyring.sh"]
async fn a_secret_round_trips_through_the_real_secret_service() {
    let account = random_id("round-trip");
    let value = random_id("s3cret");
    let store = KeyringSecrets::new().unwrap();
    store.set(&account, &Secret::new(&value)).await.unwrap();

    // A new store (new keyring entries) reads what the first one wrote.
    let other = KeyringSecrets::new().unwrap();
    assert_eq!(other.get(&account).await.unwrap().unwrap().expose(), value);
    assert_eq!(
        secret_tool_lookup(&account).as_deref(),
        Some(value.as_str()),
        "the Secret Service itself holds the secret"
    );

    let updated = random_id("upd4ted");
    other.set(&account, &Secret::new(&updated)).await.unwrap();
    assert_eq!(
        store.get(&account).await.unwrap().unwrap().expose(),
        updated
    );
    assert_eq!(
        secret_tool_lookup(&account).as_deref(),
        Some(updated.as_str())
    );

    store.delete(&account).await.unwrap();
    assert!(other.get(&account).await.unwrap().is_none());
    assert_eq!(secret_tool_lookup(&account), None);
    // Deleting what is gone is no error.
    store.delete(&account).await.unwrap();

    // And a value written by another program is read back.
    let foreign = random_id("foreign");
    let mut child = Command::new("secret-tool")
        .args([
            "store",
            "--label",
            "written by secret-tool",
            "service",
            APP_IDENTIFIER,
            "username",
            &foreign,
            "target",
            "default",
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"from-outside").unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        store.get(&foreign).await.unwrap().unwrap().expose(),
        "from-outside"
    );
    store.delete(&foreign).await.unwrap();
}

/// Every file under `dir` (recursively) whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    found.push(path.display().to_string());
                }
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service: run scripts/test-keyring.sh"]
async fn an_upload_authenticates_with_the_token_from_the_keyring_and_leaves_it_nowhere() {
    let token = random_id("tok");
    let server = TusServer::builder().token(&token).start().await;
    let tmp = tempfile::tempdir().unwrap();
    let config_dir = tmp.path().join("config");
    let data_dir = tmp.path().join("data");
    let log_dir = tmp.path().join("logs");
    std::fs::create_dir_all(&log_dir).unwrap();
    let log = std::fs::File::create(log_dir.join("ferry.log")).unwrap();
    // Everything at the most verbose level, the HTTP stack's own logs included.
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(Mutex::new(log))
            .finish(),
    )
    .unwrap();

    let secrets = Arc::new(KeyringSecrets::new().unwrap());
    let mut registry = DestinationRegistry::open(&config_dir).unwrap();
    let mut settings = DestinationSettings::new(
        "vault",
        Target::Tus {
            url: server.endpoint(),
        },
    );
    settings.auth = AuthKind::Bearer;
    settings.chunk_size = Some(256 * 1024);
    let stored = add_destination(
        &mut registry,
        settings,
        Some(Secret::new(&token)),
        secrets.as_ref(),
    )
    .await
    .unwrap();
    assert_eq!(
        secret_tool_lookup(&stored.id).as_deref(),
        Some(token.as_str())
    );

    // What the app and the CLI do: read the registry, build the destination.
    let entry = DestinationRegistry::open(&config_dir)
        .unwrap()
        .find("vault")
        .unwrap()
        .clone();
    let ledger = Arc::new(ferry_core::resume::SqliteLedger::open(&data_dir).unwrap());
    let check = entry
        .build_tus(ledger.clone(), secrets.clone())
        .unwrap()
        .test_connection()
        .await
        .unwrap();
    assert!(check.credentials_checked);
    let destination = entry.build(ledger, secrets.clone()).unwrap();
    let engine = common::start(EngineConfig::new(data_dir.clone(), destination)).await;
    let mut events = engine.subscribe();
    let bytes = pattern(700_000, 11);
    let source = write_file(&tmp.path().join("src"), "payload.bin", &bytes);
    let report = engine.enqueue(vec![source]).await.unwrap();
    let job = wait_settled(&mut events, report.jobs[0]).await;
    let debug = format!("{:?} {:?}", engine.snapshot(), entry);
    engine.shutdown().await;
    assert_eq!(job.status, JobStatus::Done, "{:?}", job.error);
    assert!(server.file_by_name("payload.bin").unwrap().bytes() == bytes);

    // The server checks the token: the same upload with another one is refused.
    let wrong = ferry_core::secrets::MemorySecrets::new();
    wrong.insert(stored.id.clone(), Secret::new("not-the-token"));
    let refused = entry
        .build_tus(
            Arc::new(ferry_core::resume::SqliteLedger::open(&tmp.path().join("other")).unwrap()),
            Arc::new(wrong),
        )
        .unwrap()
        .test_connection()
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("401"), "{refused}");

    assert!(!debug.contains(&token), "Debug output holds the token");
    let log_text = std::fs::read_to_string(log_dir.join("ferry.log")).unwrap();
    assert!(
        log_text.contains("created the upload"),
        "the log was written: {log_text}"
    );
    for dir in [&data_dir, &config_dir, &log_dir] {
        assert_eq!(
            files_containing(dir, token.as_bytes()),
            Vec::<String>::new(),
            "files holding the token"
        );
    }

    // Removing the destination removes its secret from the keyring.
    remove_destination(&mut registry, &stored.id, secrets.as_ref())
        .await
        .unwrap();
    assert_eq!(secret_tool_lookup(&stored.id), None);
}
