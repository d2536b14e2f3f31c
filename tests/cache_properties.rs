//! Generative tests (proptest) for every parser of untrusted input the cache has, and for the
//! memory tier against a naive model. Each property would fail on a real bug: a date that does
//! not round-trip, a prohibition hidden by garbage, two spellings of one request keyed apart (or
//! two requests keyed together), an LRU that evicts the wrong entry.

use std::collections::HashMap;

use catalog_edge::cache::cache_control::{CacheControl, DELTA_SECONDS_CAP};
use catalog_edge::cache::entry::{parse_vary_index, vary_index, vary_index_headers, VaryIndex};
use catalog_edge::cache::http_date;
use catalog_edge::cache::key::{self, normalize_accept_language, KeyScope, TrackingParams};
use catalog_edge::cache::memory::{MemoryCache, Slot, ENTRY_OVERHEAD_BYTES};
use catalog_edge::cache::meta::{EntryMeta, META_VERSION};
use catalog_edge::cache::rules::RuleSet;
use catalog_edge::cookie;
use catalog_edge::headers::owned as h;
use catalog_edge::path;
use catalog_edge::time::UnixMillis;
use catalog_edge::trace::TraceParent;
use catalog_edge::web_url::Url;
use proptest::prelude::*;

/// The last second of year 9999, the latest HTTP-date this cache reads.
const MAX_DATE_SECS: u64 = 253_402_300_799;

/// RFC 850's form of an instant between 1970 and 2069 (two-digit years).
fn rfc850(secs: u64) -> String {
    let imf = http_date::format(secs); // "Sun, 06 Nov 1994 08:49:37 GMT"
    let (day, month, year, time) = (&imf[5..7], &imf[8..11], &imf[14..16], &imf[17..25]);
    let weekday = http_date::LONG_DAYS[((secs / 86_400) % 7) as usize];
    format!("{weekday}, {day}-{month}-{year} {time} GMT")
}

/// asctime's form of an instant.
fn asctime(secs: u64) -> String {
    let imf = http_date::format(secs);
    let day: u32 = imf[5..7].parse().unwrap();
    format!(
        "{} {} {:>2} {} {}",
        &imf[0..3],
        &imf[8..11],
        day,
        &imf[17..25],
        &imf[12..16]
    )
}

