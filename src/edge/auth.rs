//! The admin credentials' answer (glue): the one place that answers 401 and 503 for the admin
//! API and `/__edge/metrics`. The check itself is the core's (`crate::admin::authorize`).

use super::reply::Reply;
use crate::admin::Auth;
use crate::config::EdgeConfig;
use crate::problem::Problem;

/// The operator a request's credentials name, or the reply refusing them. The one place that
/// answers 401 and 503 for the admin API and `/__edge/metrics`.
pub fn refuse(auth: Auth, config: Option<&EdgeConfig>) -> Result<String, Box<Reply>> {
    match auth {
        Auth::Granted(name) => Ok(name),
        Auth::NotConfigured => {
            let why = config
                .and_then(|c| c.operators_problem.clone())
                .map(|p| format!("the admin API is closed: {p}"))
                .unwrap_or_else(|| {
                    "no ADMIN_TOKEN or ADMIN_TOKENS is configured, so the admin endpoints are closed"
                        .to_string()
                });
            Err(Box::new(Reply::problem(&Problem::new(
                503,
                "admin_disabled",
                why,
            ))))
        }
        Auth::Missing | Auth::Wrong => {
            let mut reply = Reply::problem(&Problem::new(
                401,
                "unauthorized",
                "send Authorization: Bearer <your admin token>; the token is missing or wrong",
            ));
            reply.headers.push((
                "www-authenticate".into(),
                "Bearer realm=\"catalog-edge\"".into(),
            ));
            Err(Box::new(reply))
        }
    }
}
