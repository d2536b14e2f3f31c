//! Generative tests (proptest) for the admin API's parsers of untrusted input: the `Bearer`
//! credential, `ADMIN_TOKENS`, and every JSON body an operator (or an attacker with a token) can
//! send — rollout writes, purges, rollout schedules, `If-Match`. Each property would fail on a
//! real bug: a panic (which resets the Wasm instance), a refusal that names no field, a token
//! accepted that is not one, a token leaked into an error.

use catalog_edge::admin::{authorize, Auth, Operators};
use catalog_edge::analysis::rollout::parse_spec;
use catalog_edge::cache::purge::parse_command;
use catalog_edge::canary::ops::{body_object, parse_write, Change};
use catalog_edge::control::write::expected_version;
use proptest::prelude::*;
use serde_json::{json, Value};

/// Arbitrary JSON values, nested a few levels: what a body's fields may hold.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON object body with a few of the fields the admin API knows, and garbage besides.
fn body() -> impl Strategy<Value = String> {
    let known = prop::sample::select(vec![
        "reason",
        "actor",
        "weight",
        "config",
        "version",
        "force",
        "expected_version",
        "dry_run",
        "urls",
        "prefix",
        "tags",
        "everything",
        "mode",
        "include_query_variants",
        "steps",
        "auto_promote",
        "analysis",
    ]);
    prop::collection::vec((known, any_json()), 0..6).prop_map(|fields| {
        let map: serde_json::Map<String, Value> = fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        Value::Object(map).to_string()
    })
}

fn path(s: &str) -> Option<String> {
    s.starts_with('/').then(|| s.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn a_bearer_credential_is_granted_only_for_an_operators_exact_token(
        garbage in "\\PC{0,40}",
        token in "[A-Za-z0-9._~+/-]{16,40}",
        scheme in prop::sample::select(vec!["Bearer", "bearer", "BEARER", "Basic", "Bearerx", ""]),
        spaces in ("[ ]{0,2}", "[ ]{1,3}", "[ ]{0,2}"),
        edit in 0usize..4,
    ) {
        // Near misses of the real credential (one character more, less or changed), and garbage.
        let candidate = match edit {
            0 => token.clone(),
            1 => format!("{token}x"),
            2 => token[1..].to_string(),
            _ => format!("x{}", &token[1..]),
        };
        let near = format!("{}{scheme}{}{candidate}{}", spaces.0, spaces.1, spaces.2);
        let ops = Operators::parse(Some(&token), None).unwrap();
        for header in [near, garbage] {
            let granted = matches!(authorize(Some(&header), &ops), Auth::Granted(_));
            let exact = header
                .trim()
                .split_once(' ')
                .is_some_and(|(s, t)| s.eq_ignore_ascii_case("bearer") && t.trim() == token);
            prop_assert_eq!(granted, exact, "{:?}", header);
        }
        prop_assert_eq!(
            authorize(Some(&format!("Bearer {token}")), &ops),
            Auth::Granted("admin".into())
        );
    }

    #[test]
    fn admin_tokens_never_panic_and_never_show_a_token(json in "\\PC{0,60}", tokens in any_json()) {
        for text in [json, tokens.to_string()] {
            if let Err(e) = Operators::parse(None, Some(&text)) {
                prop_assert_eq!(e.field.as_str(), "ADMIN_TOKENS");
                if let Ok(map) = serde_json::from_str::<serde_json::Map<String, Value>>(&text) {
                    for v in map.values().filter_map(Value::as_str).filter(|t| t.len() >= 4) {
                        prop_assert!(!e.message.contains(v), "token {v:?} in {:?}", e.message);
                    }
                }
            }
        }
    }

    #[test]
    fn rollout_writes_never_panic_and_every_refusal_names_a_field(
        body in body(),
        garbage in "\\PC{0,40}",
        change in prop::sample::select(Change::ALL.to_vec()),
    ) {
        for text in [body, garbage] {
            match parse_write(&text, change, "ana") {
                Ok(w) => {
                    prop_assert_eq!(w.actor.as_str(), "ana");
                    prop_assert!(!w.reason.is_empty());
                }
                Err(e) => prop_assert!(!e.field.is_empty() && !e.message.is_empty()),
            }
        }
    }

    #[test]
    fn purge_requests_never_panic_and_every_refusal_names_a_field(body in body()) {
        let Ok(obj) = body_object(&body) else {
            return Ok(());
        };
        if let Err(e) = parse_command(&obj, path) {
            prop_assert!(!e.field.is_empty() && !e.message.is_empty());
        }
    }

    #[test]
    fn rollout_schedules_never_panic_and_every_refusal_names_a_field(body in body()) {
        let Ok(obj) = body_object(&body) else {
            return Ok(());
        };
        match parse_spec(&obj) {
            Ok(spec) => {
                prop_assert!(!spec.steps.is_empty());
                prop_assert!(spec.steps.windows(2).all(|w| w[0].weight_bp < w[1].weight_bp));
                prop_assert!(spec.analysis.validate().is_ok());
            }
            Err(e) => prop_assert!(!e.field.is_empty() && !e.message.is_empty()),
        }
    }

    #[test]
    fn if_match_takes_exactly_one_version(header in "\\PC{0,16}", body in prop::option::of(any::<u64>())) {
        match expected_version(Some(&header), body) {
            Ok(Some(v)) => {
                let bare = header.trim().trim_start_matches("W/").trim_matches('"');
                prop_assert!(bare.parse::<u64>() == Ok(v) || (header.trim() == "*" || header.trim().is_empty()) && body == Some(v));
            }
            Ok(None) => prop_assert!(body.is_none() && (header.trim() == "*" || header.trim().is_empty())),
            Err(e) => prop_assert!(e.field == "if-match" || e.field == "expected_version"),
        }
    }
}
