//! The destination registry on a real folder: changes survive reopening, ids stay when
//! names change, names are unique, the default follows removals, every write replaces
//! the file whole, an unreadable file is an error that names it and is left as it was,
//! and secrets go to the secret store only, never into the file. A store that refuses a
//! secret (no keyring) saves nothing, and destinations without secrets never touch it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferry_core::destinations::{
    add_destination, edit_destination, remove_destination, AuthKind, DestinationRegistry,
    DestinationSettings, Target, REGISTRY_FILE,
};
use ferry_core::secrets::{MemorySecrets, Secret, SecretStore};
use ferry_core::CoreError;

fn tus(name: &str) -> DestinationSettings {
    DestinationSettings::new(
        name,
        Target::Tus {
            url: "https://tus.example.com/files/".into(),
        },
    )
}

fn folder(name: &str, path: &Path) -> DestinationSettings {
    DestinationSettings::new(
        name,
        Target::LocalFolder {
            path: path.to_path_buf(),
        },
    )
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn changes_survive_reopening_and_ids_outlive_renames() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = DestinationRegistry::open(dir.path()).unwrap();
    assert!(registry.list().is_empty());
    assert!(
        !registry.path().exists(),
        "opening writes nothing until the first change"
    );

    let prod = registry.add(tus("prod")).unwrap();
    let local = registry.add(folder("local", dir.path())).unwrap();
    assert_ne!(prod.id, local.id);
    assert_eq!(
        registry.default_destination().unwrap().id,
        prod.id,
        "the first destination becomes the default"
    );
    registry.set_default(Some(&local.id)).unwrap();

    let mut renamed = prod.settings.clone();
    renamed.name = "production".into();
    renamed.chunk_size = Some(6 * 1024 * 1024);
    renamed.auth = AuthKind::Basic { user: "ann".into() };
    registry.edit(&prod.id, renamed.clone()).unwrap();

    let reopened = DestinationRegistry::open(dir.path()).unwrap();
    assert_eq!(reopened.list().len(), 2);
    let found = reopened
        .find("PRODUCTION")
        .expect("found by name, ignoring case");
    assert_eq!(found.id, prod.id, "the id stays when the name changes");
    assert_eq!(found.settings, renamed);
    assert_eq!(reopened.find(&local.id).unwrap().settings.name, "local");
    assert_eq!(reopened.default_destination().unwrap().id, local.id);
    assert_eq!(
        files_in(dir.path()),
        [REGISTRY_FILE],
        "no temporary file is left"
    );

    let mut registry = reopened;
    registry.remove(&local.id).unwrap();
    assert!(
        registry.default_destination().is_none(),
        "removing the default leaves none"
    );
    let reopened = DestinationRegistry::open(dir.path()).unwrap();
    assert_eq!(reopened.list().len(), 1);
    assert!(reopened.default_destination().is_none());
}

#[test]
fn names_are_unique_ignoring_case_and_edits_keep_them_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = DestinationRegistry::open(dir.path()).unwrap();
    let a = registry.add(tus("Media")).unwrap();
    let err = registry.add(tus("media")).unwrap_err();
    assert!(
        err.to_string()
            .contains("already a destination called `Media`"),
        "{err}"
    );
    let b = registry.add(tus("other")).unwrap();
    let err = registry.edit(&b.id, tus("MEDIA")).unwrap_err();
    assert!(matches!(err, CoreError::InvalidDestination(_)), "{err:?}");
    // Renaming a destination to its own name in another case is fine.
    registry.edit(&a.id, tus("MEDIA")).unwrap();
    let err = registry.remove("nope").unwrap_err();
    assert!(err.to_string().contains("no destination with the id nope"));
}

#[test]
fn a_change_made_by_another_process_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = DestinationRegistry::open(dir.path()).unwrap();
    let mut cli = DestinationRegistry::open(dir.path()).unwrap();
    app.add(tus("from-app")).unwrap();
    cli.add(tus("from-cli")).unwrap();
    let names: Vec<String> = DestinationRegistry::open(dir.path())
        .unwrap()
        .list()
        .iter()
        .map(|d| d.settings.name.clone())
        .collect();
    assert_eq!(names, ["from-app", "from-cli"]);
}

/// Writes `content` as the registry, checks that opening fails with a message naming
/// the file and containing `expected`, and that a change is refused and the file is
/// left byte for byte as it was.
fn assert_refused(content: &str, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(REGISTRY_FILE);
    std::fs::write(&path, content).unwrap();
    let err = DestinationRegistry::open(dir.path()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, CoreError::Registry { .. }), "{err:?}");
    assert!(
        text.contains(&path.display().to_string()),
        "names the file: {text}"
    );
    assert!(text.contains(expected), "says what is wrong: {text}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), content);
}

