//! The `weir` command line: run pipelines, validate pipeline files.

use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::Arc;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use weir::metrics::Hub;

// Many small, short-lived allocations on several threads: mimalloc keeps both the
// time and the fragmentation (RSS) of that pattern far below the system allocator's.
#[global_allocator]
static GLOBAL: weir::alloc::Allocator = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "weir", version, about = "Moves event streams into data lakes")]
struct Cli {
    /// Log lines for people (`human`) or one JSON object per line (`json`).
    #[arg(long, global = true, default_value = "human", env = "WEIR_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run every *.yaml pipeline in a directory, reloading changed files, until
    /// SIGINT/SIGTERM (with --once: until every pipeline's input has ended).
    Run {
        /// Directory of pipeline files.
        #[arg(long, default_value = "pipelines", env = "WEIR_PIPELINES")]
        pipelines: PathBuf,
        /// Run the pipelines as they are until each one's input ends, then exit: no
        /// watching, no reloads (batch jobs, backfills, CI).
        #[arg(long)]
        once: bool,
        /// Where pipelines keep their source positions.
        #[arg(long, default_value = ".weir/state", env = "WEIR_STATE_DIR")]
        state_dir: PathBuf,
        /// Also serve the local registry over Confluent's Schema Registry API here
        /// (e.g. 127.0.0.1:8081) while the pipelines run.
        #[arg(long, env = "WEIR_REGISTRY_LISTEN")]
        registry_listen: Option<std::net::SocketAddr>,
        /// The registry directory that `--registry-listen` serves.
        #[arg(long, default_value = "schemas")]
        registry: PathBuf,
        /// Serve the admin API here (health, readiness, Prometheus metrics, pipeline
        /// status), e.g. 127.0.0.1:9464.
        #[arg(long, env = "WEIR_ADMIN_LISTEN")]
        admin_listen: Option<std::net::SocketAddr>,
        /// Require `Authorization: Bearer <token>` on the admin API (all but /health
        /// and /ready).
        #[arg(long, env = "WEIR_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
    },
    /// Check pipeline files (or directories of them) and report every problem. Plugins
    /// are loaded and their `init` checks their config.
    Validate {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Run whole-pipeline tests: each test file names a pipeline, input records and the
    /// rows and dead letters expected; exits 1 if any case fails.
    Test {
        /// Test files, or directories of them (every *.yaml inside).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Run a pipeline's dead letters again through its current definition (after the
    /// cause is fixed), into the lake, once: a second replay skips what went through.
    Replay {
        /// The pipeline file (its current version is used).
        pipeline: PathBuf,
        /// Only dead letters of this error type (e.g. schema-mismatch); repeat for more.
        #[arg(long = "error-type")]
        error_types: Vec<String>,
        /// Only objects whose first dead letter arrived at or after this RFC 3339 time.
        #[arg(long, value_parser = rfc3339_ms)]
        since: Option<i64>,
        /// Only objects whose first dead letter arrived before this RFC 3339 time.
        #[arg(long, value_parser = rfc3339_ms)]
        until: Option<i64>,
        /// List what would be replayed, and replay nothing.
        #[arg(long)]
        dry_run: bool,
        /// Where the replay keeps its positions (under `replay/`).
        #[arg(long, default_value = ".weir/state", env = "WEIR_STATE_DIR")]
        state_dir: PathBuf,
    },
    /// Inspect the local schema registry.
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
    /// Tools for plugin authors.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Create a plugin crate NAME with a pass-through transform and a unit test.
    New {
        name: String,
        /// Folder to create it in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Path of the weir-plugin SDK crate (default: the one of this Weir build).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Run a plugin over sample records (JSON lines) and print what it outputs,
    /// errors included, with the input line each came from.
    Run {
        /// The plugin's .wasm component.
        plugin: PathBuf,
        /// A file of records, one per line.
        #[arg(long)]
        input: PathBuf,
        /// A setting for the plugin's init, KEY=VALUE; repeat for more.
        #[arg(long = "config", value_parser = key_value)]
        config: Vec<(String, String)>,
    },
}

#[derive(Subcommand)]
enum SchemaCommand {
    /// List every subject's versions with their type, schema id and compatibility mode.
    List {
        /// The registry directory.
        #[arg(long, default_value = "schemas")]
        registry: PathBuf,
    },
    /// Check each version of SUBJECT against the earlier ones under its compatibility
    /// mode; exits 1 if any is incompatible.
    Check {
        subject: String,
        /// The registry directory.
        #[arg(long, default_value = "schemas")]
        registry: PathBuf,
    },
    /// Serve the registry over Confluent's Schema Registry REST API until SIGINT or
    /// SIGTERM, so producers using Confluent's serializers register schemas with it.
    Serve {
        /// The registry directory.
        #[arg(long, default_value = "schemas")]
        registry: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081", env = "WEIR_REGISTRY_LISTEN")]
        listen: std::net::SocketAddr,
    },
}

fn rfc3339_ms(s: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("`{s}` is not an RFC 3339 time such as 2026-12-01T10:00:00Z: {e}"))
}

fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))
}

