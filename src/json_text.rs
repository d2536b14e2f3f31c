//! The two JSON texts the hit path writes and reads on every request, by hand: the request's
//! log line ([`ObjectWriter`]) and the stored entry's meta ([`Reader`]; `cache::meta`). Why not
//! serde: a typed `serde_json::from_str` is the last thing that keeps core's float formatting
//! (serde's error path) and a derived deserializer per type in the edge (~8 KiB of the upload,
//! measured), and `flatten` serialises through a map. Both are pinned against serde_json by
//! property tests (here, in `cache::meta` and in `metrics`).

use std::borrow::Cow;
use std::fmt::Write as _;

/// Appends `s` as a JSON string, escaped exactly as serde_json escapes it (`"`, `\\`, and the
/// control characters; `\b \f \n \r \t` by name, the others as `\u00xx`).
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let named = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if named.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(named);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// A JSON object written field by field into a `String`, compact, in the order the fields are
/// written (as serde's derived `Serialize` writes a struct).
pub struct ObjectWriter<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> ObjectWriter<'a> {
    pub fn new(out: &'a mut String) -> Self {
        out.push('{');
        ObjectWriter { out, first: true }
    }

    fn key(&mut self, key: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        push_str(self.out, key);
        self.out.push(':');
        self.out
    }

    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        let out = self.key(key);
        push_str(out, value);
        self
    }

    /// `null` for `None`.
    pub fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.str(key, v),
            None => self.raw(key, "null"),
        }
    }

    pub fn u64(&mut self, key: &str, value: u64) -> &mut Self {
        let out = self.key(key);
        let _ = write!(out, "{value}");
        self
    }

    /// `null` for `None`.
    pub fn opt_u64(&mut self, key: &str, value: Option<u64>) -> &mut Self {
        match value {
            Some(v) => self.u64(key, v),
            None => self.raw(key, "null"),
        }
    }

    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.raw(key, if value { "true" } else { "false" })
    }

    /// An array of strings.
    pub fn strs<S: AsRef<str>>(&mut self, key: &str, values: &[S]) -> &mut Self {
        let out = self.key(key);
        out.push('[');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_str(out, v.as_ref());
        }
        out.push(']');
        self
    }

    /// An array of two-string arrays (what serde writes for `Vec<(String, String)>`).
    pub fn pairs(&mut self, key: &str, values: &[(String, String)]) -> &mut Self {
        let out = self.key(key);
        out.push('[');
        for (i, (a, b)) in values.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            push_str(out, a);
            out.push(',');
            push_str(out, b);
            out.push(']');
        }
        out.push(']');
        self
    }

    /// A value already written as JSON.
    pub fn raw(&mut self, key: &str, json: &str) -> &mut Self {
        self.key(key).push_str(json);
        self
    }

    pub fn end(self) {
        self.out.push('}');
    }
}

/// Nesting a [`Reader`] skips before it gives up (serde_json's own recursion limit).
const MAX_DEPTH: usize = 128;

