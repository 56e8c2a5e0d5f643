//! Files handed to Ferry when it starts: `ferry-desktop FILE...`, which is also what a
//! file manager's "Open with Ferry" runs (the desktop file's `Exec=ferry-desktop %F`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use tauri::{AppHandle, Manager};

/// The paths among the command-line arguments (after the program's own name). Options
/// (`-x`, `--flag`) are left out: `WebKit`'s automation mode and future flags use them, and
/// a file whose name starts with a dash still arrives as `./-name` or an absolute path,
/// which is how file managers pass them.
pub(crate) fn opened_paths(args: impl IntoIterator<Item = OsString>) -> Vec<PathBuf> {
    args.into_iter()
        .filter(|arg| !arg.to_string_lossy().starts_with('-'))
        .map(PathBuf::from)
        .collect()
}

/// `paths` with the relative ones taken from `cwd`: a second launch's paths are relative
/// to where it was started, not to where the running Ferry was.
pub(crate) fn resolved_against(paths: Vec<PathBuf>, cwd: &Path) -> Vec<PathBuf> {
    paths
        .into_iter()
        .map(|path| {
            if path.is_absolute() {
                path
            } else {
                cwd.join(path)
            }
        })
        .collect()
}

/// Brings the main window to the front (shown, restored, focused).
pub(crate) fn show_main_window(app: &AppHandle) {
    let Some(window) = app.get_webview_window("main") else {
        return;
    };
    let shown = window
        .show()
        .and_then(|()| window.unminimize())
        .and_then(|()| window.set_focus());
    if let Err(error) = shown {
        tracing::warn!(%error, "could not bring the window to the front");
    }
}

#[cfg(test)]
mod tests {
    use super::{opened_paths, resolved_against};
    use std::path::{Path, PathBuf};

    #[test]
    fn a_second_launchs_relative_paths_are_taken_from_where_it_started() {
        let paths = vec![PathBuf::from("/abs/a.txt"), PathBuf::from("rel/b.txt")];
        assert_eq!(
            resolved_against(paths, Path::new("/home/ann")),
            vec![
                PathBuf::from("/abs/a.txt"),
                PathBuf::from("/home/ann/rel/b.txt")
            ]
        );
    }

    #[test]
    fn paths_are_kept_in_order_and_options_left_out() {
        let args = [
            "--automation",
            "/home/ann/a b.pdf",
            "-v",
            "./-dash.txt",
            "rel/c.bin",
        ]
        .map(Into::into);
        assert_eq!(
            opened_paths(args),
            vec![
                PathBuf::from("/home/ann/a b.pdf"),
                PathBuf::from("./-dash.txt"),
                PathBuf::from("rel/c.bin"),
            ]
        );
    }

    #[test]
    fn no_arguments_open_nothing() {
        assert!(opened_paths(Vec::new()).is_empty());
    }
}
