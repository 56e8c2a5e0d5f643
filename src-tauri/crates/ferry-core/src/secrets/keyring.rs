//! Secrets in the operating system's keyring: the Keychain on macOS, the Credential
//! Manager on Windows, a Secret Service (GNOME Keyring, `KWallet`) on Linux.
//!
//! Each secret is one keyring entry: the service is the app identifier
//! ([`APP_IDENTIFIER`]), the account is the name the secret goes by (a destination's
//! id). On Linux the Secret Service item carries the attributes `service`, `username`
//! and `target` (`default`), so `secret-tool lookup service app.ferry.desktop username
//! ID` finds it.
//!
//! Keyring calls block (D-Bus round trips, an unlock prompt), so every call runs on
//! tokio's blocking pool, never on an async worker thread. A keyring that cannot be
//! reached is an error that says so and what to do: Ferry never puts the secret
//! anywhere else instead.

use keyring::credential::CredentialPersistence;
use keyring::Entry;

use super::{Secret, SecretStore};
use crate::error::CoreError;

/// The app's identifier: the keyring service of its secrets, and the name of its
/// configuration folder. The desktop app and the `ferry` command share both.
pub const APP_IDENTIFIER: &str = "app.ferry.desktop";

/// A [`SecretStore`] backed by the operating system's keyring.
#[derive(Debug, Clone)]
pub struct KeyringSecrets {
    /// The keyring service the entries are filed under.
    service: String,
}

impl KeyringSecrets {
    /// The store of the app's secrets (service [`APP_IDENTIFIER`]). Fails when this
    /// build has no keyring for the operating system, rather than keeping secrets in
    /// memory behind the user's back.
    pub fn new() -> Result<Self, CoreError> {
        Self::with_service(APP_IDENTIFIER)
    }

    /// A store filed under another service, so tests never touch the app's entries.
    pub fn with_service(service: impl Into<String>) -> Result<Self, CoreError> {
        if !Self::is_native() {
            return Err(CoreError::KeyringUnavailable {
                action: "use the system keyring".into(),
                detail: "this build of Ferry has no keyring support for this operating system"
                    .into(),
            });
        }
        Ok(Self {
            service: service.into(),
        })
    }

    /// True when entries go to the platform's own store, which keeps them until they
    /// are deleted. The keyring crate quietly falls back to an in-memory store when it
    /// was built without the platform's feature; this tells the two apart.
    pub fn is_native() -> bool {
        matches!(
            keyring::default::default_credential_builder().persistence(),
            CredentialPersistence::UntilDelete
        )
    }

    /// The keyring service the entries are filed under.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Runs `call` on the entry for `name`, on the blocking pool.
    async fn with_entry<T, F>(&self, name: &str, action: String, call: F) -> Result<T, CoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Entry) -> keyring::Result<T> + Send + 'static,
    {
        let service = self.service.clone();
        let account = name.to_owned();
        let blocking_action = action.clone();
        tokio::task::spawn_blocking(move || {
            let entry =
                Entry::new(&service, &account).map_err(|e| keyring_error(&blocking_action, e))?;
            call(&entry).map_err(|e| keyring_error(&blocking_action, e))
        })
        .await
        .map_err(|e| CoreError::Internal(format!("the keyring task stopped ({action}): {e}")))?
    }
}

#[async_trait::async_trait]
impl SecretStore for KeyringSecrets {
    async fn get(&self, name: &str) -> Result<Option<Secret>, CoreError> {
        let action = format!("read the secret `{name}` from the system keyring");
        self.with_entry(name, action, |entry| match entry.get_password() {
            Ok(value) => Ok(Some(Secret::new(value))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(other) => Err(other),
        })
        .await
    }

    async fn set(&self, name: &str, secret: &Secret) -> Result<(), CoreError> {
        let action = format!("store the secret `{name}` in the system keyring");
        let secret = secret.clone();
        self.with_entry(name, action, move |entry| {
            entry.set_password(secret.expose())
        })
        .await
    }

    async fn delete(&self, name: &str) -> Result<(), CoreError> {
        let action = format!("delete the secret `{name}` from the system keyring");
        self.with_entry(name, action, |entry| match entry.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(other) => Err(other),
        })
        .await
    }
}

