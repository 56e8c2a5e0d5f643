//! Credentials for remotes, kept out of every log and message.
//!
//! A [`Secret`] redacts itself in `Debug` and `Display`, so a secret that ends up in a
//! tracing field or an error prints as `[redacted]`. Destinations do not hold secrets
//! in their configuration: they name them, and read them through a [`SecretStore`]
//! when a request needs them (the OS keyring through [`KeyringSecrets`] in the app and
//! for stored destinations, memory in tests and in the one-off `ferry upload`).

mod keyring;

pub use self::keyring::{KeyringSecrets, APP_IDENTIFIER};

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::error::CoreError;

/// A secret value (a token, a password, a header value) that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where secrets are read from, by name (for example a destination's id).
#[async_trait::async_trait]
pub trait SecretStore: Send + Sync + std::fmt::Debug {
    /// The secret called `name`, or `None` when there is none.
    async fn get(&self, name: &str) -> Result<Option<Secret>, CoreError>;

    /// Stores `secret` as `name`, replacing any earlier one.
    async fn set(&self, name: &str, secret: &Secret) -> Result<(), CoreError>;

    /// Deletes the secret called `name`; deleting one that is not there is no error.
    async fn delete(&self, name: &str) -> Result<(), CoreError>;
}

/// Secrets held in memory: for tests, and for credentials given on a command line for
/// one run.
#[derive(Debug, Default)]
pub struct MemorySecrets {
    secrets: Mutex<HashMap<String, Secret>>,
}

impl MemorySecrets {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `secret` as `name`, replacing any earlier one.
    pub fn insert(&self, name: impl Into<String>, secret: Secret) {
        self.secrets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.into(), secret);
    }
}

#[async_trait::async_trait]
impl SecretStore for MemorySecrets {
    async fn get(&self, name: &str) -> Result<Option<Secret>, CoreError> {
        Ok(self
            .secrets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned())
    }

    async fn set(&self, name: &str, secret: &Secret) -> Result<(), CoreError> {
        self.insert(name, secret.clone());
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<(), CoreError> {
        self.secrets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
        Ok(())
    }
}

/// How a destination authenticates; secret parts are names in a [`SecretStore`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Auth {
    /// No credentials.
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// Name of the token in the secret store.
        token: String,
    },
    /// `Authorization: Basic base64(user:password)`.
    Basic {
        /// The user name (not secret).
        user: String,
        /// Name of the password in the secret store.
        password: String,
    },
    /// A header of the server's choosing (`X-Api-Key: ...`).
    Header {
        /// The header's name.
        name: String,
        /// Name of the header's value in the secret store.
        value: String,
    },
}

impl Auth {
    /// The header to send (name, value), reading the secret from `store`. Fails with a
    /// clear message when the secret is missing.
    pub async fn header(
        &self,
        store: &dyn SecretStore,
    ) -> Result<Option<(String, Secret)>, CoreError> {
        let read = |name: &str| {
            let name = name.to_owned();
            async move {
                store.get(&name).await?.ok_or_else(|| {
                    CoreError::Remote(format!(
                        "the credential `{name}` is not stored; add it again in the destination's settings"
                    ))
                })
            }
        };
        Ok(match self {
            Self::None => None,
            Self::Bearer { token } => {
                let token = read(token).await?;
                Some((
                    "Authorization".into(),
                    Secret::new(format!("Bearer {}", token.expose())),
                ))
            }
            Self::Basic { user, password } => {
                use base64::Engine as _;
                let password = read(password).await?;
                let pair = format!("{user}:{}", password.expose());
                Some((
                    "Authorization".into(),
                    Secret::new(format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(pair)
                    )),
                ))
            }
            Self::Header { name, value } => Some((name.clone(), read(value).await?)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_themselves() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert_eq!(secret.expose(), "hunter2");
    }

    #[tokio::test]
    async fn auth_builds_each_header_from_the_store() {
        let store = MemorySecrets::new();
        store.insert("t", Secret::new("tok"));
        store.insert("p", Secret::new("pw"));
        let bearer = Auth::Bearer { token: "t".into() };
        let (name, value) = bearer.header(&store).await.unwrap().unwrap();
        assert_eq!(
            (name.as_str(), value.expose()),
            ("Authorization", "Bearer tok")
        );
        let basic = Auth::Basic {
            user: "ann".into(),
            password: "p".into(),
        };
        let (_, value) = basic.header(&store).await.unwrap().unwrap();
        assert_eq!(value.expose(), "Basic YW5uOnB3"); // base64("ann:pw")
        let custom = Auth::Header {
            name: "X-Api-Key".into(),
            value: "t".into(),
        };
        let (name, value) = custom.header(&store).await.unwrap().unwrap();
        assert_eq!((name.as_str(), value.expose()), ("X-Api-Key", "tok"));
        let missing = Auth::Bearer {
            token: "nope".into(),
        }
        .header(&store)
        .await
        .unwrap_err();
        assert!(
            missing.to_string().contains("`nope` is not stored"),
            "{missing}"
        );
        assert!(Auth::None.header(&store).await.unwrap().is_none());
    }
}
