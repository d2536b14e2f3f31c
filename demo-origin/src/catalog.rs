//! JSON views of categories and attributes, in the shapes the real backend returns.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::data::{self, AttrDef, AttrType, CategoryDef, Tr};
use crate::lang::Lang;
use crate::listings::Listing;

/// A category as returned by the flat list and popular-categories routes.
#[derive(Debug, Serialize)]
pub struct CategoryView {
    id: i64,
    name: &'static str,
    slug: &'static str,
    parent_id: Option<i64>,
    icon: &'static str,
    description: &'static str,
    is_active: bool,
    created_at: &'static str,
    translations: Tr,
    listing_count: usize,
    sort_order: i32,
    level: i32,
    count: usize,
}

impl CategoryView {
    /// Builds the view of `c` in `lang`.
    pub fn new(c: &CategoryDef, lang: Lang) -> Self {
        let count = data::listing_count(c.id);
        CategoryView {
            id: c.id,
            name: c.name.get(lang),
            slug: c.slug,
            parent_id: c.parent_id,
            icon: c.icon,
            description: c.description.get(lang),
            is_active: true,
            created_at: data::CATALOG_CREATED_AT,
            translations: c.name,
            listing_count: count,
            sort_order: c.sort_order,
            level: data::level(c.id),
            count,
        }
    }
}

/// The flat category list, parents first, siblings by `sort_order`.
pub fn categories(lang: Lang) -> Vec<CategoryView> {
    let mut all: Vec<&CategoryDef> = data::CATEGORIES.iter().collect();
    all.sort_by_key(|c| (data::level(c.id), c.parent_id, c.sort_order, c.id));
    all.into_iter()
        .map(|c| CategoryView::new(c, lang))
        .collect()
}

/// Popular categories: the origin team's popular set first, then the rest by listing count.
pub fn popular_categories(lang: Lang, limit: usize) -> Vec<CategoryView> {
    let mut rest: Vec<&CategoryDef> = data::CATEGORIES
        .iter()
        .filter(|c| !data::POPULAR_CATEGORY_IDS.contains(&c.id))
        .collect();
    rest.sort_by_key(|c| (std::cmp::Reverse(data::listing_count(c.id)), c.id));
    data::POPULAR_CATEGORY_IDS
        .iter()
        .filter_map(|id| data::category(*id))
        .chain(rest)
        .take(limit)
        .map(|c| CategoryView::new(c, lang))
        .collect()
}

/// A node of the category tree.
#[derive(Debug, Serialize)]
pub struct TreeNode {
    id: i64,
    name: &'static str,
    slug: &'static str,
    icon: &'static str,
    parent_id: Option<i64>,
    created_at: &'static str,
    level: i32,
    path: String,
    listing_count: usize,
    children: Vec<TreeNode>,
    children_count: usize,
    translations: Tr,
}

/// The nested category tree (roots in `sort_order`).
pub fn category_tree(lang: Lang) -> Vec<TreeNode> {
    children_of(None, lang)
}

fn children_of(parent: Option<i64>, lang: Lang) -> Vec<TreeNode> {
    let mut kids: Vec<&CategoryDef> = data::CATEGORIES
        .iter()
        .filter(|c| c.parent_id == parent)
        .collect();
    kids.sort_by_key(|c| (c.sort_order, c.id));
    kids.into_iter()
        .map(|c| {
            let children = children_of(Some(c.id), lang);
            TreeNode {
                id: c.id,
                name: c.name.get(lang),
                slug: c.slug,
                icon: c.icon,
                parent_id: c.parent_id,
                created_at: data::CATALOG_CREATED_AT,
                level: data::level(c.id),
                path: data::slug_path(c.id),
                listing_count: data::listing_count(c.id),
                children_count: children.len(),
                children,
                translations: c.name,
            }
        })
        .collect()
}

/// One option of a select attribute, labelled in the chosen language.
#[derive(Debug, Serialize)]
pub struct OptionView {
    value: &'static str,
    label: &'static str,
}