#[test]
fn an_unreadable_file_is_an_error_that_names_it_and_is_never_reset() {
    assert_refused("{\"version\": 1, \"destinations\": [", "is not valid JSON");
    assert_refused("{\"destinations\": []}", "has no `version` field");
    assert_refused("{\"version\": 7, \"destinations\": []}", "newer Ferry");
    assert_refused(
        "{\"version\": 1, \"destinations\": [{\"id\": \"a\", \"name\": \"x\"}]}",
        "does not describe destinations",
    );
    let entry = |id: &str, name: &str| {
        format!(
            "{{\"id\": \"{id}\", \"name\": \"{name}\", \"target\": {{\"kind\": \"tus\", \"url\": \"https://h/files/\"}}}}"
        )
    };
    assert_refused(
        &format!(
            "{{\"version\": 1, \"destinations\": [{}, {}]}}",
            entry("a", "X"),
            entry("b", "x")
        ),
        "the name `x` is used twice",
    );
    assert_refused(
        &format!(
            "{{\"version\": 1, \"default\": \"zz\", \"destinations\": [{}]}}",
            entry("a", "X")
        ),
        "default `zz` is not one of its destinations",
    );
    assert_refused(
        "{\"version\": 1, \"destinations\": [{\"id\": \"a\", \"name\": \"x\", \"target\": {\"kind\": \"tus\", \"url\": \"ftp://h/\"}}]}",
        "destination 1: the URL of `x`",
    );

    // A change through a registry opened before the file went bad is refused too.
    let dir = tempfile::tempdir().unwrap();
    let mut registry = DestinationRegistry::open(dir.path()).unwrap();
    std::fs::write(registry.path(), "garbage").unwrap();
    let err = registry.add(tus("x")).unwrap_err();
    assert!(err.to_string().contains("is not valid JSON"), "{err}");
    assert_eq!(std::fs::read_to_string(registry.path()).unwrap(), "garbage");
}

/// A secret store that cannot be reached, as the keyring is without a Secret Service.
#[derive(Debug, Default)]
struct NoKeyring;

fn no_keyring(action: &str) -> CoreError {
    CoreError::KeyringUnavailable {
        action: action.into(),
        detail: "No DBus session or Secret Service provider found".into(),
    }
}

#[async_trait::async_trait]
impl SecretStore for NoKeyring {
    async fn get(&self, _: &str) -> Result<Option<Secret>, CoreError> {
        Err(no_keyring("read"))
    }
    async fn set(&self, _: &str, _: &Secret) -> Result<(), CoreError> {
        Err(no_keyring("store"))
    }
    async fn delete(&self, _: &str) -> Result<(), CoreError> {
        Err(no_keyring("delete"))
    }
}

#[tokio::test]
async fn secrets_go_to_the_store_under_the_id_and_never_into_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = MemorySecrets::new();
    let mut registry = DestinationRegistry::open(dir.path()).unwrap();
    let mut settings = tus("vault");
    settings.auth = AuthKind::Bearer;
    let stored = add_destination(
        &mut registry,
        settings.clone(),
        Some(Secret::new("tok-5f2a9c")),
        &store,
    )
    .await
    .unwrap();
    assert_eq!(
        store.get(&stored.id).await.unwrap().unwrap().expose(),
        "tok-5f2a9c"
    );
    let file = std::fs::read_to_string(registry.path()).unwrap();
    assert!(!file.contains("tok-5f2a9c"), "{file}");
    assert!(file.contains("\"kind\": \"bearer\""), "{file}");

    let err = add_destination(&mut registry, tus("needs"), Some(Secret::new("x")), &store)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("takes no secret"), "{err}");
    let mut bearer = tus("needs");
    bearer.auth = AuthKind::Bearer;
    let err = add_destination(&mut registry, bearer, None, &store)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("needs a secret"), "{err}");

    remove_destination(&mut registry, &stored.id, &store)
        .await
        .unwrap();
    assert!(store.get(&stored.id).await.unwrap().is_none());
    assert!(registry.list().is_empty());
}

#[tokio::test]
async fn without_a_keyring_a_secret_is_refused_and_nothing_is_saved() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = DestinationRegistry::open(dir.path()).unwrap();
    let mut settings = tus("vault");
    settings.auth = AuthKind::Header {
        name: "X-Api-Key".into(),
    };
    let err = add_destination(
        &mut registry,
        settings,
        Some(Secret::new("k-77")),
        &NoKeyring,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, CoreError::KeyringUnavailable { .. }),
        "{err:?}"
    );
    assert!(err
        .to_string()
        .contains("never stores a secret anywhere else"));
    assert!(!registry.path().exists(), "nothing was saved");

    // A destination without a secret never asks the store, and builds.
    let plain = add_destination(&mut registry, tus("open"), None, &NoKeyring)
        .await
        .unwrap();
    let ledger = ferry_core::resume::SqliteLedger::open(&dir.path().join("data")).unwrap();
    let destination = plain.build(Arc::new(ledger), Arc::new(NoKeyring)).unwrap();
    assert_eq!(destination.name(), "the tus server open");
    // Removing it needs no store either.
    remove_destination(&mut registry, &plain.id, &NoKeyring)
        .await
        .unwrap();
}

