//! Commands behind the Destinations view: list, add, edit, remove, make default and
//! test. The settings go to the destinations file that the `ferry` command shares;
//! secrets go only to the OS keyring (ferry-core does both), and never come back to the
//! webview. A new default, or a change to the default, applies to the files added from
//! then on, without a restart.

// Tauri hands command arguments by value.
#![allow(clippy::needless_pass_by_value)]

use ferry_core::destinations::{
    self, DestinationRegistry, DestinationSettings, DestinationsView, StoredDestination,
};
use ferry_core::secrets::Secret;
use ferry_core::CoreError;
use tauri::State;

use crate::state::AppState;

/// Every destination and which one is the default.
#[tauri::command]
pub(crate) fn destinations() -> Result<DestinationsView, String> {
    Ok(DestinationsView::of(&registry()?))
}

/// Adds a destination; `secret` (a token, a password or a header's value) is stored in
/// the keyring under the new destination's id.
#[tauri::command]
pub(crate) async fn add_destination(
    state: State<'_, AppState>,
    settings: DestinationSettings,
    secret: Option<String>,
) -> Result<DestinationsView, String> {
    let mut registry = registry()?;
    let store = destinations::secret_store(settings.auth.needs_secret()).map_err(text)?;
    let default_before = default_id(&registry);
    destinations::add_destination(&mut registry, settings, given(secret), store.as_ref())
        .await
        .map_err(text)?;
    // The first destination added becomes the default.
    if default_id(&registry) != default_before {
        follow_default(&state)?;
    }
    Ok(DestinationsView::of(&registry))
}

/// Changes a destination's settings; `secret`, when given, replaces its secret.
#[tauri::command]
pub(crate) async fn edit_destination(
    state: State<'_, AppState>,
    id: String,
    settings: DestinationSettings,
    secret: Option<String>,
) -> Result<DestinationsView, String> {
    let mut registry = registry()?;
    let had_secret = registry
        .get(&id)
        .is_some_and(|d| d.settings.auth.needs_secret());
    let store =
        destinations::secret_store(had_secret || settings.auth.needs_secret()).map_err(text)?;
    let was_default = is_default(&registry, &id);
    destinations::edit_destination(&mut registry, &id, settings, given(secret), store.as_ref())
        .await
        .map_err(text)?;
    if was_default {
        follow_default(&state)?;
    }
    Ok(DestinationsView::of(&registry))
}

/// Removes a destination and its secret.
#[tauri::command]
pub(crate) async fn remove_destination(
    state: State<'_, AppState>,
    id: String,
) -> Result<DestinationsView, String> {
    let mut registry = registry()?;
    let store = match registry.get(&id) {
        Some(entry) => entry.secret_store().map_err(text)?,
        None => {
            return Err(format!(
                "there is no destination {id}; it may have been removed already"
            ))
        }
    };
    let was_default = is_default(&registry, &id);
    destinations::remove_destination(&mut registry, &id, store.as_ref())
        .await
        .map_err(text)?;
    if was_default {
        follow_default(&state)?;
    }
    Ok(DestinationsView::of(&registry))
}

/// Makes `id` the default destination (`None`: the built-in local folder); the files
/// added from now on upload there.
#[tauri::command]
pub(crate) async fn set_default_destination(
    state: State<'_, AppState>,
    id: Option<String>,
) -> Result<DestinationsView, String> {
    let mut registry = registry()?;
    registry.set_default(id.as_deref()).map_err(text)?;
    follow_default(&state)?;
    Ok(DestinationsView::of(&registry))
}

fn default_id(registry: &DestinationRegistry) -> Option<String> {
    registry.default_destination().map(|d| d.id.clone())
}

fn is_default(registry: &DestinationRegistry, id: &str) -> bool {
    default_id(registry).as_deref() == Some(id)
}

/// Points new uploads at the default as the destinations file now has it. Building it
/// may ask the keyring for its secret, so this runs off the runtime's worker threads.
fn follow_default(state: &AppState) -> Result<(), String> {
    tokio::task::block_in_place(|| state.follow_default(DestinationRegistry::open_default()))
}

/// Tests a destination without uploading: what the server answered, or exactly what
/// went wrong (name resolution, refused, TLS, 401, 403, not a tus server).
#[tauri::command]
pub(crate) async fn test_destination(id: String) -> Result<String, String> {
    let entry: StoredDestination = registry()?
        .get(&id)
        .cloned()
        .ok_or_else(|| format!("there is no destination {id}; it may have been removed"))?;
    destinations::test_destination(&entry).await.map_err(text)
}

fn registry() -> Result<DestinationRegistry, String> {
    DestinationRegistry::open_default().map_err(text)
}

/// An empty field in the form means "no new secret".
fn given(secret: Option<String>) -> Option<Secret> {
    secret.filter(|s| !s.is_empty()).map(Secret::new)
}

fn text(error: CoreError) -> String {
    error.to_string()
}