// Before `main`: the allocator options must be set before the first allocation.
#[ctor::ctor]
fn tune_allocator() {
    weir::alloc::tune();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `weir test` prints its own report: the pipeline's progress would drown it.
    let default_level = match cli.command {
        Command::Test { .. } => "warn",
        _ => "info",
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
                .unwrap_or_else(|_| default_level.into()),
        )
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Human => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    match cli.command {
        Command::Validate { paths } => validate(paths),
        Command::Plugin { command } => plugin(command),
        Command::Schema { command } => schema(command),
        Command::Test { paths } => test(paths),
        Command::Replay {
            pipeline,
            error_types,
            since,
            until,
            dry_run,
            state_dir,
        } => {
            let selection = weir::source::dead_letters::Selection {
                error_types: error_types.into_iter().collect(),
                since_ms: since,
                until_ms: until,
            };
            replay(&pipeline, &state_dir, selection, dry_run)
        }
        Command::Run {
            pipelines,
            once,
            state_dir,
            registry_listen,
            registry,
            admin_listen,
            admin_token,
        } => {
            let runtime = tokio::runtime::Runtime::new().expect("tokio runtime starts");
            let servers = Servers {
                registry: registry_listen.map(|addr| (addr, registry)),
                admin: admin_listen.map(|addr| (addr, admin_token)),
            };
            let mode = if once {
                weir::daemon::Mode::Once
            } else {
                weir::daemon::Mode::Watch
            };
            runtime.block_on(run(pipelines, state_dir, servers, mode))
        }
    }
}

