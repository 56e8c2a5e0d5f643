//! `ferry destination add|list|remove|test|default`: the destinations the desktop app
//! shows, in the same configuration folder, with their secrets in the OS keyring.
//!
//! A secret is read from standard input (a prompt that does not echo on a terminal, or
//! no prompt with `--secret-stdin`), never from an argument: arguments end up in the
//! shell's history and in `ps` for every user of the machine to see.

use std::io::{BufRead as _, IsTerminal as _, Read as _, Write as _};
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand, ValueEnum};
use ferry_core::destinations::{
    add_destination, edit_destination, remove_destination, AuthKind, DestinationRegistry,
    DestinationSettings, StoredDestination, Target,
};
use ferry_core::secrets::{KeyringSecrets, MemorySecrets, Secret, SecretStore};
use ferry_core::CoreError;

use crate::size::parse_size;
use crate::upload::{print_json, EXIT_ERROR, EXIT_FAILED, EXIT_OK};

/// Arguments of `ferry destination`.
#[derive(Debug, Args)]
pub(crate) struct DestinationCommand {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Add a destination; its secret (if any) goes to the system keyring.
    Add(AddArgs),
    /// Change a destination: only what is given changes; its id, resume points and
    /// secret stay unless replaced.
    Edit(EditArgs),
    /// List the destinations (never their secrets).
    List {
        /// One JSON array on stdout instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a destination and its secret in the keyring.
    Remove {
        /// The destination's name.
        name: String,
    },
    /// Check that a destination answers and accepts its credentials (exit 1 if not).
    Test {
        /// The destination's name.
        name: String,
    },
    /// Make a destination the default one.
    Default {
        /// The destination's name.
        name: String,
    },
}

/// How a destination authenticates, as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AuthChoice {
    /// No credentials.
    None,
    /// `Authorization: Bearer TOKEN`; the token is read as the secret.
    Bearer,
    /// `Authorization: Basic`; needs `--user`, the password is read as the secret.
    Basic,
    /// A header of the server's choosing; needs `--header-name`, its value is the secret.
    Header,
}

/// Arguments of `ferry destination add`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("kind").required(true).args(["tus", "folder"])))]
struct AddArgs {
    /// Its name (unique, no slash), as given to `ferry upload --to NAME`.
    name: String,
    /// A tus server: its creation endpoint (`https://host/files/`).
    #[arg(long, value_name = "URL")]
    tus: Option<String>,
    /// A local folder.
    #[arg(long, value_name = "DIR")]
    folder: Option<PathBuf>,
    /// How it authenticates.
    #[arg(long, value_enum, default_value = "none")]
    auth: AuthChoice,
    /// The user name, with `--auth basic`.
    #[arg(long)]
    user: Option<String>,
    /// The header's name, with `--auth header` (`X-Api-Key`).
    #[arg(long)]
    header_name: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

/// What `add` and `edit` both take.
#[derive(Debug, Args)]
struct CommonArgs {
    /// Read the secret from standard input without a prompt (for scripts:
    /// `pass show tus | ferry destination add ... --secret-stdin`).
    #[arg(long)]
    secret_stdin: bool,
    /// Bytes per request (`8MiB` when never set).
    #[arg(long, value_parser = parse_size)]
    chunk_size: Option<u64>,
    /// Files uploading at once.
    #[arg(long)]
    concurrency: Option<usize>,
    /// Upload rate cap of this destination, per second (`2MiB`).
    #[arg(long, value_parser = parse_size)]
    limit_rate: Option<u64>,
    /// Make it the default destination.
    #[arg(long)]
    default: bool,
}

/// Arguments of `ferry destination edit`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("kind").args(["tus", "folder"])))]
struct EditArgs {
    /// The destination's name now.
    name: String,
    /// A new name (unique, no slash).
    #[arg(long, value_name = "NEW_NAME")]
    rename: Option<String>,
    /// Make it a tus server at this creation endpoint.
    #[arg(long, value_name = "URL")]
    tus: Option<String>,
    /// Make it this local folder.
    #[arg(long, value_name = "DIR")]
    folder: Option<PathBuf>,
    /// How it authenticates now; a kind that needs a secret asks for one.
    #[arg(long, value_enum)]
    auth: Option<AuthChoice>,
    /// The user name, with `--auth basic`.
    #[arg(long)]
    user: Option<String>,
    /// The header's name, with `--auth header`.
    #[arg(long)]
    header_name: Option<String>,
    /// Ask for a new secret (token, password or header value) for the same kind.
    #[arg(long)]
    new_secret: bool,
    #[command(flatten)]
    common: CommonArgs,
}

/// Runs the command; returns the exit code.
pub(crate) async fn run(command: DestinationCommand) -> u8 {
    match execute(command.action).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("ferry: {message}");
            EXIT_ERROR
        }
    }
}

