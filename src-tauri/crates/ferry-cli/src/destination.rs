//! The destination options shared by `ferry upload` and `ferry serve`.
//!
//! `--to` takes a tus endpoint (`http://` or `https://`), a folder, or the name of a
//! stored destination (`ferry destination add`). A name never contains a slash, so
//! `./NAME` always means a folder; a bare word that is no stored name is a folder only
//! if it exists, so a mistyped name is an error rather than a new folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use ferry_core::destinations::{DestinationRegistry, StoredDestination};
use ferry_core::resume::SqliteLedger;
use ferry_core::secrets::{MemorySecrets, SecretStore};
use ferry_core::{Destination, LocalFolderDestination, TusConfig, TusDestination};
use url::Url;

use crate::size::parse_size;

/// Where files go and how to reach it.
#[derive(Debug, Args)]
pub(crate) struct DestinationArgs {
    /// Where to: a tus endpoint (`http(s)://host/files/`), a local folder, or the name
    /// of a stored destination (`ferry destination list`).
    #[arg(long)]
    pub(crate) to: String,
    /// Bytes per request to a tus server (`8MiB` by default, or the stored
    /// destination's; `256KiB`, `6MiB`, ...).
    #[arg(long, value_parser = parse_size)]
    chunk_size: Option<u64>,
    /// A header sent with every request, `'Name: value'` (repeatable), for example
    /// `'Authorization: Bearer TOKEN'`.
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
    /// Seconds without any byte moving before a request is abandoned and retried.
    #[arg(long, default_value_t = 30)]
    stall_timeout: u64,
    /// A PEM CA certificate to trust, for servers with their own certificate authority.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Send to this existing upload URL (made by the service) instead of creating one.
    #[arg(long)]
    upload_url: Option<Url>,
}

impl DestinationArgs {
    /// The stored destination `--to` names, if it names one.
    pub(crate) fn stored(&self) -> Result<Option<StoredDestination>, String> {
        let to = &self.to;
        let is_url = to.starts_with("http://") || to.starts_with("https://");
        if is_url || to.contains(['/', '\\']) || to.is_empty() {
            return Ok(None);
        }
        let registry = DestinationRegistry::open_default().map_err(|e| e.to_string())?;
        if let Some(entry) = registry.find(to) {
            return Ok(Some(entry.clone()));
        }
        if Path::new(to).is_dir() {
            return Ok(None);
        }
        crate::manage::find(&registry, to)
            .map(Some)
            .map_err(|e| format!("{e}. To upload to a new folder of that name, write --to ./{to}"))
    }

    /// A data folder of its own per destination and per command, so that running the
    /// same command again finds its queue and resume points. A stored destination's is
    /// keyed by its id, so renaming it keeps them.
    pub(crate) fn default_data_dir(&self, command: &str) -> PathBuf {
        let key = match self.stored() {
            Ok(Some(entry)) => format!("destination:{}", entry.id),
            _ => self.to.clone(),
        };
        let id = blake3::hash(key.as_bytes()).to_hex()[..16].to_owned();
        dirs::data_local_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("ferry")
            .join(command)
            .join(id)
    }

    /// The destination, with its resume points kept in `data_dir`, and the number of
    /// files a stored destination asks to upload at once.
    pub(crate) fn build(
        &self,
        data_dir: &Path,
    ) -> Result<(Arc<dyn Destination>, Option<usize>), String> {
        let stored = self.stored()?;
        let (mut config, secrets, concurrency): (TusConfig, Arc<dyn SecretStore>, _) =
            if let Some(entry) = &stored {
                let Some(config) = entry.tus_config().map_err(|e| e.to_string())? else {
                    let ledger = SqliteLedger::open(data_dir).map_err(|e| e.to_string())?;
                    let destination = entry
                        .build(Arc::new(ledger), Arc::new(MemorySecrets::new()))
                        .map_err(|e| e.to_string())?;
                    return Ok((destination, entry.settings.concurrency));
                };
                (
                    config,
                    crate::manage::store_for(entry)?,
                    entry.settings.concurrency,
                )
            } else {
                let is_url = self.to.starts_with("http://") || self.to.starts_with("https://");
                if !is_url {
                    return Ok((
                        Arc::new(LocalFolderDestination::new(PathBuf::from(&self.to))),
                        None,
                    ));
                }
                let endpoint =
                    Url::parse(&self.to).map_err(|e| format!("`{}` is not a URL: {e}", self.to))?;
                (
                    TusConfig::new(endpoint),
                    Arc::new(MemorySecrets::new()),
                    None,
                )
            };
        if let Some(size) = self.chunk_size {
            config.chunk_size = size;
        }
        config.stall_timeout = Duration::from_secs(self.stall_timeout.max(1));
        config.ca_certificate.clone_from(&self.ca_cert);
        config.upload_url.clone_from(&self.upload_url);
        for header in &self.headers {
            let (name, value) = header
                .split_once(':')
                .ok_or_else(|| format!("`{header}` is not a header; write it as 'Name: value'"))?;
            config
                .headers
                .push((name.trim().to_owned(), value.trim().to_owned()));
        }
        let ledger = SqliteLedger::open(data_dir).map_err(|e| e.to_string())?;
        let destination =
            TusDestination::new(config, Arc::new(ledger), secrets).map_err(|e| e.to_string())?;
        Ok((Arc::new(destination), concurrency))
    }
}