proptest! {
    #[test]
    fn http_dates_round_trip_in_every_form_and_case(secs in 0..=MAX_DATE_SECS) {
        let imf = http_date::format(secs);
        prop_assert_eq!(http_date::parse(&imf), Some(secs));
        prop_assert_eq!(http_date::parse(&imf.to_ascii_lowercase()), Some(secs));
        prop_assert_eq!(http_date::parse(&imf.to_ascii_uppercase()), Some(secs));
        prop_assert_eq!(http_date::parse(&asctime(secs)), Some(secs));
        if secs < 3_155_760_000 {
            // 1970–2069: what a two-digit year can say.
            prop_assert_eq!(http_date::parse(&rfc850(secs)), Some(secs));
        }
    }

    #[test]
    fn an_http_date_with_one_character_changed_is_refused_or_a_real_date(
        secs in 0..=MAX_DATE_SECS,
        at in 0usize..29,
        c in proptest::char::range(' ', '~'),
    ) {
        let mut s: Vec<char> = http_date::format(secs).chars().collect();
        s[at] = c;
        let s: String = s.into_iter().collect();
        if let Some(t) = http_date::parse(&s) {
            // Accepted only when it still spells a real date, the same way a formatter would.
            prop_assert!(http_date::format(t).eq_ignore_ascii_case(&s), "{s:?} read as {t}");
        }
    }

    #[test]
    fn any_text_parses_to_a_date_that_formats_back_or_to_nothing(s in "\\PC{0,40}") {
        if let Some(t) = http_date::parse(&s) {
            prop_assert_eq!(http_date::parse(&http_date::format(t)), Some(t));
        }
    }

    #[test]
    fn cache_control_never_hides_a_prohibition_behind_garbage(
        before in "[a-z0-9=, ;\\\\-]{0,20}",
        after in "[a-z0-9=, ;\\\\\"-]{0,20}",
        prohibition in prop::sample::select(vec!["no-store", "private", "NO-STORE", "Private"]),
    ) {
        let value = format!("{before}, {prohibition} ,{after}");
        let cc = CacheControl::from_headers(&h(&[("cache-control", &value)]));
        prop_assert!(cc.has(&prohibition.to_ascii_lowercase()), "{value:?}");
    }

    #[test]
    fn cache_control_delta_seconds_are_read_exactly_and_capped(n in any::<u64>(), big in "[0-9]{20,30}") {
        let cc = CacheControl::from_headers(&h(&[("cache-control", &format!("max-age={n}, s-maxage={big}"))]));
        prop_assert_eq!(cc.seconds("max-age"), Some(Some(n.min(DELTA_SECONDS_CAP))));
        prop_assert_eq!(cc.seconds("s-maxage"), Some(Some(DELTA_SECONDS_CAP)));
    }

    #[test]
    fn cache_control_never_panics_and_never_exceeds_the_cap(value in "\\PC{0,60}") {
        let cc = CacheControl::from_headers(&h(&[("cache-control", &value)]));
        for name in ["max-age", "s-maxage", "stale-if-error", "stale-while-revalidate"] {
            if let Some(Some(n)) = cc.seconds(name) {
                prop_assert!(n <= DELTA_SECONDS_CAP);
            }
        }
    }

    #[test]
    fn accept_language_normalisation_is_idempotent_and_ignores_member_order_and_spelling(
        members in prop::collection::btree_map("[a-z]{2}(-[a-z]{2})?", prop::option::of(0u16..=1000), 1..6),
        seed in any::<u64>(),
    ) {
        let spelled: Vec<String> = members
            .iter()
            .map(|(tag, q)| match q {
                None => tag.clone(),
                Some(q) => format!("{tag};q={}.{:03}", q / 1000, q % 1000),
            })
            .collect();
        let mut shuffled = spelled.clone();
        // A deterministic shuffle from the seed.
        let len = shuffled.len();
        for i in (1..len).rev() {
            let j = (seed.wrapping_mul(i as u64 + 7) % (i as u64 + 1)) as usize;
            shuffled.swap(i, j);
        }
        let a = normalize_accept_language(&spelled.join(","));
        let b = normalize_accept_language(&shuffled.join(" ,  ").to_ascii_uppercase());
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(normalize_accept_language(&a), a.clone());
    }

    #[test]
    fn accept_language_normalisation_keeps_every_tag_and_weight(
        members in prop::collection::btree_map("[a-z]{2}", 0u16..=1000, 1..6),
    ) {
        let value: Vec<String> = members.iter().map(|(t, q)| format!("{t};q=0.{q:03}")).collect();
        let value = value.join(",").replace("q=0.1000", "q=1");
        let n = normalize_accept_language(&value);
        for tag in members.keys() {
            prop_assert!(n.split(',').any(|m| m.split(';').next() == Some(tag.as_str())), "{tag} lost in {n}");
        }
    }

    #[test]
    fn cookies_survive_repeated_fields_and_the_runtimes_comma_join(
        pairs in prop::collection::vec(("[a-z_]{1,8}", "[A-Za-z0-9_.-]{0,8}"), 1..6),
        split in 0usize..6,
    ) {
        let spelled: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let split = split.min(spelled.len());
        let (a, b) = spelled.split_at(split);
        let two_fields = h(&[("cookie", &a.join("; ")), ("cookie", &b.join("; "))]);
        let runtime_joined = h(&[("cookie", &format!("{}, {}", a.join("; "), b.join("; ")))]);
        for headers in [&two_fields, &runtime_joined] {
            for (name, _) in &pairs {
                let first = &pairs.iter().find(|(k, _)| k == name).unwrap().1;
                prop_assert_eq!(cookie::get(headers, name), Some(first.as_str()));
            }
            let joined = cookie::joined(headers).unwrap();
            prop_assert_eq!(joined, spelled.join("; "));
        }
    }

    #[test]
    fn a_cookie_is_read_as_the_first_pair_of_its_name(
        fields in prop::collection::vec("[a-z_= ;,\"\t]{0,24}", 0..3),
        name in "(a|b|_|a b| a|)",
    ) {
        // `get` and `get_each` trim only the values they find, in one scan; they must agree
        // with the first of `pairs` for each name.
        let headers: Vec<(String, String)> = fields
            .iter()
            .map(|f| ("cookie".to_string(), f.clone()))
            .chain([("x-other".to_string(), "a=1".to_string())])
            .collect();
        let plain = |name: &str| cookie::pairs(&headers).find(|(k, _)| *k == name).map(|(_, v)| v);
        prop_assert_eq!(cookie::get(&headers, &name), plain(&name));
        let names = [name.as_str(), "a", "", "b"];
        prop_assert_eq!(cookie::get_each(&headers, names), names.map(plain));
    }

    #[test]
    fn traceparent_round_trips_and_garbage_is_refused_without_panicking(
        trace in any::<[u8; 16]>(),
        parent in any::<[u8; 8]>(),
        flags in any::<u8>(),
        garbage in "\\PC{0,80}",
    ) {
        prop_assume!(trace != [0; 16] && parent != [0; 8]);
        let t = TraceParent { trace_id: trace, parent_id: parent, flags };
        prop_assert_eq!(TraceParent::parse(&t.to_header()), Some(t));
        // Trace Context §3.2.2: ids are lowercase hex; an uppercase spelling is not valid.
        let upper = t.to_header().to_ascii_uppercase();
        let expected = (upper == t.to_header()).then_some(t);
        prop_assert_eq!(TraceParent::parse(&upper), expected);
        if let Some(p) = TraceParent::parse(&garbage) {
            prop_assert_eq!(TraceParent::parse(&p.to_header()), Some(p));
        }
    }

    #[test]
    fn query_normalisation_is_order_invariant_idempotent_and_agrees_with_purges(
        params in prop::collection::btree_map("[a-z]{1,6}", "[a-zA-Z0-9 ~%&=+]{0,6}", 0..6),
        seed in any::<u64>(),
        path in prop::sample::select(vec!["/api/v1/marketplace/categories", "/echo/x", "/api/v2/marketplace/categories/7/attribute-ranges"]),
    ) {
        let encode = |pairs: &[(&String, &String)]| {
            let mut ser = form_urlencoded::Serializer::new(String::new());
            for (k, v) in pairs {
                ser.append_pair(k, v);
            }
            ser.finish()
        };
        let pairs: Vec<(&String, &String)> = params.iter().collect();
        let mut shuffled = pairs.clone();
        for i in (1..shuffled.len()).rev() {
            let j = (seed.wrapping_mul(i as u64 + 3) % (i as u64 + 1)) as usize;
            shuffled.swap(i, j);
        }
        let rules = RuleSet::marketplace_defaults();
        let tracking = TrackingParams::default();
        let build = |query: &str| {
            let url = Url::parse(&format!("https://edge.rs{path}?{query}")).unwrap();
            key::build(&url, &[], rules.rule_for(path), KeyScope { release: "https://api.example.rs/", generation: 0, tracking: &tracking })
        };
        let a = build(&encode(&pairs));
        let b = build(&encode(&shuffled));
        prop_assert_eq!(&a, &b);
        let again = build(a.purge_path.split_once('?').map_or("", |(_, q)| q));
        prop_assert_eq!(&again.primary, &a.primary, "normalising twice changes nothing");
        let vary_language = |p: &str| rules.rule_for(p).vary_language;
        let purge = key::purge_path(&format!("{path}?{}", encode(&shuffled)), vary_language, &tracking);
        prop_assert_eq!(purge.as_deref(), Some(a.purge_path.as_str()));
    }

    #[test]
    fn vary_indexes_round_trip(
        epoch in any::<u64>(),
        names in prop::collection::vec("[a-z][a-z0-9-]{0,12}|@lang", 1..5),
    ) {
        let index = VaryIndex { epoch, names };
        let stored = vary_index_headers(&index, 60);
        prop_assert_eq!(vary_index(&stored), Some(index.clone()));
        let value = &stored.iter().find(|(n, _)| n == "x-edge-vary-index").unwrap().1;
        prop_assert_eq!(parse_vary_index(value), index);
    }

    #[test]
    fn vary_index_garbage_never_panics(value in "\\PC{0,60}") {
        let index = parse_vary_index(&value);
        prop_assert!(index.names.iter().all(|n| !n.is_empty() && !n.contains(',')));
    }

    #[test]
    fn stored_meta_round_trips_and_refuses_other_versions(
        stored_at_ms in any::<u64>(), fresh in any::<u64>(), age in any::<u64>(),
        swr in any::<u64>(), sie in any::<u64>(), flags in any::<(bool, bool)>(),
        status in 200u16..600, body in prop::option::of(any::<u64>()),
        rule in "\\PC{0,12}", purge_path in "\\PC{0,30}",
        vary in prop::collection::vec("[a-z-]{1,10}", 0..3),
        withheld in prop::collection::vec(("[a-z-]{1,10}", "\\PC{0,20}"), 0..3),
        tags in prop::collection::vec("[!-+--~]{1,20}", 0..4),
        other_version in any::<u32>(),
    ) {
        let meta = EntryMeta {
            v: META_VERSION, stored_at_ms, fresh_secs: fresh, initial_age_secs: age,
            swr_secs: swr, sie_secs: sie, must_revalidate: flags.0, auth_ok: flags.1,
            status, body_bytes: body, rule, purge_path, tags, vary, withheld,
        };
        prop_assert_eq!(EntryMeta::from_header(&meta.to_header()), Some(meta.clone()));
        prop_assume!(other_version != META_VERSION);
        let other = EntryMeta { v: other_version, ..meta };
        prop_assert_eq!(EntryMeta::from_header(&other.to_header()), None);
    }

    #[test]
    fn stored_meta_garbage_is_a_miss_never_a_panic(value in "\\PC{0,80}") {
        if let Some(m) = EntryMeta::from_header(&value) {
            prop_assert_eq!(m.v, META_VERSION);
        }
    }

    #[test]
    fn path_normalisation_is_idempotent_and_never_leaves_an_empty_or_dot_segment(p in "[/a-zA-Z%._;\\\\2-5fF]{0,30}") {
        let n = path::normalize(&p);
        prop_assert_eq!(path::normalize(&n), n.clone());
        prop_assert!(n.starts_with('/'));
        prop_assert!(n == "/" || !n.ends_with('/'));
        prop_assert!(n.split('/').skip(1).all(|s| n == "/" || (!s.is_empty() && s != "." && s != "..")), "{n}");
    }
}

