//! The destinations a user has set up: a versioned JSON file in the app's configuration
//! folder, shared by the desktop app and the `ferry` command.
//!
//! The file holds everything but secrets: each destination's kind and address, how it
//! authenticates (the user name or header name, never the token or password), its chunk
//! size, concurrency and bandwidth limit, and which destination is the default. A secret
//! lives in a [`SecretStore`] (the OS keyring), filed under the destination's id.
//!
//! Ids are made once and never change, so renaming a destination keeps its secret and
//! its resume points. Names are unique (ignoring case) and never contain a slash, so
//! `--to NAME` cannot be mistaken for a folder. Every change is written to a temporary
//! file that then replaces the old one, so a crash leaves the old file or the new one,
//! never half of one. A file that cannot be read is an error naming the file and the
//! problem: it is never replaced by an empty list.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use url::Url;

use crate::destination::tus::{TusConfig, TusDestination, MIN_CHUNK_SIZE};
use crate::destination::{Destination, LocalFolderDestination};
use crate::error::CoreError;
use crate::resume::ResumeLedger;
use crate::secrets::{Auth, Secret, SecretStore, APP_IDENTIFIER};

/// The environment variable that moves the configuration folder (tests, portable
/// setups); the app and the `ferry` command both honour it.
pub const CONFIG_DIR_ENV: &str = "FERRY_CONFIG_DIR";

/// The registry's file name inside the configuration folder.
pub const REGISTRY_FILE: &str = "destinations.json";

/// The format version this build writes and reads; a newer file is refused rather than
/// misread.
pub const REGISTRY_VERSION: u32 = 1;

/// Most files uploading at once that a destination may ask for.
pub const MAX_CONCURRENCY: usize = 16;

/// The configuration folder: `FERRY_CONFIG_DIR` when set, otherwise the platform's
/// configuration folder for the app identifier (`~/.config/app.ferry.desktop` on
/// Linux), the same folder Tauri gives the app.
pub fn config_dir() -> Result<PathBuf, CoreError> {
    if let Some(dir) = std::env::var_os(CONFIG_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::config_dir()
        .map(|dir| dir.join(APP_IDENTIFIER))
        .ok_or_else(|| {
            CoreError::InvalidDestination(format!(
                "this system has no configuration folder for Ferry; set {CONFIG_DIR_ENV} to one"
            ))
        })
}

/// Where a destination's files go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    /// A folder on this computer (or a mounted share).
    LocalFolder {
        /// The folder, absolute.
        path: PathBuf,
    },
    /// A tus 1.0 server.
    Tus {
        /// The creation endpoint (`https://host/files/`).
        url: String,
    },
}

/// How a destination authenticates. Only the parts that are not secret are here; the
/// secret itself is in the secret store under the destination's id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthKind {
    /// No credentials.
    #[default]
    None,
    /// `Authorization: Bearer <token>`; the token is the secret.
    Bearer,
    /// `Authorization: Basic ...`; the password is the secret.
    Basic {
        /// The user name.
        user: String,
    },
    /// A header of the server's choosing; its value is the secret.
    Header {
        /// The header's name (`X-Api-Key`).
        name: String,
    },
}

impl AuthKind {
    /// True when this kind of authentication has a secret to keep.
    pub fn needs_secret(&self) -> bool {
        !matches!(self, Self::None)
    }

    /// The engine's [`Auth`], naming the secret `secret_name` in the store.
    pub fn to_auth(&self, secret_name: &str) -> Auth {
        match self {
            Self::None => Auth::None,
            Self::Bearer => Auth::Bearer {
                token: secret_name.to_owned(),
            },
            Self::Basic { user } => Auth::Basic {
                user: user.clone(),
                password: secret_name.to_owned(),
            },
            Self::Header { name } => Auth::Header {
                name: name.clone(),
                value: secret_name.to_owned(),
            },
        }
    }

    /// A short label for lists: `none`, `bearer`, `basic (ann)`, `header X-Api-Key`.
    pub fn label(&self) -> String {
        match self {
            Self::None => "none".into(),
            Self::Bearer => "bearer".into(),
            Self::Basic { user } => format!("basic ({user})"),
            Self::Header { name } => format!("header {name}"),
        }
    }
}

