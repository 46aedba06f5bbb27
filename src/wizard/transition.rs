//! Pure transitions of the wizard state. Nothing here does IO: the engine feeds messages in,
//! persists the new state and carries out the returned effects.

use serde_json::Value;

use super::state::{StepStatus, WizardState};
use super::step::Step;

#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    /// The session was read from disk. A step found running was interrupted by a crash.
    Loaded,
    /// The fingerprint of a step's inputs as they are now; `what` names them for the operator.
    /// `keeps_units`: only inputs the step checks against changed, so it runs again with its
    /// finished units kept and the later steps left as they are.
    InputsObserved {
        step: Step,
        fingerprint: String,
        what: String,
        keeps_units: bool,
    },
    /// The fingerprint as it is now holds no change that re-runs the step (a choice it checks
    /// against was given after it ran, or the same fields were written in another order): it is
    /// recorded, so a later change of that choice is seen.
    InputsAdopted {
        step: Step,
        fingerprint: String,
    },
    Start {
        step: Step,
        inputs: String,
    },
    UnitDone {
        step: Step,
        unit: String,
        detail: Value,
    },
    /// The step's work is done. `inputs` replaces the fingerprint recorded at start when the
    /// step itself filled in a choice it depends on (a path the operator typed).
    Finish {
        step: Step,
        inputs: Option<String>,
    },
    Fail {
        step: Step,
        reason: String,
    },
    /// The operator or a signal stopped the step; finished units stay recorded.
    Interrupt(Step),
    Skip {
        step: Step,
        reason: String,
    },
    /// Make a failed, skipped or done step runnable again; its ledger is kept.
    Retry(Step),
    Next,
    Back,
    /// The operator's choices as an answers file gives them.
    SetChoices(Box<crate::wizard::Choices>),
    /// One choice the operator made on a screen or at a prompt.
    Change(super::change::ChoiceChange),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    RunStep(Step),
    Notify(String),
    /// These steps were reset: what they left for later steps is no longer true.
    DiscardOutputs(Vec<Step>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{} is {}: finish or skip it before moving on", .0.title(), .1)]
    NotSettled(Step, &'static str),
    #[error("{} is still running: stop it first", .0.title())]
    Running(Step),
    #[error("{} is not running", .0.title())]
    NotRunning(Step),
    #[error("{} is already done: use retry to run it again", .0.title())]
    AlreadyDone(Step),
    #[error("{} cannot start before {} is done or skipped", .0.title(), .1.title())]
    EarlierStepOpen(Step, Step),
    #[error("{} is not a step of the {flow:?} flow", .0.title(), flow = .1)]
    NotInFlow(Step, crate::wizard::Flow),
    #[error("this is the first step")]
    AtFirst,
    #[error("this is the last step")]
    AtLast,
    #[error("the final step cannot be skipped")]
    SkipDone,
    #[error("a skip needs a reason")]
    NoReason,
}

pub type Outcome = Result<Vec<Effect>, Refusal>;

/// Applies one message. On a refusal the state is left exactly as it was.
pub fn update(state: &mut WizardState, msg: Msg) -> Outcome {
    match msg {
        Msg::Loaded => Ok(loaded(state)),
        Msg::InputsObserved {
            step,
            fingerprint,
            what,
            keeps_units,
        } => Ok(if keeps_units {
            rerun_keeping_units(state, step, &fingerprint, &what)
        } else {
            inputs_observed(state, step, &fingerprint, &what)
        }),
        Msg::InputsAdopted { step, fingerprint } => {
            let record = state.record_mut(step);
            if record.inputs.is_some() && record.status != StepStatus::Running {
                record.inputs = Some(fingerprint);
            }
            Ok(vec![])
        }
        Msg::Start { step, inputs } => start(state, step, inputs),
        Msg::UnitDone { step, unit, detail } => {
            let record = state.record_mut(step);
            if record.status != StepStatus::Running {
                return Err(Refusal::NotRunning(step));
            }
            record.ledger.insert(unit, detail);
            Ok(vec![])
        }
        Msg::Finish { step, inputs } => {
            let record = state.record_mut(step);
            if record.status != StepStatus::Running {
                return Err(Refusal::NotRunning(step));
            }
            if inputs.is_some() {
                record.inputs = inputs;
            }
            record.status = StepStatus::Done;
            record.note = None;
            Ok(vec![])
        }
        Msg::Fail { step, reason } => {
            let record = state.record_mut(step);
            if record.status != StepStatus::Running {
                return Err(Refusal::NotRunning(step));
            }
            record.status = StepStatus::Failed { reason };
            Ok(vec![])
        }
        Msg::Interrupt(step) => {
            let record = state.record_mut(step);
            if record.status != StepStatus::Running {
                return Err(Refusal::NotRunning(step));
            }
            record.status = StepStatus::Pending;
            record.note = Some(interrupted_note(record.ledger.len()));
            Ok(vec![])
        }
        Msg::Skip { step, reason } => skip(state, step, reason),
        Msg::Retry(step) => {
            let record = state.record_mut(step);
            if record.status == StepStatus::Running {
                return Err(Refusal::Running(step));
            }
            record.status = StepStatus::Pending;
            record.note = None;
            state.current = step;
            Ok(vec![Effect::RunStep(step)])
        }
        Msg::Next => {
            let current = state.current;
            let status = state.status(current);
            if !status.is_settled() {
                return Err(Refusal::NotSettled(current, status.label()));
            }
            let next = state.flow.next(current).ok_or(Refusal::AtLast)?;
            state.current = next;
            Ok(vec![])
        }
        Msg::SetChoices(choices) => {
            state.choices = *choices;
            Ok(vec![])
        }
        Msg::Change(change) => {
            change.apply(&mut state.choices);
            Ok(vec![])
        }
        Msg::Back => {
            let current = state.current;
            if *state.status(current) == StepStatus::Running {
                return Err(Refusal::Running(current));
            }
            state.current = state.flow.prev(current).ok_or(Refusal::AtFirst)?;
            Ok(vec![])
        }
    }
}

fn interrupted_note(units: usize) -> String {
    format!("interrupted; {units} finished unit(s) are kept and will not be repeated")
}

fn loaded(state: &mut WizardState) -> Vec<Effect> {
    let mut effects = Vec::new();
    for (step, record) in state.steps.iter_mut() {
        if record.status == StepStatus::Running {
            record.status = StepStatus::Pending;
            record.note = Some(interrupted_note(record.ledger.len()));
            effects.push(Effect::Notify(format!(
                "{} was interrupted; it resumes with {} finished unit(s) kept",
                step.title(),
                record.ledger.len()
            )));
        }
    }
    // A step is never shown as current while an earlier one is still open.
    state.current = state.flow.earlier(state.current, state.resume_point());
    effects
}

fn inputs_observed(
    state: &mut WizardState,
    step: Step,
    fingerprint: &str,
    what: &str,
) -> Vec<Effect> {
    let Some(previous) = state.record(step).inputs.as_deref() else {
        return vec![];
    };
    if previous == fingerprint {
        return vec![];
    }
    let note = format!("{what} changed since this step ran, so it runs again");
    let reset: Vec<Step> = std::iter::once(step)
        .chain(state.flow.later(step))
        .collect();
    for &s in &reset {
        let record = state.record_mut(s);
        record.status = StepStatus::Pending;
        record.ledger.clear();
        record.inputs = None;
        record.note = Some(note.clone());
    }
    state.current = state.flow.earlier(state.current, step);
    let later = state.flow.later(step).filter(|s| !s.is_end()).count();
    vec![
        Effect::Notify(format!(
            "{what} changed: {} and the {later} step(s) after it will run again",
            step.title()
        )),
        Effect::DiscardOutputs(reset),
    ]
}

fn rerun_keeping_units(
    state: &mut WizardState,
    step: Step,
    fingerprint: &str,
    what: &str,
) -> Vec<Effect> {
    let record = state.record(step);
    let Some(previous) = record.inputs.as_deref() else {
        return vec![];
    };
    // A running step reads its inputs as it goes; it is looked at again when it stops.
    if previous == fingerprint || record.status == StepStatus::Running {
        return vec![];
    }
    let record = state.record_mut(step);
    record.status = StepStatus::Pending;
    record.inputs = None;
    record.note = Some(format!(
        "{what} changed since this step ran, so it runs again; its finished work is kept"
    ));
    state.current = state.flow.earlier(state.current, step);
    vec![Effect::Notify(format!(
        "{what} changed: {} runs again, keeping its {} finished unit(s)",
        step.title(),
        state.record(step).ledger.len()
    ))]
}

fn start(state: &mut WizardState, step: Step, inputs: String) -> Outcome {
    if !step.in_flow(state.flow) {
        return Err(Refusal::NotInFlow(step, state.flow));
    }
    if let Some(open) = state
        .flow
        .steps()
        .take_while(|s| *s != step)
        .find(|s| !state.status(*s).is_settled())
    {
        return Err(Refusal::EarlierStepOpen(step, open));
    }
    let record = state.record_mut(step);
    match record.status {
        StepStatus::Running => return Err(Refusal::Running(step)),
        StepStatus::Done => return Err(Refusal::AlreadyDone(step)),
        _ => {}
    }
    record.status = StepStatus::Running;
    record.inputs = Some(inputs);
    record.note = None;
    state.current = step;
    Ok(vec![])
}

fn skip(state: &mut WizardState, step: Step, reason: String) -> Outcome {
    if step.is_end() {
        return Err(Refusal::SkipDone);
    }
    if reason.trim().is_empty() {
        return Err(Refusal::NoReason);
    }
    let record = state.record_mut(step);
    if record.status == StepStatus::Running {
        return Err(Refusal::Running(step));
    }
    record.status = StepStatus::Skipped { reason };
    record.note = None;
    Ok(vec![])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(state: &mut WizardState, step: Step) {
        update(
            state,
            Msg::Start {
                step,
                inputs: format!("in-{step}"),
            },
        )
        .unwrap();
        update(state, Msg::Finish { step, inputs: None }).unwrap();
    }

    #[test]
    fn forward_through_every_step_finishes_the_install() {
        for flow in [crate::wizard::Flow::Install, crate::wizard::Flow::Gather] {
            let mut s = WizardState::new(flow);
            for step in flow.steps() {
                assert_eq!(s.current, step);
                run(&mut s, step);
                if !step.is_end() {
                    update(&mut s, Msg::Next).unwrap();
                }
            }
            assert!(s.is_finished());
            assert_eq!(update(&mut s, Msg::Next), Err(Refusal::AtLast));
        }
    }

    #[test]
    fn next_is_refused_until_the_step_is_settled() {
        let mut s = WizardState::default();
        let before = s.clone();
        assert_eq!(
            update(&mut s, Msg::Next),
            Err(Refusal::NotSettled(Step::EnvironmentChecks, "pending"))
        );
        assert_eq!(s, before, "a refusal leaves the state untouched");
    }

    #[test]
    fn back_moves_to_the_previous_step_but_not_past_the_first_or_a_running_one() {
        let mut s = WizardState::default();
        assert_eq!(update(&mut s, Msg::Back), Err(Refusal::AtFirst));
        run(&mut s, Step::EnvironmentChecks);
        update(&mut s, Msg::Next).unwrap();
        update(
            &mut s,
            Msg::Start {
                step: Step::Artifacts,
                inputs: "x".into(),
            },
        )
        .unwrap();
        assert_eq!(
            update(&mut s, Msg::Back),
            Err(Refusal::Running(Step::Artifacts))
        );
        update(&mut s, Msg::Interrupt(Step::Artifacts)).unwrap();
        update(&mut s, Msg::Back).unwrap();
        assert_eq!(s.current, Step::EnvironmentChecks);
    }

    #[test]
    fn skip_needs_a_reason_and_lets_the_wizard_move_on() {
        let mut s = WizardState::default();
        assert_eq!(
            update(
                &mut s,
                Msg::Skip {
                    step: Step::EnvironmentChecks,
                    reason: " ".into()
                }
            ),
            Err(Refusal::NoReason)
        );
        update(
            &mut s,
            Msg::Skip {
                step: Step::EnvironmentChecks,
                reason: "cluster checked by hand".into(),
            },
        )
        .unwrap();
        assert_eq!(
            s.status(Step::EnvironmentChecks),
            &StepStatus::Skipped {
                reason: "cluster checked by hand".into()
            }
        );
        update(&mut s, Msg::Next).unwrap();
        assert_eq!(s.current, Step::Artifacts);
        assert_eq!(
            update(
                &mut s,
                Msg::Skip {
                    step: Step::Done,
                    reason: "x".into()
                }
            ),
            Err(Refusal::SkipDone)
        );
    }

    #[test]
    fn fail_then_retry_keeps_finished_units_and_runs_the_step_again() {
        let mut s = WizardState::default();
        run(&mut s, Step::EnvironmentChecks);
        update(&mut s, Msg::Next).unwrap();
        update(
            &mut s,
            Msg::Start {
                step: Step::Artifacts,
                inputs: "a".into(),
            },
        )
        .unwrap();
        update(
            &mut s,
            Msg::UnitDone {
                step: Step::Artifacts,
                unit: "image-1".into(),
                detail: json!({"bytes": 10}),
            },
        )
        .unwrap();
        update(
            &mut s,
            Msg::Fail {
                step: Step::Artifacts,
                reason: "disk full".into(),
            },
        )
        .unwrap();
        assert_eq!(
            s.status(Step::Artifacts),
            &StepStatus::Failed {
                reason: "disk full".into()
            }
        );
        assert_eq!(
            update(&mut s, Msg::Next),
            Err(Refusal::NotSettled(Step::Artifacts, "failed"))
        );
        let effects = update(&mut s, Msg::Retry(Step::Artifacts)).unwrap();
        assert_eq!(effects, vec![Effect::RunStep(Step::Artifacts)]);
        assert_eq!(s.status(Step::Artifacts), &StepStatus::Pending);
        assert!(s.unit_done(Step::Artifacts, "image-1"));
    }

    #[test]
    fn units_are_recorded_only_while_running() {
        let mut s = WizardState::default();
        let unit = Msg::UnitDone {
            step: Step::EnvironmentChecks,
            unit: "u".into(),
            detail: Value::Null,
        };
        assert_eq!(
            update(&mut s, unit.clone()),
            Err(Refusal::NotRunning(Step::EnvironmentChecks))
        );
        assert!(!s.unit_done(Step::EnvironmentChecks, "u"));
    }

    #[test]
    fn a_step_cannot_start_before_earlier_ones_are_settled() {
        let mut s = WizardState::default();
        assert_eq!(
            update(
                &mut s,
                Msg::Start {
                    step: Step::ImagePush,
                    inputs: "x".into()
                }
            ),
            Err(Refusal::EarlierStepOpen(
                Step::ImagePush,
                Step::EnvironmentChecks
            ))
        );
    }

    #[test]
    fn loading_a_crashed_session_marks_the_running_step_interrupted_and_keeps_its_units() {
        let mut s = WizardState::default();
        run(&mut s, Step::EnvironmentChecks);
        update(&mut s, Msg::Next).unwrap();
        update(
            &mut s,
            Msg::Start {
                step: Step::Artifacts,
                inputs: "a".into(),
            },
        )
        .unwrap();
        update(
            &mut s,
            Msg::UnitDone {
                step: Step::Artifacts,
                unit: "one".into(),
                detail: Value::Null,
            },
        )
        .unwrap();
        let effects = update(&mut s, Msg::Loaded).unwrap();
        assert_eq!(effects.len(), 1);
        let record = s.record(Step::Artifacts);
        assert_eq!(record.status, StepStatus::Pending);
        assert!(record.note.as_deref().unwrap_or("").contains("interrupted"));
        assert!(record.ledger.contains_key("one"));
        assert_eq!(s.current, Step::Artifacts);
    }

    #[test]
    fn a_changed_input_invalidates_the_step_and_every_later_one() {
        let mut s = WizardState::default();
        for step in [
            Step::EnvironmentChecks,
            Step::Artifacts,
            Step::RegistryLogin,
        ] {
            run(&mut s, step);
            update(&mut s, Msg::Next).unwrap();
        }
        s.record_mut(Step::RegistryLogin)
            .ledger
            .insert("probe".into(), Value::Null);
        assert_eq!(s.current, Step::ImagePush);

        // The same fingerprint changes nothing.
        let same = update(
            &mut s,
            Msg::InputsObserved {
                step: Step::Artifacts,
                fingerprint: "in-artifacts".into(),
                what: "images.tar.gz".into(),
                keeps_units: false,
            },
        )
        .unwrap();
        assert!(same.is_empty());
        assert_eq!(s.status(Step::Artifacts), &StepStatus::Done);

        let effects = update(
            &mut s,
            Msg::InputsObserved {
                step: Step::Artifacts,
                fingerprint: "other".into(),
                what: "images.tar.gz".into(),
                keeps_units: false,
            },
        )
        .unwrap();
        assert_eq!(s.status(Step::EnvironmentChecks), &StepStatus::Done);
        for step in Step::Artifacts.into_iter_self_and_later() {
            let r = s.record(step);
            assert_eq!(r.status, StepStatus::Pending, "{step}");
            assert!(r.ledger.is_empty());
            assert!(
                r.note
                    .as_deref()
                    .unwrap_or("")
                    .contains("images.tar.gz changed")
            );
        }
        assert_eq!(s.current, Step::Artifacts);
        assert!(
            matches!(&effects[..], [Effect::Notify(m), Effect::DiscardOutputs(reset)]
                if m.contains("images.tar.gz changed") && m.contains("6 step(s)")
                    && *reset == Step::Artifacts.into_iter_self_and_later())
        );
    }

    #[test]
    fn a_changed_checked_against_input_reruns_only_that_step_with_its_units() {
        let mut s = WizardState::default();
        for step in [
            Step::EnvironmentChecks,
            Step::Artifacts,
            Step::RegistryLogin,
        ] {
            run(&mut s, step);
            update(&mut s, Msg::Next).unwrap();
        }
        s.record_mut(Step::Artifacts)
            .ledger
            .insert("member:a".into(), Value::Null);
        let effects = update(
            &mut s,
            Msg::InputsObserved {
                step: Step::Artifacts,
                fingerprint: "other".into(),
                what: "bundle".into(),
                keeps_units: true,
            },
        )
        .unwrap();
        let r = s.record(Step::Artifacts);
        assert_eq!(r.status, StepStatus::Pending);
        assert!(r.ledger.contains_key("member:a"), "finished units are kept");
        assert!(
            r.note
                .as_deref()
                .unwrap_or("")
                .contains("finished work is kept")
        );
        assert_eq!(s.status(Step::RegistryLogin), &StepStatus::Done);
        assert_eq!(s.current, Step::Artifacts);
        assert!(
            matches!(&effects[..], [Effect::Notify(m)] if m.contains("keeping its 1 finished"))
        );

        // A running step is left to finish.
        update(
            &mut s,
            Msg::Start {
                step: Step::Artifacts,
                inputs: "x".into(),
            },
        )
        .unwrap();
        let running = update(
            &mut s,
            Msg::InputsObserved {
                step: Step::Artifacts,
                fingerprint: "y".into(),
                what: "bundle".into(),
                keeps_units: true,
            },
        )
        .unwrap();
        assert!(running.is_empty());
        assert_eq!(s.status(Step::Artifacts), &StepStatus::Running);
    }

    #[test]
    fn an_input_of_a_step_that_never_ran_changes_nothing() {
        let mut s = WizardState::default();
        let before = s.clone();
        let effects = update(
            &mut s,
            Msg::InputsObserved {
                step: Step::BundlePreview,
                fingerprint: "x".into(),
                what: "bundle.yaml".into(),
                keeps_units: false,
            },
        )
        .unwrap();
        assert!(effects.is_empty());
        assert_eq!(s, before);
    }

    trait SelfAndLater {
        fn into_iter_self_and_later(self) -> Vec<Step>;
    }
    impl SelfAndLater for Step {
        fn into_iter_self_and_later(self) -> Vec<Step> {
            std::iter::once(self)
                .chain(crate::wizard::Flow::Install.later(self))
                .collect()
        }
    }
}
