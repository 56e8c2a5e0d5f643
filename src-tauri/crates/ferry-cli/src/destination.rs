//! The destination options shared by `ferry upload` and `ferry serve`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use ferry_core::resume::SqliteLedger;
use ferry_core::secrets::MemorySecrets;
use ferry_core::{Destination, LocalFolderDestination, TusConfig, TusDestination};
use url::Url;

use crate::size::parse_size;

/// Where files go and how to reach it.
#[derive(Debug, Args)]
pub(crate) struct DestinationArgs {
    /// Where to: a tus endpoint (`http(s)://host/files/`) or a local folder.
    #[arg(long)]
    pub(crate) to: String,
    /// Bytes per request to a tus server (`8MiB` by default; `256KiB`, `6MiB`, ...).
    #[arg(long, value_parser = parse_size, default_value = "8MiB")]
    chunk_size: u64,
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
    /// A data folder of its own per destination and per command, so that running the
    /// same command again finds its queue and resume points.
    pub(crate) fn default_data_dir(&self, command: &str) -> PathBuf {
        let id = blake3::hash(self.to.as_bytes()).to_hex()[..16].to_owned();
        dirs::data_local_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("ferry")
            .join(command)
            .join(id)
    }

    /// The destination, with its resume points kept in `data_dir`.
    pub(crate) fn build(&self, data_dir: &Path) -> Result<Arc<dyn Destination>, String> {
        let is_url = self.to.starts_with("http://") || self.to.starts_with("https://");
        if !is_url {
            return Ok(Arc::new(LocalFolderDestination::new(PathBuf::from(
                &self.to,
            ))));
        }
        let endpoint =
            Url::parse(&self.to).map_err(|e| format!("`{}` is not a URL: {e}", self.to))?;
        let mut config = TusConfig::new(endpoint);
        config.chunk_size = self.chunk_size;
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
            TusDestination::new(config, Arc::new(ledger), Arc::new(MemorySecrets::new()))
                .map_err(|e| e.to_string())?;
        Ok(Arc::new(destination))
    }
}
