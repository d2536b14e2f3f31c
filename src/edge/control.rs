//! The control plane's client (glue): edges send admin changes to the one Durable Object,
//! `ControlPlane` (`edge/objects/control_plane.rs`), which runs in the objects worker
//! (`wrangler.objects.toml`); edges never call it on the data path.

use serde_json::Value;
use worker::Env;

use crate::control::wire::ControlRequest;
use crate::problem::Problem;

/// The binding of the control plane's namespace (`[[durable_objects.bindings]]`).
pub const BINDING: &str = "CONTROL";
/// The one object's name.
pub const OBJECT_NAME: &str = "control";

/// Sends a request to the control plane and returns its status and JSON answer. The object's
/// own problems (400, 409, …) come back as answers; only an unreachable or broken object is a
/// `control_unavailable` problem.
pub async fn call(env: &Env, request: &ControlRequest) -> Result<(u16, Value), Problem> {
    let (status, text) = ask(env, request)
        .await
        .map_err(Problem::control_unavailable)?;
    answer(status, &text)
}

/// Sends a request to the control plane and returns its status and answer's text, as they are;
/// `Err(why)` when it could not be asked.
pub async fn ask(env: &Env, request: &ControlRequest) -> Result<(u16, String), String> {
    super::platform::ask_object(
        env,
        BINDING,
        OBJECT_NAME,
        "https://control.internal/rpc",
        &serde_json::to_string(request).unwrap_or_default(),
    )
    .await
    .map_err(|why| {
        why.unwrap_or_else(|| format!("the Durable Object binding {BINDING} is not configured"))
    })
}

/// The control plane's answer read: its own problems as answers, a broken object's as a
/// `control_unavailable` problem.
fn answer(status: u16, text: &str) -> Result<(u16, Value), Problem> {
    let value: Value = serde_json::from_str(text).map_err(|_| {
        Problem::control_unavailable(format!(
            "it answered {status} with something that is not JSON"
        ))
    })?;
    if status >= 500
        && value["error"] != "control_unavailable"
        && value["error"] != "config_invalid"
    {
        return Err(Problem::control_unavailable(format!(
            "it failed: {}",
            value["detail"].as_str().unwrap_or("unknown error")
        )));
    }
    Ok((status, value))
}
