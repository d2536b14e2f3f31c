//! A rollout with a schedule: steps (weight, hold), analysis thresholds, and what to do at the
//! end. The control plane keeps the state and calls [`tick`] from its alarm; each tick judges the
//! canary over the window and answers with actions (set a weight, roll back, promote, notify)
//! that the control plane carries out through its one write path, audited with the measurements.
//!
//! The rules: a step advances only after its hold has passed and the latest analysis is clean;
//! with too little canary traffic the rollout waits and says so; any broken threshold (with
//! enough traffic) rolls back at once. A manual change during a rollout pauses it.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::cell::bucket_of;
use super::verdict::{judge, Thresholds, VariantStats, Verdict, Window};
use crate::canary::config::{bp_to_percent, percent_to_bp};
use crate::problem::{FieldError, Problem};
use crate::variant::Variant;

/// The actor of everything the analysis does.
pub const ANALYSIS_ACTOR: &str = "analysis";
/// Analyses kept in the state (newest first).
pub const ANALYSES_KEPT: usize = 50;
/// Decisions kept in the state (newest first).
pub const DECISIONS_KEPT: usize = 200;
/// Default hold of each step: the marketplace's 600 s of watching per stage.
pub const DEFAULT_HOLD_SECS: u64 = 600;
/// Longest hold accepted: a day.
pub const MAX_HOLD_SECS: u64 = 86_400;

/// One step: a weight and how long it must stay clean.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The canary weight, basis points.
    pub weight_bp: u16,
    /// Seconds the step must hold, with clean analyses, before the next.
    pub hold_secs: u64,
}

/// What a rollout does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// Steps, rising.
    pub steps: Vec<Step>,
    /// Promote after the last step's hold (else wait there for a person).
    pub auto_promote: bool,
    /// The thresholds.
    pub analysis: Thresholds,
}

/// Where a rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// No rollout.
    #[default]
    Idle,
    /// Stepping, analysing.
    Progressing,
    /// Stopped by a person or a manual change; resumable.
    Paused,
    /// Rolled back by the analysis.
    RolledBack,
    /// Promoted after the last step.
    Promoted,
    /// At the last step, waiting for a person to promote.
    Completed,
    /// Stopped by a person (weight 0).
    Aborted,
}

impl Status {
    /// The state's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Idle => "idle",
            Status::Progressing => "progressing",
            Status::Paused => "paused",
            Status::RolledBack => "rolled_back",
            Status::Promoted => "promoted",
            Status::Completed => "completed",
            Status::Aborted => "aborted",
        }
    }

    /// True while the rollout runs or may be resumed.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Progressing | Status::Paused)
    }
}

/// One analysis, with the numbers it used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// When.
    pub at_ms: u64,
    /// The step (0-based) and its weight.
    pub step: usize,
    /// The weight in force.
    pub weight_bp: u16,
    /// The verdict.
    pub verdict: Verdict,
    /// The canary's numbers.
    pub canary: VariantStats,
    /// Stable's numbers.
    pub stable: VariantStats,
    /// Seconds of traffic read.
    pub window_secs: u64,
}

/// Something the rollout did or decided, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// When.
    pub at_ms: u64,
    /// `start`, `advance`, `wait`, `rollback`, `promote`, `complete`, `pause`, `resume`, `abort`.
    pub action: String,
    /// Who: an operator, or `analysis`.
    pub actor: String,
    /// Why, with the measurements for automatic decisions.
    pub reason: String,
    /// The weight it set, if it set one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_bp: Option<u16>,
}

/// A rollout's state, kept by the control plane.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    /// Where it is.
    pub status: Status,
    /// What it does (absent while idle).
    pub spec: Option<Spec>,
    /// The current step (0-based).
    pub step: usize,
    /// When it started.
    pub started_ms: u64,
    /// When the current step started (its hold counts from here).
    pub step_started_ms: u64,
    /// When the next analysis is due.
    pub next_analysis_ms: u64,
    /// Who started it, and why.
    pub started_by: String,
    /// Why it was started.
    pub reason: String,
    /// Why it is paused, when it is.
    pub paused_reason: Option<String>,
    /// The latest analyses, newest first.
    #[serde(default)]
    pub analyses: Vec<Analysis>,
    /// Every decision, newest first.
    #[serde(default)]
    pub decisions: Vec<Decision>,
}

