//! "Test connection": one OPTIONS and one HEAD with the destination's credentials,
//! and a verdict precise enough to act on (the name does not resolve, nothing listens,
//! TLS failed, the credentials were refused, this is no tus server).

use reqwest::{Method, StatusCode};

use super::http::{
    certificate_problem, describe_transport, error_text, list_header, number_header, status_words,
};
use super::TusDestination;
use crate::error::CoreError;

/// What kind of problem a connection test found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionProblem {
    /// The server's name does not resolve (a typo, no network, a private name).
    NameResolution,
    /// Nothing accepts connections at that address and port.
    Refused,
    /// No answer in time.
    Timeout,
    /// The TLS handshake failed: an untrusted or wrong certificate, or no TLS there.
    Tls,
    /// Another network failure (reset, unreachable network).
    Network,
    /// 401: the server wants credentials, or refused the ones sent.
    Unauthorized,
    /// 403: the credentials are valid but not allowed to upload there.
    Forbidden,
    /// The server answered, but not as a tus server does.
    NotTus,
    /// The server answered with another unexpected status.
    Status(u16),
    /// The credentials could not be read (the keyring, a missing secret).
    Credentials,
}

/// What a successful connection test learned about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionReport {
    /// `Tus-Version`, most preferred first.
    pub versions: Vec<String>,
    /// `Tus-Extension`.
    pub extensions: Vec<String>,
    /// `Tus-Max-Size`, when the server has a limit.
    pub max_size: Option<u64>,
    /// True when credentials were sent and the server accepted them on a request that
    /// needs them (the HEAD); false when the destination has no credentials.
    pub credentials_checked: bool,
}

impl std::fmt::Display for ConnectionReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tus {}", self.versions.join(", "))?;
        if !self.extensions.is_empty() {
            write!(f, " with {}", self.extensions.join(", "))?;
        }
        if let Some(max) = self.max_size {
            write!(f, "; files up to {}", crate::error::human_bytes(max))?;
        }
        if self.credentials_checked {
            f.write_str("; credentials accepted")?;
        }
        Ok(())
    }
}

fn problem(problem: ConnectionProblem, detail: String) -> CoreError {
    CoreError::ConnectionTest { problem, detail }
}

/// Sorts a transport error by what the user can do about it.
fn transport_problem(target: &str, err: &reqwest::Error) -> CoreError {
    let detail = describe_transport(err);
    let lower = detail.to_ascii_lowercase();
    let refused = {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
        let mut found = false;
        while let Some(cause) = source {
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                found |= io.kind() == std::io::ErrorKind::ConnectionRefused;
            }
            source = cause.source();
        }
        found || lower.contains("connection refused")
    };
    if let Some(tls) = certificate_problem(&detail) {
        problem(ConnectionProblem::Tls, format!("{target}: {tls}"))
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        problem(
            ConnectionProblem::NameResolution,
            format!("{target}: the server's name does not resolve ({detail}). Check the address for a typo and this computer's network"),
        )
    } else if refused {
        problem(
            ConnectionProblem::Refused,
            format!("{target}: the connection was refused ({detail}). Check the port, and that the server is running"),
        )
    } else if err.is_timeout() {
        problem(
            ConnectionProblem::Timeout,
            format!("{target}: no answer in time ({detail}). Check the address, a firewall, or try again later"),
        )
    } else if ["tls", "ssl", "handshake", "corrupt message", "alert"]
        .iter()
        .any(|word| lower.contains(word))
    {
        // rustls's words for a peer that does not speak TLS ("received corrupt message
        // of type InvalidContentType") or that ended the handshake with an alert.
        problem(
            ConnectionProblem::Tls,
            format!("{target}: the TLS handshake failed ({detail}). Check that the server speaks HTTPS on that port, or use http://"),
        )
    } else {
        problem(ConnectionProblem::Network, format!("{target}: {detail}"))
    }
}