async fn execute(action: Action) -> Result<u8, String> {
    let mut registry = DestinationRegistry::open_default().map_err(|e| e.to_string())?;
    match action {
        Action::Add(args) => add(&mut registry, args).await,
        Action::Edit(args) => edit(&mut registry, args).await,
        Action::List { json } => {
            list(&registry, json);
            Ok(EXIT_OK)
        }
        Action::Remove { name } => {
            let entry = find(&registry, &name)?;
            let secrets = store_for(&entry)?;
            remove_destination(&mut registry, &entry.id, secrets.as_ref())
                .await
                .map_err(|e| e.to_string())?;
            let secret = if entry.settings.auth.needs_secret() {
                " and its secret in the system keyring"
            } else {
                ""
            };
            eprintln!("Removed the destination `{}`{secret}.", entry.settings.name);
            Ok(EXIT_OK)
        }
        Action::Test { name } => test(&registry, &name).await,
        Action::Default { name } => {
            let entry = find(&registry, &name)?;
            registry
                .set_default(Some(&entry.id))
                .map_err(|e| e.to_string())?;
            eprintln!("`{}` is now the default destination.", entry.settings.name);
            Ok(EXIT_OK)
        }
    }
}

/// The stored destination called `name`, or an error listing the names there are.
pub(crate) fn find(
    registry: &DestinationRegistry,
    name: &str,
) -> Result<StoredDestination, String> {
    registry.find(name).cloned().ok_or_else(|| {
        let names: Vec<&str> = registry
            .list()
            .iter()
            .map(|d| d.settings.name.as_str())
            .collect();
        if names.is_empty() {
            format!(
                "there is no destination called `{name}` (none is set up in {}); add one with `ferry destination add`",
                registry.path().display()
            )
        } else {
            format!(
                "there is no destination called `{name}`; the destinations are: {}",
                names.join(", ")
            )
        }
    })
}

/// The store of a destination's secret (see [`StoredDestination::secret_store`]).
pub(crate) fn store_for(entry: &StoredDestination) -> Result<Arc<dyn SecretStore>, String> {
    entry.secret_store().map_err(|e| e.to_string())
}

async fn add(registry: &mut DestinationRegistry, args: AddArgs) -> Result<u8, String> {
    let target = match (&args.tus, &args.folder) {
        (Some(url), None) => Target::Tus { url: url.clone() },
        (None, Some(folder)) => Target::LocalFolder {
            path: std::path::absolute(folder)
                .map_err(|e| format!("cannot use the folder {}: {e}", folder.display()))?,
        },
        _ => return Err("give either --tus URL or --folder DIR".into()),
    };
    let auth = auth_kind(args.auth, args.user.as_deref(), args.header_name.as_deref())?;
    let settings = DestinationSettings {
        name: args.name.clone(),
        target,
        auth,
        chunk_size: args.common.chunk_size,
        concurrency: args.common.concurrency,
        bandwidth_limit: args.common.limit_rate,
    };
    // Everything that can be checked without the secret is checked before asking for it.
    settings.validate()?;
    let (secret, secrets): (Option<Secret>, Arc<dyn SecretStore>) = if settings.auth.needs_secret()
    {
        let store = KeyringSecrets::new().map_err(|e| e.to_string())?;
        (
            Some(read_secret(
                secret_prompt(&settings.auth),
                args.common.secret_stdin,
            )?),
            Arc::new(store),
        )
    } else {
        if args.common.secret_stdin {
            return Err("--secret-stdin goes with --auth bearer, basic or header".into());
        }
        (None, Arc::new(MemorySecrets::new()))
    };
    let stored = add_destination(registry, settings, secret, secrets.as_ref())
        .await
        .map_err(|e| e.to_string())?;
    if args.common.default {
        registry
            .set_default(Some(&stored.id))
            .map_err(|e| e.to_string())?;
    }
    let default = registry
        .default_destination()
        .is_some_and(|d| d.id == stored.id);
    eprintln!(
        "Added the destination `{}`{}{}.",
        stored.settings.name,
        if stored.settings.auth.needs_secret() {
            ", its secret in the system keyring"
        } else {
            ""
        },
        if default { " (the default)" } else { "" }
    );
    Ok(EXIT_OK)
}