/// Validation rules of an attribute.
#[derive(Debug, Serialize)]
pub struct ValidationRules {
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_values: Option<Vec<&'static str>>,
    required: bool,
}

/// How the frontend renders an attribute.
#[derive(Debug, Serialize)]
pub struct UiSettings {
    input_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    step: Option<i64>,
    show_in_card: bool,
    show_in_list: bool,
}

/// A unified (v2) attribute.
#[derive(Debug, Serialize)]
pub struct UnifiedAttributeView {
    id: i64,
    code: &'static str,
    name: &'static str,
    display_name: &'static str,
    attribute_type: &'static str,
    purpose: &'static str,
    options: Vec<OptionView>,
    validation_rules: ValidationRules,
    ui_settings: UiSettings,
    is_searchable: bool,
    is_filterable: bool,
    is_required: bool,
    is_variant_compatible: bool,
    affects_stock: bool,
    affects_price: bool,
    sort_order: i32,
    is_active: bool,
    created_at: &'static str,
    updated_at: &'static str,
    translations: Tr,
    option_translations: BTreeMap<&'static str, Tr>,
}

fn options(a: &AttrDef, lang: Lang) -> Vec<OptionView> {
    a.options
        .iter()
        .map(|o| OptionView {
            value: o.value,
            label: o.label.get(lang),
        })
        .collect()
}

fn validation_rules(a: &AttrDef, required: bool) -> ValidationRules {
    let has_options = matches!(a.attr_type, AttrType::Select | AttrType::Multiselect);
    ValidationRules {
        min: a.min,
        max: a.max,
        allowed_values: has_options.then(|| a.options.iter().map(|o| o.value).collect()),
        required,
    }
}

fn option_translations(a: &AttrDef) -> BTreeMap<&'static str, Tr> {
    a.options.iter().map(|o| (o.value, o.label)).collect()
}

impl UnifiedAttributeView {
    /// The view of `a` in `lang`; `link` overrides `is_required` and `sort_order`.
    pub fn new(a: &AttrDef, lang: Lang, link: Option<(bool, i32)>) -> Self {
        let (required, sort_order) = link.unwrap_or((a.required, a.sort_order));
        let name = a.name.get(lang);
        UnifiedAttributeView {
            id: a.id,
            code: a.code,
            name,
            display_name: name,
            attribute_type: a.attr_type.as_str(),
            purpose: a.purpose.as_str(),
            options: options(a, lang),
            validation_rules: validation_rules(a, required),
            ui_settings: UiSettings {
                input_type: a.attr_type.as_str(),
                unit: a.unit,
                step: (a.attr_type == AttrType::Number).then_some(1),
                show_in_card: a.filterable,
                show_in_list: a.sort_order <= 5,
            },
            is_searchable: a.searchable,
            is_filterable: a.filterable,
            is_required: required,
            is_variant_compatible: a.variant_compatible,
            affects_stock: a.affects_stock,
            affects_price: a.affects_price,
            sort_order,
            is_active: true,
            created_at: data::CATALOG_CREATED_AT,
            updated_at: data::CATALOG_UPDATED_AT,
            translations: a.name,
            option_translations: option_translations(a),
        }
    }
}

/// Every unified attribute, by id.
pub fn all_unified_attributes(lang: Lang) -> Vec<UnifiedAttributeView> {
    data::ATTRIBUTES
        .iter()
        .map(|a| UnifiedAttributeView::new(a, lang, None))
        .collect()
}

/// The linked attributes of a category with their link's required flag and position.
fn linked(category_id: i64) -> impl Iterator<Item = (&'static AttrDef, bool, i32)> {
    data::category_links(category_id)
        .iter()
        .zip(1..)
        .filter_map(|((id, required), pos)| data::attribute(*id).map(|a| (a, *required, pos)))
}

/// The unified attributes of category `id`, in link order.
pub fn category_unified_attributes(category_id: i64, lang: Lang) -> Vec<UnifiedAttributeView> {
    linked(category_id)
        .map(|(a, req, pos)| UnifiedAttributeView::new(a, lang, Some((req, pos))))
        .collect()
}