/// What the control plane must do for the rollout; each is a write through its one write path
/// (audited as `actor` with `detail`), or a notification.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Set the canary weight.
    SetWeight {
        /// The weight.
        weight_bp: u16,
        /// Who.
        actor: String,
        /// Why.
        reason: String,
        /// The measurements, for the audit entry.
        detail: Value,
    },
    /// Roll back (weight 0).
    Rollback {
        /// Who.
        actor: String,
        /// Why.
        reason: String,
        /// The measurements.
        detail: Value,
    },
    /// Promote the canary.
    Promote {
        /// Why.
        reason: String,
        /// The measurements.
        detail: Value,
    },
    /// Tell people (`ROLLOUT_WEBHOOK_URL`, Slack-compatible `{"text": …}`).
    Notify {
        /// The message.
        text: String,
    },
}

fn err(field: &str, message: impl Into<String>) -> FieldError {
    FieldError::new(field, message)
}

/// Parses a `PUT /rollout` body's fields (after `reason`): `steps` (default 10/25/50/100 % with
/// 600 s holds), `auto_promote` (default false), `analysis` (defaults: the marketplace's alert
/// thresholds). Errors name the field.
pub fn parse_spec(fields: &Map<String, Value>) -> Result<Spec, FieldError> {
    if let Some(k) = fields
        .keys()
        .find(|k| !["steps", "auto_promote", "analysis"].contains(&k.as_str()))
    {
        return Err(err(
            k,
            "is not a rollout field (steps, auto_promote, analysis)",
        ));
    }
    let steps = match fields.get("steps") {
        None | Some(Value::Null) => [1000, 2500, 5000, 10_000]
            .iter()
            .map(|bp| Step {
                weight_bp: *bp,
                hold_secs: DEFAULT_HOLD_SECS,
            })
            .collect(),
        Some(Value::Array(items)) => {
            if items.is_empty() || items.len() > 20 {
                return Err(err("steps", "must hold 1 to 20 steps"));
            }
            let mut steps: Vec<Step> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let f = |name: &str| format!("steps[{i}].{name}");
                let obj = item.as_object().ok_or_else(|| {
                    err(
                        &format!("steps[{i}]"),
                        "must be {\"weight_percent\", \"hold_secs\"}",
                    )
                })?;
                if let Some(k) = obj
                    .keys()
                    .find(|k| !["weight_percent", "hold_secs"].contains(&k.as_str()))
                {
                    return Err(err(&f(k), "is not a step field"));
                }
                let w = obj
                    .get("weight_percent")
                    .ok_or_else(|| err(&f("weight_percent"), "is required"))?;
                let weight_bp = percent_to_bp(w, &f("weight_percent"))?;
                if weight_bp == 0 || steps.last().is_some_and(|s| s.weight_bp >= weight_bp) {
                    return Err(err(&f("weight_percent"), "steps must rise and be above 0"));
                }
                let hold_secs = match obj.get("hold_secs") {
                    None => DEFAULT_HOLD_SECS,
                    Some(v) => v
                        .as_u64()
                        .filter(|h| (1..=MAX_HOLD_SECS).contains(h))
                        .ok_or_else(|| {
                            err(
                                &f("hold_secs"),
                                format!("must be 1–{MAX_HOLD_SECS} seconds"),
                            )
                        })?,
                };
                steps.push(Step {
                    weight_bp,
                    hold_secs,
                });
            }
            steps
        }
        Some(_) => return Err(err("steps", "must be an array of steps")),
    };
    let auto_promote = match fields.get("auto_promote") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(err("auto_promote", "must be true or false")),
    };
    let analysis = match fields.get("analysis") {
        None | Some(Value::Null) => Thresholds::default(),
        Some(v) => serde_json::from_value::<Thresholds>(v.clone()).map_err(|e| {
            let text = e.to_string();
            let field = text
                .split('`')
                .nth(1)
                .map(|f| format!("analysis.{f}"))
                .unwrap_or_else(|| "analysis".to_string());
            err(&field, text)
        })?,
    };
    analysis.validate()?;
    Ok(Spec {
        steps,
        auto_promote,
        analysis,
    })
}

