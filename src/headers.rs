//! Header lists as the core sees them: `(name, value)` pairs with lowercase names, in order, as
//! the runtime's `Headers` iterator yields them.

/// A header list.
pub type HeaderList = [(String, String)];

/// The first value of `name` (lowercase).
pub fn get<'a>(headers: &'a HeaderList, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Every value of `name`, each split on commas and trimmed (for list-valued fields such as
/// `Cache-Control` and `Vary`).
pub fn comma_values<'a>(headers: &'a HeaderList, name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .iter()
        .filter(move |(n, _)| n == name)
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// True when `name` is present.
pub fn has(headers: &HeaderList, name: &str) -> bool {
    headers.iter().any(|(n, _)| n == name)
}

/// Sets `name` to `value`, replacing every earlier value.
pub fn set(headers: &mut Vec<(String, String)>, name: &str, value: impl Into<String>) {
    headers.retain(|(n, _)| n != name);
    headers.push((name.to_string(), value.into()));
}

/// Removes every value of `name`.
pub fn remove(headers: &mut Vec<(String, String)>, name: &str) {
    headers.retain(|(n, _)| n != name);
}

/// An owned header list from borrowed pairs (names must already be lowercase).
pub fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}
