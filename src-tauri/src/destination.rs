//! Which destination the app uploads to: the tus server named by
//! `FERRY_DESTINATION_URL` when it is set, otherwise the default of the stored
//! destinations (`ferry destination add --default`, the same registry the command line
//! reads), otherwise the local folder.

use crate::settings::Settings;
use ferry_core::destinations::DestinationRegistry;
use ferry_core::resume::SqliteLedger;
use ferry_core::secrets::{Auth, MemorySecrets, Secret};
use ferry_core::{CoreError, Destination, LocalFolderDestination, TusConfig, TusDestination};
use std::path::Path;
use std::sync::Arc;

/// The destination chosen at start, and what the app shows about it.
pub(crate) struct Chosen {
    pub(crate) destination: Arc<dyn Destination>,
    /// Where uploads go, for people: a folder, a URL, or a stored destination's name
    /// and place.
    pub(crate) label: String,
    /// Files uploaded at once, when the stored destination asks for a number.
    pub(crate) concurrency: Option<usize>,
    /// Why the app is not using the destination the user set, when it is not.
    pub(crate) notice: Option<String>,
}

/// Why the destination named by the environment cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ChoiceError {
    #[error("the destination URL `{0}` is not a URL; fix FERRY_DESTINATION_URL")]
    Url(String),
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// Chooses the destination. `registry` is the stored destinations as read from disk; a
/// registry that cannot be read, or a default that cannot be built, leaves the app on
/// its local folder with a notice saying why, rather than keeping it from starting.
pub(crate) fn choose(
    settings: &Settings,
    registry: Result<DestinationRegistry, CoreError>,
) -> Result<Chosen, ChoiceError> {
    if let Some(endpoint) = &settings.tus_endpoint {
        return from_environment(settings, endpoint);
    }
    let notice = match stored_default(&settings.data_dir, registry) {
        Ok(Some(chosen)) => return Ok(chosen),
        Ok(None) => None,
        Err(why) => {
            tracing::warn!(%why, "using the local folder instead of the default destination");
            Some(format!(
                "{why} Uploads go to the local folder ({}) until this is fixed and Ferry is started again.",
                settings.destination_dir.display()
            ))
        }
    };
    Ok(Chosen {
        notice,
        ..local_folder(&settings.destination_dir)
    })
}

/// The built-in local folder, used when no stored destination is the default.
pub(crate) fn local_folder(folder: &Path) -> Chosen {
    Chosen {
        destination: Arc::new(LocalFolderDestination::new(folder.to_path_buf())),
        label: folder.display().to_string(),
        concurrency: None,
        notice: None,
    }
}

/// The registry's default destination, if it names one; an error says in words what
/// kept it from being used. `data_dir` holds the resume points of tus uploads.
pub(crate) fn stored_default(
    data_dir: &Path,
    registry: Result<DestinationRegistry, CoreError>,
) -> Result<Option<Chosen>, String> {
    let registry =
        registry.map_err(|e| format!("Ferry could not read its stored destinations: {e}."))?;
    let Some(entry) = registry.default_destination() else {
        return Ok(None);
    };
    from_entry(data_dir, entry).map(Some)
}

/// A stored destination, ready to upload to; an error says in words what kept it from
/// being used.
pub(crate) fn from_entry(
    data_dir: &Path,
    entry: &ferry_core::destinations::StoredDestination,
) -> Result<Chosen, String> {
    let name = &entry.settings.name;
    let unusable = |e: CoreError| format!("The destination `{name}` cannot be used: {e}.");
    let secrets = entry.secret_store().map_err(unusable)?;
    let ledger = SqliteLedger::open(data_dir).map_err(unusable)?;
    let destination = entry.build(Arc::new(ledger), secrets).map_err(unusable)?;
    tracing::info!(destination = %name, place = %entry.place(), "destination ready");
    Ok(Chosen {
        destination,
        label: format!("{name} ({})", entry.place()),
        concurrency: entry.settings.concurrency,
        notice: None,
    })
}

/// The tus server named by `FERRY_DESTINATION_URL`, with the Bearer token of
/// `FERRY_DESTINATION_TOKEN` kept in memory only.
fn from_environment(settings: &Settings, endpoint: &str) -> Result<Chosen, ChoiceError> {
    let url = url::Url::parse(endpoint).map_err(|_| ChoiceError::Url(endpoint.to_owned()))?;
    let mut config = TusConfig::new(url);
    let secrets = MemorySecrets::new();
    if let Some(token) = &settings.tus_token {
        secrets.insert("default", Secret::new(token.clone()));
        config.auth = Auth::Bearer {
            token: "default".into(),
        };
    }
    let ledger = SqliteLedger::open(&settings.data_dir)?;
    let tus = TusDestination::new(config, Arc::new(ledger), Arc::new(secrets))?;
    Ok(Chosen {
        destination: Arc::new(tus),
        label: endpoint.to_owned(),
        concurrency: None,
        notice: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::destinations::{DestinationSettings, Target};
    use std::path::Path;

    fn settings(dir: &Path) -> Settings {
        Settings {
            data_dir: dir.join("data"),
            destination_dir: dir.join("Ferry Uploads"),
            log_dir: dir.join("logs"),
            connection_file: dir.join("connection.json"),
            tus_endpoint: None,
            tus_token: None,
            bandwidth_limit: None,
        }
    }

    fn registry_with_default(dir: &Path) -> DestinationRegistry {
        let mut registry = DestinationRegistry::open(&dir.join("config")).unwrap();
        let mut studio = DestinationSettings::new(
            "studio",
            Target::Tus {
                url: "http://127.0.0.1:1080/files/".into(),
            },
        );
        studio.concurrency = Some(2);
        let added = registry.add(studio).unwrap();
        registry.set_default(Some(&added.id)).unwrap();
        DestinationRegistry::open(&dir.join("config")).unwrap()
    }

    #[test]
    fn with_no_default_destination_uploads_go_to_the_local_folder() {
        let dir = tempfile::tempdir().unwrap();
        let registry = DestinationRegistry::open(&dir.path().join("config"));
        let chosen = choose(&settings(dir.path()), registry).unwrap();
        assert!(chosen.destination.name().starts_with("the local folder"));
        assert!(chosen.label.ends_with("Ferry Uploads"));
        assert_eq!(chosen.notice, None);
    }

    #[test]
    fn the_stored_default_destination_is_used_with_its_name_place_and_concurrency() {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry_with_default(dir.path());
        let chosen = choose(&settings(dir.path()), Ok(registry)).unwrap();
        assert_eq!(chosen.label, "studio (http://127.0.0.1:1080/files/)");
        assert_eq!(chosen.concurrency, Some(2));
        assert_eq!(chosen.notice, None);
    }

    #[test]
    fn the_environment_url_wins_over_the_stored_default() {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry_with_default(dir.path());
        let mut settings = settings(dir.path());
        settings.tus_endpoint = Some("http://127.0.0.1:9/uploads/".into());
        let chosen = choose(&settings, Ok(registry)).unwrap();
        assert_eq!(chosen.label, "http://127.0.0.1:9/uploads/");
    }

    #[test]
    fn an_unreadable_registry_leaves_the_app_on_its_local_folder_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(config.join("destinations.json"), "{ not json").unwrap();
        let registry = DestinationRegistry::open(&config);
        let chosen = choose(&settings(dir.path()), registry).unwrap();
        assert!(chosen.label.ends_with("Ferry Uploads"));
        let notice = chosen.notice.expect("a notice");
        assert!(
            notice.contains("destinations.json") && notice.contains("local folder"),
            "{notice}"
        );
    }
}
