//! The per-launch secret that every client must present.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use subtle::ConstantTimeEq;

/// A fresh 256-bit random token, created once per server start. Its `Debug` output is
/// redacted so it never lands in a log by accident.
#[derive(Clone)]
pub struct Token {
    bytes: [u8; 32],
}

impl Token {
    /// Draws a new token from the operating system's random source.
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        Self { bytes }
    }

    /// The token as sent on the wire: base64url without padding (43 characters).
    pub fn encoded(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.bytes)
    }

    /// Compares an offered token with this one in constant time, so the time taken says
    /// nothing about how many leading bytes were right.
    pub fn matches(&self, offered: &str) -> bool {
        match URL_SAFE_NO_PAD.decode(offered) {
            Ok(decoded) => decoded.as_slice().ct_eq(&self.bytes).into(),
            Err(_) => false,
        }
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_matches_its_own_encoding_only() {
        let token = Token::generate();
        assert!(token.matches(&token.encoded()));
        assert!(!token.matches(&Token::generate().encoded()));
        assert!(!token.matches(""));
        assert!(!token.matches("not base64 !"));
        let mut truncated = token.encoded();
        truncated.pop();
        assert!(!token.matches(&truncated));
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let token = Token::generate();
        let shown = format!("{token:?}");
        assert!(!shown.contains(&token.encoded()));
        assert!(shown.contains("redacted"));
    }
}
