//! The command line: `tessera serve`, account and session administration, migrations.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::{build_state, shutdown_signal, Application, Options};
use crate::config::Config;
use crate::routes::views::rfc3339;
use crate::state::AppState;
use tessera_engine::authz::{self, RoleChange};
use tessera_engine::{accounts, clients, keys, sessions};

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "Sessions and tokens from one root: the Tessera auth server"
)]
struct Cli {
    /// Configuration file (default: ./tessera.toml when present).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve,
    /// Apply pending store migrations and exit.
    Migrate,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect and end a user's sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// List and change a user's roles (carried by every credential of the user).
    #[command(subcommand)]
    Roles(RolesCommand),
    /// Inspect and rotate the token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage clients (resource servers allowed to introspect tokens).
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Manage the admin API key.
    #[command(name = "admin-key", subcommand)]
    AdminKey(AdminKeyCommand),
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account; the password is read from stdin, or prompted for on a terminal.
    Add { email: String },
    /// Lock an account: its sessions end and its logins fail.
    Lock { email: String },
}

#[derive(Debug, Subcommand)]
enum SessionsCommand {
    /// List the live sessions of an account.
    List { email: String },
    /// End every session of an account.
    Revoke { email: String },
}

#[derive(Debug, Subcommand)]
enum RolesCommand {
    /// Print the roles of an account, one per line.
    List { email: String },
    /// Give an account exactly these roles (none: take every role away).
    Set { email: String, roles: Vec<String> },
    /// Add roles to an account.
    Add {
        email: String,
        #[arg(required = true)]
        roles: Vec<String>,
    },
    /// Take roles from an account.
    Remove {
        email: String,
        #[arg(required = true)]
        roles: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List signing keys with their state (next, current, retired).
    List,
    /// Promote the next key to current, retire the current one, pre-publish a new next key.
    Rotate {
        /// Rotate even if the next key was published too recently for every JWKS cache to
        /// have seen it.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ClientsCommand {
    /// Register a client; prints its id and its secret (shown once).
    Add { name: String },
    /// List registered clients.
    List,
}

#[derive(Debug, Subcommand)]
enum AdminKeyCommand {
    /// Print a new random admin API key to put in `admin.api_key`.
    Create,
}

pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(cli: Cli) -> Result<(), String> {
    if let Command::AdminKey(AdminKeyCommand::Create) = cli.command {
        let key = tessera_core::SecretToken::generate(tessera_core::TokenKind::AdminKey);
        println!("{}", key.expose());
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref(), std::env::vars()).map_err(describe)?;
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            tessera_store::open(&config.store.url, true)
                .await
                .map_err(describe)?;
            println!("migrations applied to {}", redact_url(&config.store.url));
            Ok(())
        }
        Command::User(cmd) => user_command(config, cmd).await,
        Command::Sessions(cmd) => sessions_command(config, cmd).await,
        Command::Roles(cmd) => roles_command(config, cmd).await,
        Command::Clients(cmd) => clients_command(config, cmd).await,
        Command::Keys(cmd) => keys_command(config, cmd).await,
        Command::AdminKey(_) => unreachable!("handled above"),
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let app = Application::build(config, Options::default())
        .await
        .map_err(describe)?;
    app.run_until(shutdown_signal()).await.map_err(describe)
}

/// State for one-shot commands: same store and rules as the server, no listener.
async fn offline_state(config: Config) -> Result<AppState, String> {
    let store = tessera_store::open(&config.store.url, true)
        .await
        .map_err(describe)?;
    build_state(config, store, Options::default())
        .await
        .map_err(describe)
}

async fn find_user(state: &AppState, email: &str) -> Result<tessera_core::User, String> {
    accounts::find_by_email(state, email)
        .await
        .map_err(describe)?
        .ok_or_else(|| format!("no account with email {}", email.trim()))
}

async fn user_command(config: Config, cmd: UserCommand) -> Result<(), String> {
    let state = offline_state(config).await?;
    match cmd {
        UserCommand::Add { email } => {
            let password = read_password()?;
            let user = accounts::create_user(&state, &email, &password, None)
                .await
                .map_err(describe)?;
            println!("created user {} <{}>", user.id, user.email);
        }
        UserCommand::Lock { email } => {
            let user = find_user(&state, &email).await?;
            let revoked = accounts::set_locked(&state, user.id, true, None)
                .await
                .map_err(describe)?;
            println!("locked {} and ended {revoked} session(s)", user.email);
        }
    }
    Ok(())
}

async fn sessions_command(config: Config, cmd: SessionsCommand) -> Result<(), String> {
    let state = offline_state(config).await?;
    match cmd {
        SessionsCommand::List { email } => {
            let user = find_user(&state, &email).await?;
            let list = sessions::list_live(&state, user.id)
                .await
                .map_err(describe)?;
            println!(
                "{:<36}  {:<6}  {:<20}  {:<15}  USER AGENT",
                "ID", "KIND", "LAST SEEN", "IP"
            );
            for s in list {
                println!(
                    "{:<36}  {:<6}  {:<20}  {:<15}  {}",
                    s.id,
                    s.kind.as_str(),
                    rfc3339(s.last_seen_at),
                    s.ip.as_deref().unwrap_or("-"),
                    s.user_agent.as_deref().unwrap_or("-")
                );
            }
        }
        SessionsCommand::Revoke { email } => {
            let user = find_user(&state, &email).await?;
            let ids = sessions::revoke_all(&state, user.id, None, None)
                .await
                .map_err(describe)?;
            println!("ended {} session(s) of {}", ids.len(), user.email);
        }
    }
    Ok(())
}

/// A change made here reaches running servers through the revocation feed (Redis or Postgres);
/// with a SQLite file they see it within the seconds their session cache keeps a record.
async fn roles_command(config: Config, cmd: RolesCommand) -> Result<(), String> {
    let state = offline_state(config).await?;
    let (email, change) = match cmd {
        RolesCommand::List { email } => {
            let user = find_user(&state, &email).await?;
            for role in user.roles.iter() {
                println!("{role}");
            }
            return Ok(());
        }
        RolesCommand::Set { email, roles } => (email, RoleChange::Set(roles)),
        RolesCommand::Add { email, roles } => (email, RoleChange::Add(roles)),
        RolesCommand::Remove { email, roles } => (email, RoleChange::Remove(roles)),
    };
    let user = find_user(&state, &email).await?;
    let roles = authz::change_roles(&state, user.id, &change, None)
        .await
        .map_err(describe)?;
    let list: Vec<&str> = roles.iter().collect();
    println!("roles of {}: {}", user.email, list.join(" "));
    Ok(())
}

async fn keys_command(config: Config, cmd: KeysCommand) -> Result<(), String> {
    let state = offline_state(config).await?;
    match cmd {
        KeysCommand::List => {
            let keys = keys::list(&state).await.map_err(describe)?;
            println!(
                "{:<24}  {:<6}  {:<8}  {:<24}  {:<24}  RETIRED",
                "KID", "ALG", "STATE", "CREATED", "ACTIVATED"
            );
            for k in keys {
                let when =
                    |t: Option<time::OffsetDateTime>| t.map_or_else(|| "-".to_owned(), rfc3339);
                println!(
                    "{:<24}  {:<6}  {:<8}  {:<24}  {:<24}  {}",
                    k.kid,
                    k.algorithm,
                    k.state.as_str(),
                    rfc3339(k.created_at),
                    when(k.activated_at),
                    when(k.retired_at)
                );
            }
        }
        KeysCommand::Rotate { force } => {
            let changes = keys::rotate(&state, force).await.map_err(describe)?;
            println!(
                "rotated signing keys ({changes} change(s)); running servers pick it up within 30s"
            );
        }
    }
    Ok(())
}

async fn clients_command(config: Config, cmd: ClientsCommand) -> Result<(), String> {
    let state = offline_state(config).await?;
    match cmd {
        ClientsCommand::Add { name } => {
            let (client, secret) = clients::create(&state, &name, None)
                .await
                .map_err(describe)?;
            println!(
                "client_id: {}\nclient_secret: {}",
                client.id,
                secret.expose()
            );
            eprintln!("store the secret now: only its hash is kept");
        }
        ClientsCommand::List => {
            for c in clients::list(&state).await.map_err(describe)? {
                println!("{}  {}  {}", c.id, rfc3339(c.created_at), c.name);
            }
        }
    }
    Ok(())
}

/// The first line of stdin when piped; a hidden prompt (asked twice) on a terminal.
fn read_password() -> Result<String, String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(describe)?;
        let again = rpassword::prompt_password("Repeat password: ").map_err(describe)?;
        if first != again {
            return Err("the passwords do not match".into());
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(describe)?;
    let _ = std::io::stdout().flush();
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Store URLs may contain a password.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// An error as a command prints it: the whole cause chain on one line.
fn describe(err: impl std::error::Error) -> String {
    crate::error::chain(&err)
}
