//! The tus requests themselves and what their answers mean.
//!
//! Every answer is sorted into an [`Outcome`] that the upload loop acts on: go on,
//! retry after a delay, ask the server where it stands (HEAD), shrink the chunk,
//! resend the chunk, start a new upload, or fail the job with the server's words.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Response, StatusCode};

use super::retry::retry_after;
use crate::error::CoreError;

/// The protocol version Ferry speaks.
pub(crate) const TUS_VERSION: &str = "1.0.0";

/// The body type of PATCH requests (and of POST with creation-with-upload).
pub(crate) const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

/// Status codes of the checksum extension: 460 Checksum Mismatch, and 417, which some
/// servers send instead.
const CHECKSUM_MISMATCH: u16 = 460;

/// Why a request did not move the upload forward, and what to do about it.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Worth trying again after a delay: a network error, a 5xx, 423, 429, a stall,
    /// an answer that made no sense. `after` is the server's `Retry-After`.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// 409: the offset sent was not the server's. Ask it (HEAD) before anything else.
    Conflict,
    /// 404 or 410 on an existing upload: the server no longer has it.
    Gone { status: u16 },
    /// 413 on a request with a body: the body was too large for the server.
    TooLarge,
    /// 460 or 417: the body did not match its checksum on arrival.
    ChecksumMismatch { status: u16 },
    /// Not worth retrying: the job fails with this error.
    Fatal(CoreError),
    /// Pause, cancel or shutdown.
    Interrupted,
}

impl From<CoreError> for Failure {
    fn from(err: CoreError) -> Self {
        match err {
            CoreError::Interrupted => Self::Interrupted,
            other => Self::Fatal(other),
        }
    }
}

/// Describes a transport error with its causes ("error sending request: connection
/// refused"), which `reqwest`'s own message leaves out.
pub(crate) fn describe_transport(err: &reqwest::Error) -> String {
    let text = if err.is_timeout() {
        "the request timed out".to_owned()
    } else if err.is_connect() {
        "cannot connect".to_owned()
    } else {
        "the connection failed".to_owned()
    };
    with_causes(text, err)
}

/// `text` followed by the causes of `err` (not `err`'s own message), each once.
pub(crate) fn with_causes(mut text: String, err: &dyn std::error::Error) -> String {
    let mut source = err.source();
    let mut last = String::new();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !part.is_empty() && !last.contains(&part) && !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        last = part;
        source = cause.source();
    }
    text
}

/// A network-level failure: always worth a retry, except a TLS certificate problem,
/// which retrying cannot fix and which must never be skipped silently.
pub(crate) fn transport_failure(what: &str, err: &reqwest::Error) -> Failure {
    let detail = describe_transport(err);
    if let Some(problem) = certificate_problem(&detail) {
        return Failure::Fatal(CoreError::Remote(format!("{what} failed: {problem}")));
    }
    Failure::Retry {
        reason: format!("{what} failed: {detail}"),
        after: None,
    }
}

/// What a certificate error in a transport error's text (rustls's words, as reqwest
/// passes them on) means and what to do about it; `None` when it is no certificate error.
/// A name or date problem gets its own advice: adding a CA certificate would not fix it.
pub(crate) fn certificate_problem(detail: &str) -> Option<String> {
    let lower = detail.to_ascii_lowercase();
    if !(lower.contains("certificate")
        || lower.contains("invalidcertificate")
        || lower.contains("unknownissuer"))
    {
        return None;
    }
    // rustls says "certificate not valid for name ..." or, without context, the variant's
    // name after "invalid peer certificate: ".
    let problem = if lower.contains("not valid for name") || lower.contains("notvalidforname") {
        format!(
            "the server's TLS certificate is not valid for the server's name ({detail}). Use a name the certificate was issued for in the destination's address, or have the certificate reissued"
        )
    } else if lower.contains("certificate expired")
        || lower.contains("certificate not valid yet")
        || lower.contains("certificate: expired")
        || lower.contains("certificate: notvalidyet")
    {
        format!(
            "the server's TLS certificate has expired or is not valid yet ({detail}). Check this computer's clock, or have the server's certificate renewed"
        )
    } else {
        format!(
            "the server's TLS certificate is not trusted ({detail}). Add the server's CA certificate to the destination if it uses its own"
        )
    };
    Some(problem)
}

/// Reads at most a few hundred bytes of an error answer and makes them printable: a
/// garbage or hostile body must not flood the job's error or inject control characters.
pub(crate) async fn error_text(response: Response) -> String {
    const LIMIT: usize = 300;
    let mut response = response;
    let mut body = Vec::new();
    while body.len() < LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk[..chunk.len().min(LIMIT - body.len())]);
            }
            _ => break,
        }
    }
    let text: String = String::from_utf8_lossy(&body)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

/// Sorts an unsuccessful answer. `has_body` says whether the request carried data
/// (only then do 413 and 460 concern the chunk), `existing` whether it addressed an
/// upload that was created earlier (only then do 404 and 410 mean it is gone).
pub(crate) async fn classify(
    what: &str,
    response: Response,
    has_body: bool,
    existing: bool,
) -> Failure {
    let status = response.status();
    let code = status.as_u16();
    let after = retry_after(header(response.headers(), "retry-after"));
    match code {
        401 | 403 => {
            let text = error_text(response).await;
            Failure::Fatal(CoreError::Remote(format!(
                "authentication failed ({code}){text}. Check the destination's credentials"
            )))
        }
        409 => Failure::Conflict,
        404 | 410 if existing => Failure::Gone { status: code },
        413 if has_body => Failure::TooLarge,
        CHECKSUM_MISMATCH | 417 if has_body => Failure::ChecksumMismatch { status: code },
        423 | 429 => Failure::Retry {
            reason: format!("{what}: the server said {}", status_words(status)),
            after,
        },
        _ if status.is_server_error() => {
            let text = error_text(response).await;
            Failure::Retry {
                reason: format!("{what}: the server answered {}{text}", status_words(status)),
                after,
            }
        }
        _ => {
            let text = error_text(response).await;
            Failure::Fatal(CoreError::Remote(format!(
                "{what} was refused: the server answered {}{text}",
                status_words(status)
            )))
        }
    }
}