/// Reads a secret from standard input: all of it with `--secret-stdin` (one trailing
/// line break removed), otherwise one line, after a prompt that does not echo when
/// standard input is a terminal.
/// The authentication `choice` names, with its user or header name.
fn auth_kind(
    choice: AuthChoice,
    user: Option<&str>,
    header_name: Option<&str>,
) -> Result<AuthKind, String> {
    if choice != AuthChoice::Basic && user.is_some() {
        return Err("--user goes with --auth basic".into());
    }
    if choice != AuthChoice::Header && header_name.is_some() {
        return Err("--header-name goes with --auth header".into());
    }
    Ok(match choice {
        AuthChoice::None => AuthKind::None,
        AuthChoice::Bearer => AuthKind::Bearer,
        AuthChoice::Basic => AuthKind::Basic {
            user: user.ok_or("--auth basic needs --user NAME")?.to_owned(),
        },
        AuthChoice::Header => AuthKind::Header {
            name: header_name
                .ok_or("--auth header needs --header-name NAME")?
                .to_owned(),
        },
    })
}

/// What the secret of `auth` is called at the prompt.
fn secret_prompt(auth: &AuthKind) -> &'static str {
    match auth {
        AuthKind::Basic { .. } => "Password",
        AuthKind::Header { .. } => "Header value",
        AuthKind::None | AuthKind::Bearer => "Token",
    }
}

async fn edit(registry: &mut DestinationRegistry, args: EditArgs) -> Result<u8, String> {
    let entry = find(registry, &args.name)?;
    let mut settings = entry.settings.clone();
    if let Some(name) = &args.rename {
        settings.name.clone_from(name);
    }
    if let Some(url) = &args.tus {
        settings.target = Target::Tus { url: url.clone() };
    }
    if let Some(folder) = &args.folder {
        settings.target = Target::LocalFolder {
            path: std::path::absolute(folder)
                .map_err(|e| format!("cannot use the folder {}: {e}", folder.display()))?,
        };
    }
    match args.auth {
        Some(choice) => {
            settings.auth = auth_kind(choice, args.user.as_deref(), args.header_name.as_deref())?;
        }
        None if args.user.is_some() || args.header_name.is_some() => {
            return Err("--user and --header-name go with --auth".into());
        }
        None => {}
    }
    if args.common.chunk_size.is_some() {
        settings.chunk_size = args.common.chunk_size;
    }
    if args.common.concurrency.is_some() {
        settings.concurrency = args.common.concurrency;
    }
    if args.common.limit_rate.is_some() {
        settings.bandwidth_limit = args.common.limit_rate;
    }
    settings.validate()?;
    // Another kind of authentication means another kind of secret.
    let kind_changed =
        std::mem::discriminant(&settings.auth) != std::mem::discriminant(&entry.settings.auth);
    let wants_secret = settings.auth.needs_secret() && (kind_changed || args.new_secret);
    if args.new_secret && !settings.auth.needs_secret() {
        return Err(format!(
            "`{}` has no authentication, so it has no secret to replace",
            settings.name
        ));
    }
    if args.common.secret_stdin && !wants_secret {
        return Err(
            "--secret-stdin goes with --new-secret or a new --auth that needs a secret".into(),
        );
    }
    let secrets: Arc<dyn SecretStore> =
        if settings.auth.needs_secret() || entry.settings.auth.needs_secret() {
            Arc::new(KeyringSecrets::new().map_err(|e| e.to_string())?)
        } else {
            Arc::new(MemorySecrets::new())
        };
    let secret = if wants_secret {
        Some(read_secret(
            secret_prompt(&settings.auth),
            args.common.secret_stdin,
        )?)
    } else {
        None
    };
    let replaced = secret.is_some();
    let stored = edit_destination(registry, &entry.id, settings, secret, secrets.as_ref())
        .await
        .map_err(|e| e.to_string())?;
    if args.common.default {
        registry
            .set_default(Some(&stored.id))
            .map_err(|e| e.to_string())?;
    }
    eprintln!(
        "Changed the destination `{}`{}.",
        stored.settings.name,
        if replaced {
            ", its new secret in the system keyring"
        } else {
            ""
        }
    );
    Ok(EXIT_OK)
}