#[test]
fn stored_entries_build_their_destination() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = DestinationRegistry::open(dir.path()).unwrap();
    let uploads: PathBuf = dir.path().join("uploads");
    let local = registry.add(folder("here", &uploads)).unwrap();
    let mut settings = tus("remote");
    settings.chunk_size = Some(256 * 1024);
    settings.bandwidth_limit = Some(1_000_000);
    settings.auth = AuthKind::Basic { user: "ann".into() };
    let remote = registry.add(settings).unwrap();

    let ledger =
        Arc::new(ferry_core::resume::SqliteLedger::open(&dir.path().join("data")).unwrap());
    let secrets = Arc::new(MemorySecrets::new());
    let built = local.build(ledger.clone(), secrets.clone()).unwrap();
    assert!(built.name().contains(&uploads.display().to_string()));
    let config = remote.tus_config().unwrap().unwrap();
    assert_eq!(config.name, "remote");
    assert_eq!(config.chunk_size, 256 * 1024);
    assert_eq!(config.bandwidth_limit, Some(1_000_000));
    assert_eq!(
        config.auth,
        ferry_core::secrets::Auth::Basic {
            user: "ann".into(),
            password: remote.id.clone()
        }
    );
    assert!(remote
        .build(ledger.clone(), secrets.clone())
        .unwrap()
        .resumable());
    assert!(local.build_tus(ledger, secrets).is_err());
}

#[tokio::test]
async fn an_edit_keeps_the_id_and_replaces_deletes_or_keeps_the_secret_as_the_settings_need() {
    let dir = tempfile::tempdir().unwrap();
    let store = MemorySecrets::new();
    let mut registry = DestinationRegistry::open(dir.path()).unwrap();
    let open = add_destination(&mut registry, tus("studio"), None, &store)
        .await
        .unwrap();

    // Turning authentication on needs a secret, which goes to the store first.
    let mut bearer = tus("studio");
    bearer.auth = AuthKind::Bearer;
    let err = edit_destination(&mut registry, &open.id, bearer.clone(), None, &store)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("needs a secret"), "{err}");
    let edited = edit_destination(
        &mut registry,
        &open.id,
        bearer.clone(),
        Some(Secret::new("tok-1")),
        &store,
    )
    .await
    .unwrap();
    assert_eq!(edited.id, open.id);
    assert_eq!(
        store.get(&open.id).await.unwrap().unwrap().expose(),
        "tok-1"
    );

    // A rename and a new chunk size keep the secret; a new secret replaces it.
    let mut renamed = bearer.clone();
    renamed.name = "studio-b".into();
    renamed.chunk_size = Some(6 * 1024 * 1024);
    edit_destination(&mut registry, &open.id, renamed.clone(), None, &store)
        .await
        .unwrap();
    assert_eq!(
        store.get(&open.id).await.unwrap().unwrap().expose(),
        "tok-1"
    );
    edit_destination(
        &mut registry,
        &open.id,
        renamed.clone(),
        Some(Secret::new("tok-2")),
        &store,
    )
    .await
    .unwrap();
    assert_eq!(
        store.get(&open.id).await.unwrap().unwrap().expose(),
        "tok-2"
    );
    let reopened = DestinationRegistry::open(dir.path()).unwrap();
    assert_eq!(reopened.get(&open.id).unwrap().settings, renamed);
    let file = std::fs::read_to_string(reopened.path()).unwrap();
    assert!(!file.contains("tok-"), "{file}");

    // Turning authentication off deletes the secret; a secret then is refused.
    let mut plain = renamed.clone();
    plain.auth = AuthKind::None;
    let err = edit_destination(
        &mut registry,
        &open.id,
        plain.clone(),
        Some(Secret::new("x")),
        &store,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("takes no secret"), "{err}");
    edit_destination(&mut registry, &open.id, plain, None, &store)
        .await
        .unwrap();
    assert!(store.get(&open.id).await.unwrap().is_none());
}

#[tokio::test]
async fn an_edit_to_a_name_in_use_or_of_an_unknown_destination_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = MemorySecrets::new();
    let mut registry = DestinationRegistry::open(dir.path()).unwrap();
    let first = add_destination(&mut registry, tus("one"), None, &store)
        .await
        .unwrap();
    add_destination(&mut registry, tus("two"), None, &store)
        .await
        .unwrap();
    let before = std::fs::read_to_string(registry.path()).unwrap();
    let err = edit_destination(&mut registry, &first.id, tus("two"), None, &store)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("two"), "{err}");
    let err = edit_destination(&mut registry, "no-such-id", tus("three"), None, &store)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no-such-id"), "{err}");
    assert_eq!(std::fs::read_to_string(registry.path()).unwrap(), before);
}