// ---- the memory tier against a naive model ------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Insert { key: u8, bytes: usize },
    Get { key: u8 },
    Remove { key: u8 },
    Wait { ms: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..8, 0usize..900).prop_map(|(key, bytes)| Op::Insert { key, bytes }),
        4 => (0u8..8).prop_map(|key| Op::Get { key }),
        1 => (0u8..8).prop_map(|key| Op::Remove { key }),
        1 => (0u64..3_000).prop_map(|ms| Op::Wait { ms }),
    ]
}

/// The obvious implementation: a list of entries in recency order, scanned every time.
#[derive(Default)]
struct Model {
    /// (key, counted bytes, inserted at), least recently used first.
    entries: Vec<(String, usize, u64)>,
}

impl Model {
    fn used(&self) -> usize {
        self.entries.iter().map(|e| e.1).sum()
    }
}

const CAPACITY: usize = 8 * 1024;
const MAX_AGE_MS: u64 = 5_000;

proptest! {
    #[test]
    fn the_memory_tier_behaves_like_a_naive_lru_with_a_maximum_age(ops in prop::collection::vec(op(), 1..80)) {
        let mut tier: MemoryCache<u8> = MemoryCache::new(CAPACITY, MAX_AGE_MS);
        let mut model = Model::default();
        let mut now = 1_700_000_000_000u64;
        let mut values: HashMap<String, u8> = HashMap::new();
        for op in ops {
            match op {
                Op::Insert { key, bytes } => {
                    let k = format!("k{key}");
                    let counted = bytes + k.len() + ENTRY_OVERHEAD_BYTES;
                    let held = tier.insert(k.clone(), Slot::Entry(key), bytes, UnixMillis(now));
                    model.entries.retain(|e| e.0 != k);
                    let fits = counted <= CAPACITY / 8;
                    prop_assert_eq!(held, fits);
                    if fits {
                        while model.used() + counted > CAPACITY {
                            model.entries.remove(0);
                        }
                        model.entries.push((k.clone(), counted, now));
                        values.insert(k, key);
                    }
                }
                Op::Get { key } => {
                    let k = format!("k{key}");
                    let got = tier.get(&k, UnixMillis(now)).cloned();
                    let pos = model.entries.iter().position(|e| e.0 == k);
                    let expected = match pos {
                        Some(i) if now - model.entries[i].2 >= MAX_AGE_MS => {
                            model.entries.remove(i);
                            None
                        }
                        Some(i) => {
                            let e = model.entries.remove(i);
                            model.entries.push(e);
                            Some(Slot::Entry(values[&k]))
                        }
                        None => None,
                    };
                    prop_assert_eq!(got, expected);
                }
                Op::Remove { key } => {
                    let k = format!("k{key}");
                    let had = model.entries.iter().any(|e| e.0 == k);
                    model.entries.retain(|e| e.0 != k);
                    prop_assert_eq!(tier.remove(&k), had);
                }
                Op::Wait { ms } => now += ms,
            }
            let stats = tier.stats();
            prop_assert_eq!(stats.entries, model.entries.len());
            prop_assert_eq!(stats.used_bytes, model.used());
            prop_assert!(stats.used_bytes <= CAPACITY);
        }
    }
}
