//! The command line as clap reads it: every subcommand's flags, with the environment
//! variables and defaults operators rely on. `src/main.rs` turns these into the settings
//! of each command.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::content::i18n::Lang;

#[derive(Parser)]
#[command(
    name = "oshirase",
    version,
    about = "Publish an organisation's social-media posts from git, exactly once"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Watch a content repository and publish its posts when they are due.
    Serve(Box<ServeArgs>),
    /// Validate posts before merging: errors with file and line, and what each network receives.
    Check(CheckArgs),
    /// Show exactly what each network will receive for one post.
    Preview(PreviewArgs),
    /// Show what a data directory holds and what needs a person.
    Status(StatusArgs),
    /// Settle an `unknown` delivery after checking the network by hand.
    Resolve(ResolveArgs),
    /// Copy the database to a new file, consistently, even while `serve` runs.
    Backup(BackupArgs),
    /// Run the whole story on a scratch repository, without credentials.
    Demo(DemoArgs),
    /// Print an OSHIRASE_DASHBOARD_USERS entry (name:pbkdf2-sha256:…) for a dashboard user;
    /// the password is the first line of standard input.
    HashPassword(HashPasswordArgs),
    /// Manage the people who sign in to the dashboard (kept in people.json in the data
    /// directory; passwords read from the terminal or standard input, never an argument).
    Users(UsersArgs),
}

#[derive(clap::Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    pub command: UsersCommand,
    #[arg(
        long,
        env = "OSHIRASE_DATA",
        default_value = "oshirase-data",
        global = true
    )]
    pub data: PathBuf,
}

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Add a person; their password is asked for (or read from standard input).
    Add {
        /// Their e-mail address, which is also the git identity of what they propose.
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        department: Option<String>,
        #[arg(long, value_enum, default_value = "staff")]
        role: crate::web::auth::people::Role,
        /// PBKDF2 iterations: more is slower for an attacker and for each sign-in.
        #[arg(long, default_value_t = crate::web::auth::DEFAULT_ITERATIONS)]
        iterations: u32,
    },
    /// List everyone, with their department, role and whether they are disabled.
    List,
    /// Stop a person signing in; their sessions end at their next request.
    Disable { email: String },
    /// Let a disabled person sign in again.
    Enable { email: String },
    /// Set a new password (asked for, or read from standard input).
    Passwd {
        email: String,
        #[arg(long, default_value_t = crate::web::auth::DEFAULT_ITERATIONS)]
        iterations: u32,
    },
}

#[derive(clap::Args)]
pub struct HashPasswordArgs {
    /// The user name the browser will ask for.
    pub name: String,
    /// PBKDF2 iterations: more is slower for an attacker and for each first login.
    #[arg(long, default_value_t = crate::web::auth::DEFAULT_ITERATIONS)]
    pub iterations: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object a line (timestamp, level, fields, target), for log collectors.
    Json,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("outcome").required(true).args(["published", "not_published"])))]
pub struct ResolveArgs {
    /// The post id (as on the dashboard, e.g. posts/2026-12-20-gomi).
    pub post: String,
    /// The network name from oshirase.yaml (e.g. x).
    pub network: String,
    /// It is on the network, at this address.
    #[arg(long, value_name = "URL")]
    pub published: Option<String>,
    /// It is not on the network: send it again.
    #[arg(long)]
    pub not_published: bool,
    #[arg(long, env = "OSHIRASE_DATA", default_value = "oshirase-data")]
    pub data: PathBuf,
    /// Who is settling it, for the audit log (default: $USER).
    #[arg(long)]
    pub by: Option<String>,
}