/// What a user sets for a destination (everything but its id and its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct DestinationSettings {
    /// The name shown in the app and given to `ferry upload --to`; unique, no slash.
    pub name: String,
    /// Where files go.
    pub target: Target,
    /// How it authenticates.
    #[serde(default)]
    pub auth: AuthKind,
    /// Bytes per request to a tus server; the engine's default (8 MiB) when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub chunk_size: Option<u64>,
    /// Files uploading at once; the caller's default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub concurrency: Option<usize>,
    /// Upload rate cap of this destination in bytes per second; none when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub bandwidth_limit: Option<u64>,
}

impl DestinationSettings {
    /// Settings with defaults for everything but the name and target: no credentials.
    pub fn new(name: impl Into<String>, target: Target) -> Self {
        Self {
            name: name.into(),
            target,
            auth: AuthKind::None,
            chunk_size: None,
            concurrency: None,
            bandwidth_limit: None,
        }
    }

    /// Checks every field, with a message that says which one is wrong and how.
    pub fn validate(&self) -> Result<(), String> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err("a destination needs a name".into());
        }
        if name != self.name {
            return Err(format!(
                "the name `{}` starts or ends with spaces; remove them",
                self.name
            ));
        }
        if name.chars().count() > 64 {
            return Err(format!("the name `{name}` is longer than 64 characters"));
        }
        if name.contains(['/', '\\']) || name.chars().any(char::is_control) {
            return Err(format!(
                "the name `{name}` contains a slash or a control character; a name has neither, so it is never mistaken for a folder"
            ));
        }
        match &self.target {
            Target::LocalFolder { path } => {
                if !path.is_absolute() {
                    return Err(format!(
                        "the folder of `{name}` must be an absolute path, not `{}`",
                        path.display()
                    ));
                }
                if self.auth.needs_secret() {
                    return Err(format!(
                        "`{name}` is a local folder, which takes no credentials"
                    ));
                }
            }
            Target::Tus { url } => {
                tus_endpoint(url).map_err(|e| format!("the URL of `{name}`: {e}"))?;
            }
        }
        match &self.auth {
            AuthKind::Basic { user } if user.is_empty() || user.contains(':') => {
                return Err(format!(
                    "the user name of `{name}` must be given and cannot contain `:`"
                ));
            }
            AuthKind::Header { name: header }
                if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() =>
            {
                return Err(format!(
                    "`{header}` is not a valid HTTP header name (letters, digits and `-`)"
                ));
            }
            _ => {}
        }
        if let Some(size) = self.chunk_size {
            if size < MIN_CHUNK_SIZE {
                return Err(format!(
                    "the chunk size of `{name}` is {size} bytes; it must be at least {MIN_CHUNK_SIZE} (64 KiB)"
                ));
            }
        }
        if let Some(n) = self.concurrency {
            if n == 0 || n > MAX_CONCURRENCY {
                return Err(format!(
                    "the concurrency of `{name}` is {n}; it must be between 1 and {MAX_CONCURRENCY}"
                ));
            }
        }
        if self.bandwidth_limit == Some(0) {
            return Err(format!(
                "the bandwidth limit of `{name}` is 0; leave it unset for no limit"
            ));
        }
        Ok(())
    }
}

/// Parses a tus endpoint: an `http` or `https` URL with a host.
fn tus_endpoint(url: &str) -> Result<Url, String> {
    let parsed = Url::parse(url).map_err(|e| format!("`{url}` is not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "`{url}` is not an http:// or https:// address with a host"
        ));
    }
    Ok(parsed)
}

/// One stored destination: its stable id and its settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct StoredDestination {
    /// Made when the destination is added and never changed: the name of its secret in
    /// the keyring and of its resume points.
    pub id: String,
    /// Everything the user set.
    #[serde(flatten)]
    pub settings: DestinationSettings,
}

impl StoredDestination {
    /// The engine's [`Auth`] for this destination (its secret named by the id).
    pub fn auth(&self) -> Auth {
        self.settings.auth.to_auth(&self.id)
    }

