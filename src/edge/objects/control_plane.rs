//! The control plane's object (glue, the objects worker only): one Durable Object, named `control`, the only writer of the rollout
//! configuration, its history, the purge state and the audit log. It stores in its own SQLite,
//! serialises writes (each is read–decide–write with no await in between, committed with
//! `transactionSync`), publishes what edges read to KV (one publisher at a time, the newest state
//! always last), and rereads KV on every request and on an alarm to adopt emergency edits and
//! quarantine garbage. Every decision is `crate::control`'s; this file does the storage and I/O.
//!
//! Edges never call the object on the data path: they read KV. The object sees admin requests
//! and its alarm only.

use std::cell::Cell;

use serde::Deserialize;
use serde_json::{json, Value};
use worker::js_sys;
use worker::wasm_bindgen::closure::Closure;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::{
    durable_object, DurableObject, Env, Request, Response, SqlStorage, SqlStorageValue, State,
};

use crate::analysis::cell;
use crate::analysis::rollout::{self, Action as RolloutAction, State as RolloutState};
use crate::analysis::verdict::{self, Window};
use crate::cache::key;
use crate::cache::policy::MAX_ENTRY_LIFETIME_SECS;
use crate::cache::purge::PurgeState;
use crate::canary::ops::{self, Change};
use crate::config::EdgeConfig;
use crate::control::purge::{plan_purge, PurgeContext};
use crate::control::reconcile::{self, Finding};
use crate::control::record::{AuditEntry, Versioned};
use crate::control::wire::{AnalysisQuery, ControlRequest, ListName};
use crate::control::write::{self, plan_adoption, plan_write, Commit, Current, WriteContext};
use crate::control::{AUDIT_LEN, HISTORY_LEN, QUARANTINE_LEN};
use crate::edge::platform;
use crate::edge::state::{self, CONFIG_KEY, PURGE_KEY};
use crate::hash::{fnv1a64, hex64};
use crate::problem::{FieldError, Problem};

