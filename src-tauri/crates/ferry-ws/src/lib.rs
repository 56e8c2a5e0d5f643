//! Ferry's local WebSocket: the protocol that streams progress to the webview and other
//! local clients, the authenticated loopback server, and a Rust client.
//!
//! Any web page the user visits can open `ws://127.0.0.1:PORT`, so the server checks a
//! per-launch token, the Origin and the Host in the handshake, before a socket exists.

pub mod access;
pub mod client;
pub mod connection_file;
pub mod error;
pub mod hub;
pub mod protocol;
pub mod server;
pub mod token;

pub use client::{Client, Handshake};
pub use error::WsError;
pub use protocol::{ClientMessage, Command, CommandResult, ConnectionInfo, ServerMessage};
pub use server::{Server, ServerConfig};
pub use token::Token;
