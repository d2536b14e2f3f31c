//! JSON objects built from values that are already JSON-able without serde (`object!`), a
//! value's text (`text`), and documents read field by field from their `Value` ([`Fields`]).

use serde_json::{Map, Value};

/// `value`'s JSON text, what its `Display` (`{}`, `to_string()`) writes. `Display` also has a
/// pretty form (`{:#}`), so each use brings serde_json's pretty serializer of `Value` as well as
/// a compact one through the formatter, while this is the one compact serializer the edge
/// already has.
pub fn text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// A `serde_json::Value` object from `"key": value` pairs, each value `Into<Value>` (numbers,
/// strings, `bool`, `Option`s and `Vec`s of those, `Value`s, nested `object!`s). What `json!`
/// builds, but `json!` turns every expression into a `Value` through serde_json's `Value`
/// serializer (`to_value`), whose machinery and a copy of each type's `Serialize` for it the
/// edge then carries; this takes `From` conversions only. Keys come out sorted, as `json!`'s do.
macro_rules! object {
    ($($key:literal : $value:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut map = serde_json::Map::new();
        $( map.insert(String::from($key), serde_json::Value::from($value)); )*
        serde_json::Value::Object(map)
    }};
}

/// A JSON object read field by field: how the edge reads its stored documents (the rollout
/// record, the purge state, cache rules) instead of a `Deserialize` derive, whose serde_json
/// machinery — a deserializer per type, field and variant visitors, and the error path's
/// formatting of any float it meets (core's Grisu and Dragon, ~20 KB) — is the largest part of
/// what a typed read costs the Wasm. The text is parsed once into a `Value` (the parser the edge
/// has anyway) and each field taken from it. Errors say what serde_json's do (`missing field
/// `generation``, `invalid type: string "7", expected u64`, `unknown field `ttl`, expected one
/// of …`) without its position (`at line 1 column 9`); a repeated key keeps its last value
/// where serde refused the document, and a struct written as an array, which serde read, is
/// refused.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    /// `value` as the fields of struct `name` (an object; anything else is refused as serde
    /// refuses it: `invalid type: …, expected struct {name}`).
    pub fn of(value: &'a Value, name: &str) -> Result<Fields<'a>, String> {
        match value {
            Value::Object(map) => Ok(Fields { map }),
            other => Err(invalid_type(other, &format!("struct {name}"))),
        }
    }

    /// The raw value of a field, if present.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name)
    }

    /// A `u64` field, `None` when absent (`null` is refused, as serde refuses it for a `u64`).
    pub fn u64(&self, name: &str) -> Result<Option<u64>, String> {
        self.get(name).map(as_u64).transpose()
    }

    /// A `String` field, `None` when absent (`null` is refused).
    pub fn string(&self, name: &str) -> Result<Option<String>, String> {
        self.get(name).map(as_string).transpose()
    }

    /// An `Option<String>` field: `None` when absent or `null`.
    pub fn opt_string(&self, name: &str) -> Result<Option<String>, String> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => as_string(v).map(Some),
        }
    }

    /// A `bool` field, `None` when absent (`null` is refused).
    pub fn bool(&self, name: &str) -> Result<Option<bool>, String> {
        self.get(name)
            .map(|v| v.as_bool().ok_or_else(|| invalid_type(v, "a boolean")))
            .transpose()
    }

    /// Refuses a field not in `known`, as `#[serde(deny_unknown_fields)]` does.
    pub fn deny_unknown(&self, known: &[&str]) -> Result<(), String> {
        match self.map.keys().find(|k| !known.contains(&k.as_str())) {
            None => Ok(()),
            Some(k) => {
                let expected: Vec<String> = known.iter().map(|f| format!("`{f}`")).collect();
                Err(format!(
                    "unknown field `{k}`, expected one of {}",
                    expected.join(", ")
                ))
            }
        }
    }
}

/// serde's error for a field a struct needs and the document lacks.
pub fn missing(name: &str) -> String {
    format!("missing field `{name}`")
}

/// A required field: `value`, or serde's missing-field error.
pub fn required<T>(value: Option<T>, name: &str) -> Result<T, String> {
    value.ok_or_else(|| missing(name))
}

/// serde_json's error for `value` where `expected` was wanted (`invalid type: string "x",
/// expected u64`): what it calls each kind of value, floats written as its text of them.
pub fn invalid_type(value: &Value, expected: &str) -> String {
    let what = match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) if n.is_f64() => format!("floating point `{}`", text(value)),
        Value::Number(_) => format!("integer `{}`", text(value)),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "sequence".to_string(),
        Value::Object(_) => "map".to_string(),
    };
    format!("invalid type: {what}, expected {expected}")
}

