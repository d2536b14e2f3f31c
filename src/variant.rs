//! Which origin deployment serves a request. Part of the cache key: a canary response must never
//! reach a stable user, nor the reverse.

/// An origin deployment.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// The current release.
    #[default]
    Stable,
    /// The release being rolled out.
    Canary,
}

impl Variant {
    /// Both variants, stable first.
    pub const ALL: [Variant; 2] = [Variant::Stable, Variant::Canary];

    /// `stable` or `canary`.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Stable => "stable",
            Variant::Canary => "canary",
        }
    }

    /// Parses `stable` or `canary` (case-insensitive).
    pub fn parse(value: &str) -> Option<Variant> {
        let v = value.trim();
        Variant::ALL
            .into_iter()
            .find(|x| v.eq_ignore_ascii_case(x.as_str()))
    }
}
