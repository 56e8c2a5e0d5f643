//! The official Node tus server (`tests/tus-server/server.mjs`) as a child process.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use super::HARNESS_TIMEOUT;

/// How much of the server's stderr is kept for failure messages.
const STDERR_TAIL: usize = 64 * 1024;

/// Options for [`TusServer`]; start with [`TusServer::builder`].
#[derive(Debug, Clone, Default)]
pub struct TusServerOptions {
    token: Option<String>,
    max_size: Option<u64>,
    expiration: Option<Duration>,
    cleanup_interval: Option<Duration>,
    verbose: bool,
    data_dir: Option<PathBuf>,
    tls: Option<(PathBuf, PathBuf)>,
}

impl TusServerOptions {
    /// Requests other than OPTIONS need `Authorization: Bearer <token>`, else 401.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Largest accepted `Upload-Length`, announced as `Tus-Max-Size`.
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = Some(bytes);
        self
    }

    /// Unfinished uploads expire this long after creation (`Upload-Expires`, then 410).
    pub fn expiration(mut self, after: Duration) -> Self {
        self.expiration = Some(after);
        self
    }

    /// With [`Self::expiration`], delete expired uploads from disk this often.
    pub fn cleanup_interval(mut self, every: Duration) -> Self {
        self.cleanup_interval = Some(every);
        self
    }

    /// Log one line per request to this process's stderr (shown when a test fails).
    pub fn verbose(mut self, on: bool) -> Self {
        self.verbose = on;
        self
    }

    /// Store uploads in `dir` instead of a fresh temporary folder (kept after the test).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Serve HTTPS with this certificate (chain) and private key, both PEM files. The
    /// certificate must name `127.0.0.1`, which is what [`TusServer::endpoint`] uses.
    /// With [`Self::verbose`], each failed TLS handshake is logged as a line starting
    /// with `TLS handshake failed`.
    pub fn tls(mut self, cert_pem: impl Into<PathBuf>, key_pem: impl Into<PathBuf>) -> Self {
        self.tls = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// Starts the server and waits for its ready line.
    pub async fn start(self) -> TusServer {
        let (dir, tmp) = if let Some(dir) = &self.data_dir {
            (dir.clone(), None)
        } else {
            let tmp = tempfile::tempdir().expect("temporary folder for the tus server");
            (tmp.path().join("uploads"), Some(tmp))
        };
        let mut server = TusServer {
            options: self,
            dir,
            _tmp: tmp,
            child: None,
            port: 0,
            stderr: Arc::new(Mutex::new(String::new())),
        };
        server
            .spawn(0)
            .await
            .unwrap_or_else(|message| panic!("{message}"));
        server
    }
}

/// A running Node tus server on 127.0.0.1, killed on drop.
pub struct TusServer {
    options: TusServerOptions,
    dir: PathBuf,
    // Dropped after the child (field order): the folder outlives the process writing to it.
    child: Option<Child>,
    _tmp: Option<tempfile::TempDir>,
    port: u16,
    stderr: Arc<Mutex<String>>,
}

impl TusServer {
    /// Options: token, size limit, expiration, verbosity, data folder, TLS.
    pub fn builder() -> TusServerOptions {
        TusServerOptions::default()
    }