fn decide(state: &mut State, d: Decision) {
    state.decisions.insert(0, d);
    state.decisions.truncate(DECISIONS_KEPT);
}

fn conflict(message: impl Into<String>) -> Problem {
    Problem::conflict(err("rollout", message))
}

/// Starts a rollout: weight to the first step at once.
pub fn start(
    state: &State,
    spec: Spec,
    operator: &str,
    reason: &str,
    has_canary: bool,
    now_ms: u64,
) -> Result<(State, Vec<Action>), Problem> {
    if state.status.is_active() {
        return Err(conflict(format!(
            "a rollout is already {} (step {} of {}); abort it first",
            state.status.as_str(),
            state.step + 1,
            state.spec.as_ref().map_or(0, |s| s.steps.len())
        )));
    }
    if !has_canary {
        return Err(Problem::conflict(err(
            "canary_origin",
            "there is no canary to roll out: PUT a configuration with a canary_origin first",
        )));
    }
    let first = spec.steps[0].clone();
    let steps = spec.steps.len();
    let interval_ms = spec.analysis.interval_secs * 1000;
    let mut next = State {
        status: Status::Progressing,
        spec: Some(spec),
        step: 0,
        started_ms: now_ms,
        step_started_ms: now_ms,
        next_analysis_ms: now_ms + interval_ms,
        started_by: operator.to_string(),
        reason: reason.to_string(),
        paused_reason: None,
        analyses: Vec::new(),
        decisions: state.decisions.clone(),
    };
    let why = format!(
        "rollout started: step 1 of {steps} ({} %) — {reason}",
        bp_to_percent(first.weight_bp)
    );
    decide(
        &mut next,
        Decision {
            at_ms: now_ms,
            action: "start".into(),
            actor: operator.to_string(),
            reason: why.clone(),
            weight_bp: Some(first.weight_bp),
        },
    );
    let actions = vec![
        Action::SetWeight {
            weight_bp: first.weight_bp,
            actor: operator.to_string(),
            reason: why.clone(),
            detail: json!({"rollout": "start", "step": 1, "steps": steps}),
        },
        Action::Notify {
            text: format!("catalog-edge: {why} (by {operator})"),
        },
    ];
    Ok((next, actions))
}

/// Pauses a progressing rollout (a person, or a manual change).
pub fn pause(state: &State, actor: &str, reason: &str, now_ms: u64) -> Result<State, Problem> {
    if state.status != Status::Progressing {
        return Err(conflict(format!(
            "the rollout is {}, not progressing",
            state.status.as_str()
        )));
    }
    let mut next = state.clone();
    next.status = Status::Paused;
    next.paused_reason = Some(format!("{actor}: {reason}"));
    decide(
        &mut next,
        Decision {
            at_ms: now_ms,
            action: "pause".into(),
            actor: actor.to_string(),
            reason: reason.to_string(),
            weight_bp: None,
        },
    );
    Ok(next)
}

/// Resumes a paused rollout; the current step's hold starts again.
pub fn resume(state: &State, actor: &str, reason: &str, now_ms: u64) -> Result<State, Problem> {
    if state.status != Status::Paused {
        return Err(conflict(format!(
            "the rollout is {}, not paused",
            state.status.as_str()
        )));
    }
    let mut next = state.clone();
    next.status = Status::Progressing;
    next.paused_reason = None;
    next.step_started_ms = now_ms;
    let interval = next.spec.as_ref().map_or(60, |s| s.analysis.interval_secs);
    next.next_analysis_ms = now_ms + interval * 1000;
    let why = format!("{reason} (the hold of step {} starts again)", next.step + 1);
    decide(
        &mut next,
        Decision {
            at_ms: now_ms,
            action: "resume".into(),
            actor: actor.to_string(),
            reason: why,
            weight_bp: None,
        },
    );
    Ok(next)
}

