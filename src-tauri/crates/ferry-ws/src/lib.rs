//! Ferry's local WebSocket: the protocol that streams progress to the webview and other
//! local clients, the authenticated loopback server, and a Rust client.
//!
//! Any web page the user visits can open `ws://127.0.0.1:PORT`, so the server checks a
//! per-launch token, the Origin and the Host in the handshake, before a socket exists.
//! `docs/protocol.md` describes the protocol, its limits and its threat model.
//!
//! To run the engine and the server without a window (a command-line `serve`, say),
//! use [`Headless::start`].

pub mod access;
pub mod backend;
pub mod client;
pub mod connection_file;
mod encoded;
pub mod error;
pub mod headless;
mod hub;
mod io;
mod metrics;
mod outbox;
pub mod protocol;
mod rate;
pub mod server;
pub mod token;

pub use backend::Backend;
pub use client::{Client, ClientState, Handshake};
pub use error::WsError;
pub use headless::Headless;
pub use protocol::{
    AppInfo, ClientMessage, Command, CommandResult, ConnectionInfo, JobChange, Limits,
    MetricsSnapshot, ServerMessage,
};
pub use server::{Server, ServerConfig};
pub use token::Token;