/// A legacy (v1) category attribute.
#[derive(Debug, Serialize)]
pub struct V1AttributeView {
    id: i64,
    name: &'static str,
    display_name: &'static str,
    attribute_type: &'static str,
    icon: &'static str,
    options: Vec<OptionView>,
    validation_rules: ValidationRules,
    is_searchable: bool,
    is_filterable: bool,
    is_required: bool,
    sort_order: i32,
    custom_component: &'static str,
    created_at: &'static str,
    translations: Tr,
    option_translations: BTreeMap<&'static str, Tr>,
}

/// The v1 attributes of category `id`, in link order.
pub fn category_v1_attributes(category_id: i64, lang: Lang) -> Vec<V1AttributeView> {
    linked(category_id)
        .map(|(a, required, pos)| V1AttributeView {
            id: a.id,
            name: a.name.get(lang),
            display_name: a.name.get(lang),
            attribute_type: a.attr_type.as_str(),
            icon: "",
            options: options(a, lang),
            validation_rules: validation_rules(a, required),
            is_searchable: a.searchable,
            is_filterable: a.filterable,
            is_required: required,
            sort_order: pos,
            custom_component: "",
            created_at: data::CATALOG_CREATED_AT,
            translations: a.name,
            option_translations: option_translations(a),
        })
        .collect()
}

/// Observed range of one numeric attribute.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Range {
    /// Smallest value (the validation minimum when no listing has a value).
    pub min: Option<i64>,
    /// Largest value (the validation maximum when no listing has a value).
    pub max: Option<i64>,
    /// Number of listings with a value.
    pub count: usize,
    /// Unit, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<&'static str>,
}

/// Min/max of each numeric attribute of category `id` over its listings (and descendants').
pub fn attribute_ranges(category_id: i64, listings: &[Listing]) -> BTreeMap<&'static str, Range> {
    let ids = data::subtree_ids(category_id);
    linked(category_id)
        .filter(|(a, _, _)| a.attr_type == AttrType::Number)
        .map(|(a, _, _)| {
            let values: Vec<i64> = listings
                .iter()
                .filter(|l| ids.contains(&l.def.category_id))
                .filter_map(|l| l.value(a.id).and_then(|v| v.as_i64()))
                .collect();
            let range = Range {
                min: values.iter().copied().min().or(a.min),
                max: values.iter().copied().max().or(a.max),
                count: values.len(),
                unit: a.unit,
            };
            (a.code, range)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn popular_starts_with_the_warmup_set() {
        let ids: Vec<i64> = popular_categories(Lang::En, 7)
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(&ids[..5], data::POPULAR_CATEGORY_IDS);
        assert_eq!(ids.len(), 7);
        assert_eq!(popular_categories(Lang::En, 2).len(), 2);
    }

    #[test]
    fn tree_contains_every_category_once() {
        fn count(nodes: &[TreeNode]) -> usize {
            nodes.iter().map(|n| 1 + count(&n.children)).sum()
        }
        assert_eq!(count(&category_tree(Lang::Sr)), data::CATEGORIES.len());
    }

    #[test]
    fn car_links_match_the_backend() {
        let attrs = category_unified_attributes(1301, Lang::Sr);
        let ids: Vec<i64> = attrs.iter().map(|a| a.id).collect();
        assert_eq!(ids, vec![90, 114, 147, 86, 87, 149, 148, 140, 144, 94]);
        let required: Vec<i64> = attrs
            .iter()
            .filter(|a| a.is_required)
            .map(|a| a.id)
            .collect();
        assert_eq!(required, vec![90, 114, 86, 149, 148]);
        let import: Vec<i64> = category_unified_attributes(10110, Lang::Sr)
            .iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(&import[..2], &[90, 114]);
    }

    #[test]
    fn ranges_cover_listings() {
        let listings = crate::listings::all(&Default::default());
        let r = attribute_ranges(10101, &listings);
        assert_eq!(r["year"].min, Some(1979));
        assert_eq!(r["year"].max, Some(2008));
        assert_eq!(r["year"].count, 6);
    }
}