    /// A server with default options: no token, no size limit, no expiration.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// The creation URL, `http://127.0.0.1:PORT/files/` (`https` with [`TusServerOptions::tls`]).
    pub fn endpoint(&self) -> String {
        let scheme = if self.options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}/files/", self.port)
    }

    /// The URL of the upload with this id (what the server's `Location` names).
    pub fn upload_url(&self, id: &str) -> String {
        format!("{}{id}", self.endpoint())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The file store's folder: a data file per upload and its `<id>.json` info.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    pub fn token(&self) -> Option<&str> {
        self.options.token.as_deref()
    }

    /// What the server wrote to stderr so far (the last 64 KiB).
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr buffer").clone()
    }

    /// Whether the process is still alive.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Graceful stop: SIGTERM (the server closes every connection and exits), then wait.
    /// Falls back to a kill when it does not exit within the harness timeout.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        terminate(&mut child);
        if tokio::time::timeout(HARNESS_TIMEOUT, child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
            panic!(
                "the tus server ignored SIGTERM for {HARNESS_TIMEOUT:?}; stderr:\n{}",
                self.stderr()
            );
        }
    }

    /// Abrupt stop: SIGKILL, as a crash or a power cut would; then wait for the exit.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Stops the server (if running) and starts it again on the same port with the same
    /// data folder, so upload URLs handed out before stay valid.
    pub async fn restart(&mut self) {
        self.stop().await;
        let port = self.port;
        // The port was just released; binding it again can briefly fail on some systems.
        // Retrying a child process with a deadline is the only way to observe that.
        let deadline = Instant::now() + HARNESS_TIMEOUT;
        loop {
            match self.spawn(port).await {
                Ok(()) => return,
                Err(message) if message.contains("EADDRINUSE") && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(message) => panic!("{message}"),
            }
        }
    }

    /// Every upload in the store (finished or not), sorted by creation date then id.
    pub fn uploaded_files(&self) -> Vec<StoredUpload> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut uploads: Vec<StoredUpload> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter_map(|info_path| StoredUpload::read(&info_path))
            .collect();
        uploads.sort_by(|a, b| {
            (a.creation_date.as_deref(), &a.id).cmp(&(b.creation_date.as_deref(), &b.id))
        });
        uploads
    }

    /// The upload whose `filename` metadata is `filename`; the most recent when several are.
    pub fn file_by_name(&self, filename: &str) -> Option<StoredUpload> {
        self.uploaded_files()
            .into_iter()
            .rev()
            .find(|u| u.filename() == Some(filename))
    }

    /// The upload with this id.
    pub fn upload(&self, id: &str) -> Option<StoredUpload> {
        StoredUpload::read(&self.dir.join(format!("{id}.json")))
    }

    async fn spawn(&mut self, port: u16) -> Result<(), String> {
        let root = repo_root();
        let script = root.join("tests/tus-server/server.mjs");
        let node = std::env::var_os("FERRY_NODE").unwrap_or_else(|| "node".into());
        let mut command = Command::new(&node);
        command
            .arg(&script)
            .arg("--dir")
            .arg(&self.dir)
            .arg("--port")
            .arg(port.to_string())
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let o = &self.options;
        if let Some(token) = &o.token {
            command.arg("--token").arg(token);
        }
        if let Some(max) = o.max_size {
            command.arg("--max-size").arg(max.to_string());
        }
        if let Some(after) = o.expiration {
            command
                .arg("--expiration-ms")
                .arg(after.as_millis().to_string());
        }
        if let Some(every) = o.cleanup_interval {
            command
                .arg("--cleanup-interval-ms")
                .arg(every.as_millis().to_string());
        }
        if let Some((cert, key)) = &o.tls {
            command
                .arg("--tls-cert")
                .arg(cert)
                .arg("--tls-key")
                .arg(key);
        }
        if o.verbose {
            command.arg("--verbose");
        }
        let mut child = command.spawn().map_err(|e| {
            format!(
                "cannot start {} ({e}): the tus tests need Node.js 20.19+ on PATH \
                 (or FERRY_NODE) and `npm ci` run at the repository root",
                node.to_string_lossy()
            )
        })?;

        self.stderr.lock().expect("stderr buffer").clear();
        let stderr_drained = drain_stderr(
            child.stderr.take().expect("piped stderr"),
            Arc::clone(&self.stderr),
            o.verbose,
        );
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        let read = tokio::time::timeout(HARNESS_TIMEOUT, stdout.read_line(&mut line)).await;
        let failure = |why: String, child: &mut Child| {
            let _ = child.start_kill();
            why
        };
        match read {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => {
                // Exited before the ready line: wait for it so its stderr is complete.
                let status = tokio::time::timeout(HARNESS_TIMEOUT, child.wait()).await;
                let _ = tokio::time::timeout(HARNESS_TIMEOUT, stderr_drained).await;
                let stderr = self.stderr();
                return Err(format!(
                    "the tus server exited before it was ready ({status:?}). If a package is \
                     missing, run `npm ci` at the repository root. stderr:\n{stderr}"
                ));
            }
            Err(_) => {
                return Err(failure(
                    format!(
                        "the tus server printed no ready line within {HARNESS_TIMEOUT:?} \
                         (run `npm ci` at the repository root?); stderr:\n{}",
                        self.stderr()
                    ),
                    &mut child,
                ));
            }
        }
        let ready: serde_json::Value = serde_json::from_str(line.trim())
            .map_err(|e| format!("the tus server's ready line is not JSON ({e}): {line:?}"))?;
        let bound = ready["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| format!("no port in the tus server's ready line: {line:?}"))?;
        // Nothing else is expected on stdout; keep draining so the pipe can never fill.
        drain(stdout);
        self.port = bound;
        self.child = Some(child);
        Ok(())
    }
}