#[derive(clap::Args)]
pub struct BackupArgs {
    /// The new file to write (it must not exist yet).
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
    #[arg(long, env = "OSHIRASE_DATA", default_value = "oshirase-data")]
    pub data: PathBuf,
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// The content repository: a local path, or a URL (https, ssh, file://, git://) that
    /// oshirase mirrors into the data directory.
    #[arg(long, env = "OSHIRASE_REPO")]
    pub repo: String,
    /// The publish branch: what is on it is approved.
    #[arg(long, env = "OSHIRASE_BRANCH", default_value = "main")]
    pub branch: String,
    /// Directory of the posts and oshirase.yaml inside the repository.
    #[arg(long, env = "OSHIRASE_CONTENT", default_value = "")]
    pub content: String,
    /// Where oshirase keeps its database and outboxes.
    #[arg(long, env = "OSHIRASE_DATA", default_value = "oshirase-data")]
    pub data: PathBuf,
    /// Address of the dashboard and API.
    #[arg(long, env = "OSHIRASE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Replace every network with an outbox, to rehearse a real repository safely.
    #[arg(long, env = "OSHIRASE_DRY_RUN")]
    pub dry_run: bool,
    /// How often to look at the branch when no file-system event says it moved.
    #[arg(long, env = "OSHIRASE_POLL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub poll: Duration,
    /// How often to fetch a remote repository when no webhook says it moved.
    #[arg(long, env = "OSHIRASE_FETCH_INTERVAL", default_value = "60s", value_parser = humantime::parse_duration)]
    pub fetch_interval: Duration,
    /// The longest one fetch of a remote repository may take, connecting included; a remote
    /// that does not answer in time shows as a failing fetch on /healthz.
    #[arg(long, env = "OSHIRASE_FETCH_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub fetch_timeout: Duration,
    /// A file of KEY=value lines with network credentials and other secrets (the
    /// environment is read too and wins).
    #[arg(long, env = "OSHIRASE_SECRETS")]
    pub secrets: Option<PathBuf>,
    /// The address networks reach this service at (e.g. https://oshirase.city.example.jp),
    /// for networks that fetch images by URL (LINE); only published images are served.
    #[arg(long, env = "OSHIRASE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// How the log on standard error is written.
    #[arg(long, env = "OSHIRASE_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Single sign-on: the request header in which a reverse proxy names the signed-in
    /// person by e-mail (e.g. X-Forwarded-Email), mapped to people.json. Trusted only on
    /// connections from --trusted-proxy.
    #[arg(long, env = "OSHIRASE_PROXY_USER_HEADER", requires = "trusted_proxy")]
    pub proxy_user_header: Option<String>,
    /// The address the proxy connects from; the header from anywhere else is ignored.
    #[arg(long, env = "OSHIRASE_TRUSTED_PROXY", requires = "proxy_user_header")]
    pub trusted_proxy: Option<std::net::IpAddr>,
    /// A dashboard session unused this long ends (the person signs in again).
    #[arg(long, env = "OSHIRASE_SESSION_IDLE", default_value = "2h", value_parser = humantime::parse_duration)]
    pub session_idle: Duration,
    /// No dashboard session lasts longer than this, however busy.
    #[arg(long, env = "OSHIRASE_SESSION_LIFETIME", default_value = "12h", value_parser = humantime::parse_duration)]
    pub session_lifetime: Duration,
    /// The forge API the desk opens pull requests with (with OSHIRASE_FORGE_TOKEN), for a
    /// self-hosted forge: e.g. https://git.city.example/api/v4 (GitLab), …/api/v1 (Gitea,
    /// Forgejo), …/api/v3 (GitHub Enterprise). github.com, gitlab.com and codeberg.org
    /// need none.
    #[arg(long, env = "OSHIRASE_FORGE_API")]
    pub forge_api: Option<String>,
    /// The repository on that forge (owner/name; GitLab: the full project path), when the
    /// remote URL does not say it.
    #[arg(long, env = "OSHIRASE_FORGE_PROJECT")]
    pub forge_project: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum CheckFormat {
    Human,
    Github,
    Json,
    Markdown,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LangArg {
    Ja,
    En,
}

impl LangArg {
    pub fn resolve(arg: Option<LangArg>) -> Lang {
        match arg {
            Some(LangArg::Ja) => Lang::Ja,
            Some(LangArg::En) => Lang::En,
            None => Lang::from_env(),
        }
    }
}

#[derive(clap::Args)]
pub struct CheckArgs {
    /// The content directory (where oshirase.yaml is).
    #[arg(long, default_value = ".")]
    pub content: PathBuf,
    #[arg(long, value_enum, default_value = "human")]
    pub format: CheckFormat,
    /// Language of the messages (default: from the locale).
    #[arg(long, value_enum)]
    pub lang: Option<LangArg>,
    /// A git revision (e.g. origin/main): posts changed since it get the warnings for new posts.
    #[arg(long)]
    pub base: Option<String>,
    /// Only report these files (every post is still read, to find duplicates).
    pub files: Vec<PathBuf>,
}

#[derive(clap::Args)]
pub struct PreviewArgs {
    pub file: PathBuf,
    /// The content directory (default: the nearest folder upwards with an oshirase.yaml).
    #[arg(long)]
    pub content: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    #[arg(long, value_enum)]
    pub lang: Option<LangArg>,
}

#[derive(clap::Args)]
pub struct StatusArgs {
    #[arg(long, env = "OSHIRASE_DATA", default_value = "oshirase-data")]
    pub data: PathBuf,
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
}

#[derive(clap::Args)]
pub struct DemoArgs {
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Keep the scratch repository here instead of a new temporary directory.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Time between the demo posts that fall due soon.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub step: Duration,
}