/// A reader of one JSON text that accepts and refuses what serde_json's `from_str` does for
/// the shapes it is asked for (integers into unsigned types, booleans, strings, arrays,
/// objects; any other value may be skipped): every `None` is "not valid here". No panics on any
/// input (proptests in `cache::meta` feed it mutated and random texts).
pub struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(text: &'a str) -> Self {
        Reader { text, at: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&mut self) -> Option<u8> {
        while let Some(&b) = self.bytes().get(self.at) {
            if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                self.at += 1;
            } else {
                return Some(b);
            }
        }
        None
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn word(&mut self, w: &str) -> bool {
        self.peek();
        if self.text[self.at..].starts_with(w) {
            self.at += w.len();
            true
        } else {
            false
        }
    }

    /// Only whitespace left.
    pub fn end(mut self) -> Option<()> {
        self.peek().is_none().then_some(())
    }

    /// `null`, consumed if it is next.
    pub fn null(&mut self) -> bool {
        self.word("null")
    }

    pub fn bool(&mut self) -> Option<bool> {
        if self.word("true") {
            Some(true)
        } else if self.word("false") {
            Some(false)
        } else {
            None
        }
    }

    /// A JSON integer that fits in a `u64`, as serde's `u64` reads one: no sign, fraction or
    /// exponent, no leading zeros.
    pub fn u64(&mut self) -> Option<u64> {
        self.peek()?;
        let bytes = self.bytes();
        let start = self.at;
        let digits = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 || (digits > 1 && bytes[start] == b'0') {
            return None;
        }
        let end = start + digits;
        if matches!(bytes.get(end), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let mut value: u64 = 0;
        for &d in &bytes[start..end] {
            value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        }
        self.at = end;
        Some(value)
    }

    /// A string, borrowed from the text when it holds no escapes.
    pub fn string(&mut self) -> Option<Cow<'a, str>> {
        if !self.eat(b'"') {
            return None;
        }
        let text = self.text;
        let bytes = self.bytes();
        let start = self.at;
        let mut owned: Option<String> = None;
        let mut run = start;
        loop {
            let b = *bytes.get(self.at)?;
            match b {
                b'"' => {
                    let tail = &text[run..self.at];
                    self.at += 1;
                    return Some(match owned {
                        None => Cow::Borrowed(tail),
                        Some(mut s) => {
                            s.push_str(tail);
                            Cow::Owned(s)
                        }
                    });
                }
                b'\\' => {
                    let s = owned.get_or_insert_with(String::new);
                    s.push_str(&text[run..self.at]);
                    self.at += 1;
                    let esc = *bytes.get(self.at)?;
                    self.at += 1;
                    match esc {
                        b'"' => s.push('"'),
                        b'\\' => s.push('\\'),
                        b'/' => s.push('/'),
                        b'b' => s.push('\u{8}'),
                        b'f' => s.push('\u{c}'),
                        b'n' => s.push('\n'),
                        b'r' => s.push('\r'),
                        b't' => s.push('\t'),
                        b'u' => {
                            let first = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&first) {
                                if bytes.get(self.at..self.at + 2)? != b"\\u" {
                                    return None;
                                }
                                self.at += 2;
                                let second = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&second) {
                                    return None;
                                }
                                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                            } else {
                                first
                            };
                            s.push(char::from_u32(c)?);
                        }
                        _ => return None,
                    }
                    run = self.at;
                }
                0..=0x1f => return None,
                _ => self.at += 1,
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.at..self.at + 4)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.at += 4;
        u32::from_str_radix(digits, 16).ok()
    }

    /// An array, each element read by `item`.
    pub fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        if !self.eat(b'[') {
            return None;
        }
        if self.eat(b']') {
            return Some(());
        }
        loop {
            item(self)?;
            if self.eat(b']') {
                return Some(());
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    /// An object, each value read by `field` given its key.
    pub fn object(&mut self, mut field: impl FnMut(&str, &mut Self) -> Option<()>) -> Option<()> {
        if !self.eat(b'{') {
            return None;
        }
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            let key = self.string()?;
            if !self.eat(b':') {
                return None;
            }
            field(&key, self)?;
            if self.eat(b'}') {
                return Some(());
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    /// Any value, checked and passed over (an unknown field).
    pub fn skip(&mut self) -> Option<()> {
        self.skip_at(0)
    }

    fn skip_at(&mut self, depth: usize) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'{' => self.object(|_, r| r.skip_at(depth + 1)),
            b'[' => self.array(|r| r.skip_at(depth + 1)),
            b'"' => self.string().map(drop),
            b't' | b'f' => self.bool().map(drop),
            b'n' => self.null().then_some(()),
            _ => self.number(),
        }
    }

    /// Any JSON number (RFC 8259 §6 grammar) that serde_json reads as finite. Without parsing
    /// the float: one whose integer digits plus positive exponent pass 309 (beyond `f64::MAX`,
    /// unless every digit is 0) is refused, which differs from serde only within a factor of 10
    /// of `f64::MAX` (1.8e308: serde refuses 2e308, this reads it).
    fn number(&mut self) -> Option<()> {
        let bytes = self.bytes();
        let digits = |i: usize| {
            bytes[i.min(bytes.len())..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count()
        };
        let mut i = self.at;
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        let int = digits(i);
        if int == 0 || (int > 1 && bytes[i] == b'0') {
            return None;
        }
        let mut nonzero = bytes[i..i + int].iter().any(|&b| b != b'0');
        i += int;
        if bytes.get(i) == Some(&b'.') {
            let frac = digits(i + 1);
            if frac == 0 {
                return None;
            }
            nonzero |= bytes[i + 1..i + 1 + frac].iter().any(|&b| b != b'0');
            i += 1 + frac;
        }
        if matches!(bytes.get(i), Some(b'e' | b'E')) {
            i += 1;
            let positive = match bytes.get(i) {
                Some(b'-') => {
                    i += 1;
                    false
                }
                Some(b'+') => {
                    i += 1;
                    true
                }
                _ => true,
            };
            let exp = digits(i);
            if exp == 0 {
                return None;
            }
            let magnitude = bytes[i..i + exp].iter().fold(0usize, |a, &d| {
                a.saturating_mul(10).saturating_add(usize::from(d - b'0'))
            });
            if positive && nonzero && int.saturating_add(magnitude) > 309 {
                return None;
            }
            i += exp;
        } else if nonzero && int > 309 {
            return None;
        }
        self.at = i;
        Some(())
    }
}

/// Test support: texts a reader must refuse (or read) exactly as serde_json does.
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod testing {
    /// `text` cut at `cut`, and `text` with `byte` inserted at (or before) `cut`.
    pub fn damaged(text: &str, cut: usize, byte: u8) -> Vec<String> {
        let at = cut.min(text.len());
        let mut out = vec![text.get(..at).unwrap_or("").to_string()];
        if let Some(i) = (0..=at).rev().find(|&i| text.is_char_boundary(i)) {
            let mut mangled = text.to_string();
            mangled.insert(i, char::from(byte));
            out.push(mangled);
        }
        out
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::testing::damaged;
    use super::{push_str, ObjectWriter, Reader};

    proptest! {
        #[test]
        fn strings_are_escaped_as_serde_escapes_them(s in any::<String>(), t in "[\\x00-\\x7f]{0,40}") {
            for s in [&s, &t] {
                let mut out = String::new();
                push_str(&mut out, s);
                prop_assert_eq!(&out, &serde_json::to_string(s).unwrap());
                let mut r = Reader::new(&out);
                let read = r.string();
                prop_assert_eq!(read.as_deref(), Some(s.as_str()));
                prop_assert!(r.end().is_some());
            }
        }

        #[test]
        fn integers_read_as_serde_reads_them(text in "[ -]?[0-9]{1,22}(\\.[0-9]|e[0-9])? ?") {
            let mut r = Reader::new(&text);
            let hand = r.u64().and_then(|v| r.end().map(|_| v));
            prop_assert_eq!(hand, serde_json::from_str::<u64>(&text).ok(), "{:?}", text);
        }

        #[test]
        fn any_value_is_skipped_where_serde_reads_one(v in json_value()) {
            for text in [v.to_string(), serde_json::to_string_pretty(&v).unwrap()] {
                let mut r = Reader::new(&text);
                prop_assert!(r.skip().is_some(), "{}", text);
                prop_assert!(r.end().is_some());
            }
        }

        #[test]
        fn a_cut_or_mangled_text_is_refused_as_serde_refuses_it(v in json_value(), cut in 0usize..200, byte in 0u8..128) {
            for text in damaged(&v.to_string(), cut, byte) {
                let mut r = Reader::new(&text);
                let hand = r.skip().and_then(|_| r.end()).is_some();
                prop_assert_eq!(hand, serde_json::from_str::<Value>(&text).is_ok(), "{:?}", text);
            }
        }
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((any::<String>(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn an_object_is_written_in_field_order() {
        let mut out = String::new();
        let mut o = ObjectWriter::new(&mut out);
        o.str("a", "x\"y")
            .opt_str("b", None)
            .u64("c", u64::MAX)
            .opt_u64("d", Some(0))
            .bool("e", true)
            .strs("f", &["1", "2"])
            .pairs("g", &[("k".into(), "v".into())])
            .raw("h", "[]");
        o.end();
        assert_eq!(
            out,
            r#"{"a":"x\"y","b":null,"c":18446744073709551615,"d":0,"e":true,"f":["1","2"],"g":[["k","v"]],"h":[]}"#
        );
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["g"], json!([["k", "v"]]));
    }
}