    /// Where its files go, for people: the folder or the server's URL.
    pub fn place(&self) -> String {
        match &self.settings.target {
            Target::Tus { url } => url.clone(),
            Target::LocalFolder { path } => path.display().to_string(),
        }
    }

    /// Where this destination's secret is read from: the system keyring when it has
    /// one, an empty store when it has none, so that a destination without credentials
    /// works where no keyring is available. Fails, rather than falling back to memory,
    /// when the secret has nowhere to be read from.
    pub fn secret_store(&self) -> Result<Arc<dyn SecretStore>, CoreError> {
        secret_store(self.settings.auth.needs_secret())
    }

    /// The tus configuration, for a tus destination.
    pub fn tus_config(&self) -> Result<Option<TusConfig>, CoreError> {
        let Target::Tus { url } = &self.settings.target else {
            return Ok(None);
        };
        let endpoint = tus_endpoint(url).map_err(CoreError::InvalidDestination)?;
        let mut config = TusConfig::new(endpoint);
        config.name.clone_from(&self.settings.name);
        if let Some(size) = self.settings.chunk_size {
            config.chunk_size = size;
        }
        config.auth = self.auth();
        config.bandwidth_limit = self.settings.bandwidth_limit;
        Ok(Some(config))
    }

    /// The destination itself: a local folder, or a tus server whose credentials are
    /// read from `secrets` when a request needs them (a destination without
    /// credentials never touches the store).
    pub fn build(
        &self,
        ledger: Arc<dyn ResumeLedger>,
        secrets: Arc<dyn SecretStore>,
    ) -> Result<Arc<dyn Destination>, CoreError> {
        match &self.settings.target {
            Target::LocalFolder { path } => Ok(Arc::new(LocalFolderDestination::new(path.clone()))),
            Target::Tus { .. } => self.build_tus(ledger, secrets).map(|d| Arc::new(d) as _),
        }
    }

    /// The tus destination, for callers that need its own methods (a connection test).
    pub fn build_tus(
        &self,
        ledger: Arc<dyn ResumeLedger>,
        secrets: Arc<dyn SecretStore>,
    ) -> Result<TusDestination, CoreError> {
        let config = self.tus_config()?.ok_or_else(|| {
            CoreError::InvalidDestination(format!(
                "`{}` is a local folder, not a tus server",
                self.settings.name
            ))
        })?;
        TusDestination::new(config, ledger, secrets)
    }
}

/// The file's content.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    version: u32,
    /// The id of the default destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default: Option<String>,
    #[serde(default)]
    destinations: Vec<StoredDestination>,
}

/// The destination registry, backed by `destinations.json` in a configuration folder.
#[derive(Debug)]
pub struct DestinationRegistry {
    path: PathBuf,
    file: RegistryFile,
}

impl DestinationRegistry {
    /// Opens the registry in `dir` (an absent file is an empty registry; nothing is
    /// written until the first change). A file that cannot be read is an error.
    pub fn open(dir: &Path) -> Result<Self, CoreError> {
        let path = dir.join(REGISTRY_FILE);
        let file = load(&path)?;
        Ok(Self { path, file })
    }

    /// Opens the registry in [`config_dir`].
    pub fn open_default() -> Result<Self, CoreError> {
        Self::open(&config_dir()?)
    }

    /// The registry's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every destination, in the order they were added.
    pub fn list(&self) -> &[StoredDestination] {
        &self.file.destinations
    }

    /// The destination with this id.
    pub fn get(&self, id: &str) -> Option<&StoredDestination> {
        self.file.destinations.iter().find(|d| d.id == id)
    }

    /// The destination called `name` (ignoring case), or with that id.
    pub fn find(&self, name_or_id: &str) -> Option<&StoredDestination> {
        self.file
            .destinations
            .iter()
            .find(|d| d.settings.name.eq_ignore_ascii_case(name_or_id))
            .or_else(|| self.get(name_or_id))
    }

    /// The default destination, if one is set.
    pub fn default_destination(&self) -> Option<&StoredDestination> {
        self.file.default.as_deref().and_then(|id| self.get(id))
    }

