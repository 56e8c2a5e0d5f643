//! The file that tells native clients (the CLI, scripts) how to reach the running app,
//! readable by its owner only because it holds the token.

use crate::error::WsError;
use crate::protocol::ConnectionInfo;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the desktop app writes its connection file: the user's runtime folder
/// (`$XDG_RUNTIME_DIR` on Linux), or the cache folder where there is none.
pub fn default_path() -> PathBuf {
    dirs::runtime_dir()
        .or_else(dirs::cache_dir)
        .unwrap_or_else(std::env::temp_dir)
        .join("ferry")
        .join("connection.json")
}

/// Writes `info` to `path` with mode 0600, atomically (a reader never sees half a file).
pub fn write(path: &Path, info: &ConnectionInfo) -> Result<(), WsError> {
    let fail = |source| WsError::ConnectionFile {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let partial = path.with_extension("json.part");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&partial).map_err(fail)?;
    let json = serde_json::to_vec_pretty(info).map_err(|e| fail(e.into()))?;
    file.write_all(&json).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&partial, path).map_err(fail)
}

/// Reads a connection file written by [`write`].
pub fn read(path: &Path) -> Result<ConnectionInfo, WsError> {
    let text = std::fs::read_to_string(path).map_err(|source| WsError::ConnectionFile {
        path: path.to_owned(),
        source,
    })?;
    Ok(serde_json::from_str(&text)?)
}

/// Removes the file when the server stops, so no client tries a dead port.
pub fn remove(path: &Path) {
    if let Err(error) = std::fs::remove_file(path) {
        tracing::debug!(%error, path = %path.display(), "could not remove the connection file");
    }
}
