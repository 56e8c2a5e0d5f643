//! `ferry destination ...` and `ferry upload --to NAME` with the real binary, a
//! configuration folder of the test's own (`FERRY_CONFIG_DIR`) and the official Node
//! tus server. The keyring is made unreachable (a session bus address where nothing
//! listens): a destination with a secret is refused with a clear message and nothing
//! is saved, while destinations without secrets are added, listed, tested, used and
//! removed. The tests that need a real Secret Service are at the end, ignored unless
//! `scripts/test-keyring.sh` runs them.

#[path = "../../ferry-core/tests/support_tus/mod.rs"]
mod support_tus;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use support_tus::TusServer;

/// The binary with its configuration and data folders in `tmp`, and a session bus
/// where nothing answers unless `keyring` is true.
fn ferry(tmp: &Path, keyring: bool, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
    command
        .args(args)
        .env("FERRY_CONFIG_DIR", tmp.join("config"))
        .env("FERRY_CLI_DATA_DIR", tmp.join("data"));
    if !keyring {
        command.env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", tmp.join("no-bus").display()),
        );
    }
    command
}

fn run_with_stdin(mut command: Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the ferry binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn run(mut command: Command) -> Output {
    command.output().expect("the ferry binary runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

const SECRET: &str = "s3cr3t-never-printed-4471";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_keyring_a_secret_is_refused_and_nothing_is_saved() {
    let endpoint = "http://127.0.0.1:9/files/";
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();

    let refused = run_with_stdin(
        ferry(
            tmp,
            false,
            &[
                "destination",
                "add",
                "vault",
                "--tus",
                endpoint,
                "--auth",
                "bearer",
                "--secret-stdin",
            ],
        ),
        &format!("{SECRET}\n"),
    );
    let all = text(&refused);
    assert_eq!(refused.status.code(), Some(2), "{all}");
    assert!(all.contains("system keyring is not available"), "{all}");
    assert!(
        all.contains("Destinations without credentials keep working"),
        "{all}"
    );
    assert!(!all.contains(SECRET), "{all}");
    assert!(
        !tmp.join("config/destinations.json").exists(),
        "nothing was saved"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_keyring_destinations_without_secrets_work() {
    let server = TusServer::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    let endpoint = server.endpoint();
    let added = run(ferry(
        tmp,
        false,
        &[
            "destination",
            "add",
            "open",
            "--tus",
            &endpoint,
            "--chunk-size",
            "256KiB",
        ],
    ));
    assert_eq!(added.status.code(), Some(0), "{}", text(&added));
    let folder = tmp.join("uploads");
    let added = run(ferry(
        tmp,
        false,
        &[
            "destination",
            "add",
            "here",
            "--folder",
            folder.to_str().unwrap(),
        ],
    ));
    assert_eq!(added.status.code(), Some(0), "{}", text(&added));
    let duplicate = run(ferry(
        tmp,
        false,
        &[
            "destination",
            "add",
            "OPEN",
            "--folder",
            folder.to_str().unwrap(),
        ],
    ));
    assert_eq!(duplicate.status.code(), Some(2));
    assert!(text(&duplicate).contains("already a destination called `open`"));

    let listed = run(ferry(tmp, false, &["destination", "list", "--json"]));
    let list: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(list[0]["name"], "open");
    assert_eq!(list[0]["default"], true, "the first one is the default");
    assert_eq!(list[0]["target"]["url"], endpoint.as_str());
    assert_eq!(list[0]["chunk_size"], 256 * 1024);
    assert_eq!(list[1]["target"]["kind"], "local_folder");

    let tested = run(ferry(tmp, false, &["destination", "test", "open"]));
    assert_eq!(tested.status.code(), Some(0), "{}", text(&tested));
    assert!(text(&tested).starts_with("ok: "), "{}", text(&tested));

    std::fs::write(tmp.join("a.bin"), b"to a named destination").unwrap();
    let uploaded = run(ferry(
        tmp,
        false,
        &[
            "upload",
            tmp.join("a.bin").to_str().unwrap(),
            "--to",
            "open",
        ],
    ));
    assert_eq!(uploaded.status.code(), Some(0), "{}", text(&uploaded));
    assert_eq!(
        server.file_by_name("a.bin").unwrap().bytes(),
        b"to a named destination"
    );
    let uploaded = run(ferry(
        tmp,
        false,
        &[
            "upload",
            tmp.join("a.bin").to_str().unwrap(),
            "--to",
            "here",
        ],
    ));
    assert_eq!(uploaded.status.code(), Some(0), "{}", text(&uploaded));
    assert!(folder.join("a.bin").is_file());

    let removed = run(ferry(tmp, false, &["destination", "remove", "open"]));
    assert_eq!(removed.status.code(), Some(0), "{}", text(&removed));
    let listed = run(ferry(tmp, false, &["destination", "list"]));
    let all = text(&listed);
    assert!(!all.contains("open") && all.contains("here"), "{all}");
}

#[test]
fn an_edit_changes_only_what_is_given_keeps_the_id_and_refuses_what_it_cannot_keep() {
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    let added = run(ferry(
        tmp,
        false,
        &[
            "destination",
            "add",
            "studio",
            "--tus",
            "http://127.0.0.1:9/files/",
        ],
    ));
    assert_eq!(added.status.code(), Some(0), "{}", text(&added));
    let list = |tmp: &Path| -> serde_json::Value {
        let listed = run(ferry(tmp, false, &["destination", "list", "--json"]));
        serde_json::from_slice(&listed.stdout).unwrap()
    };
    let before = list(tmp);

    let edited = run(ferry(
        tmp,
        false,
        &[
            "destination",
            "edit",
            "studio",
            "--rename",
            "studio-b",
            "--chunk-size",
            "6MiB",
            "--concurrency",
            "2",
        ],
    ));
    assert_eq!(edited.status.code(), Some(0), "{}", text(&edited));
    assert!(text(&edited).contains("Changed the destination `studio-b`"));
    let after = list(tmp);
    assert_eq!(after[0]["id"], before[0]["id"], "the id stays");
    assert_eq!(after[0]["name"], "studio-b");
    assert_eq!(after[0]["target"], before[0]["target"], "the address stays");
    assert_eq!(after[0]["chunk_size"], 6 * 1024 * 1024);
    assert_eq!(after[0]["concurrency"], 2);

    // Authentication that needs the keyring is refused while it is unreachable, and
    // nothing changes.
    let refused = run_with_stdin(
        ferry(
            tmp,
            false,
            &[
                "destination",
                "edit",
                "studio-b",
                "--auth",
                "bearer",
                "--secret-stdin",
            ],
        ),
        "tok-9\n",
    );
    assert_ne!(refused.status.code(), Some(0));
    assert!(text(&refused).contains("keyring"), "{}", text(&refused));
    assert_eq!(list(tmp), after);

    // An unknown name lists the names there are; a secret for no authentication is
    // refused.
    let unknown = run(ferry(
        tmp,
        false,
        &["destination", "edit", "studo", "--concurrency", "1"],
    ));
    assert_ne!(unknown.status.code(), Some(0));
    assert!(text(&unknown).contains("studio-b"), "{}", text(&unknown));
    let no_secret = run(ferry(
        tmp,
        false,
        &["destination", "edit", "studio-b", "--new-secret"],
    ));
    assert_ne!(no_secret.status.code(), Some(0));
    assert!(
        text(&no_secret).contains("no secret to replace"),
        "{}",
        text(&no_secret)
    );
    assert_eq!(list(tmp), after);
}

#[test]
fn a_mistyped_name_is_an_error_listing_the_names() {
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    for name in ["open", "here"] {
        let url = format!("https://{name}.example.com/files/");
        let added = run(ferry(
            tmp,
            false,
            &["destination", "add", name, "--tus", &url],
        ));
        assert_eq!(added.status.code(), Some(0), "{}", text(&added));
    }
    std::fs::write(tmp.join("a.bin"), b"x").unwrap();
    let mistyped = run(ferry(
        tmp,
        false,
        &[
            "upload",
            tmp.join("a.bin").to_str().unwrap(),
            "--to",
            "opne",
        ],
    ));
    assert_eq!(mistyped.status.code(), Some(2));
    let all = text(&mistyped);
    assert!(
        all.contains("no destination called `opne`") && all.contains("open, here"),
        "{all}"
    );
}

#[test]
fn a_failed_test_exits_1_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/files/");
    let added = run(ferry(
        tmp,
        false,
        &["destination", "add", "down", "--tus", &url],
    ));
    assert_eq!(added.status.code(), Some(0), "{}", text(&added));
    let tested = run(ferry(tmp, false, &["destination", "test", "down"]));
    assert_eq!(tested.status.code(), Some(1));
    let all = text(&tested);
    assert!(
        all.contains("failed (Refused)") && all.contains("connection was refused"),
        "{all}"
    );
}

#[test]
fn a_secret_is_never_taken_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let output = run(ferry(
        tmp.path(),
        false,
        &[
            "destination",
            "add",
            "vault",
            "--tus",
            "https://tus.example.com/files/",
            "--auth",
            "bearer",
            "--secret",
            SECRET,
        ],
    ));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output).contains("unexpected argument '--secret'"),
        "{}",
        text(&output)
    );
}

/// What `secret-tool` finds for the destination `id`.
fn secret_tool_lookup(id: &str) -> Option<String> {
    let output = Command::new("secret-tool")
        .args(["lookup", "service", "app.ferry.desktop", "username", id])
        .output()
        .expect("secret-tool runs");
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service: run scripts/test-keyring.sh"]
async fn a_stored_destination_uploads_with_its_keyring_token() {
    let server = TusServer::builder().token(SECRET).start().await;
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    let added = run_with_stdin(
        ferry(
            tmp,
            true,
            &[
                "destination",
                "add",
                "vault",
                "--tus",
                &server.endpoint(),
                "--auth",
                "bearer",
                "--secret-stdin",
            ],
        ),
        &format!("{SECRET}\n"),
    );
    assert_eq!(added.status.code(), Some(0), "{}", text(&added));
    let listed = run(ferry(tmp, true, &["destination", "list", "--json"]));
    let list: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let id = list[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(secret_tool_lookup(&id).as_deref(), Some(SECRET));
    assert!(!text(&listed).contains(SECRET));

    let tested = run(ferry(tmp, true, &["destination", "test", "vault"]));
    assert_eq!(tested.status.code(), Some(0), "{}", text(&tested));
    assert!(text(&tested).contains("credentials accepted"));

    std::fs::write(tmp.join("a.bin"), b"authenticated").unwrap();
    let uploaded = run(ferry(
        tmp,
        true,
        &[
            "upload",
            tmp.join("a.bin").to_str().unwrap(),
            "--to",
            "vault",
        ],
    ));
    assert_eq!(uploaded.status.code(), Some(0), "{}", text(&uploaded));
    assert!(!text(&uploaded).contains(SECRET));
    assert_eq!(
        server.file_by_name("a.bin").unwrap().bytes(),
        b"authenticated"
    );

    // `edit --new-secret` replaces the token in the keyring: a wrong one is refused by
    // the server, the right one accepted again.
    let edit_token = |token: &str| {
        run_with_stdin(
            ferry(
                tmp,
                true,
                &[
                    "destination",
                    "edit",
                    "vault",
                    "--new-secret",
                    "--secret-stdin",
                ],
            ),
            &format!("{token}\n"),
        )
    };
    let edited = edit_token("wrong-token");
    assert_eq!(edited.status.code(), Some(0), "{}", text(&edited));
    assert_eq!(secret_tool_lookup(&id).as_deref(), Some("wrong-token"));
    let tested = run(ferry(tmp, true, &["destination", "test", "vault"]));
    assert_eq!(tested.status.code(), Some(1), "{}", text(&tested));
    assert!(text(&tested).contains("401"), "{}", text(&tested));
    let edited = edit_token(SECRET);
    assert_eq!(edited.status.code(), Some(0), "{}", text(&edited));
    let tested = run(ferry(tmp, true, &["destination", "test", "vault"]));
    assert_eq!(tested.status.code(), Some(0), "{}", text(&tested));

    let removed = run(ferry(tmp, true, &["destination", "remove", "vault"]));
    assert_eq!(removed.status.code(), Some(0), "{}", text(&removed));
    assert_eq!(secret_tool_lookup(&id), None, "the keyring entry is gone");
}