    /// A fresh id, unused here.
    pub fn new_id(&self) -> String {
        loop {
            let id = format!("{:016x}", rand::random::<u64>());
            if self.get(&id).is_none() {
                return id;
            }
        }
    }

    /// Adds a destination with a new id and saves; the first one becomes the default.
    pub fn add(&mut self, settings: DestinationSettings) -> Result<StoredDestination, CoreError> {
        let id = self.new_id();
        self.add_with_id(id, settings)
    }

    /// Adds a destination under `id` (made with [`DestinationRegistry::new_id`], so its
    /// secret can be stored first) and saves.
    pub fn add_with_id(
        &mut self,
        id: String,
        settings: DestinationSettings,
    ) -> Result<StoredDestination, CoreError> {
        self.reload()?;
        settings.validate().map_err(CoreError::InvalidDestination)?;
        if self.get(&id).is_some() {
            return Err(CoreError::InvalidDestination(format!(
                "a destination with the id {id} exists already"
            )));
        }
        self.check_name_free(&settings.name, None)?;
        let stored = StoredDestination { id, settings };
        self.file.destinations.push(stored.clone());
        if self.file.default.is_none() {
            self.file.default = Some(stored.id.clone());
        }
        self.save()?;
        Ok(stored)
    }

    /// Replaces the settings of the destination `id` (its id stays) and saves.
    pub fn edit(
        &mut self,
        id: &str,
        settings: DestinationSettings,
    ) -> Result<StoredDestination, CoreError> {
        self.reload()?;
        settings.validate().map_err(CoreError::InvalidDestination)?;
        self.check_name_free(&settings.name, Some(id))?;
        let entry = self
            .file
            .destinations
            .iter_mut()
            .find(|d| d.id == id)
            .ok_or_else(|| unknown(id))?;
        entry.settings = settings;
        let stored = entry.clone();
        self.save()?;
        Ok(stored)
    }

    /// Removes the destination `id` and saves; if it was the default, there is none.
    /// Its secret is the caller's to delete (see [`remove_destination`]).
    pub fn remove(&mut self, id: &str) -> Result<StoredDestination, CoreError> {
        self.reload()?;
        let index = self
            .file
            .destinations
            .iter()
            .position(|d| d.id == id)
            .ok_or_else(|| unknown(id))?;
        let removed = self.file.destinations.remove(index);
        if self.file.default.as_deref() == Some(id) {
            self.file.default = None;
        }
        self.save()?;
        Ok(removed)
    }

    /// Makes `id` the default destination (`None`: no default) and saves.
    pub fn set_default(&mut self, id: Option<&str>) -> Result<(), CoreError> {
        self.reload()?;
        if let Some(id) = id {
            if self.get(id).is_none() {
                return Err(unknown(id));
            }
        }
        self.file.default = id.map(str::to_owned);
        self.save()
    }

    /// Reads the file again, so a change made meanwhile by another process (the app,
    /// another `ferry`) is kept.
    fn reload(&mut self) -> Result<(), CoreError> {
        self.file = load(&self.path)?;
        Ok(())
    }

    fn check_name_free(&self, name: &str, except: Option<&str>) -> Result<(), CoreError> {
        match self
            .file
            .destinations
            .iter()
            .find(|d| d.settings.name.eq_ignore_ascii_case(name) && Some(d.id.as_str()) != except)
        {
            Some(other) => Err(CoreError::InvalidDestination(format!(
                "there is already a destination called `{}`; choose another name",
                other.settings.name
            ))),
            None => Ok(()),
        }
    }

