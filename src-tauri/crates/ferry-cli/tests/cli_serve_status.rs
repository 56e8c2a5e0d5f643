//! `ferry serve` runs the engine and the progress server headless and writes the
//! connection file; a client enqueues through the socket; `ferry status` prints the
//! queue, and `ferry status --follow` watches until the server stops on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ferry_ws::protocol::{Command as WsCommand, CommandResult};
use ferry_ws::Client;

/// Kills the process if the test fails before it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ferry(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
    command.args(args);
    command
}

/// Starts `ferry serve` uploading to `dir/dest`, with its data and connection file in
/// `dir`, and `extra` arguments.
fn serve(dir: &Path, extra: &[&str]) -> KillOnDrop {
    let dest = dir.join("dest");
    let data = dir.join("data");
    let connection = dir.join("connection.json");
    let mut args = vec![
        "serve",
        "--to",
        dest.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--connection-file",
        connection.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    KillOnDrop(ferry(&args).stderr(Stdio::null()).spawn().unwrap())
}

fn terminate(child: &Child) {
    let pid = rustix::process::Pid::from_child(child);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
}

/// Waits (bounded) for `ferry serve` to write its connection file.
async fn wait_for_file(path: &Path) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no connection file at {}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A native client enqueues `file` through the socket and follows the job to its end.
async fn enqueue_and_wait(
    info: &ferry_ws::protocol::ConnectionInfo,
    file: &Path,
) -> ferry_core::JobView {
    let mut client = Client::connect(info).await.unwrap();
    let reply = client
        .command(WsCommand::Enqueue {
            paths: vec![file.to_string_lossy().into_owned()],
        })
        .await
        .unwrap();
    let CommandResult::Enqueued { report } = reply else {
        panic!("unexpected reply {reply:?}");
    };
    let id = report.jobs[0];
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), client.next_event())
            .await
            .expect("the job settles within 30 s")
            .unwrap();
        let ended = message
            .job_status()
            .is_some_and(|(job, status)| job == id && status.is_terminal());
        if ended {
            return client.state().jobs[&id].clone();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_uploads_what_a_client_enqueues_and_status_shows_it() {
    let tmp = tempfile::tempdir().unwrap();
    let connection = tmp.path().join("connection.json");
    let dest = tmp.path().join("dest");
    let file = tmp.path().join("hello.txt");
    std::fs::write(&file, b"hello from the socket\n").unwrap();
    let serve = serve(tmp.path(), &[]);
    wait_for_file(&connection).await;

    let info = ferry_ws::connection_file::read(&connection).unwrap();
    let done = enqueue_and_wait(&info, &file).await;
    assert_eq!(done.status, ferry_core::JobStatus::Done, "{:?}", done.error);
    assert_eq!(
        std::fs::read(dest.join("hello.txt")).unwrap(),
        b"hello from the socket\n"
    );

    // `ferry status` prints the queue once.
    let output = ferry(&["status", "--connection-file", connection.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("done") && stdout.contains("100%") && stdout.contains("hello.txt"),
        "{stdout}"
    );
    assert!(stdout.contains("1 of 1 files done"), "{stdout}");

    // `--follow` watches until the server stops; SIGTERM stops it cleanly.
    let mut follower = KillOnDrop(
        ferry(&[
            "status",
            "--follow",
            "--connection-file",
            connection.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    let stdout = follower.0.stdout.take().unwrap();
    let (line_tx, line_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = line_tx.send(line);
        }
    });
    // Once it printed the snapshot it is connected; then stop the server.
    let mut printed = Vec::new();
    let line_rx = tokio::task::spawn_blocking(move || loop {
        let line = line_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the follower prints the snapshot");
        let connected = line.contains("files done");
        printed.push(line);
        if connected {
            return (line_rx, printed);
        }
    });
    let (line_rx, mut printed) = line_rx.await.unwrap();
    terminate(&serve.0);
    let status = tokio::task::spawn_blocking(move || follower.0.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
    // The process ended: the reader thread reaches the end of its output and stops.
    printed.extend(line_rx.iter());
    let printed = printed.join("\n");
    assert!(
        printed.contains("hello.txt") && printed.contains("Ferry stopped."),
        "{printed}"
    );
    assert!(
        !connection.exists(),
        "the connection file is removed on shutdown"
    );
}

/// Follows the queue until jobs for every name in `names` are done; returns how many
/// jobs the server's queue holds then.
async fn until_done(client: &mut Client, names: &[&str]) -> usize {
    let done = |client: &Client| {
        names.iter().all(|name| {
            client
                .state()
                .jobs
                .values()
                .any(|job| job.name == *name && job.status == ferry_core::JobStatus::Done)
        })
    };
    while !done(client) {
        tokio::time::timeout(Duration::from_secs(30), client.next_event())
            .await
            .unwrap_or_else(|_| panic!("{names:?} not all uploaded within 30 s"))
            .unwrap();
    }
    client.state().jobs.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_keeps_a_watched_folder_in_sync() {
    let tmp = tempfile::tempdir().unwrap();
    let connection = tmp.path().join("connection.json");
    let dest = tmp.path().join("dest");
    let watched = tmp.path().join("watched");
    std::fs::create_dir_all(&watched).unwrap();
    std::fs::write(watched.join("already-there.txt"), b"present at start\n").unwrap();
    let serve = serve(tmp.path(), &["--watch-dir", watched.to_str().unwrap()]);
    wait_for_file(&connection).await;
    let info = ferry_ws::connection_file::read(&connection).unwrap();
    let mut client = Client::connect(&info).await.unwrap();

    assert_eq!(until_done(&mut client, &["already-there.txt"]).await, 1);
    std::fs::write(watched.join("added-later.txt"), b"added while serving\n").unwrap();
    assert_eq!(until_done(&mut client, &["added-later.txt"]).await, 2);
    assert_eq!(
        std::fs::read(dest.join("already-there.txt")).unwrap(),
        b"present at start\n"
    );
    assert_eq!(
        std::fs::read(dest.join("added-later.txt")).unwrap(),
        b"added while serving\n"
    );
    terminate(&serve.0);
}
