//! Starting the wizard: choose the front end, the session and the password source, then run
//! the engine under the chosen front end.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use color_eyre::eyre::{Context, Result, eyre};
use tokio::sync::mpsc;

use crate::answers::{self, Answers};
use crate::cli::{Cli, Mode};
use crate::engine::steps::Builtin;
use crate::engine::{Cancel, Command, Engine, EngineOptions, StopReason};
use crate::frontend::{headless, line, tui};
use crate::logging::{self, LogFile};
use crate::secret::Secret;
use crate::session::{Session, SessionStore};
use crate::signals::{self, INTERRUPTED_EXIT};
use crate::wizard::state::PasswordSource;
use crate::wizard::{Choices, Flow, Msg};

/// Set while the TUI owns the terminal, so the panic hook knows to give it back first.
pub static TUI_ACTIVE: AtomicBool = AtomicBool::new(false);

pub fn resolve_mode(cli: &Cli) -> Result<Mode> {
    if let Some(mode) = cli.mode {
        if mode == Mode::Headless && cli.answers.is_none() {
            return Err(eyre!(
                "--mode headless needs --answers FILE: a headless run cannot ask questions.\n\
                 Write one by hand (see the README) or export one from a session with \
                 `ckf-airgap export-answers`."
            ));
        }
        return Ok(mode);
    }
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    if interactive && !dumb {
        Ok(Mode::Tui)
    } else if interactive {
        Ok(Mode::Line)
    } else {
        Err(eyre!(
            "standard input and output are not a terminal, so the wizard cannot ask anything.\n\
             For an unattended run use `--mode headless --answers FILE`."
        ))
    }
}

pub fn exit_code(reason: &StopReason) -> i32 {
    match reason {
        StopReason::Finished => 0,
        StopReason::Interrupted => INTERRUPTED_EXIT,
        StopReason::Failed { .. } | StopReason::Error(_) => 1,
    }
}

/// Reads the registry password from where the choices say, at run time only.
pub fn resolve_password(choices: &Choices) -> Result<Option<Secret>> {
    let Some(source) = choices
        .registry
        .as_ref()
        .and_then(|r| r.password_source.as_ref())
    else {
        return Ok(None);
    };
    match source {
        PasswordSource::Env(var) => match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Some(Secret::new(v))),
            _ => Err(eyre!(
                "the registry password should come from the environment variable {var}, \
                 which is not set. Export it and run again."
            )),
        },
        PasswordSource::File(path) => {
            let text = std::fs::read_to_string(path).wrap_err_with(|| {
                format!("cannot read the registry password file {}", path.display())
            })?;
            let text = text.trim_end_matches(['\n', '\r']);
            Ok(Some(Secret::new(text)))
        }
        PasswordSource::Prompt | PasswordSource::DockerConfig(_) => Ok(None),
    }
}

fn open_session(store: &SessionStore, id: Option<&str>, new: bool, flow: Flow) -> Result<Session> {
    if new {
        return store
            .create_flow(flow)
            .wrap_err("cannot start a new session");
    }
    if let Some(id) = id {
        return store
            .open_session(id)
            .wrap_err_with(|| format!("cannot open session {id}"));
    }
    match store.newest_unfinished_of(flow)? {
        Some(s) if !s.in_use => store
            .open_session(&s.id)
            .wrap_err_with(|| format!("cannot open session {}", s.id)),
        _ => store
            .create_flow(flow)
            .wrap_err("cannot start a new session"),
    }
}

/// The sessions of one flow, for the resume prompt.
fn sessions_of(store: &SessionStore, flow: Flow) -> Result<Vec<crate::session::SessionSummary>> {
    Ok(store
        .list()?
        .into_iter()
        .filter(|s| s.file.as_ref().is_none_or(|f| f.wizard.flow == flow))
        .collect())
}

fn load_answers(path: &Path, interactive: bool) -> Result<(Answers, Choices)> {
    let answers = Answers::load(path).map_err(|e| eyre!("{e}"))?;
    let env = |var: &str| std::env::var(var).ok();
    let problems = answers::validate(&answers, &env, interactive);
    if !problems.is_empty() {
        let list: Vec<String> = problems
            .iter()
            .map(|p| format!("  {}: {}", p.key, p.message))
            .collect();
        return Err(eyre!(
            "{} has problems (check it with `ckf-airgap validate-answers`):\n{}",
            path.display(),
            list.join("\n")
        ));
    }
    let choices = answers.to_choices();
    Ok((answers, choices))
}