    /// Writes the file atomically: a temporary file in the same folder, flushed to disk,
    /// then renamed over the old one.
    fn save(&self) -> Result<(), CoreError> {
        let registry_error = |what: &str, e: &dyn std::fmt::Display| CoreError::Registry {
            path: self.path.clone(),
            detail: format!("cannot {what} ({e}); check that Ferry may write to its folder"),
        };
        let dir = self.path.parent().unwrap_or_else(|| Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| registry_error("create its folder", &e))?;
        let mut text = serde_json::to_string_pretty(&self.file)
            .map_err(|e| registry_error("encode it", &e))?;
        text.push('\n');
        let temp = dir.join(format!(
            ".{REGISTRY_FILE}.{}.{:08x}.tmp",
            std::process::id(),
            rand::random::<u32>()
        ));
        let written = (|| {
            use std::io::Write as _;
            let mut out = std::fs::File::create(&temp)?;
            out.write_all(text.as_bytes())?;
            out.sync_all()?;
            std::fs::rename(&temp, &self.path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            return Err(registry_error("write it", &e));
        }
        Ok(())
    }
}

fn unknown(id: &str) -> CoreError {
    CoreError::InvalidDestination(format!("there is no destination with the id {id}"))
}

/// Reads and checks the file; an absent file is an empty registry.
fn load(path: &Path) -> Result<RegistryFile, CoreError> {
    let corrupt = |detail: String| {
        CoreError::Registry {
        path: path.to_path_buf(),
        detail: format!(
            "{detail}. Fix the file or move it aside (Ferry then starts with no destinations); Ferry does not change it while it is unreadable"
        ),
    }
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(RegistryFile {
                version: REGISTRY_VERSION,
                ..RegistryFile::default()
            })
        }
        Err(e) => {
            return Err(CoreError::Registry {
                path: path.to_path_buf(),
                detail: format!("cannot be read ({e}); check its permissions"),
            })
        }
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| corrupt(format!("is not valid JSON ({e})")))?;
    match value.get("version").map(serde_json::Value::as_u64) {
        None => return Err(corrupt("has no `version` field".into())),
        Some(None) => return Err(corrupt("has a `version` that is not a number".into())),
        Some(Some(v)) if v > u64::from(REGISTRY_VERSION) => {
            return Err(CoreError::Registry {
                path: path.to_path_buf(),
                detail: format!(
                    "was written by a newer Ferry (format version {v}, this one reads up to {REGISTRY_VERSION}); update Ferry"
                ),
            })
        }
        Some(Some(_)) => {}
    }
    let file: RegistryFile = serde_json::from_value(value)
        .map_err(|e| corrupt(format!("does not describe destinations ({e})")))?;
    let mut ids = std::collections::HashSet::new();
    let mut names = std::collections::HashSet::new();
    for (i, entry) in file.destinations.iter().enumerate() {
        let position = i + 1;
        if entry.id.is_empty() || !ids.insert(entry.id.as_str()) {
            return Err(corrupt(format!(
                "destination {position} has an empty or repeated id `{}`",
                entry.id
            )));
        }
        if !names.insert(entry.settings.name.to_lowercase()) {
            return Err(corrupt(format!(
                "the name `{}` is used twice",
                entry.settings.name
            )));
        }
        entry
            .settings
            .validate()
            .map_err(|e| corrupt(format!("destination {position}: {e}")))?;
    }
    if let Some(default) = &file.default {
        if !ids.contains(default.as_str()) {
            return Err(corrupt(format!(
                "its default `{default}` is not one of its destinations"
            )));
        }
    }
    Ok(file)
}

/// Adds a destination and its secret: the secret goes to `secrets` first, under the id
/// the destination will have, then the destination is saved; if saving fails the
/// secret is deleted again. When the store refuses the secret (no keyring, a locked
/// one) nothing is saved and the error says why: the secret is never kept elsewhere.
pub async fn add_destination(
    registry: &mut DestinationRegistry,
    settings: DestinationSettings,
    secret: Option<Secret>,
    secrets: &dyn SecretStore,
) -> Result<StoredDestination, CoreError> {
    settings.validate().map_err(CoreError::InvalidDestination)?;
    registry.reload()?;
    registry.check_name_free(&settings.name, None)?;
    let id = registry.new_id();
    match (settings.auth.needs_secret(), secret) {
        (true, Some(secret)) => {
            if secret.expose().is_empty() {
                return Err(CoreError::InvalidDestination(format!(
                    "the secret of `{}` is empty",
                    settings.name
                )));
            }
            secrets.set(&id, &secret).await?;
            match registry.add_with_id(id.clone(), settings) {
                Ok(stored) => Ok(stored),
                Err(e) => {
                    if let Err(cleanup) = secrets.delete(&id).await {
                        tracing::warn!(id, error = %cleanup, "could not delete the secret of a destination that was not saved");
                    }
                    Err(e)
                }
            }
        }
        (true, None) => Err(CoreError::InvalidDestination(format!(
            "`{}` authenticates with {}, so it needs a secret",
            settings.name,
            settings.auth.label()
        ))),
        (false, Some(_)) => Err(CoreError::InvalidDestination(format!(
            "`{}` has no authentication, so it takes no secret",
            settings.name
        ))),
        (false, None) => registry.add_with_id(id, settings),
    }
}

/// Changes a destination's settings (its id stays), and its secret: `secret` replaces
/// the stored one; a destination that stops authenticating has its secret deleted. A new
/// secret is stored before the settings that need it are saved, and one no longer
/// needed is deleted after, so the saved settings never ask for a secret that is not
/// there. Everything that can be checked is checked before anything is written.
pub async fn edit_destination(
    registry: &mut DestinationRegistry,
    id: &str,
    settings: DestinationSettings,
    secret: Option<Secret>,
    secrets: &dyn SecretStore,
) -> Result<StoredDestination, CoreError> {
    settings.validate().map_err(CoreError::InvalidDestination)?;
    registry.reload()?;
    let before = registry.get(id).ok_or_else(|| unknown(id))?.clone();
    registry.check_name_free(&settings.name, Some(id))?;
    let had_secret = before.settings.auth.needs_secret();
    let needs_secret = settings.auth.needs_secret();
    match (&secret, needs_secret) {
        (Some(_), false) => {
            return Err(CoreError::InvalidDestination(format!(
                "`{}` has no authentication, so it takes no secret",
                settings.name
            )))
        }
        (None, true) if !had_secret => {
            return Err(CoreError::InvalidDestination(format!(
                "`{}` now authenticates with {}, so it needs a secret",
                settings.name,
                settings.auth.label()
            )))
        }
        (Some(secret), true) if secret.expose().is_empty() => {
            return Err(CoreError::InvalidDestination(format!(
                "the secret of `{}` is empty",
                settings.name
            )))
        }
        _ => {}
    }
    if let Some(secret) = &secret {
        secrets.set(id, secret).await?;
    }
    let stored = registry.edit(id, settings)?;
    if had_secret && !needs_secret {
        secrets.delete(id).await?;
    }
    Ok(stored)
}

/// Removes a destination and its secret. The secret is deleted first: when the store
/// cannot be reached the destination stays, so its secret is never left behind
/// unnamed.
pub async fn remove_destination(
    registry: &mut DestinationRegistry,
    id: &str,
    secrets: &dyn SecretStore,
) -> Result<StoredDestination, CoreError> {
    registry.reload()?;
    let entry = registry.get(id).ok_or_else(|| unknown(id))?;
    if entry.settings.auth.needs_secret() {
        secrets.delete(id).await?;
    }
    registry.remove(id)
}

/// Where secrets are kept when one is `needed`: the system keyring (failing, rather than
/// falling back to memory, when there is none); otherwise an empty store, so that
/// destinations without credentials work where no keyring is available.
pub fn secret_store(needed: bool) -> Result<Arc<dyn SecretStore>, CoreError> {
    if needed {
        Ok(Arc::new(crate::secrets::KeyringSecrets::new()?))
    } else {
        Ok(Arc::new(crate::secrets::MemorySecrets::new()))
    }
}

/// The destinations as the app's settings list them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct DestinationsView {
    /// Every destination, in the order they were added.
    pub destinations: Vec<StoredDestination>,
    /// The id of the default destination, if one is set.
    pub default_id: Option<String>,
}

