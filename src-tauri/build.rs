//! Generates the Tauri context (config, capabilities, icons) for the desktop shell.

fn main() {
    // The capabilities live under src-tauri/ while the manifest sits at the root.
    println!("cargo:rerun-if-changed=src-tauri/capabilities");
    tauri_build::try_build(
        tauri_build::Attributes::new().capabilities_path_pattern("src-tauri/capabilities/**/*"),
    )
    .expect("the Tauri build step failed; check tauri.conf.json and src-tauri/capabilities");
}
