//! Files handed to Ferry when it starts: `ferry-desktop FILE...`, which is also what a
//! file manager's "Open with Ferry" runs (the desktop file's `Exec=ferry-desktop %F`).

use std::ffi::OsString;
use std::path::PathBuf;

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

#[cfg(test)]
mod tests {
    use super::opened_paths;
    use std::path::PathBuf;

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