impl DestinationsView {
    /// What `registry` holds.
    pub fn of(registry: &DestinationRegistry) -> Self {
        Self {
            destinations: registry.list().to_vec(),
            default_id: registry.default_destination().map(|d| d.id.clone()),
        }
    }
}

/// Checks that `entry` can take uploads, without uploading anything: a local folder is
/// created if needed and a probe file written and removed in it; a tus server is asked
/// what it supports, with the destination's credentials (see
/// [`TusDestination::test_connection`]). Returns what was found, for the user.
pub async fn test_destination(entry: &StoredDestination) -> Result<String, CoreError> {
    match &entry.settings.target {
        Target::LocalFolder { path } => {
            let folder = path.clone();
            let probe = folder.join(format!(".ferry-test-{}", std::process::id()));
            let written = tokio::task::spawn_blocking(move || {
                std::fs::create_dir_all(&folder)?;
                std::fs::write(&probe, b"")?;
                std::fs::remove_file(&probe)
            })
            .await
            .map_err(|e| CoreError::Internal(format!("the folder check stopped: {e}")))?;
            written.map_err(|source| CoreError::Destination {
                context: format!(
                    "`{}` cannot write to {}",
                    entry.settings.name,
                    path.display()
                ),
                source,
            })?;
            Ok(format!(
                "`{}` can write to {}",
                entry.settings.name,
                path.display()
            ))
        }
        Target::Tus { url } => {
            let secrets = entry.secret_store()?;
            // A test uploads nothing, so there are no resume points to keep.
            let destination =
                entry.build_tus(Arc::new(crate::resume::MemoryLedger::default()), secrets)?;
            let report = destination.test_connection().await?;
            Ok(format!("{url} answers: {report}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tus(name: &str) -> DestinationSettings {
        DestinationSettings::new(
            name,
            Target::Tus {
                url: "https://tus.example.com/files/".into(),
            },
        )
    }

    #[test]
    fn settings_are_checked_field_by_field() {
        assert!(tus("prod").validate().is_ok());
        let cases: Vec<(DestinationSettings, &str)> = vec![
            (tus(""), "needs a name"),
            (tus(" prod"), "spaces"),
            (tus("a/b"), "slash"),
            (
                DestinationSettings::new(
                    "x",
                    Target::Tus {
                        url: "ftp://h/".into(),
                    },
                ),
                "not an http",
            ),
            (
                DestinationSettings::new("x", Target::Tus { url: "nope".into() }),
                "not a URL",
            ),
            (
                DestinationSettings::new(
                    "x",
                    Target::LocalFolder {
                        path: "relative".into(),
                    },
                ),
                "absolute",
            ),
            (
                DestinationSettings {
                    auth: AuthKind::Bearer,
                    ..DestinationSettings::new(
                        "x",
                        Target::LocalFolder {
                            path: std::env::temp_dir(),
                        },
                    )
                },
                "takes no credentials",
            ),
            (
                DestinationSettings {
                    auth: AuthKind::Basic { user: "a:b".into() },
                    ..tus("x")
                },
                "cannot contain `:`",
            ),
            (
                DestinationSettings {
                    auth: AuthKind::Header {
                        name: "Bad Name".into(),
                    },
                    ..tus("x")
                },
                "not a valid HTTP header name",
            ),
            (
                DestinationSettings {
                    chunk_size: Some(1000),
                    ..tus("x")
                },
                "at least 65536",
            ),
            (
                DestinationSettings {
                    concurrency: Some(0),
                    ..tus("x")
                },
                "between 1 and 16",
            ),
            (
                DestinationSettings {
                    bandwidth_limit: Some(0),
                    ..tus("x")
                },
                "leave it unset",
            ),
        ];
        for (settings, expected) in cases {
            let err = settings.validate().unwrap_err();
            assert!(err.contains(expected), "{settings:?}: {err}");
        }
    }

    #[test]
    fn auth_kinds_name_the_destinations_secret() {
        assert_eq!(AuthKind::None.to_auth("d1"), Auth::None);
        assert_eq!(
            AuthKind::Bearer.to_auth("d1"),
            Auth::Bearer { token: "d1".into() }
        );
        assert_eq!(
            AuthKind::Basic { user: "ann".into() }.to_auth("d1"),
            Auth::Basic {
                user: "ann".into(),
                password: "d1".into()
            }
        );
        assert_eq!(
            AuthKind::Header {
                name: "X-Api-Key".into()
            }
            .to_auth("d1"),
            Auth::Header {
                name: "X-Api-Key".into(),
                value: "d1".into()
            }
        );
    }
}
