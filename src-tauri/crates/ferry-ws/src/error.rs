//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong starting, serving or talking to the local WebSocket.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    /// The listening socket could not be opened.
    #[error("could not listen on {addr}: {source}; another program may hold the port, or loopback networking is disabled")]
    Bind {
        /// The address tried.
        addr: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The connection file could not be written.
    #[error("could not write the connection file {path}: {source}; check that the folder exists and is writable")]
    ConnectionFile {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A client could not connect or lost its connection.
    #[error("WebSocket connection failed: {0}")]
    Connection(#[from] tokio_tungstenite::tungstenite::Error),
    /// The server refused the handshake with an HTTP status.
    #[error("the server refused the connection with HTTP {status}: {reason}")]
    Refused {
        /// The HTTP status of the refusal.
        status: u16,
        /// The server's short reason.
        reason: String,
    },
    /// A message could not be encoded or decoded.
    #[error("a message was not valid protocol JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The peer closed the connection.
    #[error("the connection was closed{}", .0.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Closed(Option<String>),
    /// No answer came in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The engine behind a headless server could not start.
    #[error("the upload engine could not start: {0}")]
    Engine(#[from] ferry_core::CoreError),
    /// A plain `ws://` URL named a host other than this machine. Loopback traffic never
    /// leaves the machine; anything else would travel unencrypted.
    #[error("refusing to connect to {0} without encryption: the local progress socket is only reachable on 127.0.0.1, localhost or [::1]")]
    NotLoopback(String),
    /// The server answered a command with an error.
    #[error("the command failed ({code:?}): {message}")]
    Command {
        /// The protocol's error code.
        code: crate::protocol::ErrorCode,
        /// The server's words.
        message: String,
    },
}