struct Started {
    engine: Engine,
    session_id: String,
    log_path: PathBuf,
}

fn start_engine(
    mut session: Session,
    choices: Option<Choices>,
    log: &LogFile,
    options: EngineOptions,
    events: mpsc::UnboundedSender<crate::engine::EngineEvent>,
) -> Result<Started> {
    let log_path = session.log_path();
    log.switch_to(&log_path)
        .wrap_err_with(|| format!("cannot open the log {}", log_path.display()))?;
    tracing::info!(
        session = session.id(),
        version = env!("CARGO_PKG_VERSION"),
        "session opened"
    );
    if let Some(choices) = choices {
        session.apply(Msg::SetChoices(Box::new(choices)))?;
    }
    let password = resolve_password(&session.state().choices)?;
    if let Some(r) = &session.state().choices.registry {
        tracing::info!(
            target_registry = %r.target,
            user = r.username.as_deref().unwrap_or("(anonymous)"),
            password = if password.is_some() { "given" } else { "not given" },
            "registry choice"
        );
    }
    let session_id = session.id().to_string();
    let engine = Engine::new(session, Arc::new(Builtin), events, options);
    engine.set_password(password);
    Ok(Started {
        engine,
        session_id,
        log_path,
    })
}

pub fn wizard(cli: &Cli, state_dir: &Path, store: &SessionStore) -> Result<i32> {
    wizard_flow(cli, state_dir, store, Flow::Install, None)
}

/// Runs `flow` (the install, or gather on the connected side) under the chosen front end.
/// `then` names what follows once this run ends: the full screen says "q goes on to …" for it.
pub fn wizard_flow(
    cli: &Cli,
    state_dir: &Path,
    store: &SessionStore,
    flow: Flow,
    then: Option<&str>,
) -> Result<i32> {
    let mode = resolve_mode(cli)?;
    let choices = match &cli.answers {
        Some(path) => Some(load_answers(path, mode != Mode::Headless)?.1),
        None => None,
    };
    let log = logging::init(&state_dir.join("ckf-airgap.log"), cli.log_level.as_deref());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .wrap_err("cannot start the async runtime")?;
    let result = match mode {
        Mode::Headless => run_headless(&runtime, cli, store, choices, &log, flow),
        Mode::Line => run_line(&runtime, cli, store, choices, &log, flow),
        Mode::Tui => run_tui(&runtime, cli, store, choices, &log, flow, then),
    };
    if let Some(path) = log.path() {
        eprintln!("Log: {}", path.display());
    }
    // Prompts may still block a thread on standard input; do not wait for them.
    runtime.shutdown_background();
    result
}

fn run_headless(
    runtime: &tokio::runtime::Runtime,
    cli: &Cli,
    store: &SessionStore,
    choices: Option<Choices>,
    log: &LogFile,
    flow: Flow,
) -> Result<i32> {
    let session = open_session(store, cli.session.as_deref(), cli.new, flow)?;
    println!("Session {} in {}", session.id(), session.dir().display());
    let (tx, rx) = mpsc::unbounded_channel();
    let started = start_engine(
        session,
        choices,
        log,
        EngineOptions {
            auto: true,
            interactive: false,
        },
        tx,
    )?;
    let (_commands, command_rx) = mpsc::unbounded_channel::<Command>();
    let reason = runtime.block_on(async move {
        let cancel = Cancel::new();
        signals::install(cancel.clone()).wrap_err("cannot watch for Ctrl-C and SIGHUP")?;
        let printer = tokio::spawn(headless::print_events(rx, std::io::stdout()));
        let reason = started.engine.run(command_rx, cancel).await;
        let _ = printer.await;
        Ok::<_, color_eyre::Report>(reason)
    })?;
    Ok(exit_code(&reason))
}

