//! Test support for the tus destination, shared by the integration tests that need it.
//!
//! - [`TusServer`]: the official Node tus server (`tests/tus-server/server.mjs`) in a child
//!   process, with its on-disk store readable from the test.
//! - [`FaultProxy`]: a TCP proxy that cuts, stalls, slows down or refuses connections on command.
//! - [`ScriptedServer`]: an HTTP/1.1 server whose every answer the test decides, with a record
//!   of what it received; [`TusLikeState`] is a correct in-memory tus server to wrap in it, so
//!   a test injects one fault at a time.
//! - [`HttpConnection`] and [`http_request`]: a raw HTTP/1.1 client for the harness's own tests
//!   and for tests that check a server's state behind the client's back.
//!
//! Include it with `#[path = "support_tus/mod.rs"] mod support_tus;`.

// Each test binary uses its own subset, and items are `pub` for the including test file.
#![allow(dead_code, unreachable_pub, unused_imports)]

mod http;
mod node;
mod proxy;
mod scripted;
mod tus_like;

pub use http::{http_request, HttpConnection, HttpResponse};
pub use node::{StoredUpload, TusServer, TusServerOptions};
pub use proxy::FaultProxy;
pub use scripted::{RecordedRequest, ScriptedRequest, ScriptedResponse, ScriptedServer};
pub use tus_like::{checksum_header, TusLikeState, TusLikeUpload, CHECKSUM_ALGORITHMS};

/// Boxed error for the harness's fallible calls; tests `.expect()` them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Longest wait for a harness event (a server's ready line, a request count, a byte count)
/// before the test fails with a message instead of hanging.
pub const HARNESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);
