use std::process::ExitCode;
use std::sync::atomic::Ordering;

use clap::Parser;
use color_eyre::eyre::{Result, WrapErr, eyre};

use ckf_airgap::cli::{Cli, CliCommand, MirrorsCommand, SessionsCommand};
use ckf_airgap::commands::{self, Output};
use ckf_airgap::run::{self, TUI_ACTIVE};
use ckf_airgap::session::{SessionStore, paths};
use ckf_airgap::wizard::Flow;

fn main() -> ExitCode {
    if let Err(e) = install_hooks() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    match main_inner() {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(report) => {
            // The TUI has already given the terminal back by the time an error gets here.
            eprintln!("error: {report:#}");
            ExitCode::FAILURE
        }
    }
}

/// color-eyre first; then a panic hook that gives the terminal back before the report is
/// printed and ends the process, so a panic in a background task cannot leave a broken screen.
fn install_hooks() -> Result<()> {
    use std::io::IsTerminal;
    let mut hooks = color_eyre::config::HookBuilder::default().display_env_section(false);
    if plain_report(
        std::env::var_os("NO_COLOR").as_deref(),
        std::io::stderr().is_terminal(),
    ) {
        hooks = hooks.theme(color_eyre::config::Theme::new());
    }
    let (panic_hook, eyre_hook) = hooks.into_hooks();
    eyre_hook.install()?;
    let panic_hook = panic_hook.into_panic_hook();
    std::panic::set_hook(Box::new(move |info| {
        if TUI_ACTIVE.swap(false, Ordering::SeqCst) {
            ratatui::restore();
        }
        tracing::error!("panic: {info}");
        panic_hook(info);
        eprintln!(
            "The session was saved after its last finished unit; run ckf-airgap again to resume."
        );
        std::process::exit(101);
    }));
    Ok(())
}

/// No colour in the report when `NO_COLOR` is set (and not empty, as no-color.org says) or
/// standard error is a file or a pipe, where escape codes would only be noise in a log.
fn plain_report(no_color: Option<&std::ffi::OsStr>, stderr_is_terminal: bool) -> bool {
    no_color.is_some_and(|v| !v.is_empty()) || !stderr_is_terminal
}

fn print(out: Output) -> i32 {
    print!("{}", out.stdout);
    eprint!("{}", out.stderr);
    out.status
}

/// Generated text to standard output; a reader that stops early (`| head`) is no error.
fn write_stdout(text: &[u8], what: &str) -> Result<i32> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).wrap_err(format!("cannot write {what} to standard output"))
        }
        _ => Ok(0),
    }
}

fn main_inner() -> Result<i32> {
    let cli = Cli::parse();
    if let Some(CliCommand::Completions { shell }) = &cli.command {
        let mut command = <Cli as clap::CommandFactory>::command();
        let mut text = Vec::new();
        clap_complete::generate(*shell, &mut command, "ckf-airgap", &mut text);
        return write_stdout(&text, "the completions");
    }
    if let Some(CliCommand::Man) = &cli.command {
        let command = <Cli as clap::CommandFactory>::command();
        let mut text = Vec::new();
        clap_mangen::Man::new(command)
            .render(&mut text)
            .wrap_err("cannot render the man page")?;
        return write_stdout(&text, "the man page");
    }
    let state_dir = paths::state_dir(cli.state_dir.as_deref()).ok_or_else(|| {
        eyre!("there is no home directory to keep sessions in; give --state-dir DIR")
    })?;
    if let Some(CliCommand::ValidateAnswers { file }) = &cli.command {
        return Ok(print(commands::validate_answers(file)));
    }
    if let Some(CliCommand::Mirrors(MirrorsCommand::Undo { certs_dir })) = &cli.command {
        return Ok(print(commands::mirrors_undo(certs_dir.as_deref())));
    }
    let store = SessionStore::open(&state_dir)?;
    match &cli.command {
        Some(CliCommand::Sessions(SessionsCommand::List)) => {
            Ok(print(commands::sessions_list(&store)))
        }
        Some(CliCommand::Sessions(SessionsCommand::Show { id })) => {
            Ok(print(commands::sessions_show(&store, id)))
        }
        Some(CliCommand::Sessions(SessionsCommand::Remove { id })) => {
            Ok(print(commands::sessions_remove(&store, id)))
        }
        Some(CliCommand::ExportAnswers { session, output }) => Ok(print(commands::export_answers(
            &store,
            session.as_deref(),
            output.as_deref(),
        ))),
        Some(
            CliCommand::ValidateAnswers { .. }
            | CliCommand::Mirrors(_)
            | CliCommand::Completions { .. }
            | CliCommand::Man,
        ) => Ok(0),
        Some(CliCommand::Demo { dir, release }) if release == "1.11" => {
            let dir = dir.clone().unwrap_or_else(|| state_dir.join("demo"));
            let demo = ckf_airgap::demo::real_release::prepare(&dir)?;
            let store = SessionStore::open(&demo.state_dir)?;
            let gather_cli = Cli {
                command: None,
                answers: Some(demo.gather_answers.clone()),
                state_dir: Some(demo.state_dir.clone()),
                ..cli.clone()
            };
            let code = run::wizard_flow(
                &gather_cli,
                &demo.state_dir,
                &store,
                Flow::Gather,
                Some("the air-gapped install"),
            )?;
            if code != 0 {
                return Ok(code);
            }
            demo.write_install_answers()?;
            eprintln!(
                "demo: the carry folder is written; now the air-gapped side installs from it"
            );
            let install_cli = Cli {
                command: None,
                answers: Some(demo.install_answers.clone()),
                state_dir: Some(demo.state_dir.clone()),
                ..cli
            };
            let code = run::wizard(&install_cli, &demo.state_dir, &store);
            drop(demo);
            code
        }
        Some(CliCommand::Demo { dir, .. }) => {
            let dir = dir.clone().unwrap_or_else(|| state_dir.join("demo"));
            let unattended = cli.mode == Some(ckf_airgap::cli::Mode::Headless);
            let demo = ckf_airgap::demo::prepare(&dir, unattended)?;
            let demo_cli = Cli {
                command: None,
                answers: Some(demo.answers.clone()),
                state_dir: Some(demo.state_dir.clone()),
                ..cli
            };
            let store = SessionStore::open(&demo.state_dir)?;
            let code = run::wizard(&demo_cli, &demo.state_dir, &store);
            drop(demo);
            code
        }
        Some(CliCommand::Gather) => run::wizard_flow(&cli, &state_dir, &store, Flow::Gather, None),
        Some(CliCommand::Upgrade) => {
            run::wizard_flow(&cli, &state_dir, &store, Flow::Upgrade, None)
        }
        None => run::wizard(&cli, &state_dir, &store),
    }
}

#[cfg(test)]
mod tests {
    use super::plain_report;
    use std::ffi::OsStr;

    #[test]
    fn the_report_is_plain_under_no_color_or_off_a_terminal() {
        assert!(!plain_report(None, true));
        assert!(!plain_report(Some(OsStr::new("")), true));
        assert!(plain_report(Some(OsStr::new("1")), true));
        assert!(plain_report(None, false));
    }
}