fn run_line(
    runtime: &tokio::runtime::Runtime,
    cli: &Cli,
    store: &SessionStore,
    choices: Option<Choices>,
    log: &LogFile,
    flow: Flow,
) -> Result<i32> {
    let session = match (&cli.session, cli.new) {
        (None, false) => match line::pick_session(&sessions_of(store, flow)?)? {
            line::Pick::Resume(id) => open_session(store, Some(&id), false, flow)?,
            line::Pick::New => open_session(store, None, true, flow)?,
            line::Pick::Quit => return Ok(0),
        },
        (id, new) => open_session(store, id.as_deref(), new, flow)?,
    };
    println!("Session {} in {}", session.id(), session.dir().display());
    let (tx, rx) = mpsc::unbounded_channel();
    let started = start_engine(
        session,
        choices,
        log,
        EngineOptions {
            auto: false,
            interactive: true,
        },
        tx,
    )?;
    let (command_tx, command_rx) = mpsc::unbounded_channel::<Command>();
    let session_id = started.session_id.clone();
    let reason = runtime.block_on(async move {
        let cancel = Cancel::new();
        signals::install(cancel.clone()).wrap_err("cannot watch for Ctrl-C and SIGHUP")?;
        let engine = tokio::spawn(started.engine.run(command_rx, cancel));
        let reason = line::run(session_id, command_tx, rx).await;
        let _ = engine.await;
        Ok::<_, color_eyre::Report>(reason)
    })?;
    Ok(exit_code(&reason))
}

fn run_tui(
    runtime: &tokio::runtime::Runtime,
    cli: &Cli,
    store: &SessionStore,
    choices: Option<Choices>,
    log: &LogFile,
    flow: Flow,
    then: Option<&str>,
) -> Result<i32> {
    let theme = tui::theme::Theme::from_env(cli.ascii);
    let mut terminal = ratatui::try_init().wrap_err("cannot take over the terminal")?;
    TUI_ACTIVE.store(true, Ordering::SeqCst);
    let outcome = (|| -> Result<Option<(StopReason, String)>> {
        let session = match (&cli.session, cli.new) {
            (None, false) => {
                match tui::pick_session(&mut terminal, &sessions_of(store, flow)?, theme)? {
                    tui::Pick::Resume(id) => open_session(store, Some(&id), false, flow)?,
                    tui::Pick::New => open_session(store, None, true, flow)?,
                    tui::Pick::Quit => return Ok(None),
                }
            }
            (id, new) => open_session(store, id.as_deref(), new, flow)?,
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let started = start_engine(
            session,
            choices,
            log,
            EngineOptions {
                auto: false,
                interactive: true,
            },
            tx,
        )?;
        let session_id = started.session_id.clone();
        let log_path = started.log_path.clone();
        let (command_tx, command_rx) = mpsc::unbounded_channel::<Command>();
        let cancel = Cancel::new();
        let engine = {
            let _guard = runtime.enter();
            signals::install(cancel.clone()).wrap_err("cannot watch for SIGHUP")?;
            runtime.spawn(async move {
                let reason = started.engine.run(command_rx, cancel).await;
                if signals::hung_up() {
                    // The terminal is gone (a dropped SSH link): the session is saved, and the
                    // screen loop may be stuck reading a closed terminal, so end here.
                    tracing::warn!("terminal hung up; the session is saved");
                    std::process::exit(INTERRUPTED_EXIT);
                }
                reason
            })
        };
        let mut app = tui::app::App::new(crate::frontend::view::View::new(&session_id), theme);
        app.log_path = Some(log_path.display().to_string());
        app.then = then.map(str::to_owned);
        tui::run_wizard(&mut terminal, &mut app, &command_tx, &mut rx)?;
        let reason = runtime
            .block_on(engine)
            .map_err(|e| eyre!("the engine task failed: {e}"))?;
        Ok(Some((reason, session_id)))
    })();
    ratatui::restore();
    TUI_ACTIVE.store(false, Ordering::SeqCst);
    match outcome? {
        None => Ok(0),
        Some((reason, id)) => {
            match &reason {
                StopReason::Finished => println!("Session {id}: finished."),
                StopReason::Interrupted => println!(
                    "Session {id} is saved. Run `ckf-airgap` again to resume where it stopped."
                ),
                StopReason::Failed { step, reason } => {
                    println!("Session {id} stopped: {} failed: {reason}", step.title())
                }
                StopReason::Error(message) => {
                    eprintln!("Session {id}: the wizard cannot go on: {message}")
                }
            }
            Ok(exit_code(&reason))
        }
    }
}
