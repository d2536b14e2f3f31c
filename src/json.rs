//! JSON objects built from values that are already JSON-able without serde (`object!`), and a
//! value's text (`text`).

use serde_json::Value;

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