/// Aborts a running or paused rollout: weight 0.
pub fn abort(
    state: &State,
    actor: &str,
    reason: &str,
    now_ms: u64,
) -> Result<(State, Vec<Action>), Problem> {
    if !state.status.is_active() {
        return Err(conflict(format!(
            "the rollout is {}, not running",
            state.status.as_str()
        )));
    }
    let mut next = state.clone();
    next.status = Status::Aborted;
    decide(
        &mut next,
        Decision {
            at_ms: now_ms,
            action: "abort".into(),
            actor: actor.to_string(),
            reason: reason.to_string(),
            weight_bp: Some(0),
        },
    );
    let actions = vec![
        Action::Rollback {
            actor: actor.to_string(),
            reason: format!("rollout aborted: {reason}"),
            detail: json!({"rollout": "abort"}),
        },
        Action::Notify {
            text: format!("catalog-edge: rollout aborted by {actor}: {reason}"),
        },
    ];
    Ok((next, actions))
}

/// A manual change of the rollout configuration while a rollout progresses pauses it; `None`
/// when there is nothing to pause.
pub fn after_manual_change(state: &State, action: &str, actor: &str, now_ms: u64) -> Option<State> {
    if state.status != Status::Progressing || actor == ANALYSIS_ACTOR {
        return None;
    }
    pause(
        state,
        actor,
        &format!("paused by a manual {action} during the rollout"),
        now_ms,
    )
    .ok()
}

/// The window an analysis reads at `now_ms`: `window_secs`, but nothing from before the rollout
/// started (the bucket it started in is left out: part of it came before). Returns the first
/// bucket to read.
pub fn since_bucket(state: &State, now_ms: u64) -> u64 {
    let window_ms = state.spec.as_ref().map_or(300, |s| s.analysis.window_secs) * 1000;
    let window_start = bucket_of(now_ms.saturating_sub(window_ms));
    window_start.max(bucket_of(state.started_ms) + 1)
}

/// When the rollout next needs its analysis (`None` when it does not run).
pub fn next_wakeup(state: &State) -> Option<u64> {
    (state.status == Status::Progressing).then_some(state.next_analysis_ms)
}