/// "503 Service Unavailable", or "460" for codes without a standard reason.
pub(crate) fn status_words(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None if status.as_u16() == CHECKSUM_MISMATCH => "460 Checksum Mismatch".into(),
        None => status.as_u16().to_string(),
    }
}

/// A header's value as text, if present and readable.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A numeric header (`Upload-Offset`, `Upload-Length`, `Tus-Max-Size`).
pub(crate) fn number_header(headers: &HeaderMap, name: &str) -> Result<Option<u64>, String> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| format!("its {name} header is not a number: {value:?}")),
    }
}

/// A comma-separated header (`Tus-Version`, `Tus-Extension`), lower-cased and trimmed.
pub(crate) fn list_header(headers: &HeaderMap, name: &str) -> Vec<String> {
    header(headers, name)
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Headers sent with every request: the protocol version, then the destination's own
/// (credentials marked sensitive, so they never appear in debug output).
pub(crate) fn base_headers(extra: &[(String, String)]) -> Result<HeaderMap, CoreError> {
    let mut headers = HeaderMap::new();
    headers.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    for (name, value) in extra {
        let header_name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
            CoreError::Remote(format!(
                "`{name}` is not a valid HTTP header name; fix the destination's headers"
            ))
        })?;
        let mut header_value = HeaderValue::from_str(value.trim()).map_err(|_| {
            CoreError::Remote(format!(
                "the value of the header `{name}` contains characters HTTP does not allow; fix the destination's headers"
            ))
        })?;
        header_value.set_sensitive(true);
        headers.append(header_name, header_value);
    }
    Ok(headers)
}

/// "HEAD http://…/files/abc" for messages; never includes headers (credentials).
pub(crate) fn describe_request(method: &Method, url: &url::Url) -> String {
    format!("{method} {url}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_parsing_is_strict_about_numbers() {
        let mut headers = HeaderMap::new();
        headers.insert("upload-offset", HeaderValue::from_static(" 42 "));
        headers.insert("upload-length", HeaderValue::from_static("-1"));
        headers.insert(
            "tus-extension",
            HeaderValue::from_static("creation, Termination,,checksum"),
        );
        assert_eq!(number_header(&headers, "upload-offset"), Ok(Some(42)));
        assert!(number_header(&headers, "upload-length")
            .unwrap_err()
            .contains("not a number"));
        assert_eq!(number_header(&headers, "tus-max-size"), Ok(None));
        assert_eq!(
            list_header(&headers, "tus-extension"),
            ["creation", "termination", "checksum"]
        );
    }

    #[test]
    fn extra_headers_are_validated_and_hidden() {
        let headers = base_headers(&[("Authorization".into(), "Bearer s3cret".into())]).unwrap();
        assert_eq!(headers["tus-resumable"], TUS_VERSION);
        assert!(headers["authorization"].is_sensitive());
        assert!(!format!("{headers:?}").contains("s3cret"));
        assert!(base_headers(&[("Bad Name".into(), "x".into())]).is_err());
        assert!(base_headers(&[("X-A".into(), "line\nbreak".into())]).is_err());
    }

    #[test]
    fn certificate_errors_are_told_apart_from_network_errors() {
        // What reqwest 0.12 with rustls reports, as `describe_transport` renders it.
        let unknown =
            "cannot connect: client error (Connect): invalid peer certificate: UnknownIssuer";
        let problem = certificate_problem(unknown).unwrap();
        assert!(
            problem.contains("is not trusted")
                && problem.contains("UnknownIssuer")
                && problem.contains("Add the server's CA certificate"),
            "{problem}"
        );
        let name = "cannot connect: client error (Connect): invalid peer certificate: certificate not valid for name \"127.0.0.1\"; certificate is only valid for DnsName(\"other.test\")";
        let problem = certificate_problem(name).unwrap();
        assert!(
            problem.contains("not valid for the server's name")
                && !problem.contains("CA certificate"),
            "{problem}"
        );
        for expired in [
            "cannot connect: invalid peer certificate: certificate expired: verification time 2 (UNIX), but certificate is not valid after 1 (1 seconds ago)",
            "cannot connect: invalid peer certificate: Expired",
            "cannot connect: invalid peer certificate: NotValidYet",
        ] {
            let problem = certificate_problem(expired).unwrap();
            assert!(problem.contains("has expired or is not valid yet"), "{problem}");
        }
        // A revocation list's dates are not the server certificate's.
        let crl = "cannot connect: invalid peer certificate: certificate revocation list expired: verification time 2 (UNIX), but CRL is not valid after 1 (1 seconds ago)";
        assert!(certificate_problem(crl).unwrap().contains("is not trusted"));
        assert_eq!(
            certificate_problem(
                "cannot connect: tcp connect error: Connection refused (os error 111)"
            ),
            None
        );
    }

    #[test]
    fn status_words_name_tus_codes() {
        assert_eq!(
            status_words(StatusCode::from_u16(460).unwrap()),
            "460 Checksum Mismatch"
        );
        assert_eq!(
            status_words(StatusCode::SERVICE_UNAVAILABLE),
            "503 Service Unavailable"
        );
    }
}
