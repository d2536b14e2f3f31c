//! Listing search: parameters (query string or JSON body), filtering, sorting, facets.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::data::{self, AttrDef, AttrType};
use crate::lang::Lang;
use crate::listings::{Listing, ListingView};
use crate::query::Query;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page size.
pub const MAX_LIMIT: u32 = 100;

/// The field results are sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    /// Price.
    Price,
    /// Creation time (the default).
    CreatedAt,
    /// View count.
    ViewsCount,
}

/// Parsed search parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchParams {
    /// Free-text query.
    pub q: Option<String>,
    /// 1-based page.
    pub page: u32,
    /// Page size (1..=100).
    pub limit: u32,
    /// Category filter (includes descendants).
    pub category_id: Option<i64>,
    /// Sort field.
    pub sort_by: SortBy,
    /// Descending order (the default).
    pub descending: bool,
    /// Minimum price.
    pub price_min: Option<f64>,
    /// Maximum price.
    pub price_max: Option<f64>,
    /// `attr_<code>=<value>` filters as (code, value).
    pub attrs: Vec<(String, String)>,
}

impl Default for SearchParams {
    fn default() -> Self {
        SearchParams {
            q: None,
            page: 1,
            limit: DEFAULT_LIMIT,
            category_id: None,
            sort_by: SortBy::CreatedAt,
            descending: true,
            price_min: None,
            price_max: None,
            attrs: Vec::new(),
        }
    }
}

/// A parameter that could not be parsed, with its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadParam(pub String);

impl SearchParams {
    /// Parses the query-string form.
    pub fn from_query(query: &Query) -> Result<SearchParams, BadParam> {
        let mut p = SearchParams::default();
        for (key, value) in query.pairs() {
            p.set(key, value)?;
        }
        Ok(p)
    }

    /// Applies the fields of a JSON body on top of `self` (numbers may also be strings).
    pub fn merge_json(mut self, body: &Value) -> Result<SearchParams, BadParam> {
        let Some(map) = body.as_object() else {
            return Err(BadParam("body".into()));
        };
        for (key, value) in map {
            if key == "attributes" || key == "filters" {
                let Some(attrs) = value.as_object() else {
                    return Err(BadParam(key.clone()));
                };
                for (code, v) in attrs {
                    let text = json_text(v).ok_or_else(|| BadParam(format!("attr_{code}")))?;
                    self.attrs.push((code.clone(), text));
                }
                continue;
            }
            if value.is_null() {
                continue;
            }
            let text = json_text(value).ok_or_else(|| BadParam(key.clone()))?;
            self.set(key, &text)?;
        }
        Ok(self)
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), BadParam> {
        let v = value.trim();
        let bad = || BadParam(key.to_string());
        match key {
            "q" | "query" => {
                if self.q.is_none() || key == "q" {
                    self.q = Some(v.to_string()).filter(|s| !s.is_empty());
                }
            }
            "page" => self.page = v.parse::<u32>().map_err(|_| bad())?.max(1),
            "limit" | "size" => {
                self.limit = v.parse::<u32>().map_err(|_| bad())?.clamp(1, MAX_LIMIT);
            }
            "category_id" if v.is_empty() => self.category_id = None,
            "category_id" => self.category_id = Some(v.parse().map_err(|_| bad())?),
            "sort_by" | "sort" => {
                self.sort_by = match v {
                    "price" => SortBy::Price,
                    "views_count" => SortBy::ViewsCount,
                    _ => SortBy::CreatedAt,
                }
            }
            "sort_order" => self.descending = !v.eq_ignore_ascii_case("asc"),
            "price_min" => self.price_min = parse_opt_f64(v).map_err(|_| bad())?,
            "price_max" => self.price_max = parse_opt_f64(v).map_err(|_| bad())?,
            _ => {
                if let Some(code) = key.strip_prefix("attr_") {
                    if !code.is_empty() && !v.is_empty() {
                        self.attrs.push((code.to_string(), v.to_string()));
                    }
                }
            }
        }
        Ok(())
    }
}

fn parse_opt_f64(v: &str) -> Result<Option<f64>, std::num::ParseFloatError> {
    if v.is_empty() {
        Ok(None)
    } else {
        v.parse::<f64>().map(Some)
    }
}

fn json_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => Some(
            items
                .iter()
                .map(json_text)
                .collect::<Option<Vec<_>>>()?
                .join(","),
        ),
        Value::Null | Value::Object(_) => None,
    }
}