/// One analysis, when due: judges the window and advances, waits, rolls back or promotes.
pub fn tick(state: &State, window: &Window, now_ms: u64) -> (State, Vec<Action>) {
    let mut next = state.clone();
    let Some(spec) = state.spec.clone() else {
        return (next, Vec::new());
    };
    if state.status != Status::Progressing || now_ms < state.next_analysis_ms {
        return (next, Vec::new());
    }
    let t = &spec.analysis;
    next.next_analysis_ms = now_ms + t.interval_secs * 1000;
    let step = &spec.steps[state.step.min(spec.steps.len() - 1)];
    let verdict = judge(window, t);
    let canary = VariantStats::of(window.cell(Variant::Canary));
    let stable = VariantStats::of(window.cell(Variant::Stable));
    let measured = json!({
        "verdict": verdict.as_str(),
        "step": state.step + 1,
        "weight_bp": step.weight_bp,
        "canary": canary,
        "stable": stable,
        "window_secs": t.window_secs,
        "thresholds": t,
    });
    next.analyses.insert(
        0,
        Analysis {
            at_ms: now_ms,
            step: state.step,
            weight_bp: step.weight_bp,
            verdict: verdict.clone(),
            canary: canary.clone(),
            stable,
            window_secs: t.window_secs,
        },
    );
    next.analyses.truncate(ANALYSES_KEPT);
    let mut actions = Vec::new();
    match verdict {
        Verdict::Unhealthy { reasons } => {
            let why = format!("automatic rollback: {}", reasons.join("; "));
            next.status = Status::RolledBack;
            decide(
                &mut next,
                Decision {
                    at_ms: now_ms,
                    action: "rollback".into(),
                    actor: ANALYSIS_ACTOR.into(),
                    reason: why.clone(),
                    weight_bp: Some(0),
                },
            );
            actions.push(Action::Rollback {
                actor: ANALYSIS_ACTOR.into(),
                reason: why.clone(),
                detail: measured,
            });
            actions.push(Action::Notify {
                text: format!(
                    "catalog-edge: canary rolled back at step {} ({} %): {}",
                    state.step + 1,
                    bp_to_percent(step.weight_bp),
                    reasons.join("; ")
                ),
            });
        }
        Verdict::NotEnoughData { requests, needed } => {
            let why = format!(
                "waiting for traffic: {requests} canary requests in the window, {needed} needed for a verdict"
            );
            // One decision per stretch of waiting, not one per analysis.
            let already = state
                .decisions
                .first()
                .is_some_and(|d| d.action == "wait" && d.weight_bp == Some(step.weight_bp));
            if !already {
                decide(
                    &mut next,
                    Decision {
                        at_ms: now_ms,
                        action: "wait".into(),
                        actor: ANALYSIS_ACTOR.into(),
                        reason: why,
                        weight_bp: Some(step.weight_bp),
                    },
                );
            }
        }
        Verdict::Healthy => {
            let held_ms = now_ms.saturating_sub(state.step_started_ms);
            if held_ms < step.hold_secs * 1000 {
                return (next, actions);
            }
            let clean = format!(
                "step {} ({} %) held {} s with clean analyses (canary {} requests, {:.2} % errors, origin p95 {})",
                state.step + 1,
                bp_to_percent(step.weight_bp),
                held_ms / 1000,
                canary.requests,
                canary.error_rate * 100.0,
                canary
                    .origin_p95_ms
                    .map_or("–".to_string(), |p| format!("{p:.0} ms"))
            );
            if let Some(following) = spec.steps.get(state.step + 1) {
                next.step += 1;
                next.step_started_ms = now_ms;
                let why = format!(
                    "{clean}; advancing to step {} of {} ({} %)",
                    next.step + 1,
                    spec.steps.len(),
                    bp_to_percent(following.weight_bp)
                );
                decide(
                    &mut next,
                    Decision {
                        at_ms: now_ms,
                        action: "advance".into(),
                        actor: ANALYSIS_ACTOR.into(),
                        reason: why.clone(),
                        weight_bp: Some(following.weight_bp),
                    },
                );
                actions.push(Action::SetWeight {
                    weight_bp: following.weight_bp,
                    actor: ANALYSIS_ACTOR.into(),
                    reason: why.clone(),
                    detail: measured,
                });
                actions.push(Action::Notify {
                    text: format!("catalog-edge: {why}"),
                });
            } else if spec.auto_promote {
                let why = format!("{clean}; the last step passed: promoting");
                next.status = Status::Promoted;
                decide(
                    &mut next,
                    Decision {
                        at_ms: now_ms,
                        action: "promote".into(),
                        actor: ANALYSIS_ACTOR.into(),
                        reason: why.clone(),
                        weight_bp: Some(0),
                    },
                );
                actions.push(Action::Promote {
                    reason: why.clone(),
                    detail: measured,
                });
                actions.push(Action::Notify {
                    text: format!("catalog-edge: canary promoted: {why}"),
                });
            } else {
                let why = format!("{clean}; the last step passed: promote when ready");
                next.status = Status::Completed;
                decide(
                    &mut next,
                    Decision {
                        at_ms: now_ms,
                        action: "complete".into(),
                        actor: ANALYSIS_ACTOR.into(),
                        reason: why.clone(),
                        weight_bp: None,
                    },
                );
                actions.push(Action::Notify {
                    text: format!("catalog-edge: rollout complete: {why}"),
                });
            }
        }
    }
    (next, actions)
}

/// An analysis was due but some aggregators could not be read: no verdict on partial counts (a
/// missing shard could hide the failures); the rollout waits, and says why once.
pub fn cannot_read(state: &State, why: &str, now_ms: u64) -> State {
    let mut next = state.clone();
    if state.status != Status::Progressing || now_ms < state.next_analysis_ms {
        return next;
    }
    let interval = state.spec.as_ref().map_or(60, |s| s.analysis.interval_secs);
    next.next_analysis_ms = now_ms + interval * 1000;
    let reason = format!("waiting: the counts could not be read ({why})");
    if state.decisions.first().is_none_or(|d| d.reason != reason) {
        decide(
            &mut next,
            Decision {
                at_ms: now_ms,
                action: "wait".into(),
                actor: ANALYSIS_ACTOR.into(),
                reason,
                weight_bp: None,
            },
        );
    }
    next
}