/// One upload as the file store keeps it on disk.
#[derive(Debug, Clone)]
pub struct StoredUpload {
    pub id: String,
    /// The uploaded bytes so far.
    pub data_path: PathBuf,
    /// The store's `<id>.json`.
    pub info_path: PathBuf,
    /// `Upload-Length`; `None` when the length was deferred and not declared yet.
    pub size: Option<u64>,
    /// Bytes received: the data file's length (the JSON's own `offset` stays 0).
    pub offset: u64,
    /// Decoded `Upload-Metadata`; a key sent without a value maps to `None`.
    pub metadata: BTreeMap<String, Option<String>>,
    pub creation_date: Option<String>,
    /// The whole info JSON, for anything the fields above leave out.
    pub info: serde_json::Value,
}

impl StoredUpload {
    fn read(info_path: &Path) -> Option<Self> {
        let id = info_path.file_stem()?.to_string_lossy().into_owned();
        let data_path = info_path.with_file_name(&id);
        let info: serde_json::Value =
            serde_json::from_slice(&std::fs::read(info_path).ok()?).ok()?;
        let offset = std::fs::metadata(&data_path).ok()?.len();
        let metadata = info["metadata"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned)))
                    .collect()
            })
            .unwrap_or_default();
        Some(Self {
            id,
            data_path,
            info_path: info_path.to_path_buf(),
            size: info["size"].as_u64(),
            offset,
            metadata,
            creation_date: info["creation_date"].as_str().map(str::to_owned),
            info,
        })
    }

    /// The `filename` metadata value (what tus-js-client and most clients send).
    pub fn filename(&self) -> Option<&str> {
        self.metadata.get("filename")?.as_deref()
    }

    /// Whether every declared byte arrived.
    pub fn is_complete(&self) -> bool {
        self.size == Some(self.offset)
    }

    /// The bytes on the server's disk.
    pub fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.data_path).expect("read the stored upload")
    }
}

/// The repository root, where `tests/tus-server` and `node_modules` live.
fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest
        .ancestors()
        .find(|dir| dir.join("tests/tus-server/server.mjs").is_file())
        .unwrap_or_else(|| {
            panic!(
                "tests/tus-server/server.mjs not found above {}",
                manifest.display()
            )
        });
    root.to_path_buf()
}

#[cfg(unix)]
fn terminate(child: &mut Child) {
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw);
    match pid {
        Some(pid) => {
            // ESRCH: it exited meanwhile, which is what we want anyway.
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        None => {
            let _ = child.start_kill();
        }
    }
}

#[cfg(not(unix))]
fn terminate(child: &mut Child) {
    // No SIGTERM here; a kill still leaves the stored bytes on disk.
    let _ = child.start_kill();
}

fn drain_stderr(
    stderr: impl AsyncRead + Unpin + Send + 'static,
    into: Arc<Mutex<String>>,
    echo: bool,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if echo {
                eprintln!("[tus server] {line}");
            }
            let mut buffer = into.lock().expect("stderr buffer");
            buffer.push_str(&line);
            buffer.push('\n');
            if buffer.len() > STDERR_TAIL {
                let mut cut = buffer.len() - STDERR_TAIL;
                while !buffer.is_char_boundary(cut) {
                    cut += 1;
                }
                buffer.drain(..cut);
            }
        }
    })
}

fn drain(stdout: BufReader<impl AsyncRead + Unpin + Send + 'static>) {
    tokio::spawn(async move {
        let mut lines = stdout.lines();
        while let Ok(Some(_)) = lines.next_line().await {}
    });
}