/// Lowercases and folds Serbian Latin diacritics (`č`→`c`, `đ`→`dj`, …).
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        match c {
            'č' | 'ć' => out.push('c'),
            'š' => out.push('s'),
            'ž' => out.push('z'),
            'đ' => out.push_str("dj"),
            'ë' => out.push('e'),
            _ => out.push(c),
        }
    }
    out
}

fn tokens(s: &str) -> Vec<String> {
    fold(s)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn haystack(l: &Listing) -> String {
    let d = l.def;
    let mut text = format!("{} {} {}", d.title, d.description, d.city);
    if let Some(c) = data::category(d.category_id) {
        for part in [c.name.sr, c.name.en, c.name.ru] {
            text.push(' ');
            text.push_str(part);
        }
    }
    fold(&text)
}

fn matches_attr(l: &Listing, code: &str, wanted: &str) -> bool {
    let (def, bound) = match data::attribute_by_code(code) {
        Some(def) => (def, None),
        None => {
            let bounded = code
                .strip_suffix("_min")
                .map(|c| (c, true))
                .or_else(|| code.strip_suffix("_max").map(|c| (c, false)));
            match bounded.and_then(|(c, is_min)| data::attribute_by_code(c).map(|d| (d, is_min))) {
                Some((def, is_min)) => (def, Some(is_min)),
                None => return false,
            }
        }
    };
    let Some(value) = l.value(def.id) else {
        return false;
    };
    if let Some(is_min) = bound {
        let (Some(have), Ok(limit)) = (value.as_i64(), wanted.trim().parse::<i64>()) else {
            return false;
        };
        return if is_min { have >= limit } else { have <= limit };
    }
    wanted
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .any(|w| value_matches(def, value, w))
}

fn value_matches(def: &AttrDef, value: &Value, wanted: &str) -> bool {
    match def.attr_type {
        AttrType::Number => {
            let Some(have) = value.as_i64() else {
                return false;
            };
            if let Ok(exact) = wanted.parse::<i64>() {
                return have == exact;
            }
            // "lo-hi", "lo-" or "-hi" (the separator is the first '-' after the first char).
            let Some(pos) = wanted[1..].find('-').map(|p| p + 1) else {
                return false;
            };
            let (lo, hi) = (wanted[..pos].trim(), wanted[pos + 1..].trim());
            let lo_ok = lo.is_empty() || lo.parse::<i64>().is_ok_and(|lo| have >= lo);
            let hi_ok = hi.is_empty() || hi.parse::<i64>().is_ok_and(|hi| have <= hi);
            lo_ok && hi_ok && !(lo.is_empty() && hi.is_empty())
        }
        _ => {
            let option_matches = |have: &str| {
                have.eq_ignore_ascii_case(wanted)
                    || def.option(have).is_some_and(|o| {
                        [o.label.sr, o.label.en, o.label.ru]
                            .iter()
                            .any(|lbl| fold(lbl) == fold(wanted))
                    })
            };
            match value {
                Value::String(s) => option_matches(s),
                Value::Array(items) => items.iter().filter_map(Value::as_str).any(option_matches),
                Value::Bool(b) => b.to_string().eq_ignore_ascii_case(wanted),
                Value::Number(n) => n.to_string() == wanted,
                _ => false,
            }
        }
    }
}

/// The `meta` object of a search response.
#[derive(Debug, Serialize)]
pub struct SearchMeta {
    total: usize,
    page: u32,
    size: u32,
    total_pages: usize,
    has_more: bool,
    facets: Facets,
    suggestions: Vec<String>,
    spelling_suggestion: Option<String>,
    took_ms: u64,
}

/// Facet counts over all matching listings.
#[derive(Debug, Serialize)]
pub struct Facets {
    categories: Vec<CategoryFacet>,
    condition: Vec<ValueFacet>,
    city: Vec<ValueFacet>,
}

/// A category facet bucket.
#[derive(Debug, Serialize)]
pub struct CategoryFacet {
    id: i64,
    name: &'static str,
    count: usize,
}

/// A value facet bucket.
#[derive(Debug, Serialize)]
pub struct ValueFacet {
    value: String,
    label: String,
    count: usize,
}

/// A full search response: `{"data":[…],"meta":{…}}`.
#[derive(Debug, Serialize)]
pub struct SearchResponse {
    data: Vec<ListingView>,
    meta: SearchMeta,
}

/// Runs a search over `listings`.
pub fn search(listings: &[Listing], p: &SearchParams, lang: Lang) -> SearchResponse {
    let category_ids = p.category_id.map(data::subtree_ids);
    let q_tokens = p.q.as_deref().map(tokens).unwrap_or_default();
    let mut hits: Vec<&Listing> = listings
        .iter()
        .filter(|l| {
            category_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&l.def.category_id))
        })
        .filter(|l| p.price_min.is_none_or(|m| l.def.price as f64 >= m))
        .filter(|l| p.price_max.is_none_or(|m| l.def.price as f64 <= m))
        .filter(|l| p.attrs.iter().all(|(code, v)| matches_attr(l, code, v)))
        .filter(|l| {
            let hay = haystack(l);
            q_tokens.iter().all(|t| hay.contains(t.as_str()))
        })
        .collect();

    hits.sort_by(|a, b| {
        let ord = match p.sort_by {
            SortBy::Price => a.def.price.cmp(&b.def.price),
            SortBy::CreatedAt => a.created_at().cmp(&b.created_at()),
            SortBy::ViewsCount => a.views_count().cmp(&b.views_count()),
        }
        .then(a.def.id.cmp(&b.def.id));
        if p.descending {
            ord.reverse()
        } else {
            ord
        }
    });

    let total = hits.len();
    let limit = p.limit as usize;
    let total_pages = total.div_ceil(limit);
    let start = (p.page as usize - 1).saturating_mul(limit);
    let data = hits
        .iter()
        .skip(start)
        .take(limit)
        .map(|l| l.view(lang))
        .collect();
    let facets = facets(&hits, lang);
    let suggestions = suggestions(&hits, &q_tokens, lang);
    let spelling_suggestion = (total == 0 && !q_tokens.is_empty())
        .then(|| spelling(&q_tokens, listings))
        .flatten();
    SearchResponse {
        data,
        meta: SearchMeta {
            total,
            page: p.page,
            size: p.limit,
            total_pages,
            has_more: (p.page as usize) < total_pages,
            facets,
            suggestions,
            spelling_suggestion,
            // Deterministic stand-in for the engine's timing, so identical queries give
            // identical bodies (and ETags).
            took_ms: 2 + (total as u64 % 7),
        },
    }
}