/// Turns a keyring error into a message that says what happened and what to do. The
/// keyring's own words are kept as detail; none of its variants carries a secret
/// (`BadEncoding` carries the stored bytes, which are left out).
fn keyring_error(action: &str, err: keyring::Error) -> CoreError {
    let action = action.to_owned();
    match err {
        keyring::Error::NoStorageAccess(inner) => {
            let detail = inner.to_string();
            if detail.to_ascii_lowercase().contains("no result") {
                // The Secret Service has no default collection to put the entry in.
                CoreError::KeyringUnavailable {
                    action,
                    detail: format!("{detail}: there is no default keyring collection"),
                }
            } else {
                CoreError::KeyringLocked { action, detail }
            }
        }
        keyring::Error::PlatformFailure(inner) => {
            let detail = inner.to_string();
            let lower = detail.to_ascii_lowercase();
            if lower.contains("locked") || lower.contains("prompt") || lower.contains("denied") {
                CoreError::KeyringLocked { action, detail }
            } else if lower.contains("dbus")
                || lower.contains("d-bus")
                || lower.contains("secret service")
                || lower.contains("not available")
                || lower.contains("no keychain")
            {
                CoreError::KeyringUnavailable { action, detail }
            } else {
                CoreError::Keyring {
                    action,
                    detail: format!(
                        "the system keyring failed ({detail}); try again, and check the keyring in your system's settings"
                    ),
                }
            }
        }
        keyring::Error::NoEntry => CoreError::Keyring {
            action,
            detail: "the keyring has no such entry; add the credential again in the destination's settings".into(),
        },
        keyring::Error::BadEncoding(_) => CoreError::Keyring {
            action,
            detail: "the stored value is not text; store the credential again in the destination's settings".into(),
        },
        keyring::Error::TooLong(attribute, limit) => CoreError::Keyring {
            action,
            detail: format!(
                "the keyring refuses an entry whose {attribute} is longer than {limit} characters; use a shorter credential"
            ),
        },
        keyring::Error::Invalid(attribute, reason) => CoreError::Keyring {
            action,
            detail: format!("the keyring refuses the entry's {attribute}: {reason}"),
        },
        keyring::Error::Ambiguous(items) => CoreError::Keyring {
            action,
            detail: format!(
                "{} keyring entries match it; remove the extra ones with your keyring manager (service {APP_IDENTIFIER})",
                items.len()
            ),
        },
        other => CoreError::Keyring {
            action,
            detail: format!("the system keyring failed ({other}); try again"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without the platform feature the keyring crate keeps entries in memory and
    /// loses them: this build must use the real store.
    #[test]
    #[cfg(any(
        target_os = "linux",
        target_os = "macos",
        target_os = "windows",
        target_os = "freebsd",
        target_os = "openbsd"
    ))]
    fn this_build_uses_the_platforms_own_keyring() {
        assert!(
            KeyringSecrets::is_native(),
            "the keyring crate was built without this platform's store"
        );
        assert_eq!(KeyringSecrets::new().unwrap().service(), APP_IDENTIFIER);
    }

    #[test]
    fn keyring_errors_say_what_happened_and_never_carry_the_value() {
        let io = |text: &str| -> Box<dyn std::error::Error + Send + Sync> { text.into() };
        let unavailable = keyring_error(
            "store the secret `d1`",
            keyring::Error::PlatformFailure(io("No DBus session or Secret Service provider found")),
        );
        assert!(
            matches!(unavailable, CoreError::KeyringUnavailable { .. }),
            "{unavailable:?}"
        );
        let text = unavailable.to_string();
        assert!(
            text.contains("system keyring is not available") && text.contains("never stores"),
            "{text}"
        );
        let locked = keyring_error(
            "read the secret `d1`",
            keyring::Error::NoStorageAccess(io("Secret Service: object locked")),
        );
        assert!(
            matches!(locked, CoreError::KeyringLocked { .. }),
            "{locked:?}"
        );
        assert!(locked.to_string().contains("Unlock it"), "{locked}");
        let refused = keyring_error(
            "read the secret `d1`",
            keyring::Error::NoStorageAccess(io("Secret Service: unlock prompt was dismissed")),
        );
        assert!(matches!(refused, CoreError::KeyringLocked { .. }));
        let bad = keyring_error(
            "read the secret `d1`",
            keyring::Error::BadEncoding(b"hunter2\xff".to_vec()),
        );
        let text = format!("{bad} {bad:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("not text"), "{text}");
    }
}