fn read_secret(what: &str, no_prompt: bool) -> Result<Secret, String> {
    let stdin = std::io::stdin();
    let mut text = String::new();
    if no_prompt {
        stdin
            .lock()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read the secret from standard input: {e}"))?;
    } else if stdin.is_terminal() {
        eprint!("{what} (not shown): ");
        let _ = std::io::stderr().flush();
        let echo = EchoOff::new();
        let read = stdin.lock().read_line(&mut text);
        drop(echo);
        eprintln!();
        read.map_err(|e| format!("cannot read the secret: {e}"))?;
    } else {
        stdin
            .lock()
            .read_line(&mut text)
            .map_err(|e| format!("cannot read the secret from standard input: {e}"))?;
    }
    let trimmed = text
        .strip_suffix('\n')
        .map_or(text.as_str(), |t| t.strip_suffix('\r').unwrap_or(t));
    if trimmed.is_empty() {
        return Err(format!(
            "no secret was given on standard input; {} is needed",
            what.to_lowercase()
        ));
    }
    Ok(Secret::new(trimmed))
}

/// Turns the terminal's echo off while it lives.
struct EchoOff {
    #[cfg(unix)]
    saved: Option<rustix::termios::Termios>,
}

impl EchoOff {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
            let stdin = std::io::stdin();
            let saved = tcgetattr(&stdin).ok();
            if let Some(saved) = &saved {
                let mut quiet = saved.clone();
                quiet.local_modes.remove(LocalModes::ECHO);
                let _ = tcsetattr(&stdin, OptionalActions::Now, &quiet);
            }
            Self { saved }
        }
        #[cfg(not(unix))]
        Self {}
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(saved) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                saved,
            );
        }
    }
}

fn list(registry: &DestinationRegistry, json: bool) {
    let default = registry.default_destination().map(|d| d.id.clone());
    if json {
        let entries: Vec<serde_json::Value> = registry
            .list()
            .iter()
            .map(|d| {
                let mut value = serde_json::to_value(d).unwrap_or_default();
                value["default"] = serde_json::Value::Bool(Some(&d.id) == default.as_ref());
                value
            })
            .collect();
        print_json(&entries);
        return;
    }
    if registry.list().is_empty() {
        println!(
            "No destinations yet ({}); add one with `ferry destination add`.",
            registry.path().display()
        );
        return;
    }
    for d in registry.list() {
        let mark = if Some(&d.id) == default.as_ref() {
            "*"
        } else {
            " "
        };
        let kind = match &d.settings.target {
            Target::Tus { .. } => "tus",
            Target::LocalFolder { .. } => "folder",
        };
        let place = d.place();
        let mut extra = Vec::new();
        if let Some(size) = d.settings.chunk_size {
            extra.push(format!("chunk {size} B"));
        }
        if let Some(n) = d.settings.concurrency {
            extra.push(format!("{n} at once"));
        }
        if let Some(rate) = d.settings.bandwidth_limit {
            extra.push(format!("limit {rate} B/s"));
        }
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!("  ({})", extra.join(", "))
        };
        println!(
            "{mark} {}  {kind}  {place}  auth: {}{extra}",
            d.settings.name,
            d.settings.auth.label()
        );
    }
}

async fn test(registry: &DestinationRegistry, name: &str) -> Result<u8, String> {
    let entry = find(registry, name)?;
    match ferry_core::destinations::test_destination(&entry).await {
        Ok(report) => {
            println!("ok: {report}");
            Ok(EXIT_OK)
        }
        Err(CoreError::ConnectionTest { problem, detail }) => {
            println!("failed ({problem:?}): {detail}");
            Ok(EXIT_FAILED)
        }
        Err(other) => {
            println!("failed: {other}");
            Ok(EXIT_FAILED)
        }
    }
}
