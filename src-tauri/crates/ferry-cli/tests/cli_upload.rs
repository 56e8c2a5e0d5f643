//! `ferry upload` against the official Node tus server on 127.0.0.1: files arrive
//! identical and the exit code says so, a wrong token is a clear failure with exit 1,
//! and an interrupted run continues the same uploads when the command runs again.

#[path = "../../ferry-core/tests/support_tus/mod.rs"]
mod support_tus;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support_tus::TusServer;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
        .collect()
}

fn ferry(args: &[&str], data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
    command.args(args).env("FERRY_CLI_DATA_DIR", data_dir);
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("the ferry binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_exits_0_and_every_file_and_folder_arrives_identical() {
    let server = TusServer::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let a = pattern(700_000, 1);
    let b = pattern(10, 2);
    std::fs::write(tmp.path().join("a.bin"), &a).unwrap();
    std::fs::create_dir(tmp.path().join("folder")).unwrap();
    std::fs::write(tmp.path().join("folder/b.txt"), &b).unwrap();
    let output = run(&mut ferry(
        &[
            "upload",
            tmp.path().join("a.bin").to_str().unwrap(),
            tmp.path().join("folder").to_str().unwrap(),
            "--to",
            &server.endpoint(),
            "--chunk-size",
            "256KiB",
            "--json",
        ],
        &tmp.path().join("data"),
    ));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    let summary = lines.last().unwrap();
    assert_eq!(summary["kind"], "summary");
    assert_eq!(summary["done"], 2);
    assert!(lines
        .iter()
        .any(|l| l["kind"] == "progress" && l["progress"]["status"] == "uploading"));
    assert!(server.file_by_name("a.bin").unwrap().bytes() == a);
    assert!(server.file_by_name("b.txt").unwrap().bytes() == b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_exits_1_with_authentication_failed() {
    let server = TusServer::builder().token("right").start().await;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("a.bin"), b"data").unwrap();
    let output = run(&mut ferry(
        &[
            "upload",
            tmp.path().join("a.bin").to_str().unwrap(),
            "--to",
            &server.endpoint(),
            "--header",
            "Authorization: Bearer nope",
        ],
        &tmp.path().join("data"),
    ));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("authentication failed (401)"), "{stderr}");
    assert!(stderr.contains("0 uploaded, 1 failed"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_continues_the_same_upload_when_run_again() {
    let server = TusServer::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let bytes = pattern(4 * 1024 * 1024, 3);
    let file = tmp.path().join("big.bin");
    std::fs::write(&file, &bytes).unwrap();
    let data = tmp.path().join("data");
    let endpoint = server.endpoint();
    let args = [
        "upload",
        file.to_str().unwrap(),
        "--to",
        &endpoint,
        "--chunk-size",
        "256KiB",
        "--json",
    ];

    // First run, slowed down, stopped with SIGTERM once a quarter is acknowledged.
    let mut first = ferry(&args, &data)
        .args(["--limit-rate", "1MiB"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = first.stdout.take().unwrap();
    let reached = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| {
                let value: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                value["progress"]["status"] == "uploading"
                    && value["progress"]["current"].as_u64().unwrap_or(0) >= 1024 * 1024
            })
    });
    let reached = tokio::time::timeout(Duration::from_secs(60), reached)
        .await
        .unwrap()
        .unwrap();
    assert!(reached, "the first run never got to 1 MiB");
    let pid = rustix::process::Pid::from_child(&first);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = first.wait().unwrap();
    assert_eq!(status.code(), Some(130), "interrupted runs exit 130");
    let partial = server.file_by_name("big.bin").expect("a partial upload");
    assert!(partial.offset < bytes.len() as u64);

    // Second run, same command: it continues the same upload to the end.
    let output = run(&mut ferry(&args, &data));
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let uploads = server.uploaded_files();
    assert_eq!(
        uploads.len(),
        1,
        "the second run continued the first run's upload"
    );
    assert!(uploads[0].bytes() == bytes);
}