/// KV keys of the state releases before the control plane kept there (imported once).
const LEGACY_HISTORY_KEY: &str = "config/history";
const LEGACY_AUDIT_KEY: &str = "audit/log";

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS versions (version INTEGER PRIMARY KEY, record TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS quarantine (id INTEGER PRIMARY KEY AUTOINCREMENT, \
     at_ms INTEGER NOT NULL, source TEXT NOT NULL, why TEXT NOT NULL, raw TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
];

/// `meta` names.
mod meta {
    /// The purge state (JSON).
    pub const PURGE: &str = "purge";
    /// The import found an unreadable record: `{"version": N, "why": "…"}`.
    pub const UNREADABLE: &str = "unreadable";
    /// The one-time import of the KV-based state is done.
    pub const IMPORTED: &str = "imported";
    /// Versions last published to KV.
    pub const PUBLISHED_CONFIG: &str = "published_config_version";
    pub const PUBLISHED_PURGE: &str = "published_purge_version";
    /// Hashes of the KV texts already adopted or quarantined (not acted on twice).
    pub const SEEN_CONFIG: &str = "seen_config_text";
    pub const SEEN_PURGE: &str = "seen_purge_text";
    /// The last publish failure, if the last publish failed.
    pub const PUBLISH_ERROR: &str = "publish_error";
    /// The rollout schedule's state (JSON).
    pub const ROLLOUT: &str = "rollout";
    /// Webhook notifications sent and failed (JSON).
    pub const NOTIFICATIONS: &str = "notifications";
}

#[derive(Deserialize)]
struct VersionRow {
    version: f64,
    record: String,
}

#[derive(Deserialize)]
struct EntryRow {
    id: f64,
    entry: String,
}

#[derive(Deserialize)]
struct ValueRow {
    value: String,
}

#[derive(Deserialize)]
struct CountRow {
    n: f64,
}

#[derive(Deserialize)]
struct QuarantineRow {
    id: f64,
    at_ms: f64,
    source: String,
    why: String,
    raw: String,
}

/// The control plane object.
#[durable_object]
pub struct ControlPlane {
    state: State,
    env: Env,
    schema_ready: Cell<bool>,
    publishing: Cell<bool>,
    publish_again: Cell<bool>,
}

impl DurableObject for ControlPlane {
    fn new(state: State, env: Env) -> Self {
        ControlPlane {
            state,
            env,
            schema_ready: Cell::new(false),
            publishing: Cell::new(false),
            publish_again: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let body = req.text().await.unwrap_or_default();
        let (status, value) = match serde_json::from_str::<ControlRequest>(&body) {
            Ok(request) => match self.handle(request).await {
                Ok(v) => (200, v),
                Err(p) => (p.status, serde_json::to_value(&p).unwrap_or_default()),
            },
            Err(e) => {
                let p = Problem::new(400, "invalid_request", format!("control request: {e}"));
                (400, serde_json::to_value(&p).unwrap_or_default())
            }
        };
        Ok(Response::from_json(&value)?.with_status(status))
    }

    async fn alarm(&self) -> worker::Result<Response> {
        if let Ok(config) = platform::config(&self.env).as_ref() {
            if self.prepare(config, &config.self_hosts()).await.is_ok() {
                self.analyse(config).await;
                self.publish().await;
            }
            self.schedule(config, true).await;
        }
        Response::ok("")
    }
}

/// Milliseconds since the epoch (the object's clock).
fn now_ms() -> u64 {
    platform::now().0
}

fn sql_error(e: worker::Error) -> Problem {
    Problem::internal(format!("control plane storage: {e}"))
}

fn text_hash(text: &str) -> String {
    hex64(fnv1a64(&[text.as_bytes()]))
}

impl ControlPlane {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    fn ensure_schema(&self) -> Result<(), Problem> {
        if self.schema_ready.get() {
            return Ok(());
        }
        let sql = self.sql();
        for statement in SCHEMA {
            sql.exec(statement, None).map_err(sql_error)?;
        }
        self.schema_ready.set(true);
        Ok(())
    }

    fn meta_get(&self, name: &str) -> Option<String> {
        self.sql()
            .exec(
                "SELECT value FROM meta WHERE name = ?",
                vec![SqlStorageValue::from(name)],
            )
            .ok()?
            .to_array::<ValueRow>()
            .ok()?
            .pop()
            .map(|r| r.value)
    }

    fn current(&self, self_hosts: &[String]) -> Current {
        let unreadable = self
            .meta_get(meta::UNREADABLE)
            .and_then(|v| serde_json::from_str::<Value>(&v).ok())
            .map(|v| {
                (
                    v["version"].as_u64().unwrap_or(0),
                    v["why"].as_str().unwrap_or("unreadable").to_string(),
                )
            });
        let newest = self.version_rows("ORDER BY version DESC LIMIT 1", vec![]);
        let newest = newest
            .first()
            .map(|r| (r.version as u64, r.record.as_str()));
        Current::from_storage(unreadable, newest, self_hosts)
    }

    /// The rows `query` selects; none, and a log line naming the query, when SQLite refuses it
    /// or a row does not read as `T` (a list that comes back empty must not hide why).
    fn rows<T: serde::de::DeserializeOwned>(
        &self,
        query: &str,
        bindings: Vec<SqlStorageValue>,
    ) -> Vec<T> {
        match self
            .sql()
            .exec(query, bindings)
            .and_then(|c| c.to_array::<T>())
        {
            Ok(rows) => rows,
            Err(e) => {
                worker::console_error!("control plane: reading \"{query}\" failed: {e}");
                Vec::new()
            }
        }
    }

    /// The rows of `SELECT COUNT(*) AS n FROM table`.
    fn count(&self, table: &str) -> u64 {
        self.rows::<CountRow>(&format!("SELECT COUNT(*) AS n FROM {table}"), vec![])
            .pop()
            .map_or(0, |r| r.n as u64)
    }

    fn version_rows(&self, tail: &str, bindings: Vec<SqlStorageValue>) -> Vec<VersionRow> {
        self.rows(
            &format!("SELECT version, record FROM versions {tail}"),
            bindings,
        )
    }

    /// The history a write may need: the newest records (for recovery), plus the version a
    /// revert asks for.
    fn history_for(&self, body: &str) -> Vec<Versioned> {
        let mut rows = self.version_rows("ORDER BY version DESC LIMIT 20", vec![]);
        let asked = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("version").and_then(Value::as_u64));
        if let Some(v) = asked.filter(|v| !rows.iter().any(|r| r.version as u64 == *v)) {
            rows.extend(self.version_rows(
                "WHERE version = ?",
                vec![SqlStorageValue::try_from_i64(v as i64).unwrap_or(SqlStorageValue::Null)],
            ));
        }
        rows.iter()
            .filter_map(|r| Versioned::from_json(&r.record).ok())
            .collect()
    }

    fn purge_state(&self) -> PurgeState {
        self.meta_get(meta::PURGE)
            .and_then(|t| PurgeState::from_json(&t).ok())
            .unwrap_or_default()
    }

    /// Runs `work` in one SQLite transaction (`transactionSync`): all of it or nothing.
    fn transaction(
        &self,
        work: impl FnOnce(&SqlStorage) -> worker::Result<()> + 'static,
    ) -> Result<(), Problem> {
        let storage = self.state.storage();
        let raw: &JsValue = storage.as_raw().as_ref();
        let sync = js_sys::Reflect::get(raw, &JsValue::from_str("transactionSync"))
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
            .ok_or_else(|| Problem::internal("control plane storage has no transactionSync"))?;
        let sql = self.sql();
        let closure = Closure::once(move || -> Result<JsValue, JsValue> {
            work(&sql)
                .map(|()| JsValue::UNDEFINED)
                .map_err(|e| JsValue::from_str(&e.to_string()))
        });
        sync.call1(raw, closure.as_ref().unchecked_ref())
            .map(|_| ())
            .map_err(|e| {
                Problem::internal(format!(
                    "control plane transaction rolled back: {}",
                    crate::edge::convert::js_error_message(&e)
                ))
            })
    }

    /// Stores a rollout commit: the record, its audit entries, the import marker cleared, the
    /// history and log pruned.
    fn store_commit(
        &self,
        commit: &Commit,
        extra_meta: Vec<(&'static str, String)>,
    ) -> Result<(), Problem> {
        let record = serde_json::to_string(&commit.record).unwrap_or_default();
        let version = commit.record.version as i64;
        let entries: Vec<String> = commit
            .audit
            .iter()
            .map(|e| serde_json::to_string(e).unwrap_or_default())
            .collect();
        self.transaction(move |sql| {
            sql.exec(
                "INSERT OR REPLACE INTO versions (version, record) VALUES (?, ?)",
                vec![SqlStorageValue::try_from_i64(version)?, record.into()],
            )?;
            for e in entries {
                sql.exec("INSERT INTO audit (entry) VALUES (?)", vec![e.into()])?;
            }
            sql.exec(
                "DELETE FROM meta WHERE name = ?",
                vec![meta::UNREADABLE.into()],
            )?;
            for (name, value) in extra_meta {
                set_meta(sql, name, value)?;
            }
            prune(sql)
        })
    }

    fn store_audit(
        &self,
        entries: Vec<AuditEntry>,
        extra_meta: Vec<(&'static str, String)>,
    ) -> Result<(), Problem> {
        let entries: Vec<String> = entries
            .iter()
            .map(|e| serde_json::to_string(e).unwrap_or_default())
            .collect();
        self.transaction(move |sql| {
            for e in entries {
                sql.exec("INSERT INTO audit (entry) VALUES (?)", vec![e.into()])?;
            }
            for (name, value) in extra_meta {
                set_meta(sql, name, value)?;
            }
            prune(sql)
        })
    }

    /// Keeps a document that could not be used aside, with why and where it was found, and
    /// audits it. `seen` marks the KV text as handled, so it is kept aside once.
    fn quarantine(
        &self,
        source: &str,
        why: &str,
        raw: &str,
        seen: Option<(&'static str, String)>,
    ) -> Result<(), Problem> {
        let now = now_ms();
        let entry = AuditEntry::event(
            now,
            "control",
            "kept aside: an unreadable document was found",
            "quarantined",
            self.current(&[]).version(),
            json!({"source": source, "why": why, "see": "GET /__edge/api/quarantine"}),
        );
        let entry = serde_json::to_string(&entry).unwrap_or_default();
        let (src, reason, text) = (source.to_string(), why.to_string(), raw.to_string());
        self.transaction(move |sql| {
            sql.exec(
                "INSERT INTO quarantine (at_ms, source, why, raw) VALUES (?, ?, ?, ?)",
                vec![
                    SqlStorageValue::try_from_i64(now as i64)?,
                    src.into(),
                    reason.into(),
                    text.into(),
                ],
            )?;
            sql.exec("INSERT INTO audit (entry) VALUES (?)", vec![entry.into()])?;
            if let Some((name, value)) = seen {
                set_meta(sql, name, value)?;
            }
            prune(sql)
        })?;
        worker::console_warn!(
            "{}",
            json!({"event": "control_quarantine", "source": source, "why": why})
        );
        Ok(())
    }

    /// Before any request: the schema, the one-time import, and KV reconciled.
    async fn prepare(&self, config: &EdgeConfig, self_hosts: &[String]) -> Result<(), Problem> {
        self.ensure_schema()?;
        if self.meta_get(meta::IMPORTED).is_none() {
            self.import(config, self_hosts).await?;
        }
        self.reconcile(self_hosts).await;
        Ok(())
    }

    async fn kv_text(&self, key: &str) -> Result<Option<String>, String> {
        let kv = self
            .env
            .kv(state::KV_BINDING)
            .map_err(|_| format!("the KV binding {} is missing", state::KV_BINDING))?;
        kv.get(key)
            .text()
            .await
            .map_err(|e| format!("KV read of {key} failed: {e}"))
    }

    /// Imports, once, the state that releases before the control plane kept in KV: history and
    /// audit item by item (unreadable items kept aside), the current record (an unreadable one
    /// kept aside and marked, so that the next write recovers), the purge state.
    async fn import(&self, config: &EdgeConfig, self_hosts: &[String]) -> Result<(), Problem> {
        let read = |r: Result<Option<String>, String>| {
            r.map_err(|why| Problem::control_unavailable(format!("one-time import: {why}")))
        };
        let current_raw = read(self.kv_text(CONFIG_KEY).await)?;
        let history_raw = read(self.kv_text(LEGACY_HISTORY_KEY).await)?;
        let audit_raw = read(self.kv_text(LEGACY_AUDIT_KEY).await)?;
        let purge_raw = read(self.kv_text(PURGE_KEY).await)?;
        let now = now_ms();

        let history = reconcile::import_list::<Versioned>(history_raw.as_deref());
        let audit = reconcile::import_list::<AuditEntry>(audit_raw.as_deref());
        let mut bad: Vec<(String, String, String)> = Vec::new();
        bad.extend(
            history
                .bad
                .into_iter()
                .map(|(raw, why)| (LEGACY_HISTORY_KEY.to_string(), why, raw)),
        );
        bad.extend(
            audit
                .bad
                .into_iter()
                .map(|(raw, why)| (LEGACY_AUDIT_KEY.to_string(), why, raw)),
        );

        let mut rows: Vec<Versioned> = history.good;
        let mut unreadable = None;
        match reconcile::classify_config(current_raw.as_deref(), self_hosts) {
            Finding::Absent => {}
            Finding::Own(_) => {
                if let Some(Ok(r)) = current_raw.as_deref().map(Versioned::from_json) {
                    rows.push(r);
                }
            }
            Finding::External((record, _)) => rows.push(record),
            Finding::Unreadable(why) => {
                bad.push((
                    CONFIG_KEY.to_string(),
                    why.clone(),
                    current_raw.clone().unwrap_or_default(),
                ));
                let version = rows.iter().map(|r| r.version).max().unwrap_or(0);
                unreadable = Some(
                    json!({"version": version, "why": format!("{CONFIG_KEY} in KV: {why}")})
                        .to_string(),
                );
            }
        }
        let purge = match reconcile::classify_purge(purge_raw.as_deref()) {
            Finding::Absent => PurgeState::default(),
            Finding::Own(_) => current_purge_text(purge_raw.as_deref()),
            Finding::External(s) => s,
            Finding::Unreadable(why) => {
                bad.push((
                    PURGE_KEY.to_string(),
                    why,
                    purge_raw.clone().unwrap_or_default(),
                ));
                // What was banned is unknown: purge everything, under a generation no older
                // key can have.
                PurgeState {
                    generation: now,
                    version: 1,
                    updated_at_ms: now,
                    ..Default::default()
                }
            }
        };
        let version_of_current = rows.iter().map(|r| r.version).max().unwrap_or(0);
        let mut entries: Vec<AuditEntry> = audit.good.into_iter().rev().collect();
        entries.push(AuditEntry::event(
            now,
            "control",
            "the control plane took over the rollout state from KV",
            "imported",
            version_of_current,
            json!({"versions": rows.len(), "audit_entries": entries.len(),
                   "kept_aside": bad.len(), "purge_generation": purge.generation,
                   "unreadable_current": unreadable.is_some(),
                   "defaults_origin": config.rollout_defaults.stable_origin.as_str()}),
        ));
        for (source, why, _) in &bad {
            entries.push(AuditEntry::event(
                now,
                "control",
                "kept aside: an unreadable document was found",
                "quarantined",
                version_of_current,
                json!({"source": source, "why": why, "see": "GET /__edge/api/quarantine"}),
            ));
        }
        let rows: Vec<(i64, String)> = rows
            .iter()
            .map(|r| {
                (
                    r.version as i64,
                    serde_json::to_string(r).unwrap_or_default(),
                )
            })
            .collect();
        let entries: Vec<String> = entries
            .iter()
            .map(|e| serde_json::to_string(e).unwrap_or_default())
            .collect();
        let purge_text = serde_json::to_string(&purge.sealed()).unwrap_or_default();
        let published = version_of_current.to_string();
        // What the import kept aside is handled: the reconcile that follows must not keep the
        // same text aside again.
        let seen: Vec<(&'static str, String)> = [
            (meta::SEEN_CONFIG, current_raw.as_deref()),
            (meta::SEEN_PURGE, purge_raw.as_deref()),
        ]
        .into_iter()
        .filter_map(|(name, raw)| raw.map(|r| (name, text_hash(r))))
        .collect();
        self.transaction(move |sql| {
            for (version, record) in rows {
                sql.exec(
                    "INSERT OR REPLACE INTO versions (version, record) VALUES (?, ?)",
                    vec![SqlStorageValue::try_from_i64(version)?, record.into()],
                )?;
            }
            for e in entries {
                sql.exec("INSERT INTO audit (entry) VALUES (?)", vec![e.into()])?;
            }
            for (source, why, raw) in bad {
                sql.exec(
                    "INSERT INTO quarantine (at_ms, source, why, raw) VALUES (?, ?, ?, ?)",
                    vec![
                        SqlStorageValue::try_from_i64(now as i64)?,
                        source.into(),
                        why.into(),
                        raw.into(),
                    ],
                )?;
            }
            if let Some(u) = unreadable {
                set_meta(sql, meta::UNREADABLE, u)?;
            }
            for (name, hash) in seen {
                set_meta(sql, name, hash)?;
            }
            set_meta(sql, meta::PURGE, purge_text)?;
            // What KV holds now is what edges use: republished once sealed, not before.
            set_meta(sql, meta::PUBLISHED_CONFIG, published)?;
            set_meta(sql, meta::IMPORTED, now.to_string())?;
            prune(sql)
        })?;
        worker::console_log!("{}", json!({"event": "control_import", "at_ms": now}));
        Ok(())
    }

    /// Rereads KV: adopts an emergency edit, keeps garbage aside (then republishes the object's
    /// own state over it), republishes what went missing or stale.
    async fn reconcile(&self, self_hosts: &[String]) {
        match self.kv_text(CONFIG_KEY).await {
            Err(why) => worker::console_warn!("control reconcile: {}", why),
            Ok(raw) => self.reconcile_config(raw, self_hosts),
        }
        match self.kv_text(PURGE_KEY).await {
            Err(why) => worker::console_warn!("control reconcile: {}", why),
            Ok(raw) => self.reconcile_purge(raw),
        }
    }

    fn reconcile_config(&self, raw: Option<String>, self_hosts: &[String]) {
        let current = self.current(self_hosts);
        let seen = raw.as_deref().map(text_hash);
        let already_seen = seen.is_some() && self.meta_get(meta::SEEN_CONFIG) == seen;
        match reconcile::classify_config(raw.as_deref(), self_hosts) {
            Finding::Own(v) if v >= current.version() => {}
            Finding::Own(_) | Finding::Absent => self.republish(meta::PUBLISHED_CONFIG),
            _ if already_seen => {}
            Finding::External((record, config)) => {
                let commit = plan_adoption(&current, &record, config, now_ms());
                let seen = (meta::SEEN_CONFIG, seen.unwrap_or_default());
                match self.store_commit(&commit, vec![seen]) {
                    Ok(()) => worker::console_warn!(
                        "{}",
                        json!({"event": "rollout_change", "action": "external_change",
                               "version": commit.record.version, "actor": commit.record.actor,
                               "reason": commit.record.reason})
                    ),
                    Err(p) => worker::console_error!("adopting a KV edit failed: {}", p.detail),
                }
            }
            Finding::Unreadable(why) => {
                let seen = (meta::SEEN_CONFIG, seen.unwrap_or_default());
                let raw = raw.unwrap_or_default();
                if let Err(p) = self.quarantine(&format!("kv {CONFIG_KEY}"), &why, &raw, Some(seen))
                {
                    worker::console_error!("quarantine failed: {}", p.detail);
                }
                self.republish(meta::PUBLISHED_CONFIG);
            }
        }
    }

    fn reconcile_purge(&self, raw: Option<String>) {
        let current = self.purge_state();
        let seen = raw.as_deref().map(text_hash);
        let already_seen = seen.is_some() && self.meta_get(meta::SEEN_PURGE) == seen;
        match reconcile::classify_purge(raw.as_deref()) {
            Finding::Own(v) if v >= current.version => {}
            Finding::Own(_) | Finding::Absent => {
                if current.version > 0 {
                    self.republish(meta::PUBLISHED_PURGE);
                }
            }
            _ if already_seen => {}
            Finding::External(mut state) => {
                let now = now_ms();
                state.version = (current.version + 1).max(state.version);
                state.updated_at_ms = now;
                let state = state.sealed();
                let entry = AuditEntry::event(
                    now,
                    write::EXTERNAL_ACTOR,
                    "written straight into KV (not through the admin API); adopted",
                    "external_change",
                    self.current(&[]).version(),
                    json!({"document": PURGE_KEY, "purge_version": state.version,
                           "generation": state.generation, "bans": state.bans.len()}),
                );
                let text = serde_json::to_string(&state).unwrap_or_default();
                let result = self.store_audit(
                    vec![entry],
                    vec![
                        (meta::PURGE, text),
                        (meta::SEEN_PURGE, seen.unwrap_or_default()),
                    ],
                );
                if let Err(p) = result {
                    worker::console_error!("adopting a KV purge edit failed: {}", p.detail);
                }
            }
            Finding::Unreadable(why) => {
                let seen = (meta::SEEN_PURGE, seen.unwrap_or_default());
                let raw = raw.unwrap_or_default();
                if let Err(p) = self.quarantine(&format!("kv {PURGE_KEY}"), &why, &raw, Some(seen))
                {
                    worker::console_error!("quarantine failed: {}", p.detail);
                }
                self.republish(meta::PUBLISHED_PURGE);
            }
        }
    }

    /// Marks a document for publishing again at the next publish.
    fn republish(&self, which: &'static str) {
        let _ = self
            .sql()
            .exec("DELETE FROM meta WHERE name = ?", vec![which.into()]);
    }

    /// Publishes what changed since the last publish. One publisher at a time: a publish asked
    /// for while one runs makes that one go round again, so the newest state is always the last
    /// one written to KV. Returns whether KV now holds the newest state.
    async fn publish(&self) -> bool {
        if self.publishing.get() {
            self.publish_again.set(true);
            return false;
        }
        self.publishing.set(true);
        let mut ok;
        loop {
            self.publish_again.set(false);
            ok = self.publish_once().await;
            if !self.publish_again.get() {
                break;
            }
        }
        self.publishing.set(false);
        ok
    }

    async fn publish_once(&self) -> bool {
        let Ok(kv) = self.env.kv(state::KV_BINDING) else {
            self.note_publish_error(&format!("the KV binding {} is missing", state::KV_BINDING));
            return false;
        };
        let mut ok = true;
        if let Current::Valid { record, .. } = self.current(&[]) {
            let published = self
                .meta_get(meta::PUBLISHED_CONFIG)
                .and_then(|v| v.parse::<u64>().ok());
            if published != Some(record.version) {
                let text = serde_json::to_string(&record).unwrap_or_default();
                match kv_put(&kv, CONFIG_KEY, text).await {
                    Ok(()) => {
                        let _ = set_meta(
                            &self.sql(),
                            meta::PUBLISHED_CONFIG,
                            record.version.to_string(),
                        );
                    }
                    Err(e) => {
                        self.note_publish_error(&e);
                        ok = false;
                    }
                }
            }
        }
        let purge = self.purge_state();
        let published = self
            .meta_get(meta::PUBLISHED_PURGE)
            .and_then(|v| v.parse::<u64>().ok());
        if purge.version > 0 && published != Some(purge.version) {
            let text = serde_json::to_string(&purge).unwrap_or_default();
            match kv_put(&kv, PURGE_KEY, text).await {
                Ok(()) => {
                    let _ = set_meta(
                        &self.sql(),
                        meta::PUBLISHED_PURGE,
                        purge.version.to_string(),
                    );
                }
                Err(e) => {
                    self.note_publish_error(&e);
                    ok = false;
                }
            }
        }
        if ok {
            let _ = self.sql().exec(
                "DELETE FROM meta WHERE name = ?",
                vec![meta::PUBLISH_ERROR.into()],
            );
        }
        ok
    }

    fn note_publish_error(&self, why: &str) {
        worker::console_error!("{}", json!({"event": "control_publish_failed", "why": why}));
        let _ = set_meta(
            &self.sql(),
            meta::PUBLISH_ERROR,
            format!("{} at {}", why, now_ms()),
        );
    }

    /// Keeps an alarm set: it reconciles KV, retries a failed publish, and runs a rollout's
    /// analyses when they are due.
    async fn schedule(&self, config: &EdgeConfig, from_alarm: bool) {
        let storage = self.state.storage();
        let now = now_ms();
        let mut at = now + config.control_reconcile_ms;
        if let Some(due) = rollout::next_wakeup(&self.rollout_state()) {
            at = at.min(due.max(now + 1));
        }
        if !from_alarm {
            if let Ok(Some(set)) = storage.get_alarm().await {
                if (set as u64) <= at {
                    return;
                }
            }
        }
        // An absolute time (an i64 would be an offset from now).
        let when = worker::ScheduledTime::new(js_sys::Date::new(&JsValue::from_f64(at as f64)));
        if let Err(e) = storage.set_alarm(when).await {
            worker::console_error!("control plane alarm not set: {}", e);
        }
    }

    fn rollout_state(&self) -> RolloutState {
        self.meta_get(meta::ROLLOUT)
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    fn store_rollout(&self, state: &RolloutState) -> Result<(), Problem> {
        set_meta(
            &self.sql(),
            meta::ROLLOUT,
            serde_json::to_string(state).unwrap_or_default(),
        )
        .map_err(sql_error)
    }

    /// Plans the writes a rollout's actions make, each as the next version through the one
    /// write path, audited as their actor with the measurements; stores nothing. Returns the
    /// commits in order and the notifications to send.
    fn plan_actions(
        &self,
        config: &EdgeConfig,
        self_hosts: &[String],
        actions: Vec<RolloutAction>,
    ) -> Result<(Vec<Commit>, Vec<String>), Problem> {
        let mut commits: Vec<Commit> = Vec::new();
        let mut notes = Vec::new();
        for action in actions {
            let (change, fields, actor, reason, detail) = match action {
                RolloutAction::Notify { text } => {
                    notes.push(text);
                    continue;
                }
                RolloutAction::SetWeight {
                    weight_bp,
                    actor,
                    reason,
                    detail,
                } => {
                    let mut f = serde_json::Map::new();
                    f.insert("weight".into(), json!(f64::from(weight_bp) / 100.0));
                    (Change::SetWeight, f, actor, reason, detail)
                }
                RolloutAction::Rollback {
                    actor,
                    reason,
                    detail,
                } => (
                    Change::Rollback,
                    serde_json::Map::new(),
                    actor,
                    reason,
                    detail,
                ),
                RolloutAction::Promote { reason, detail } => {
                    let mut f = serde_json::Map::new();
                    f.insert("force".into(), json!(true));
                    (
                        Change::Promote,
                        f,
                        rollout::ANALYSIS_ACTOR.to_string(),
                        reason,
                        detail,
                    )
                }
            };
            let req = ops::WriteRequest {
                actor,
                reason,
                expected_version: None,
                dry_run: false,
                fields,
            };
            let current = match commits.last() {
                Some(c) => Current::Valid {
                    record: c.record.clone(),
                    config: c.config.clone(),
                },
                None => self.current(self_hosts),
            };
            let history = self.history_for("{}");
            let ctx = WriteContext {
                now_ms: now_ms(),
                self_hosts,
                defaults: &config.rollout_defaults,
                history: &history,
            };
            let mut commit = plan_write(&current, change, &req, &ctx)?;
            if let Some(last) = commit.audit.last_mut() {
                last.detail = detail;
            }
            commits.push(commit);
        }
        Ok((commits, notes))
    }

    /// Stores a rollout's new state and the writes its actions make, publishes, notifies.
    async fn carry_out(
        &self,
        config: &EdgeConfig,
        state: &RolloutState,
        commits: Vec<Commit>,
        notes: Vec<String>,
    ) -> Result<Option<Versioned>, Problem> {
        for commit in &commits {
            self.store_commit(commit, vec![])?;
            worker::console_log!(
                "{}",
                json!({"event": "rollout_change", "action": commit.audit.last().map(|a| a.action.clone()),
                       "version": commit.record.version, "actor": commit.record.actor,
                       "reason": commit.record.reason, "weight_bp": {"new": commit.config.weight_bp}})
            );
        }
        self.store_rollout(state)?;
        worker::console_log!(
            "{}",
            json!({"event": "rollout_state", "state": state.status.as_str(), "step": state.step + 1,
                   "decision": state.decisions.first()})
        );
        if !commits.is_empty() {
            self.publish().await;
        }
        for text in notes {
            self.notify(config, &text).await;
        }
        Ok(commits.last().map(|c| c.record.clone()))
    }

    /// Posts a rollout message to `ROLLOUT_WEBHOOK_URL` (Slack-compatible), counting what was
    /// sent and what failed.
    async fn notify(&self, config: &EdgeConfig, text: &str) {
        let Some(url) = &config.rollout_webhook_url else {
            return;
        };
        let call = crate::edge::origin::OriginCall {
            url: url.to_string(),
            method: "POST".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            timeout_ms: 5_000,
            fallback_url: None,
            trace_id: String::new(),
        };
        let body = JsValue::from_str(&json!({ "text": text }).to_string());
        let reply = call.send(&[], Some(body)).await;
        let error = match &reply.result {
            Ok(r) if r.status() < 300 => None,
            Ok(r) => Some(format!("the webhook answered {}", r.status())),
            Err(e) => Some(format!("{e:?}")),
        };
        let mut counts: Value = self
            .meta_get(meta::NOTIFICATIONS)
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_else(|| json!({"sent": 0, "failed": 0, "last_error": null}));
        match &error {
            None => counts["sent"] = json!(counts["sent"].as_u64().unwrap_or(0) + 1),
            Some(e) => {
                counts["failed"] = json!(counts["failed"].as_u64().unwrap_or(0) + 1);
                counts["last_error"] = json!(e);
                worker::console_warn!("{}", json!({"event": "rollout_webhook_failed", "why": e}));
            }
        }
        let _ = set_meta(&self.sql(), meta::NOTIFICATIONS, counts.to_string());
    }

    /// The alarm's analysis: when a rollout's analysis is due, reads every aggregator, judges
    /// the canary and carries out what the rollout decides.
    async fn analyse(&self, config: &EdgeConfig) {
        let state = self.rollout_state();
        let now = now_ms();
        if rollout::next_wakeup(&state).is_none_or(|due| due > now) {
            return;
        }
        let since = rollout::since_bucket(&state, now);
        let (summary, failed) =
            crate::edge::metrics_shard::read_all(&self.env, config.metrics_shards, since).await;
        // The read awaited: take the state again (a person may have paused it meanwhile).
        let state = self.rollout_state();
        let now = now_ms();
        let self_hosts = config.self_hosts();
        let result = if failed.is_empty() {
            let window = Window::of(&summary.routes, since);
            let (next, actions) = rollout::tick(&state, &window, now);
            self.plan_actions(config, &self_hosts, actions)
                .map(|(commits, notes)| (next, commits, notes))
        } else {
            Ok((
                rollout::cannot_read(&state, &failed.join("; "), now),
                vec![],
                vec![],
            ))
        };
        match result {
            Ok((next, commits, notes)) => {
                if let Err(p) = self.carry_out(config, &next, commits, notes).await {
                    worker::console_error!("rollout step not stored: {}", p.detail);
                }
            }
            Err(p) => {
                // The write the rollout wanted was refused (e.g. the record is unreadable):
                // pause, saying why, rather than retry blindly.
                if let Ok(paused) = rollout::pause(&state, rollout::ANALYSIS_ACTOR, &p.detail, now)
                {
                    let _ = self.store_rollout(&paused);
                }
                worker::console_error!("rollout action refused: {}", p.detail);
            }
        }
    }

    /// The analysis API's answer (`GET /analysis` on the edge, which relays it): every
    /// aggregator's counts over the window, merged (`verdict::api_answer`).
    async fn analysis(&self, query: &AnalysisQuery) -> Value {
        let since_ms = query.now_ms.saturating_sub(query.window_secs * 1000);
        let (summary, failed) = crate::edge::metrics_shard::read_all(
            &self.env,
            query.shards,
            cell::bucket_of(since_ms),
        )
        .await;
        verdict::api_answer(&summary, failed, query)
    }

    fn rollout_json(&self) -> Value {
        let mut v = rollout::to_json(&self.rollout_state(), now_ms());
        v["notifications"] = self
            .meta_get(meta::NOTIFICATIONS)
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_else(|| json!({"sent": 0, "failed": 0, "last_error": null}));
        v
    }

    async fn rollout_start(
        &self,
        config: &EdgeConfig,
        self_hosts: &[String],
        operator: &str,
        body: &str,
    ) -> Result<Value, Problem> {
        let mut fields = ops::body_object(body)?;
        let reason = ops::reason_and_actor(&mut fields, operator)?;
        let spec = rollout::parse_spec(&fields)?;
        let has_canary = matches!(
            self.current(self_hosts),
            Current::Valid { ref config, .. } if config.canary_origin.is_some()
        ) || (matches!(self.current(self_hosts), Current::Defaults)
            && config.rollout_defaults.canary_origin.is_some());
        let (next, actions) = rollout::start(
            &self.rollout_state(),
            spec,
            operator,
            &reason,
            has_canary,
            now_ms(),
        )?;
        let (commits, notes) = self.plan_actions(config, self_hosts, actions)?;
        let record = self.carry_out(config, &next, commits, notes).await?;
        let mut answer = self.rollout_json();
        answer["record"] = json!(record);
        Ok(answer)
    }

    async fn rollout_control(
        &self,
        config: &EdgeConfig,
        self_hosts: &[String],
        action: &str,
        operator: &str,
        body: &str,
    ) -> Result<Value, Problem> {
        let mut fields = ops::body_object(body)?;
        let reason = ops::reason_and_actor(&mut fields, operator)?;
        if let Some(k) = fields.keys().next() {
            return Err(FieldError::new(k.clone(), "is not a known field").into());
        }
        let state = self.rollout_state();
        let now = now_ms();
        let (next, actions) = match action {
            "pause" => (rollout::pause(&state, operator, &reason, now)?, vec![]),
            "resume" => (rollout::resume(&state, operator, &reason, now)?, vec![]),
            "abort" => rollout::abort(&state, operator, &reason, now)?,
            other => {
                return Err(Problem::new(
                    400,
                    "invalid_request",
                    format!("unknown rollout action {other:?}"),
                ))
            }
        };
        let (commits, notes) = self.plan_actions(config, self_hosts, actions)?;
        let audit = AuditEntry::event(
            now,
            operator,
            &reason,
            &format!("rollout_{action}"),
            commits
                .last()
                .map_or(self.current(self_hosts).version(), |c| c.record.version),
            json!({"state": next.status.as_str(), "step": next.step + 1}),
        );
        self.store_audit(vec![audit], vec![])?;
        let record = self.carry_out(config, &next, commits, notes).await?;
        let mut answer = self.rollout_json();
        answer["record"] = json!(record);
        Ok(answer)
    }

    async fn handle(&self, request: ControlRequest) -> Result<Value, Problem> {
        if let ControlRequest::Analysis(query) = request {
            // A read of the aggregators only: neither the object's state nor the configuration (the
            // edge sends what the answer needs) is involved.
            return Ok(self.analysis(&query).await);
        }
        let state = platform::config(&self.env);
        let config = match state.as_ref() {
            Ok(c) => c,
            Err(errors) => {
                let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
                return Err(Problem::config_invalid(&errors));
            }
        };
        let mut self_hosts = config.self_hosts();
        if let ControlRequest::State { self_hosts: h }
        | ControlRequest::Write { self_hosts: h, .. } = &request
        {
            self_hosts.extend(h.iter().cloned());
        }
        self.prepare(config, &self_hosts).await?;
        let answer = match request {
            ControlRequest::State { .. } => Ok(self.state_json(config, &self_hosts)),
            ControlRequest::Write {
                change,
                operator,
                body,
                if_match,
                ..
            } => {
                self.write(
                    config,
                    &self_hosts,
                    &change,
                    &operator,
                    &body,
                    if_match.as_deref(),
                )
                .await
            }
            ControlRequest::Purge { operator, body } => self.purge(config, &operator, &body).await,
            ControlRequest::Event {
                operator,
                action,
                reason,
                detail,
            } => {
                let entry = AuditEntry::event(
                    now_ms(),
                    &operator,
                    &reason,
                    &action,
                    self.current(&self_hosts).version(),
                    detail,
                );
                self.store_audit(vec![entry.clone()], vec![])?;
                Ok(json!({ "audit": entry }))
            }
            ControlRequest::Analysis(_) => unreachable!("answered above"),
            ControlRequest::List { list, limit } => Ok(self.list(list, limit)),
            ControlRequest::Rollout => Ok(self.rollout_json()),
            ControlRequest::RolloutStart { operator, body } => {
                self.rollout_start(config, &self_hosts, &operator, &body)
                    .await
            }
            ControlRequest::RolloutControl {
                action,
                operator,
                body,
            } => {
                self.rollout_control(config, &self_hosts, &action, &operator, &body)
                    .await
            }
        };
        // Publish whatever is pending (a failed earlier publish, a reconcile's repair), then
        // make sure the alarm runs.
        self.publish().await;
        self.schedule(config, false).await;
        answer
    }

    fn state_json(&self, config: &EdgeConfig, self_hosts: &[String]) -> Value {
        let current = self.current(self_hosts);
        let purge = self.purge_state();
        let quarantined = self.count("quarantine");
        json!({
            "current": current.to_json(&config.rollout_defaults),
            "record": match &current { Current::Valid { record, .. } => json!(record), _ => Value::Null },
            "purge": {"version": purge.version, "generation": purge.generation,
                      "bans": purge.bans.len(), "updated_at_ms": purge.updated_at_ms},
            "published": {
                "config_version": self.meta_get(meta::PUBLISHED_CONFIG),
                "purge_version": self.meta_get(meta::PUBLISHED_PURGE),
                "error": self.meta_get(meta::PUBLISH_ERROR),
            },
            "quarantined": quarantined,
        })
    }

    async fn write(
        &self,
        config: &EdgeConfig,
        self_hosts: &[String],
        change: &str,
        operator: &str,
        body: &str,
        if_match: Option<&str>,
    ) -> Result<Value, Problem> {
        let change = Change::parse(change).ok_or_else(|| {
            Problem::new(400, "invalid_request", format!("unknown change {change:?}"))
        })?;
        let mut req = ops::parse_write(body, change, operator)?;
        req.expected_version = write::expected_version(if_match, req.expected_version)?;
        // From here to the commit nothing awaits: no other request can interleave.
        let current = self.current(self_hosts);
        let history = self.history_for(body);
        let ctx = WriteContext {
            now_ms: now_ms(),
            self_hosts,
            defaults: &config.rollout_defaults,
            history: &history,
        };
        let commit = plan_write(&current, change, &req, &ctx)?;
        if req.dry_run {
            return Ok(json!({
                "dry_run": true,
                "valid": true,
                "version_now": current.version(),
                "would_be_version": commit.record.version,
                "config": commit.record.config,
                "summary": ops::summary(&commit.config),
            }));
        }
        self.store_commit(&commit, vec![])?;
        // A person changing the rollout by hand takes it over from the schedule: it pauses.
        let schedule = self.rollout_state();
        if let Some(paused) =
            rollout::after_manual_change(&schedule, change.as_str(), &req.actor, now_ms())
        {
            self.store_rollout(&paused)?;
            let entry = AuditEntry::event(
                now_ms(),
                &req.actor,
                paused.paused_reason.as_deref().unwrap_or(""),
                "rollout_pause",
                commit.record.version,
                json!({"state": "paused", "step": paused.step + 1, "by_change": change.as_str()}),
            );
            self.store_audit(vec![entry], vec![])?;
        }
        let published = self.publish().await;
        worker::console_log!(
            "{}",
            json!({"event": "rollout_change", "action": change.as_str(), "version": commit.record.version,
                   "actor": req.actor, "reason": req.reason,
                   "weight_bp": {"old": current_weight(&current), "new": commit.config.weight_bp}})
        );
        Ok(json!({
            "version": commit.record.version,
            "action": change.as_str(),
            "summary": ops::summary(&commit.config),
            "config": commit.record.config,
            "record": commit.record,
            "audit": commit.audit.last(),
            "recovered": commit.audit.iter().any(|a| a.action == "recovered"),
            "published": published,
        }))
    }

    async fn purge(
        &self,
        config: &EdgeConfig,
        operator: &str,
        body: &str,
    ) -> Result<Value, Problem> {
        let state = self.purge_state();
        let ctx = PurgeContext {
            now_ms: now_ms(),
            max_retention_ms: MAX_ENTRY_LIFETIME_SECS * 1000,
            rollout_version: self.current(&[]).version(),
            operator,
        };
        let vary_language = |path: &str| config.rules.rule_for(path).vary_language;
        let commit = plan_purge(
            &state,
            body,
            |u| key::purge_path(u, vary_language, &config.tracking),
            &ctx,
        )?;
        let text = serde_json::to_string(&commit.state).unwrap_or_default();
        self.store_audit(vec![commit.audit.clone()], vec![(meta::PURGE, text)])?;
        let published = self.publish().await;
        worker::console_log!(
            "{}",
            json!({"event": "cache_purge", "purged": commit.outcome.purged, "targets": commit.targets,
                   "generation": commit.outcome.generation, "purge_version": commit.state.version,
                   "actor": operator, "reason": commit.audit.reason})
        );
        Ok(json!({
            "purged": commit.outcome.purged,
            "mode": commit.outcome.mode,
            "targets": commit.targets,
            "generation": commit.outcome.generation,
            "ban_ids": commit.outcome.ban_ids,
            "bans_expired": commit.outcome.bans_expired,
            "bans_replaced": commit.outcome.bans_replaced,
            "bans_active": commit.state.bans.len(),
            "purge_version": commit.state.version,
            "state": commit.state,
            "audit": commit.audit,
            "published": published,
        }))
    }

    fn list(&self, list: ListName, limit: usize) -> Value {
        let limit_v = SqlStorageValue::try_from_i64(limit as i64).unwrap_or(SqlStorageValue::Null);
        let count = |table: &str| self.count(table);
        match list {
            ListName::History => {
                let rows = self.version_rows("ORDER BY version DESC LIMIT ?", vec![limit_v]);
                let versions: Vec<Value> = rows
                    .iter()
                    .map(|r| {
                        serde_json::from_str(&r.record).unwrap_or_else(
                            |_| json!({"version": r.version, "unreadable": r.record}),
                        )
                    })
                    .collect();
                json!({"count": count("versions"), "versions": versions})
            }
            ListName::Audit => {
                let rows: Vec<EntryRow> = self.rows(
                    "SELECT id, entry FROM audit ORDER BY id DESC LIMIT ?",
                    vec![limit_v],
                );
                let entries: Vec<Value> = rows
                    .iter()
                    .map(|r| {
                        let mut v: Value = serde_json::from_str(&r.entry)
                            .unwrap_or_else(|_| json!({"unreadable": r.entry}));
                        v["id"] = json!(r.id as u64);
                        v
                    })
                    .collect();
                json!({"count": count("audit"), "entries": entries})
            }
            ListName::Quarantine => {
                let rows: Vec<QuarantineRow> = self.rows(
                    "SELECT id, at_ms, source, why, raw FROM quarantine ORDER BY id DESC LIMIT ?",
                    vec![limit_v],
                );
                let items: Vec<Value> = rows
                    .iter()
                    .map(|r| json!({"id": r.id as u64, "at_ms": r.at_ms as u64, "source": r.source, "why": r.why, "raw": r.raw}))
                    .collect();
                json!({"count": count("quarantine"), "items": items})
            }
        }
    }
}

fn current_weight(current: &Current) -> Option<u16> {
    match current {
        Current::Valid { config, .. } => Some(config.weight_bp),
        _ => None,
    }
}

fn current_purge_text(raw: Option<&str>) -> PurgeState {
    raw.and_then(|t| PurgeState::from_json(t).ok())
        .unwrap_or_default()
}

fn set_meta(sql: &SqlStorage, name: &str, value: String) -> worker::Result<()> {
    sql.exec(
        "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
        vec![name.into(), value.into()],
    )
    .map(|_| ())
}

/// Drops the oldest history versions, audit entries and quarantined items past their bounds.
fn prune(sql: &SqlStorage) -> worker::Result<()> {
    for (table, key, keep) in [
        ("versions", "version", HISTORY_LEN),
        ("audit", "id", AUDIT_LEN),
        ("quarantine", "id", QUARANTINE_LEN),
    ] {
        sql.exec(
            &format!("DELETE FROM {table} WHERE {key} <= (SELECT MAX({key}) FROM {table}) - ?"),
            vec![SqlStorageValue::try_from_i64(keep as i64)?],
        )?;
    }
    Ok(())
}

async fn kv_put(kv: &worker::KvStore, key: &str, text: String) -> Result<(), String> {
    kv.put(key, text)
        .map_err(|e| format!("KV write of {key} failed: {e}"))?
        .execute()
        .await
        .map_err(|e| format!("KV write of {key} failed: {e}"))
}