/// The state as `GET /rollout` shows it: status, the current step and the time left in its
/// hold, the latest analyses and every decision.
pub fn to_json(state: &State, now_ms: u64) -> Value {
    let step = state
        .spec
        .as_ref()
        .and_then(|s| s.steps.get(state.step).cloned());
    let hold_left_secs = step
        .as_ref()
        .filter(|_| state.status == Status::Progressing)
        .map(|s| {
            (s.hold_secs * 1000).saturating_sub(now_ms.saturating_sub(state.step_started_ms)) / 1000
        });
    json!({
        "state": state.status.as_str(),
        "spec": state.spec.as_ref().map(|s| json!({
            "steps": s.steps.iter().map(|st| json!({
                "weight_percent": bp_to_percent(st.weight_bp), "hold_secs": st.hold_secs})).collect::<Vec<_>>(),
            "auto_promote": s.auto_promote,
            "analysis": s.analysis,
        })),
        "step": state.spec.as_ref().map(|_| state.step + 1),
        "steps": state.spec.as_ref().map(|s| s.steps.len()),
        "weight_percent": step.as_ref().map(|s| bp_to_percent(s.weight_bp)),
        "hold_left_secs": hold_left_secs,
        "next_analysis_ms": next_wakeup(state),
        "started_ms": (state.started_ms > 0).then_some(state.started_ms),
        "started_by": state.started_by,
        "reason": state.reason,
        "paused_reason": state.paused_reason,
        "analyses": state.analyses,
        "decisions": state.decisions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::cell::{Observation, Pending};

    fn spec(body: Value) -> Spec {
        parse_spec(body.as_object().unwrap()).unwrap()
    }

    fn quick() -> Spec {
        spec(json!({"steps": [{"weight_percent": 10, "hold_secs": 10},
                               {"weight_percent": 50, "hold_secs": 10}],
                    "auto_promote": true,
                    "analysis": {"interval_secs": 5, "min_requests": 10}}))
    }

    fn window(canary: u64, errors: u64, origin_ms: u64) -> Window {
        let mut p = Pending::default();
        for (variant, n, e, ms) in [
            (Variant::Stable, 100, 0, 8),
            (Variant::Canary, canary, errors, origin_ms),
        ] {
            for i in 0..n {
                p.record(&Observation {
                    at_ms: 1_000,
                    variant,
                    route: "search",
                    origin_error: i < e,
                    fallback: false,
                    outcome: Some("miss"),
                    total_ms: ms,
                    origin_ms: Some(ms),
                });
            }
        }
        Window::of(&p.cells, 0)
    }

    fn started() -> State {
        start(&State::default(), quick(), "ana", "2026.12", true, 0)
            .unwrap()
            .0
    }

    #[test]
    fn defaults_are_the_marketplace_process() {
        let s = spec(json!({}));
        let weights: Vec<u16> = s.steps.iter().map(|s| s.weight_bp).collect();
        assert_eq!(weights, [1000, 2500, 5000, 10_000]);
        assert!(s.steps.iter().all(|st| st.hold_secs == 600));
        assert!(!s.auto_promote);
        assert_eq!(s.analysis, Thresholds::default());
    }

    #[test]
    fn bad_specs_name_their_field() {
        let bad = |v: Value| parse_spec(v.as_object().unwrap()).unwrap_err().field;
        assert_eq!(bad(json!({"steps": []})), "steps");
        assert_eq!(
            bad(json!({"steps": [{"weight_percent": 150}]})),
            "steps[0].weight_percent"
        );
        assert_eq!(
            bad(json!({"steps": [{"weight_percent": 50}, {"weight_percent": 25}]})),
            "steps[1].weight_percent"
        );
        assert_eq!(
            bad(json!({"steps": [{"weight_percent": 5, "hold_secs": 0}]})),
            "steps[0].hold_secs"
        );
        assert_eq!(
            bad(json!({"steps": [{"weight_percent": 5, "hold": 3}]})),
            "steps[0].hold"
        );
        assert_eq!(bad(json!({"auto_promote": "yes"})), "auto_promote");
        assert_eq!(
            bad(json!({"analysis": {"max_error_rate": 2}})),
            "analysis.max_error_rate"
        );
        assert_eq!(
            bad(json!({"analysis": {"max_eror_rate": 0.1}})),
            "analysis.max_eror_rate"
        );
        assert_eq!(bad(json!({"speed": 1})), "speed");
    }

    #[test]
    fn start_sets_the_first_weight_and_refuses_a_second_rollout() {
        let (s, actions) = start(&State::default(), quick(), "ana", "2026.12", true, 0).unwrap();
        assert_eq!(s.status, Status::Progressing);
        assert!(matches!(
            actions[0],
            Action::SetWeight {
                weight_bp: 1000,
                ..
            }
        ));
        let again = start(&s, quick(), "marko", "x", true, 1).unwrap_err();
        assert_eq!(again.status, 409);
        let no_canary = start(&State::default(), quick(), "ana", "x", false, 0).unwrap_err();
        assert_eq!(no_canary.field.as_deref(), Some("canary_origin"));
    }

    #[test]
    fn a_clean_step_advances_only_after_its_hold_then_promotes() {
        let s = started();
        let healthy = window(50, 0, 9);
        let (s, actions) = tick(&s, &healthy, 4_000);
        assert!(actions.is_empty() && s.analyses.is_empty(), "not due yet");
        let (s, actions) = tick(&s, &healthy, 5_000);
        assert!(
            actions.is_empty(),
            "clean but the hold (10 s) has not passed"
        );
        assert_eq!(s.analyses.len(), 1);
        let (s, actions) = tick(&s, &healthy, 10_000);
        assert!(
            matches!(&actions[0], Action::SetWeight { weight_bp: 5000, actor, .. } if actor == "analysis"),
            "{actions:?}"
        );
        assert_eq!((s.step, s.step_started_ms), (1, 10_000));
        let (s, actions) = tick(&s, &healthy, 15_000);
        assert!(actions.is_empty(), "the new step holds from 10 s");
        let (s, actions) = tick(&s, &healthy, 20_000);
        assert!(matches!(actions[0], Action::Promote { .. }), "{actions:?}");
        assert_eq!(s.status, Status::Promoted);
        assert_eq!(next_wakeup(&s), None);
    }

    #[test]
    fn without_auto_promote_the_last_step_waits_for_a_person() {
        let mut sp = quick();
        sp.auto_promote = false;
        sp.steps.truncate(1);
        let (s, _) = start(&State::default(), sp, "ana", "r", true, 0).unwrap();
        let (s, actions) = tick(&s, &window(50, 0, 9), 10_000);
        assert_eq!(s.status, Status::Completed);
        assert!(matches!(actions[0], Action::Notify { .. }));
    }

    #[test]
    fn a_broken_threshold_rolls_back_at_once_with_the_measurements() {
        let (s, actions) = tick(&started(), &window(40, 10, 9), 5_000);
        assert_eq!(s.status, Status::RolledBack);
        let Action::Rollback {
            actor,
            reason,
            detail,
        } = &actions[0]
        else {
            panic!("{actions:?}");
        };
        assert_eq!(actor, "analysis");
        assert!(reason.contains("25.00 % > 1.00 %"), "{reason}");
        assert_eq!(detail["canary"]["errors"], 10);
        assert_eq!(detail["verdict"], "unhealthy");
        assert!(matches!(actions[1], Action::Notify { .. }));
        assert_eq!(s.decisions[0].action, "rollback");
        let (after, none) = tick(&s, &window(40, 10, 9), 10_000);
        assert!(
            none.is_empty() && after == s,
            "a rolled-back rollout stays put"
        );
    }

    #[test]
    fn a_slow_canary_rolls_back_on_p95() {
        let (s, actions) = tick(&started(), &window(40, 0, 420), 5_000);
        assert_eq!(s.status, Status::RolledBack);
        let Action::Rollback { reason, .. } = &actions[0] else {
            panic!()
        };
        assert!(reason.contains("p95"), "{reason}");
    }

    #[test]
    fn too_little_traffic_waits_and_says_so_once() {
        let (s, actions) = tick(&started(), &window(3, 3, 9), 5_000);
        assert!(actions.is_empty());
        assert_eq!(s.status, Status::Progressing);
        assert_eq!(s.decisions[0].action, "wait");
        assert!(
            s.decisions[0].reason.contains("3 canary requests"),
            "{}",
            s.decisions[0].reason
        );
        let (s2, _) = tick(&s, &window(3, 3, 9), 30_000);
        assert_eq!(s2.step, 0, "no advance without a verdict, however long");
        assert_eq!(
            s2.decisions.len(),
            s.decisions.len(),
            "one wait decision, not one per analysis"
        );
        assert_eq!(s2.analyses.len(), 2);
    }

    #[test]
    fn pause_resume_abort_and_manual_changes() {
        let s = started();
        let paused = after_manual_change(&s, "set_weight", "marko", 1_000).unwrap();
        assert_eq!(paused.status, Status::Paused);
        assert!(paused
            .paused_reason
            .as_deref()
            .unwrap()
            .contains("manual set_weight"));
        assert_eq!(
            after_manual_change(&s, "set_weight", "analysis", 1_000),
            None
        );
        assert_eq!(
            after_manual_change(&paused, "rollback", "marko", 2_000),
            None
        );
        let (same, none) = tick(&paused, &window(50, 0, 9), 50_000);
        assert!(
            none.is_empty() && same.status == Status::Paused,
            "a paused rollout does not tick"
        );
        let resumed = resume(&paused, "ana", "checked", 60_000).unwrap();
        assert_eq!(
            (resumed.status, resumed.step_started_ms),
            (Status::Progressing, 60_000)
        );
        assert_eq!(resume(&resumed, "ana", "x", 1).unwrap_err().status, 409);
        let (aborted, actions) = abort(&resumed, "ana", "release pulled", 70_000).unwrap();
        assert_eq!(aborted.status, Status::Aborted);
        assert!(matches!(actions[0], Action::Rollback { .. }));
        assert_eq!(abort(&aborted, "ana", "x", 1).unwrap_err().status, 409);
        assert_eq!(pause(&aborted, "ana", "x", 1).unwrap_err().status, 409);
        let (restarted, _) = start(&aborted, quick(), "ana", "again", true, 80_000).unwrap();
        assert_eq!(restarted.status, Status::Progressing);
    }

    #[test]
    fn unreadable_counts_make_the_rollout_wait_not_judge() {
        let s = started();
        let waited = cannot_read(&s, "shard-2 answered 500", 5_000);
        assert_eq!((waited.status, waited.step), (Status::Progressing, 0));
        assert_eq!(waited.next_analysis_ms, 10_000);
        assert!(waited.decisions[0].reason.contains("shard-2"));
        let again = cannot_read(&waited, "shard-2 answered 500", 10_000);
        assert_eq!(again.decisions.len(), waited.decisions.len(), "said once");
    }

    #[test]
    fn the_state_survives_storage() {
        let (s, _) = tick(&started(), &window(3, 3, 9), 5_000);
        let text = serde_json::to_string(&s).unwrap();
        let back: State = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
        assert_eq!(
            serde_json::from_str::<State>("{}").unwrap(),
            State::default()
        );
    }

    #[test]
    fn the_window_starts_no_earlier_than_the_rollout() {
        let s = start(&State::default(), quick(), "ana", "r", true, 605_000)
            .unwrap()
            .0;
        assert_eq!(
            since_bucket(&s, 700_000),
            61,
            "not the bucket the rollout started in"
        );
        assert_eq!(since_bucket(&s, 3_600_000), 330, "300 s back");
        let j = to_json(&s, 610_000);
        assert_eq!(j["state"], "progressing");
        assert_eq!(j["hold_left_secs"], 5);
        assert_eq!(j["steps"], 2);
    }
}
