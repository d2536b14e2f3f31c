//! What a `wrangler deploy` would upload, read from `wrangler.toml` the way wrangler reads it:
//! an `[env.NAME]` replaces the top level's `vars`, `kv_namespaces`, `durable_objects` and
//! `secrets` (wrangler does not inherit them) and may replace `migrations` and `triggers` (it
//! inherits those); `--var NAME:VALUE` on the command line replaces a var.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The deploy configuration the checks look at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Deploy {
    /// The worker's name.
    pub name: String,
    /// The environment (`--env`), if any.
    pub env: Option<String>,
    /// Vars after `--var` overrides.
    pub vars: BTreeMap<String, String>,
    /// KV namespace bindings.
    pub kv_namespaces: Vec<KvNamespace>,
    /// Durable Object bindings.
    pub durable_objects: Vec<DurableObjectBinding>,
    /// Durable Object migrations, oldest first.
    pub migrations: Vec<Migration>,
    /// Secrets the config declares as required (`[secrets] required`), if it has the section.
    pub secrets_required: Option<Vec<String>>,
    /// Cron schedules.
    pub crons: Vec<String>,
}

/// A `[[kv_namespaces]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct KvNamespace {
    /// Binding name.
    pub binding: String,
    /// Namespace id (`wrangler kv namespace create`).
    #[serde(default)]
    pub id: Option<String>,
}

/// A `[[durable_objects.bindings]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DurableObjectBinding {
    /// Binding name.
    pub name: String,
    /// The exported class.
    pub class_name: String,
    /// Another worker that defines the class (then its migrations are that worker's business).
    #[serde(default)]
    pub script_name: Option<String>,
}

/// A `[[migrations]]` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Migration {
    /// The migration's tag.
    #[serde(default)]
    pub tag: String,
    /// Classes created with key-value storage.
    #[serde(default)]
    pub new_classes: Vec<String>,
    /// Classes created with SQLite storage.
    #[serde(default)]
    pub new_sqlite_classes: Vec<String>,
    /// Renamed classes.
    #[serde(default)]
    pub renamed_classes: Vec<Rename>,
    /// Deleted classes.
    #[serde(default)]
    pub deleted_classes: Vec<String>,
}

/// A class rename in a migration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Rename {
    /// Old class name.
    pub from: String,
    /// New class name.
    pub to: String,
}

#[derive(Debug, Default, Deserialize)]
struct Section {
    #[serde(default)]
    vars: Option<BTreeMap<String, toml::Value>>,
    #[serde(default)]
    kv_namespaces: Option<Vec<KvNamespace>>,
    #[serde(default)]
    durable_objects: Option<DurableObjects>,
    #[serde(default)]
    migrations: Option<Vec<Migration>>,
    #[serde(default)]
    secrets: Option<Secrets>,
    #[serde(default)]
    triggers: Option<Triggers>,
}

#[derive(Debug, Default, Deserialize)]
struct DurableObjects {
    #[serde(default)]
    bindings: Vec<DurableObjectBinding>,
}

#[derive(Debug, Default, Deserialize)]
struct Secrets {
    #[serde(default)]
    required: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Triggers {
    #[serde(default)]
    crons: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct File {
    #[serde(default)]
    name: String,
    #[serde(flatten)]
    top: Section,
    #[serde(default)]
    env: BTreeMap<String, Section>,
}

/// Reads `wrangler.toml` text for `env` (None: the top level) with `--var` overrides applied.
pub fn read(
    text: &str,
    env: Option<&str>,
    overrides: &[(String, String)],
) -> Result<Deploy, String> {
    let file: File = toml::from_str(text).map_err(|e| format!("wrangler.toml: {e}"))?;
    let (section, top) = match env {
        None => (&file.top, &file.top),
        Some(name) => (
            file.env
                .get(name)
                .ok_or_else(|| format!("wrangler.toml has no [env.{name}]"))?,
            &file.top,
        ),
    };
    let mut vars: BTreeMap<String, String> = section
        .vars
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            // Wrangler hands non-string vars to the worker as JSON.
            let v = match v {
                toml::Value::String(s) => s,
                other => serde_json::to_string(&other).unwrap_or_default(),
            };
            (k, v)
        })
        .collect();
    for (k, v) in overrides {
        vars.insert(k.clone(), v.clone());
    }
    let name = match env {
        Some(e) => format!("{}-{e}", file.name),
        None => file.name.clone(),
    };
    Ok(Deploy {
        name,
        env: env.map(str::to_string),
        vars,
        kv_namespaces: section.kv_namespaces.clone().unwrap_or_default(),
        durable_objects: section
            .durable_objects
            .as_ref()
            .map(|d| d.bindings.clone())
            .unwrap_or_default(),
        // Inheritable: the environment's own, else the top level's.
        migrations: section
            .migrations
            .clone()
            .or_else(|| top.migrations.clone())
            .unwrap_or_default(),
        secrets_required: section.secrets.as_ref().map(|s| s.required.clone()),
        crons: section
            .triggers
            .as_ref()
            .or(top.triggers.as_ref())
            .map(|t| t.crons.clone())
            .unwrap_or_default(),
    })
}

