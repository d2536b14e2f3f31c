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
    let ns = env.durable_object(BINDING).map_err(|_| {
        Problem::control_unavailable(format!(
            "the Durable Object binding {BINDING} is not configured"
        ))
    })?;
    let stub = ns
        .get_by_name(OBJECT_NAME)
        .map_err(Problem::control_unavailable)?;
    let req = super::platform::post_request(
        "https://control.internal/rpc",
        &serde_json::to_string(request).unwrap_or_default(),
    )
    .map_err(Problem::control_unavailable)?;
    let resp = stub
        .fetch_with_request(req)
        .await
        .map_err(Problem::control_unavailable)?;
    let status = resp.status_code();
    let text = super::platform::response_text(resp)
        .await
        .map_err(Problem::control_unavailable)?;
    let value: Value = serde_json::from_str(&text).map_err(|_| {
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