fn schema(command: SchemaCommand) -> ExitCode {
    let result = match command {
        SchemaCommand::Serve { registry, listen } => {
            let runtime = tokio::runtime::Runtime::new().expect("tokio runtime starts");
            return runtime.block_on(async {
                let shutdown = CancellationToken::new();
                tokio::spawn(signals(shutdown.clone()));
                match serve_registry(listen, &registry, shutdown).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("error: {e}");
                        ExitCode::FAILURE
                    }
                }
            });
        }
        SchemaCommand::List { registry } => weir::schema_tool::list(&registry).map(|s| (s, true)),
        SchemaCommand::Check { subject, registry } => weir::schema_tool::check(&registry, &subject),
    };
    match result {
        Ok((out, ok)) => {
            print!("{out}");
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn validate(paths: Vec<PathBuf>) -> ExitCode {
    let state = std::env::var_os("WEIR_STATE_DIR").unwrap_or_else(|| ".weir/state".into());
    let state = std::path::Path::new(&state);
    let mut ok = true;
    for path in paths {
        // Every check a start or a reload makes; a directory is checked as the daemon
        // runs it (names must be unique).
        let checked = if path.is_dir() {
            match weir::daemon::validate_dir(&path, state) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{}: cannot read the directory: {e}", path.display());
                    ok = false;
                    continue;
                }
            }
        } else {
            let prepared = weir::pipeline::prepare(&path, state);
            vec![(path, prepared)]
        };
        for (file, checked) in checked {
            match checked {
                Ok(p) => println!("{}: ok (pipeline `{}`)", file.display(), p.spec.name),
                Err(errors) => {
                    ok = false;
                    eprintln!("{errors}");
                }
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn test(paths: Vec<PathBuf>) -> ExitCode {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            match weir::daemon::pipeline_files(&path) {
                Ok(found) => files.extend(found),
                Err(e) => {
                    eprintln!("error: {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
        } else {
            files.push(path);
        }
    }
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime starts");
    let (mut passed, mut failed) = (0, 0);
    for file in files {
        println!("{}", file.display());
        let reports = match runtime.block_on(weir::test_tool::run_file(&file)) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        for case in reports {
            if case.failures.is_empty() {
                passed += 1;
                println!("  ok      {}", case.name);
            } else {
                failed += 1;
                println!("  FAILED  {}", case.name);
                for failure in case.failures {
                    for line in failure.lines() {
                        println!("    {line}");
                    }
                }
            }
        }
    }
    println!(
        "{} cases: {passed} passed, {failed} failed",
        passed + failed
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn replay(
    pipeline: &std::path::Path,
    state_dir: &std::path::Path,
    selection: weir::source::dead_letters::Selection,
    dry_run: bool,
) -> ExitCode {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime starts");
    let result = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(signals(shutdown.clone()));
        weir::replay_tool::replay(pipeline, state_dir, selection, dry_run, shutdown).await
    });
    match result {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn plugin(command: PluginCommand) -> ExitCode {
    let result = match command {
        PluginCommand::New { name, dir, sdk } => {
            weir::plugin_tool::scaffold(&name, &dir, sdk.as_deref()).map(|path| {
                println!("created {}", path.display());
                println!(
                    "next: cd {} && cargo test && cargo build --release --target wasm32-wasip2",
                    path.display()
                );
            })
        }
        PluginCommand::Run {
            plugin,
            input,
            config,
        } => weir::plugin_tool::try_plugin(&plugin, &input, config, &mut std::io::stdout())
            .map(|_| ()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The registry API over the directory `root`, bound to `listen`.
async fn registry_server(
    listen: std::net::SocketAddr,
    root: &std::path::Path,
) -> Result<(tokio::net::TcpListener, axum::Router), String> {
    let registry = weir::schema::LocalRegistry::open(root).map_err(|e| e.to_string())?;
    let listener = weir::admin::bind(listen).await.map_err(|e| e.to_string())?;
    Ok((listener, weir::admin::registry::router(registry)))
}

/// Serves the registry at `root` on `listen` until `shutdown` fires.
async fn serve_registry(
    listen: std::net::SocketAddr,
    root: &std::path::Path,
    shutdown: CancellationToken,
) -> Result<(), String> {
    let (listener, router) = registry_server(listen, root).await?;
    weir::admin::serve(listener, router, "schema registry API", shutdown)
        .await
        .map_err(|e| e.to_string())
}

/// The listeners `weir run` may serve beside its pipelines.
struct Servers {
    registry: Option<(std::net::SocketAddr, PathBuf)>,
    admin: Option<(std::net::SocketAddr, Option<String>)>,
}

/// Binds the listeners `servers` asks for and serves them until `stop` fires; a taken
/// port fails before any pipeline starts.
async fn start_servers(
    servers: Servers,
    hub: Arc<Hub>,
    stop: &CancellationToken,
) -> Result<Vec<Served>, String> {
    let mut running = Vec::new();
    if let Some((listen, token)) = servers.admin {
        let listener = weir::admin::bind(listen)
            .await
            .map_err(|e| format!("admin API: {e}"))?;
        let router = weir::admin::api::router(hub, token);
        let serve = weir::admin::serve(listener, router, "admin API", stop.clone());
        running.push(("admin API", tokio::spawn(serve)));
    }
    if let Some((listen, root)) = servers.registry {
        let (listener, router) = registry_server(listen, &root)
            .await
            .map_err(|e| format!("schema registry API: {e}"))?;
        let serve = weir::admin::serve(listener, router, "schema registry API", stop.clone());
        running.push(("schema registry API", tokio::spawn(serve)));
    }
    Ok(running)
}

type Served = (&'static str, tokio::task::JoinHandle<std::io::Result<()>>);

async fn run(
    pipelines: PathBuf,
    state_dir: PathBuf,
    servers: Servers,
    mode: weir::daemon::Mode,
) -> ExitCode {
    let shutdown = CancellationToken::new();
    tokio::spawn(signals(shutdown.clone()));
    let hub = Arc::new(Hub::default());
    tokio::spawn(reload_on_hangup(hub.clone()));
    let server_stop = CancellationToken::new();
    let served = match start_servers(servers, hub.clone(), &server_stop).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let reports = weir::daemon::run_dir(&pipelines, &state_dir, hub, shutdown, mode).await;
    server_stop.cancel();
    for (what, task) in served {
        if let Ok(Err(e)) = task.await {
            eprintln!("error: {what}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let reports = match reports {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "error: cannot read the pipeline directory `{}`: {e}",
                pipelines.display()
            );
            return ExitCode::FAILURE;
        }
    };
    if reports.is_empty() && mode == weir::daemon::Mode::Once {
        eprintln!("error: no *.yaml pipeline in `{}`", pipelines.display());
        return ExitCode::FAILURE;
    }
    let mut ok = true;
    for r in reports {
        match r.result {
            Ok(summary) => println!("{}: {summary}", r.name),
            Err(e) => {
                ok = false;
                eprintln!(
                    "{}: {e}",
                    if r.name.is_empty() {
                        r.file.display().to_string()
                    } else {
                        r.name
                    }
                );
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Reads the pipeline directory again on each SIGHUP.
async fn reload_on_hangup(hub: Arc<Hub>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup()).expect("SIGHUP handler installs");
    while hangup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the pipeline directory");
        drop(hub.request_reload());
    }
}

/// Fires `shutdown` on SIGINT or SIGTERM; pipelines then flush and commit.
async fn signals(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: flushing buffers and committing positions");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    shutdown.cancel();
}
