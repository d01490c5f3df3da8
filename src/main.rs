//! The `oshirase` command line: argument parsing and exit codes; the work is in the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;

use oshirase::check::{output, CheckOptions, UsageError};
use oshirase::cli::args::{
    BackupArgs, CheckArgs, CheckFormat, Cli, Command, DemoArgs, Format, HashPasswordArgs, LangArg,
    LogFormat, PreviewArgs, ResolveArgs, ServeArgs, StatusArgs,
};
use oshirase::cli::demo::{self, DemoOptions};
use oshirase::cli::resolve::Resolution;
use oshirase::cli::serve::{ServeSettings, Service};
use oshirase::git::fetch;
use oshirase::support::secrets::Secrets;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

fn main() -> ExitCode {
    // SAFETY: no thread but this one runs yet.
    unsafe {
        oshirase::git::repo::cache_directory_trees();
        oshirase::support::memory::fix_allocator_limits();
    }
    let mut cli = Cli::parse();
    let log_format = match &cli.command {
        Command::Serve(args) => args.log_format,
        _ => LogFormat::Text,
    };
    // The demo prints a story; the service's own log goes to a file it names.
    let writer = match &mut cli.command {
        Command::Demo(args) => match demo_log(args) {
            Ok(file) => BoxMakeWriter::new(std::sync::Mutex::new(file)),
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::FAILURE;
            }
        },
        _ => BoxMakeWriter::new(std::io::stderr),
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("oshirase=info,warn")),
        )
        .with_ansi(!matches!(cli.command, Command::Demo(_)))
        .with_writer(writer);
    match log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().with_current_span(false).init(),
    }
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // A log collector reading JSON gets the reason it stopped as JSON too.
            if log_format == LogFormat::Json {
                tracing::error!("{e:#}");
            } else {
                eprintln!("error: {e:#}");
            }
            // A usage mistake in check/preview is exit 2, as for a bad flag.
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Serve(args) => serve(*args).map(|()| 0),
        Command::Check(args) => check(args),
        Command::Preview(args) => preview(args),
        Command::Status(args) => status(args).map(|()| 0),
        Command::Resolve(args) => resolve(args).map(|()| 0),
        Command::Backup(args) => backup(args).map(|()| 0),
        Command::Demo(args) => run_demo(args).map(|()| 0),
        Command::HashPassword(args) => hash_password(args).map(|()| 0),
        Command::Users(args) => {
            oshirase::cli::users::run(args, &mut std::io::stdout())?;
            Ok(0)
        }
    }
}

fn hash_password(args: HashPasswordArgs) -> Result<()> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']);
    println!(
        "{}",
        oshirase::web::auth::hash_password(&args.name, password, args.iterations)?
    );
    Ok(())
}

fn check(args: CheckArgs) -> Result<u8> {
    let lang = LangArg::resolve(args.lang);
    let report = oshirase::check::check(&CheckOptions {
        content: args.content,
        files: args.files,
        base: args.base,
        now: chrono::Utc::now(),
    })?;
    let text = match args.format {
        CheckFormat::Human => output::human(&report, lang),
        CheckFormat::Github => output::github(&report, lang),
        CheckFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&output::json(&report, lang))?
        ),
        CheckFormat::Markdown => output::markdown(&report, lang),
    };
    print!("{text}");
    Ok(report.exit_code())
}

fn preview(args: PreviewArgs) -> Result<u8> {
    let lang = LangArg::resolve(args.lang);
    let content = match args.content {
        Some(c) => c,
        None => oshirase::check::find_content_dir(&args.file).ok_or_else(|| {
            UsageError::NoContentDir(PathBuf::from(format!(
                "{} (no {} in its folder or above; pass --content)",
                args.file.display(),
                oshirase::content::config::CONFIG_FILE
            )))
        })?,
    };
    let report = oshirase::check::check(&CheckOptions {
        content,
        files: vec![args.file],
        base: None,
        now: chrono::Utc::now(),
    })?;
    match args.format {
        Format::Human => print!("{}", output::preview_human(&report, lang)),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&output::json(&report, lang))?
        ),
    }
    Ok(report.exit_code())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Resolves on SIGINT or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn serve(args: ServeArgs) -> Result<()> {
    let json_logs = args.log_format == LogFormat::Json;
    let settings = serve_settings(args)?;
    // With JSON logs every line on standard error is JSON.
    let say = |line: String| {
        if json_logs {
            tracing::info!("{line}");
        } else {
            eprintln!("oshirase: {line}");
        }
    };
    // SAFETY: no thread but this one runs yet; the runtime starts below.
    unsafe { fetch::set_socket_limits(settings.fetch_timeout) };
    let runtime = runtime()?;
    let served = runtime.block_on(async {
        let service = Service::start(settings).await?;
        say(format!("serving http://{}/", service.addr));
        let died = tokio::select! {
            () = stop_signal() => None,
            why = service.failed() => Some(why),
        };
        say("stopping; letting deliveries in flight finish".into());
        service.shutdown().await;
        // A task that died leaves a service that cannot publish: exit with an error, so
        // that systemd or Kubernetes start it again.
        if let Some(why) = died {
            bail!("{why}");
        }
        say("stopped".into());
        Ok(())
    });
    // A fetch blocked in a read ends at its socket limit; the process need not wait for it.
    runtime.shutdown_timeout(Duration::from_secs(2));
    served
}

