//! Who may open the socket. Any web page the user visits can try `ws://127.0.0.1:PORT`,
//! so every upgrade request is checked here, in the handshake, before a socket exists.

use crate::protocol::{PROTOCOL, TOKEN_PROTOCOL_PREFIX};
use crate::token::Token;
use tokio_tungstenite::tungstenite::http::{HeaderMap, StatusCode};

/// Origins of the packaged webview on each platform.
pub const WEBVIEW_ORIGINS: [&str; 3] = [
    "tauri://localhost",
    "http://tauri.localhost",
    "https://tauri.localhost",
];

/// The rules one server applies to every upgrade request.
#[derive(Debug, Clone)]
pub struct AccessPolicy {
    /// The launch token clients must present.
    pub token: Token,
    /// Origins accepted, compared exactly (no prefix or suffix matching).
    pub allowed_origins: Vec<String>,
    /// The port the server listens on; the Host header must name it.
    pub port: u16,
}

/// Why an upgrade request was refused; becomes an HTTP error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No `ferry.v1` subprotocol was offered.
    MissingProtocol,
    /// No `ferry.token.*` subprotocol was offered.
    MissingToken,
    /// A token was offered but it is not this launch's.
    WrongToken,
    /// The request came from a web page whose origin is not allowed.
    ForeignOrigin(String),
    /// The Host header does not name this loopback server (DNS rebinding).
    ForeignHost(String),
    /// Every connection slot is taken.
    TooManyConnections,
}

impl Refusal {
    /// The HTTP status sent for this refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingProtocol => StatusCode::BAD_REQUEST,
            Self::MissingToken | Self::WrongToken => StatusCode::UNAUTHORIZED,
            Self::ForeignOrigin(_) | Self::ForeignHost(_) => StatusCode::FORBIDDEN,
            Self::TooManyConnections => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The short reason sent in the response body.
    pub fn reason(&self) -> String {
        match self {
            Self::MissingProtocol => format!("offer the `{PROTOCOL}` subprotocol"),
            Self::MissingToken => "a launch token is required".to_owned(),
            Self::WrongToken => "the launch token is not valid".to_owned(),
            Self::ForeignOrigin(origin) => format!("origin `{origin}` is not allowed"),
            Self::ForeignHost(host) => format!("host `{host}` is not this loopback server"),
            Self::TooManyConnections => "too many connections; try again later".to_owned(),
        }
    }
}

impl AccessPolicy {
    /// Checks one upgrade request's headers. Host first (a rebinding page is refused
    /// whatever else it sends), then Origin, then the subprotocols and the token.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        if headers.get_all("host").iter().count() > 1 {
            return Err(Refusal::ForeignHost("several Host headers".to_owned()));
        }
        let host = header(headers, "host").unwrap_or_default();
        if !self.is_loopback_host(host) {
            return Err(Refusal::ForeignHost(shown(host)));
        }
        match headers.get_all("origin").iter().count() {
            // No Origin means a native client; it still needs the token below.
            0 => {}
            1 => {
                let origin = header(headers, "origin").unwrap_or_default();
                if !self.allowed_origins.iter().any(|allowed| allowed == origin) {
                    return Err(Refusal::ForeignOrigin(shown(origin)));
                }
            }
            _ => return Err(Refusal::ForeignOrigin("several Origin headers".to_owned())),
        }
        let offered: Vec<&str> = headers
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        if !offered.contains(&PROTOCOL) {
            return Err(Refusal::MissingProtocol);
        }
        let tokens: Vec<&str> = offered
            .iter()
            .filter_map(|p| p.strip_prefix(TOKEN_PROTOCOL_PREFIX))
            .collect();
        match tokens.as_slice() {
            [] => Err(Refusal::MissingToken),
            [token] if self.token.matches(token) => Ok(()),
            _ => Err(Refusal::WrongToken),
        }
    }

    fn is_loopback_host(&self, host: &str) -> bool {
        let port = self.port.to_string();
        ["127.0.0.1", "localhost", "[::1]"].iter().any(|name| {
            host.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(':'))
                == Some(&port)
        })
    }
}

/// A header value as it may be echoed in a refusal: escaped and cut short, so a
/// refusal never carries control characters or a large body back.
fn shown(value: &str) -> String {
    let escaped: String = value.escape_debug().collect();
    match escaped.char_indices().nth(100) {
        Some((end, _)) => format!("{}...", &escaped[..end]),
        None => escaped,
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::http::HeaderValue;

    fn policy() -> AccessPolicy {
        AccessPolicy {
            token: Token::generate(),
            allowed_origins: WEBVIEW_ORIGINS.iter().map(|s| (*s).to_owned()).collect(),
            port: 4242,
        }
    }

    fn request(host: &str, origin: Option<&str>, token: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_str(host).unwrap());
        if let Some(origin) = origin {
            headers.insert("origin", HeaderValue::from_str(origin).unwrap());
        }
        let protocols = match token {
            Some(t) => format!("{PROTOCOL}, {TOKEN_PROTOCOL_PREFIX}{t}"),
            None => PROTOCOL.to_owned(),
        };
        headers.insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(&protocols).unwrap(),
        );
        headers
    }

    #[test]
    fn the_webview_with_its_token_is_let_in() {
        let p = policy();
        let token = p.token.encoded();
        for origin in WEBVIEW_ORIGINS {
            assert_eq!(
                p.check(&request("127.0.0.1:4242", Some(origin), Some(&token))),
                Ok(())
            );
        }
        assert_eq!(
            p.check(&request("localhost:4242", None, Some(&token))),
            Ok(())
        );
    }

    #[test]
    fn prefix_and_suffix_tricks_on_the_origin_are_refused() {
        let p = policy();
        let token = p.token.encoded();
        for origin in [
            "http://tauri.localhost.evil.com",
            "https://evil.com",
            "tauri://localhost.evil.com",
            "http://tauri.localhost:8080",
            "null",
        ] {
            assert_eq!(
                p.check(&request("127.0.0.1:4242", Some(origin), Some(&token))),
                Err(Refusal::ForeignOrigin(origin.to_owned()))
            );
        }
    }

    #[test]
    fn hosts_other_than_this_loopback_port_are_refused() {
        let p = policy();
        let token = p.token.encoded();
        for host in [
            "evil.com:4242",
            "127.0.0.1:80",
            "127.0.0.1",
            "127.0.0.1:42420",
            "localhost.evil.com:4242",
        ] {
            assert!(matches!(
                p.check(&request(host, None, Some(&token))),
                Err(Refusal::ForeignHost(_))
            ));
        }
    }

    #[test]
    fn missing_or_wrong_tokens_are_refused() {
        let p = policy();
        assert_eq!(
            p.check(&request("127.0.0.1:4242", None, None)),
            Err(Refusal::MissingToken)
        );
        let other = Token::generate().encoded();
        assert_eq!(
            p.check(&request("127.0.0.1:4242", None, Some(&other))),
            Err(Refusal::WrongToken)
        );
    }
}