/// `value` as a `u64`, with serde_json's errors (a negative integer is an invalid value, any
/// other non-integer an invalid type).
pub fn as_u64(value: &Value) -> Result<u64, String> {
    match value.as_u64() {
        Some(n) => Ok(n),
        None if value.is_i64() => Err(format!(
            "invalid value: integer `{}`, expected u64",
            text(value)
        )),
        None => Err(invalid_type(value, "u64")),
    }
}

/// `value` as a `String`, with serde_json's error.
pub fn as_string(value: &Value) -> Result<String, String> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| invalid_type(value, "a string"))
}

/// `value` as an array, with serde_json's error for a `Vec`.
pub fn as_array(value: &Value) -> Result<&Vec<Value>, String> {
    value
        .as_array()
        .ok_or_else(|| invalid_type(value, "a sequence"))
}

/// Test support for the [`Fields`] readers: each is held to the `Deserialize` derive it
/// replaced (kept on the type for that, and for the control plane's writes).
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod testing {
    use proptest::prelude::*;
    use serde_json::{json, Map, Value};

    /// Arbitrary JSON values, nested a little: what a field may hold in a bad document.
    pub fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<u64>().prop_map(|n| json!(n)),
            any::<i64>().prop_map(|n| json!(n)),
            prop_oneof![Just(0.5), Just(-1.0), Just(1e30), Just(7.0), any::<f64>()]
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            "\\PC{0,6}".prop_map(Value::String),
            prop::sample::select(vec!["url", "path", "prefix", "tag", "override", "404"])
                .prop_map(|s| json!(s)),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map("[a-z0-9_]{1,6}", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// One change to a valid object: `which` picks a field of `fields` (or, past them, a field
    /// no struct knows), `how` whether it is removed (0) or replaced by `junk`.
    pub fn change(
        map: &mut Map<String, Value>,
        fields: &[&str],
        which: usize,
        how: u8,
        junk: Value,
    ) {
        let name = fields.get(which).copied().unwrap_or("unknown_field");
        if how == 0 {
            map.remove(name);
        } else {
            map.insert(name.to_string(), junk);
        }
    }

    /// serde_json's message without its position (`… at line 1 column 9`), which a reader of
    /// the parsed `Value` cannot know.
    pub fn without_position(message: &str) -> &str {
        message
            .rfind(" at line ")
            .map_or(message, |at| &message[..at])
    }

    /// `hand` reads `text` as serde's derive does: the same value, or an error; with
    /// `same_message`, serde's words for it.
    pub fn assert_reads_as_serde<T>(
        text: &str,
        hand: impl Fn(&str) -> Result<T, String>,
        same_message: bool,
    ) -> Result<(), TestCaseError>
    where
        T: serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        // The one documented difference: a struct written as an array, which the derive reads
        // (or refuses for what is in it), the hand readers refuse as not an object.
        let array_for_struct =
            |read: &str| read.starts_with("invalid type: sequence, expected struct ");
        match (serde_json::from_str::<T>(text), hand(text)) {
            (Ok(derived), Ok(read)) => prop_assert_eq!(derived, read, "{}", text),
            (Err(derived), Err(read)) => {
                let derived = derived.to_string();
                if same_message && !array_for_struct(&read) {
                    prop_assert_eq!(
                        without_position(&derived),
                        without_position(&read),
                        "{}",
                        text
                    );
                }
            }
            (Ok(_), Err(read)) if array_for_struct(&read) => {}
            (derived, read) => {
                prop_assert!(false, "{text}\nderive: {derived:?}\nby hand: {read:?}")
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    #[test]
    fn objects_are_what_json_builds() {
        let name = String::from("ana");
        let missing: Option<&str> = None;
        let built = object! {
            "b": 2u16,
            "a": name.as_str(),
            "c": object! { "x": vec![1u64, 2], "y": missing, "z": Some(0.5) },
            "d": Value::Null,
            "e": true,
        };
        let expected = json!({"b": 2, "a": "ana", "c": {"x": [1, 2], "y": null, "z": 0.5},
            "d": null, "e": true});
        assert_eq!(built, expected);
        assert_eq!(built.to_string(), expected.to_string());
        assert_eq!(object! {}, json!({}));
        assert_eq!(super::text(&built), built.to_string());
        assert_eq!(super::text(&json!("a\"b")), "\"a\\\"b\"");
    }
}