/// The flags checked once into the service's settings, before anything is opened.
fn serve_settings(args: ServeArgs) -> Result<ServeSettings> {
    if args.fetch_timeout.is_zero() {
        bail!("--fetch-timeout must be longer than zero");
    }
    if args.session_idle.is_zero() || args.session_lifetime < args.session_idle {
        bail!(
            "--session-idle must be longer than zero and --session-lifetime at least as long \
             (given {} and {})",
            humantime::format_duration(args.session_idle),
            humantime::format_duration(args.session_lifetime)
        );
    }
    let secrets = match &args.secrets {
        Some(path) => Secrets::load(path)?,
        None => Secrets::from_env(),
    };
    let people = oshirase::web::auth::people::PeopleFile::open(&args.data)?;
    let auth = oshirase::web::auth::for_listen(args.listen, &secrets, Some(people))?;
    if let (Some(header), Some(from), Some(auth)) =
        (&args.proxy_user_header, args.trusted_proxy, &auth)
    {
        auth.trust_proxy(oshirase::web::auth::ProxyTrust::new(header, from)?);
    }
    if let Some(auth) = &auth {
        auth.limit_sessions(oshirase::web::auth::sessions::SessionLimits {
            idle: args.session_idle,
            lifetime: args.session_lifetime,
        });
    }
    let public_url = match args.public_url.as_deref() {
        None => None,
        Some(u) if u.starts_with("https://") || u.starts_with("http://") => {
            Some(u.trim_end_matches('/').to_string())
        }
        Some(u) => bail!("--public-url {u}: give an http:// or https:// address"),
    };
    let remote = fetch::is_remote(&args.repo).then(|| args.repo.clone());
    if let Some(url) = &remote {
        // Before anything is opened or written: a password must not reach the mirror.
        fetch::check_remote_url(url)?;
    }
    let repo = match &remote {
        Some(_) => fetch::mirror_path(&args.data),
        None => PathBuf::from(&args.repo),
    };
    let forge_api = oshirase::git::pull_request::ForgeApi::configure(
        remote.as_deref(),
        args.forge_api.as_deref(),
        args.forge_project.as_deref(),
        secrets.get(oshirase::git::pull_request::FORGE_TOKEN),
    )?;
    Ok(ServeSettings {
        repo,
        remote,
        fetch_interval: args.fetch_interval,
        fetch_timeout: args.fetch_timeout,
        secrets,
        branch: args.branch,
        content_dir: args.content,
        data_dir: args.data,
        listen: args.listen,
        dry_run: args.dry_run,
        poll_interval: args.poll,
        public_url,
        auth,
        forge_api,
    })
}

fn status(args: StatusArgs) -> Result<()> {
    let store = oshirase::cli::status::open_existing(&args.data)?;
    match args.format {
        Format::Human => print!("{}", oshirase::cli::status::report_human(&store)?),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&oshirase::cli::status::report_json(&store)?)?
        ),
    }
    Ok(())
}

fn resolve(args: ResolveArgs) -> Result<()> {
    let store = oshirase::cli::status::open_existing(&args.data)?;
    let resolution = match args.published {
        Some(url) => Resolution::Published { url },
        None => Resolution::NotPublished,
    };
    let operator = args
        .by
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "operator".into());
    let (d, _) =
        oshirase::cli::resolve::resolve(&store, &args.post, &args.network, resolution, &operator)?;
    println!(
        "{} → {}: {} (recorded as settled by {operator})",
        d.post_id, d.network, d.state
    );
    Ok(())
}

fn backup(args: BackupArgs) -> Result<()> {
    let store = oshirase::cli::status::open_existing(&args.data)?;
    let copied = store.backup_to(&args.to)?;
    println!(
        "{}: {} posts, {} deliveries, {} events (restore: stop serve, then copy it to {})",
        args.to.display(),
        copied.posts,
        copied.deliveries,
        copied.events,
        args.data.join(oshirase::store::DB_FILE).display()
    );
    Ok(())
}

/// Gives the demo its directory now (a new temporary one unless `--dir` named one), and
/// opens the file its service logs to there.
fn demo_log(args: &mut DemoArgs) -> Result<std::fs::File> {
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => tempfile::Builder::new()
            .prefix("oshirase-demo-")
            .tempdir()
            .context("creating the demo's directory")?
            .keep(),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let log = dir.join(DEMO_LOG);
    args.dir = Some(dir);
    std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))
}

/// The demo service's log, in the demo's directory.
const DEMO_LOG: &str = "oshirase.log";

fn run_demo(args: DemoArgs) -> Result<()> {
    let log = args.dir.as_ref().map(|d| d.join(DEMO_LOG));
    runtime()?.block_on(async {
        demo::run(
            DemoOptions {
                listen: args.listen,
                dir: args.dir,
                step: args.step,
                log,
            },
            |line| println!("{line}"),
            stop_signal(),
        )
        .await?;
        Ok(())
    })
}
