//! Listings as served by search: static demo data plus attribute writes made at run time.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;

use crate::data::{self, AttrDef, AttrType, Av, ListingDef};
use crate::lang::Lang;

/// Attribute values written through `POST/PUT /api/v2/marketplace/listings/{id}/attributes`,
/// by listing id, then attribute id.
pub type Overrides = HashMap<i64, BTreeMap<i64, Value>>;

/// A listing with its effective attribute values.
#[derive(Debug, Clone)]
pub struct Listing {
    /// The static definition.
    pub def: &'static ListingDef,
    attrs: Vec<(&'static AttrDef, Value)>,
}

impl Listing {
    /// The value of attribute `attr_id`, if the listing has one.
    pub fn value(&self, attr_id: i64) -> Option<&Value> {
        self.attrs
            .iter()
            .find(|(a, _)| a.id == attr_id)
            .map(|(_, v)| v)
    }

    /// Every attribute with its value, in display order.
    pub fn attrs(&self) -> &[(&'static AttrDef, Value)] {
        &self.attrs
    }

    /// The listing's condition (`condition` attribute, default `used`).
    pub fn condition(&self) -> &str {
        self.attrs
            .iter()
            .find(|(a, _)| a.code == "condition")
            .and_then(|(_, v)| v.as_str())
            .unwrap_or("used")
    }

    /// The creation time as an RFC 3339 UTC string.
    pub fn created_at(&self) -> String {
        let id = self.def.id;
        let day = days_from_civil(2025, 3, 1) + (id * 37) % 240;
        rfc3339(day, (id * 7) % 24, (id * 13) % 60)
    }

    /// The last update time as an RFC 3339 UTC string.
    pub fn updated_at(&self) -> String {
        let id = self.def.id;
        let day = days_from_civil(2025, 3, 1) + (id * 37) % 240 + id % 9;
        rfc3339(day, (id * 11) % 24, (id * 17) % 60)
    }

    /// How many times the listing was viewed.
    pub fn views_count(&self) -> i64 {
        40 + (self.def.id * 53) % 1900
    }

    /// The JSON view of the listing in `lang`.
    pub fn view(&self, lang: Lang) -> ListingView {
        let d = self.def;
        ListingView {
            id: d.id,
            user_id: 100 + (d.id * 7) % 40,
            category_id: d.category_id,
            title: d.title,
            description: d.description,
            price: d.price,
            condition: self.condition().to_string(),
            status: "active",
            location: format!("{}, Srbija", d.city),
            city: d.city,
            country: "Srbija",
            views_count: self.views_count(),
            created_at: self.created_at(),
            updated_at: self.updated_at(),
            images: (1..=2)
                .map(|n| ImageView {
                    id: d.id * 10 + n,
                    url: format!("/uploads/listings/{}/{n}.jpg", d.id),
                    thumbnail_url: format!("/uploads/listings/{}/{n}_thumb.jpg", d.id),
                    is_main: n == 1,
                    display_order: n - 1,
                })
                .collect(),
            attributes: self
                .attrs
                .iter()
                .map(|(a, v)| AttributeValueView {
                    attribute_id: a.id,
                    code: a.code,
                    name: a.name.get(lang),
                    attribute_type: a.attr_type.as_str(),
                    display_value: display_value(a, v, lang),
                    value: v.clone(),
                    unit: a.unit,
                })
                .collect(),
            old_price: d.old_price,
            has_discount: d.old_price.is_some_and(|old| old > d.price),
        }
    }
}

/// A listing as returned in search results.
#[derive(Debug, Serialize)]
pub struct ListingView {
    id: i64,
    user_id: i64,
    category_id: i64,
    title: &'static str,
    description: &'static str,
    price: i64,
    condition: String,
    status: &'static str,
    location: String,
    city: &'static str,
    country: &'static str,
    views_count: i64,
    created_at: String,
    updated_at: String,
    images: Vec<ImageView>,
    attributes: Vec<AttributeValueView>,
    old_price: Option<i64>,
    has_discount: bool,
}

/// A listing image.
#[derive(Debug, Serialize)]
pub struct ImageView {
    id: i64,
    url: String,
    thumbnail_url: String,
    is_main: bool,
    display_order: i64,
}

/// One attribute value of a listing.
#[derive(Debug, Serialize)]
pub struct AttributeValueView {
    attribute_id: i64,
    code: &'static str,
    name: &'static str,
    attribute_type: &'static str,
    value: Value,
    display_value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<&'static str>,
}

/// A human-readable rendering of `v` (option labels in `lang`, numbers with their unit).
pub fn display_value(a: &AttrDef, v: &Value, lang: Lang) -> String {
    let label = |s: &str| {
        a.option(s)
            .map(|o| o.label.get(lang).to_string())
            .unwrap_or_else(|| s.to_string())
    };
    match v {
        Value::String(s) => label(s),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(label)
            .collect::<Vec<_>>()
            .join(", "),
        Value::Number(n) => match a.unit {
            Some(unit) => format!("{n} {unit}"),
            None => n.to_string(),
        },
        Value::Bool(b) => b.to_string(),
        Value::Null | Value::Object(_) => String::new(),
    }
}

fn av_to_value(v: &Av) -> Value {
    match v {
        Av::N(n) => Value::from(*n),
        Av::S(s) => Value::from(*s),
        Av::M(all) => Value::from(all.to_vec()),
    }
}

/// Every listing with `overrides` applied, in id order.
pub fn all(overrides: &Overrides) -> Vec<Listing> {
    data::LISTINGS
        .iter()
        .map(|def| {
            let mut attrs: Vec<(&'static AttrDef, Value)> = def
                .attrs
                .iter()
                .filter_map(|(code, v)| data::attribute_by_code(code).map(|a| (a, av_to_value(v))))
                .collect();
            if let Some(written) = overrides.get(&def.id) {
                for (attr_id, value) in written {
                    let Some(a) = data::attribute(*attr_id) else {
                        continue;
                    };
                    match attrs.iter_mut().find(|(x, _)| x.id == *attr_id) {
                        Some(slot) => slot.1 = value.clone(),
                        None => attrs.push((a, value.clone())),
                    }
                }
            }
            Listing { def, attrs }
        })
        .collect()
}

/// Converts a written value to the attribute's canonical JSON form, if it is valid.
pub fn canonical_value(a: &AttrDef, v: &Value) -> Option<Value> {
    let as_str = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match a.attr_type {
        AttrType::Number => match v {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.round() as i64)),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        }
        .map(Value::from),
        AttrType::Select | AttrType::Text => as_str(v).map(Value::from),
        AttrType::Multiselect => match v {
            Value::Array(items) => Some(Value::from(
                items.iter().filter_map(as_str).collect::<Vec<_>>(),
            )),
            other => as_str(other).map(|s| Value::from(vec![s])),
        },
        AttrType::Boolean => match v {
            Value::Bool(b) => Some(Value::Bool(*b)),
            Value::String(s) => s.parse::<bool>().ok().map(Value::Bool),
            _ => None,
        },
    }
}

/// Records the attribute values in a write body for listing `id`; returns how many were applied.
///
/// Accepted bodies: `{"attributes":[{"attribute_id":86,"value":2010}, {"code":"color","value":["red"]}]}`,
/// `{"attributes":{"year":2010}}`, or a bare array of such items. Unknown listings, attributes
/// and invalid values are ignored.
pub fn apply_write(overrides: &mut Overrides, id: i64, body: &Value) -> usize {
    if !data::LISTINGS.iter().any(|l| l.id == id) {
        return 0;
    }
    let items = body.get("attributes").unwrap_or(body);
    let mut pairs: Vec<(&'static AttrDef, &Value)> = Vec::new();
    match items {
        Value::Array(list) => {
            for item in list {
                let def = item
                    .get("attribute_id")
                    .and_then(Value::as_i64)
                    .and_then(data::attribute)
                    .or_else(|| {
                        item.get("code")
                            .and_then(Value::as_str)
                            .and_then(data::attribute_by_code)
                    });
                if let (Some(def), Some(v)) = (def, item.get("value")) {
                    pairs.push((def, v));
                }
            }
        }
        Value::Object(map) => {
            for (code, v) in map {
                if let Some(def) = data::attribute_by_code(code) {
                    pairs.push((def, v));
                }
            }
        }
        _ => {}
    }
    let mut applied = 0;
    for (def, v) in pairs {
        if let Some(value) = canonical_value(def, v) {
            overrides.entry(id).or_default().insert(def.id, value);
            applied += 1;
        }
    }
    applied
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn rfc3339(day: i64, hour: i64, minute: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}T{hour:02}:{minute:02}:00Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(
            civil_from_days(days_from_civil(2025, 12, 31)),
            (2025, 12, 31)
        );
    }

    #[test]
    fn writes_override_values() {
        let mut o = Overrides::new();
        let body = serde_json::json!({"attributes":[
            {"attribute_id": 86, "value": "2015"},
            {"code": "color", "value": "red"},
            {"code": "nope", "value": 1}
        ]});
        assert_eq!(apply_write(&mut o, 5001, &body), 2);
        assert_eq!(apply_write(&mut o, 1, &body), 0, "unknown listing");
        let all = all(&o);
        let l = all.iter().find(|l| l.def.id == 5001).unwrap();
        assert_eq!(l.value(86), Some(&Value::from(2015)));
        assert_eq!(l.value(144), Some(&serde_json::json!(["red"])));
    }

    #[test]
    fn view_has_discount_and_labels() {
        let all = all(&Overrides::new());
        let v = serde_json::to_value(all[0].view(Lang::En)).unwrap();
        assert_eq!(v["has_discount"], true);
        assert_eq!(v["condition"], "used");
        let fuel = v["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["code"] == "fuel_type")
            .unwrap();
        assert_eq!(fuel["display_value"], "Diesel");
    }
}