/// Parses a `--var NAME:VALUE` argument (wrangler's form: the first `:` separates).
pub fn parse_var(arg: &str) -> Result<(String, String), String> {
    match arg.split_once(':') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("--var {arg}: expected NAME:VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"
name = "catalog-edge"
[vars]
ORIGIN_URL = "http://127.0.0.1:9001"
ORIGIN_TIMEOUT_MS = "10000"
[[kv_namespaces]]
binding = "EDGE_CONFIG"
id = "00000000000000000000000000000000"
[triggers]
crons = ["0 */6 * * *"]
[[migrations]]
tag = "v1"
new_sqlite_classes = ["ControlPlane"]

[env.production]
vars = { ORIGIN_URL = "https://api.example.rs" }
kv_namespaces = [{ binding = "EDGE_CONFIG", id = "0123456789abcdef0123456789abcdef" }]
"#;

    #[test]
    fn the_top_level_is_read_with_command_line_vars_on_top() {
        let d = read(
            TOML,
            None,
            &[("ORIGIN_URL".into(), "https://api.example.rs".into())],
        )
        .unwrap();
        assert_eq!(d.name, "catalog-edge");
        assert_eq!(d.vars["ORIGIN_URL"], "https://api.example.rs");
        assert_eq!(d.vars["ORIGIN_TIMEOUT_MS"], "10000");
        assert_eq!(d.kv_namespaces[0].binding, "EDGE_CONFIG");
        assert_eq!(d.crons, ["0 */6 * * *"]);
        assert_eq!(d.migrations[0].new_sqlite_classes, ["ControlPlane"]);
        assert_eq!(d.secrets_required, None);
    }

    #[test]
    fn an_environment_replaces_vars_and_bindings_but_inherits_migrations_and_triggers() {
        let d = read(TOML, Some("production"), &[]).unwrap();
        assert_eq!(d.name, "catalog-edge-production");
        // Not inherited: the top level's ORIGIN_TIMEOUT_MS is gone, as wrangler does it.
        assert_eq!(
            d.vars.keys().collect::<Vec<_>>(),
            ["ORIGIN_URL"],
            "{:?}",
            d.vars
        );
        assert_eq!(
            d.kv_namespaces[0].id.as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(d.migrations.len(), 1);
        assert_eq!(d.crons.len(), 1);
    }

    #[test]
    fn an_unknown_environment_or_bad_toml_is_an_error_naming_it() {
        assert_eq!(
            read(TOML, Some("staging"), &[]).unwrap_err(),
            "wrangler.toml has no [env.staging]"
        );
        assert!(read("name = ", None, &[])
            .unwrap_err()
            .starts_with("wrangler.toml: "));
    }

    #[test]
    fn var_arguments_split_at_the_first_colon() {
        assert_eq!(
            parse_var("ORIGIN_URL:https://a.rs:8443").unwrap(),
            ("ORIGIN_URL".into(), "https://a.rs:8443".into())
        );
        assert!(parse_var("ORIGIN_URL").is_err());
        assert!(parse_var(":x").is_err());
    }
}