fn facets(hits: &[&Listing], lang: Lang) -> Facets {
    let mut cats: BTreeMap<i64, usize> = BTreeMap::new();
    let mut conds: BTreeMap<String, usize> = BTreeMap::new();
    let mut cities: BTreeMap<String, usize> = BTreeMap::new();
    for l in hits {
        *cats.entry(l.def.category_id).or_default() += 1;
        *conds.entry(l.condition().to_string()).or_default() += 1;
        *cities.entry(l.def.city.to_string()).or_default() += 1;
    }
    let mut categories: Vec<CategoryFacet> = cats
        .into_iter()
        .filter_map(|(id, count)| {
            data::category(id).map(|c| CategoryFacet {
                id,
                name: c.name.get(lang),
                count,
            })
        })
        .collect();
    categories.sort_by(|a, b| b.count.cmp(&a.count).then(a.id.cmp(&b.id)));
    let condition_def = data::attribute_by_code("condition");
    let bucket = |m: BTreeMap<String, usize>, labelled: bool| {
        let mut v: Vec<ValueFacet> = m
            .into_iter()
            .map(|(value, count)| {
                let label = condition_def
                    .filter(|_| labelled)
                    .and_then(|d| d.option(&value))
                    .map(|o| o.label.get(lang).to_string())
                    .unwrap_or_else(|| value.clone());
                ValueFacet {
                    value,
                    label,
                    count,
                }
            })
            .collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
        v
    };
    Facets {
        categories,
        condition: bucket(conds, true),
        city: bucket(cities, false),
    }
}

fn suggestions(hits: &[&Listing], q_tokens: &[String], lang: Lang) -> Vec<String> {
    if q_tokens.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for c in data::CATEGORIES {
        let name = fold(c.name.get(lang));
        if q_tokens.iter().any(|t| name.contains(t.as_str())) {
            out.push(c.name.get(lang).to_string());
        }
    }
    for l in hits {
        if out.len() >= 5 {
            break;
        }
        if !out.iter().any(|s| s == l.def.title) {
            out.push(l.def.title.to_string());
        }
    }
    out.truncate(5);
    out
}