/// 401 and 403 as errors, told apart; any other answer is handed back.
async fn auth_problem(
    target: &str,
    response: reqwest::Response,
    with_credentials: bool,
) -> Result<reqwest::Response, CoreError> {
    let status = response.status();
    let (kind, advice) = match status {
        StatusCode::UNAUTHORIZED if with_credentials => (
            ConnectionProblem::Unauthorized,
            "the server refused the credentials; check the token, user name or password",
        ),
        StatusCode::UNAUTHORIZED => (
            ConnectionProblem::Unauthorized,
            "the server wants credentials; add them to the destination",
        ),
        StatusCode::FORBIDDEN => (
            ConnectionProblem::Forbidden,
            "the credentials are not allowed to upload there; check their permissions on the server",
        ),
        _ => return Ok(response),
    };
    let text = error_text(response).await;
    Err(problem(
        kind,
        format!("{target}: {}{text}: {advice}", status_words(status)),
    ))
}

impl TusDestination {
    /// Checks that the destination answers as a tus server and accepts its
    /// credentials: OPTIONS on the endpoint (the protocol's discovery), then a HEAD on
    /// an upload that does not exist, which a server that checks credentials refuses
    /// with 401 or 403 before it looks the upload up. Errors are
    /// [`CoreError::ConnectionTest`] (or the keyring's own, when the credentials cannot
    /// be read), and say what to do.
    pub async fn test_connection(&self) -> Result<ConnectionReport, CoreError> {
        let endpoint = &self.config.endpoint;
        let with_credentials = self.config.auth != crate::secrets::Auth::None;
        let headers = self.headers().await.map_err(|e| match e {
            CoreError::Remote(detail) => problem(ConnectionProblem::Credentials, detail),
            other => other,
        })?;
        let target = format!("OPTIONS {endpoint}");
        let response = self
            .client
            .request(Method::OPTIONS, endpoint.clone())
            .headers(headers.clone())
            .timeout(self.short_timeout())
            .send()
            .await
            .map_err(|e| transport_problem(&target, &e))?;
        let response = auth_problem(&target, response, with_credentials).await?;
        let status = response.status();
        let versions = list_header(response.headers(), "tus-version");
        if versions.is_empty() {
            return Err(problem(
                ConnectionProblem::NotTus,
                format!(
                    "{endpoint} is not a tus server: its answer to OPTIONS ({}) has no Tus-Version header. Check the URL (tus endpoints often end in /files/)",
                    status_words(status)
                ),
            ));
        }
        if !status.is_success() {
            let text = error_text(response).await;
            return Err(problem(
                ConnectionProblem::Status(status.as_u16()),
                format!(
                    "{target}: the server answered {}{text}",
                    status_words(status)
                ),
            ));
        }
        if !versions.iter().any(|v| v == super::http::TUS_VERSION) {
            return Err(problem(
                ConnectionProblem::NotTus,
                format!(
                    "{endpoint} speaks tus {}, but Ferry speaks tus {}",
                    versions.join(", "),
                    super::http::TUS_VERSION
                ),
            ));
        }
        let max_size = number_header(response.headers(), "tus-max-size")
            .map_err(|detail| problem(ConnectionProblem::NotTus, format!("{target}: {detail}")))?;
        let extensions = list_header(response.headers(), "tus-extension");

        // An upload id no server has: a server that checks credentials answers 401 or
        // 403 first; any other answer (404 above all) means they passed.
        let mut probe = endpoint.clone();
        probe
            .path_segments_mut()
            .map_err(|()| {
                problem(
                    ConnectionProblem::NotTus,
                    format!("{endpoint} cannot hold an upload path"),
                )
            })?
            .pop_if_empty()
            .push(&format!(
                "ferry-connection-test-{:016x}",
                rand::random::<u64>()
            ));
        let target = format!("HEAD {probe}");
        let response = self
            .client
            .head(probe.clone())
            .headers(headers)
            .timeout(self.short_timeout())
            .send()
            .await
            .map_err(|e| transport_problem(&target, &e))?;
        auth_problem(&target, response, with_credentials).await?;
        Ok(ConnectionReport {
            versions,
            extensions,
            max_size,
            credentials_checked: with_credentials,
        })
    }
}