/// Suggests a corrected query when nothing matched: each token replaced by the closest known
/// word within edit distance 2.
fn spelling(q_tokens: &[String], listings: &[Listing]) -> Option<String> {
    let mut vocab: Vec<String> = listings
        .iter()
        .flat_map(|l| tokens(&format!("{} {}", l.def.title, l.def.city)))
        .chain(
            data::CATEGORIES
                .iter()
                .flat_map(|c| tokens(&format!("{} {}", c.name.sr, c.name.en))),
        )
        .filter(|w| w.chars().count() >= 3)
        .collect();
    vocab.sort();
    vocab.dedup();
    let mut changed = false;
    let corrected: Vec<String> = q_tokens
        .iter()
        .map(|t| {
            if vocab.contains(t) {
                return t.clone();
            }
            let best = vocab
                .iter()
                .map(|w| (levenshtein(t, w), w))
                .filter(|(d, _)| *d <= 2)
                .min();
            match best {
                Some((_, w)) => {
                    changed = true;
                    w.clone()
                }
                None => t.clone(),
            }
        })
        .collect();
    changed.then(|| corrected.join(" "))
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listings::{all, Overrides};

    fn run(raw: &str) -> serde_json::Value {
        let p = SearchParams::from_query(&Query::parse(raw)).unwrap();
        serde_json::to_value(search(&all(&Overrides::new()), &p, Lang::Sr)).unwrap()
    }

    #[test]
    fn defaults_and_paging() {
        let r = run("");
        assert_eq!(r["meta"]["total"], data::LISTINGS.len());
        assert_eq!(r["data"].as_array().unwrap().len(), 20);
        assert_eq!(r["meta"]["has_more"], true);
        let last = run("page=4&limit=20");
        assert_eq!(
            last["data"].as_array().unwrap().len(),
            data::LISTINGS.len() - 60
        );
        assert_eq!(last["meta"]["has_more"], false);
        assert_eq!(run("limit=1000")["meta"]["size"], 100);
    }

    #[test]
    fn text_category_price_and_attr_filters() {
        assert!(run("q=zastava")["meta"]["total"].as_u64().unwrap() >= 6);
        assert_eq!(run("query=cacak")["meta"]["total"], 3);
        assert_eq!(run("category_id=10100")["meta"]["total"], 16);
        let cheap = run("category_id=1301&price_max=800000&sort_by=price&sort_order=asc");
        let prices: Vec<i64> = cheap["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["price"].as_i64().unwrap())
            .collect();
        assert_eq!(prices, vec![380_000, 590_000, 760_000]);
        assert_eq!(run("attr_fuel_type=lpg")["meta"]["total"], 2);
        assert_eq!(
            run("attr_year=1980-1990&category_id=10102")["meta"]["total"],
            3
        );
        assert_eq!(
            run("attr_year_min=2019&category_id=1301")["meta"]["total"],
            4
        );
        assert_eq!(run("attr_color=Crvena")["meta"]["total"], 5);
        assert_eq!(run("attr_nonexistent=1")["meta"]["total"], 0);
    }

    #[test]
    fn bad_numbers_are_rejected() {
        assert!(SearchParams::from_query(&Query::parse("page=x")).is_err());
        assert!(SearchParams::from_query(&Query::parse("category_id=abc")).is_err());
        assert!(SearchParams::from_query(&Query::parse("price_min=cheap")).is_err());
    }

    #[test]
    fn json_body_merges() {
        let body = serde_json::json!({"query": "golf", "limit": "5", "category_id": 1301,
            "attributes": {"fuel_type": "diesel"}});
        let p = SearchParams::default().merge_json(&body).unwrap();
        assert_eq!(p.q.as_deref(), Some("golf"));
        assert_eq!(p.limit, 5);
        assert_eq!(p.category_id, Some(1301));
        assert_eq!(
            p.attrs,
            vec![("fuel_type".to_string(), "diesel".to_string())]
        );
    }

    #[test]
    fn spelling_suggestion_when_nothing_matches() {
        let r = run("q=zastvaa");
        assert_eq!(r["meta"]["total"], 0);
        assert_eq!(r["meta"]["spelling_suggestion"], "zastava");
        assert!(run("q=golf")["meta"]["spelling_suggestion"].is_null());
    }
}
