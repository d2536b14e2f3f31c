//! The demo catalog: categories, unified attributes, category links and listings.
//!
//! Everything here is static and deterministic so that response bodies (and therefore ETags)
//! are stable from run to run.

use serde::Serialize;

use crate::lang::Lang;

/// A text in the three supported languages.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Tr {
    /// Serbian (Latin).
    pub sr: &'static str,
    /// English.
    pub en: &'static str,
    /// Russian.
    pub ru: &'static str,
}

impl Tr {
    /// The text in `lang`.
    pub fn get(&self, lang: Lang) -> &'static str {
        match lang {
            Lang::Sr => self.sr,
            Lang::En => self.en,
            Lang::Ru => self.ru,
        }
    }
}

const fn tr(sr: &'static str, en: &'static str, ru: &'static str) -> Tr {
    Tr { sr, en, ru }
}

/// The same text in every language (brand names, numbers).
const fn same(s: &'static str) -> Tr {
    Tr {
        sr: s,
        en: s,
        ru: s,
    }
}

/// A catalog category.
#[derive(Debug, Clone, Copy)]
pub struct CategoryDef {
    /// Category id.
    pub id: i64,
    /// Parent category id, `None` for a root.
    pub parent_id: Option<i64>,
    /// URL slug.
    pub slug: &'static str,
    /// Icon name.
    pub icon: &'static str,
    /// Display name.
    pub name: Tr,
    /// Short description.
    pub description: Tr,
    /// Position among siblings.
    pub sort_order: i32,
}

const fn cat(
    id: i64,
    parent_id: Option<i64>,
    slug: &'static str,
    icon: &'static str,
    name: Tr,
    description: Tr,
    sort_order: i32,
) -> CategoryDef {
    CategoryDef {
        id,
        parent_id,
        slug,
        icon,
        name,
        description,
        sort_order,
    }
}

/// Every category, parents before children.
#[rustfmt::skip]
pub const CATEGORIES: &[CategoryDef] = &[
    cat(1001, None, "electronics", "devices", tr("Elektronika", "Electronics", "Электроника"),
        tr("Telefoni, računari i ostala elektronika", "Phones, computers and other electronics", "Телефоны, компьютеры и другая электроника"), 1),
    cat(1002, None, "fashion", "shirt", tr("Moda", "Fashion", "Мода"),
        tr("Odeća, obuća i modni dodaci", "Clothing, footwear and accessories", "Одежда, обувь и аксессуары"), 2),
    cat(1003, None, "automotive", "car", tr("Automobili", "Automotive", "Автомобили"),
        tr("Vozila, motocikli i auto delovi", "Vehicles, motorcycles and parts", "Транспорт, мотоциклы и запчасти"), 3),
    cat(1004, None, "real-estate", "home", tr("Nekretnine", "Real Estate", "Недвижимость"),
        tr("Stanovi, kuće i poslovni prostor", "Apartments, houses and offices", "Квартиры, дома и коммерческие помещения"), 4),
    cat(1005, None, "home-garden", "sofa", tr("Dom i bašta", "Home & Garden", "Дом и сад"),
        tr("Nameštaj, bašta i sve za dom", "Furniture, garden and home goods", "Мебель, сад и товары для дома"), 5),
    cat(1101, Some(1001), "smartphones", "smartphone", tr("Pametni telefoni", "Smartphones", "Смартфоны"),
        tr("Novi i polovni mobilni telefoni", "New and used mobile phones", "Новые и б/у мобильные телефоны"), 1),
    cat(1102, Some(1001), "computers", "laptop", tr("Računari", "Computers", "Компьютеры"),
        tr("Laptopovi, desktop računari i oprema", "Laptops, desktops and accessories", "Ноутбуки, настольные ПК и комплектующие"), 2),
    cat(1301, Some(1003), "cars", "car", tr("Lični automobili", "Passenger Cars", "Легковые автомобили"),
        tr("Polovni i novi putnički automobili", "Used and new passenger cars", "Б/у и новые легковые автомобили"), 1),
    cat(1302, Some(1003), "motorcycles", "motorcycle", tr("Motocikli", "Motorcycles", "Мотоциклы"),
        tr("Motocikli, skuteri i mopedi", "Motorcycles, scooters and mopeds", "Мотоциклы, скутеры и мопеды"), 2),
    cat(1303, Some(1003), "auto-parts", "wrench", tr("Auto delovi", "Auto Parts", "Автозапчасти"),
        tr("Delovi i oprema za vozila", "Vehicle parts and equipment", "Запчасти и оборудование для транспорта"), 3),
    cat(1401, Some(1004), "apartments", "building", tr("Stanovi", "Apartments", "Квартиры"),
        tr("Prodaja stanova", "Apartments for sale", "Продажа квартир"), 1),
    cat(10100, Some(1003), "domaca-proizvodnja", "factory", tr("Domaća proizvodnja", "Domestic Production", "Отечественное производство"),
        tr("Vozila domaćih proizvođača", "Vehicles by domestic manufacturers", "Транспорт отечественных производителей"), 4),
    cat(10101, Some(10100), "zastava-vozila", "car", tr("Zastava vozila", "Zastava Vehicles", "Автомобили Застава"),
        tr("Fiće, Skale, Floride i ostali Zastavini modeli", "Fiat 750s, Skalas, Floridas and other Zastava models", "«Фича», «Скала», «Флорида» и другие модели Застава"), 1),
    cat(10102, Some(10100), "yugo-klasici", "car", tr("Yugo klasici", "Yugo Classics", "Классические Yugo"),
        tr("Yugo 45, Koral, Tempo i Cabrio", "Yugo 45, Koral, Tempo and Cabrio", "Yugo 45, Koral, Tempo и Cabrio"), 2),
    cat(10103, Some(10100), "fap-kamioni", "truck", tr("FAP kamioni", "FAP Trucks", "Грузовики FAP"),
        tr("Kamioni i kiperi iz Priboja", "Trucks and tippers from Priboj", "Грузовики и самосвалы из Прибоя"), 3),
    cat(10104, Some(10100), "imt-traktori", "tractor", tr("IMT traktori", "IMT Tractors", "Тракторы IMT"),
        tr("Traktori Industrije mašina i traktora", "Tractors by Industrija mašina i traktora", "Тракторы завода IMT"), 4),
    cat(10110, Some(1003), "uvozna-vozila", "globe", tr("Uvozna vozila", "Import Vehicles", "Импортные автомобили"),
        tr("Vozila iz uvoza, ocarinjena i neocarinjena", "Imported vehicles, cleared or uncleared", "Импортные автомобили, растаможенные и нет"), 5),
    cat(10111, Some(10110), "eu-uvoz", "flag", tr("EU uvoz", "EU Import", "Импорт из ЕС"),
        tr("Vozila uvezena iz zemalja EU", "Vehicles imported from the EU", "Автомобили, ввезённые из ЕС"), 1),
    cat(10120, Some(1003), "komercijalna-vozila", "van", tr("Komercijalna vozila", "Commercial Vehicles", "Коммерческий транспорт"),
        tr("Kombiji, dostavna i teretna vozila", "Vans, delivery and cargo vehicles", "Фургоны, развозной и грузовой транспорт"), 6),
    cat(10121, Some(10120), "kamioni", "truck", tr("Kamioni", "Trucks", "Грузовики"),
        tr("Kamioni i tegljači", "Trucks and tractor units", "Грузовики и тягачи"), 1),
];

/// The origin team's "popular" categories, in ranking order (their cache warm-up set).
pub const POPULAR_CATEGORY_IDS: &[i64] = &[10101, 10102, 10103, 10110, 10120];

/// Timestamp used as `created_at` of categories and attributes.
pub const CATALOG_CREATED_AT: &str = "2024-03-18T09:30:00Z";

/// Timestamp used as `updated_at` of attributes.
pub const CATALOG_UPDATED_AT: &str = "2025-01-27T14:05:00Z";

/// The kind of value a unified attribute holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    /// An integer.
    Number,
    /// One option.
    Select,
    /// Several options.
    Multiselect,
    /// Free text.
    Text,
    /// Yes/no.
    Boolean,
}

impl AttrType {
    /// The wire name (`attribute_type`).
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::Number => "number",
            AttrType::Select => "select",
            AttrType::Multiselect => "multiselect",
            AttrType::Text => "text",
            AttrType::Boolean => "boolean",
        }
    }
}

/// What an attribute is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Describes a listing.
    Regular,
    /// Distinguishes product variants.
    Variant,
    /// Both.
    Both,
}

impl Purpose {
    /// The wire name (`purpose`).
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Regular => "regular",
            Purpose::Variant => "variant",
            Purpose::Both => "both",
        }
    }
}

/// One option of a select/multiselect attribute.
#[derive(Debug, Clone, Copy)]
pub struct AttrOption {
    /// Stored value.
    pub value: &'static str,
    /// Translated label.
    pub label: Tr,
}

const fn opt(value: &'static str, label: Tr) -> AttrOption {
    AttrOption { value, label }
}

/// A unified attribute definition.
#[derive(Debug, Clone, Copy)]
pub struct AttrDef {
    /// Attribute id.
    pub id: i64,
    /// Machine code (used in `attr_<code>` search filters).
    pub code: &'static str,
    /// Value type.
    pub attr_type: AttrType,
    /// Purpose.
    pub purpose: Purpose,
    /// Display name.
    pub name: Tr,
    /// Options of select/multiselect attributes.
    pub options: &'static [AttrOption],
    /// Minimum of a number attribute.
    pub min: Option<i64>,
    /// Maximum of a number attribute.
    pub max: Option<i64>,
    /// Unit shown next to a number.
    pub unit: Option<&'static str>,
    /// Required by default (a category link may override).
    pub required: bool,
    /// Searchable in full text.
    pub searchable: bool,
    /// Usable as a search filter.
    pub filterable: bool,
    /// May define product variants.
    pub variant_compatible: bool,
    /// Changes stock tracking.
    pub affects_stock: bool,
    /// Changes the price.
    pub affects_price: bool,
    /// Global sort position.
    pub sort_order: i32,
}

const fn attr(id: i64, code: &'static str, attr_type: AttrType, name: Tr) -> AttrDef {
    AttrDef {
        id,
        code,
        attr_type,
        purpose: Purpose::Regular,
        name,
        options: &[],
        min: None,
        max: None,
        unit: None,
        required: false,
        searchable: false,
        filterable: true,
        variant_compatible: false,
        affects_stock: false,
        affects_price: false,
        sort_order: 0,
    }
}

impl AttrDef {
    const fn range(mut self, min: i64, max: i64) -> Self {
        self.min = Some(min);
        self.max = Some(max);
        self
    }
    const fn unit(mut self, unit: &'static str) -> Self {
        self.unit = Some(unit);
        self
    }
    const fn options(mut self, options: &'static [AttrOption]) -> Self {
        self.options = options;
        self
    }
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    const fn searchable(mut self) -> Self {
        self.searchable = true;
        self
    }
    const fn hidden_filter(mut self) -> Self {
        self.filterable = false;
        self
    }
    const fn variant(mut self, purpose: Purpose) -> Self {
        self.purpose = purpose;
        self.variant_compatible = true;
        self
    }
    const fn pricing(mut self) -> Self {
        self.affects_price = true;
        self.affects_stock = true;
        self
    }
    const fn order(mut self, sort_order: i32) -> Self {
        self.sort_order = sort_order;
        self
    }

    /// The option with stored value `value`, if any.
    pub fn option(&self, value: &str) -> Option<&'static AttrOption> {
        self.options.iter().find(|o| o.value == value)
    }
}

const CONDITIONS: &[AttrOption] = &[
    opt("new", tr("Novo", "New", "Новое")),
    opt("used", tr("Polovno", "Used", "Б/у")),
    opt(
        "refurbished",
        tr("Obnovljeno", "Refurbished", "Восстановленное"),
    ),
    opt("damaged", tr("Oštećeno", "Damaged", "Повреждённое")),
];

const CAR_MAKES: &[AttrOption] = &[
    opt("audi", same("Audi")),
    opt("bmw", same("BMW")),
    opt("mercedes-benz", same("Mercedes-Benz")),
    opt("volkswagen", same("Volkswagen")),
    opt("opel", same("Opel")),
    opt("peugeot", same("Peugeot")),
    opt("renault", same("Renault")),
    opt("fiat", same("Fiat")),
    opt("skoda", tr("Škoda", "Škoda", "Шкода")),
    opt("toyota", same("Toyota")),
    opt("ford", same("Ford")),
    opt("citroen", same("Citroën")),
    opt("dacia", same("Dacia")),
    opt("hyundai", same("Hyundai")),
    opt("zastava", tr("Zastava", "Zastava", "Застава")),
    opt("yugo", same("Yugo")),
    opt("fap", same("FAP")),
    opt("iveco", same("Iveco")),
    opt("man", same("MAN")),
];

const BODY_TYPES: &[AttrOption] = &[
    opt("sedan", tr("Limuzina", "Sedan", "Седан")),
    opt("hatchback", tr("Hečbek", "Hatchback", "Хэтчбек")),
    opt("suv", tr("Džip/SUV", "SUV", "Внедорожник")),
    opt("coupe", tr("Kupe", "Coupe", "Купе")),
    opt("wagon", tr("Karavan", "Wagon", "Универсал")),
    opt("minivan", tr("Monovolumen", "Minivan", "Минивэн")),
    opt("pickup", tr("Pikap", "Pickup", "Пикап")),
    opt("convertible", tr("Kabriolet", "Convertible", "Кабриолет")),
];

const COLORS: &[AttrOption] = &[
    opt("white", tr("Bela", "White", "Белый")),
    opt("black", tr("Crna", "Black", "Чёрный")),
    opt("silver", tr("Srebrna", "Silver", "Серебристый")),
    opt("gray", tr("Siva", "Gray", "Серый")),
    opt("red", tr("Crvena", "Red", "Красный")),
    opt("blue", tr("Plava", "Blue", "Синий")),
    opt("green", tr("Zelena", "Green", "Зелёный")),
    opt("yellow", tr("Žuta", "Yellow", "Жёлтый")),
    opt("brown", tr("Braon", "Brown", "Коричневый")),
];

const TRANSMISSIONS: &[AttrOption] = &[
    opt("manual", tr("Manuelni", "Manual", "Механическая")),
    opt("automatic", tr("Automatski", "Automatic", "Автоматическая")),
    opt(
        "semi-automatic",
        tr("Poluautomatski", "Semi-automatic", "Роботизированная"),
    ),
    opt("cvt", tr("CVT", "CVT", "Вариатор")),
    opt("dsg", same("DSG")),
];

const FUEL_TYPES: &[AttrOption] = &[
    opt("petrol", tr("Benzin", "Petrol", "Бензин")),
    opt("diesel", tr("Dizel", "Diesel", "Дизель")),
    opt("electric", tr("Električni", "Electric", "Электро")),
    opt("hybrid", tr("Hibrid", "Hybrid", "Гибрид")),
    opt(
        "plug-in-hybrid",
        tr("Plug-in hibrid", "Plug-in hybrid", "Подключаемый гибрид"),
    ),
    opt("lpg", tr("Benzin + gas (TNG)", "LPG", "Газ (LPG)")),
    opt("cng", tr("Metan (CNG)", "CNG", "Метан (CNG)")),
];

const BRANDS: &[AttrOption] = &[
    opt("apple", same("Apple")),
    opt("samsung", same("Samsung")),
    opt("xiaomi", same("Xiaomi")),
    opt("huawei", same("Huawei")),
    opt("lenovo", same("Lenovo")),
    opt("dell", same("Dell")),
    opt("hp", same("HP")),
    opt("asus", same("ASUS")),
];

const STORAGE: &[AttrOption] = &[
    opt("64", same("64 GB")),
    opt("128", same("128 GB")),
    opt("256", same("256 GB")),
    opt("512", same("512 GB")),
    opt("1024", same("1 TB")),
];

const SIZES: &[AttrOption] = &[
    opt("xs", same("XS")),
    opt("s", same("S")),
    opt("m", same("M")),
    opt("l", same("L")),
    opt("xl", same("XL")),
    opt("xxl", same("XXL")),
];

use AttrType::{Multiselect, Number, Select};

/// Every unified attribute, by id.
#[rustfmt::skip]
pub const ATTRIBUTES: &[AttrDef] = &[
    attr(86, "year", Number, tr("Godište", "Year", "Год выпуска")).range(1950, 2025).required().order(3),
    attr(87, "mileage", Number, tr("Kilometraža", "Mileage", "Пробег")).range(0, 999_999).unit("km").order(4),
    attr(88, "area", Number, tr("Površina (m²)", "Area (m²)", "Площадь (м²)")).range(10, 1000).unit("m²").required().order(1),
    attr(90, "car_make_id", Number, tr("Marka", "Make", "Марка")).range(1, 999).required().hidden_filter().order(1),
    attr(93, "power_hp", Number, tr("Snaga (KS)", "Power (hp)", "Мощность (л.с.)")).range(10, 1000).unit("KS").order(7),
    attr(94, "condition", Select, tr("Stanje", "Condition", "Состояние")).options(CONDITIONS).order(10),
    attr(114, "car_model_id", Number, tr("Model", "Model", "Модель")).range(1, 99_999).required().hidden_filter().order(2),
    attr(125, "car_make", Select, tr("Proizvođač", "Manufacturer", "Производитель")).options(CAR_MAKES).searchable().order(1),
    attr(140, "body_type", Select, tr("Karoserija", "Body type", "Тип кузова")).options(BODY_TYPES).order(8),
    attr(144, "color", Multiselect, tr("Boja", "Color", "Цвет")).options(COLORS).variant(Purpose::Both).order(9),
    attr(147, "car_generation_id", Number, tr("Generacija", "Generation", "Поколение")).range(1, 999_999).hidden_filter().order(3),
    attr(148, "transmission", Select, tr("Menjač", "Transmission", "Коробка передач")).options(TRANSMISSIONS).order(6),
    attr(149, "fuel_type", Select, tr("Gorivo", "Fuel type", "Тип топлива")).options(FUEL_TYPES).order(5),
    attr(160, "rooms", Number, tr("Broj soba", "Rooms", "Количество комнат")).range(1, 10).order(2),
    attr(161, "floor", Number, tr("Sprat", "Floor", "Этаж")).range(-1, 40).order(3),
    attr(170, "brand", Select, tr("Brend", "Brand", "Бренд")).options(BRANDS).searchable().order(1),
    attr(171, "storage_gb", Select, tr("Memorija", "Storage", "Память")).options(STORAGE).variant(Purpose::Variant).pricing().order(2),
    attr(172, "ram_gb", Number, tr("RAM memorija (GB)", "RAM (GB)", "Оперативная память (ГБ)")).range(1, 256).unit("GB").order(3),
    attr(173, "size", Select, tr("Veličina", "Size", "Размер")).options(SIZES).variant(Purpose::Variant).pricing().order(2),
    attr(180, "load_capacity_kg", Number, tr("Nosivost (kg)", "Load capacity (kg)", "Грузоподъёмность (кг)")).range(100, 60_000).unit("kg").order(11),
    attr(181, "axle_count", Number, tr("Broj osovina", "Axles", "Количество осей")).range(2, 5).order(12),
    attr(182, "operating_hours", Number, tr("Radni sati", "Operating hours", "Моточасы")).range(0, 50_000).unit("h").order(5),
];

/// The attribute with id `id`.
pub fn attribute(id: i64) -> Option<&'static AttrDef> {
    ATTRIBUTES.iter().find(|a| a.id == id)
}

/// The attribute with code `code`.
pub fn attribute_by_code(code: &str) -> Option<&'static AttrDef> {
    ATTRIBUTES.iter().find(|a| a.code == code)
}

/// One category→attribute link: attribute id and whether it is required there.
pub type Link = (i64, bool);

const R: bool = true;
const O: bool = false;

/// The attributes linked to each category, in display order.
#[rustfmt::skip]
pub const CATEGORY_ATTRIBUTES: &[(i64, &[Link])] = &[
    (1001, &[(94, O), (170, O)]),
    (1002, &[(94, O), (173, O), (144, O)]),
    (1003, &[(94, O), (86, O)]),
    (1004, &[(88, R)]),
    (1005, &[(94, O)]),
    (1101, &[(94, R), (170, R), (171, O), (144, O)]),
    (1102, &[(94, R), (170, O), (172, O)]),
    (1301, &[(90, R), (114, R), (147, O), (86, R), (87, O), (149, R), (148, R), (140, O), (144, O), (94, O)]),
    (1302, &[(125, O), (86, R), (87, O), (93, O), (144, O), (94, O)]),
    (1303, &[(94, R), (125, O)]),
    (1401, &[(88, R), (160, R), (161, O)]),
    (10100, &[(86, R), (94, O)]),
    (10101, &[(114, R), (86, R), (87, O), (149, R), (148, O), (140, O), (93, O), (144, O), (94, O)]),
    (10102, &[(114, R), (86, R), (87, O), (149, R), (148, O), (140, O), (93, O), (144, O), (94, O)]),
    (10103, &[(86, R), (87, O), (93, O), (149, R), (180, R), (181, O), (94, O)]),
    (10104, &[(86, R), (93, O), (182, O), (94, O)]),
    (10110, &[(90, R), (114, R), (86, R), (87, O), (149, R), (148, O), (140, O), (93, O), (94, O)]),
    (10111, &[(90, R), (114, R), (125, O), (86, R), (87, O), (149, R), (148, O), (140, O), (93, O), (94, O)]),
    (10120, &[(90, O), (114, O), (86, R), (87, O), (93, O), (149, R), (148, O), (180, R), (94, O)]),
    (10121, &[(90, O), (114, O), (86, R), (87, O), (93, O), (149, R), (180, R), (181, R), (94, O)]),
];

/// The attribute links of category `id` (empty if it has none).
pub fn category_links(id: i64) -> &'static [Link] {
    CATEGORY_ATTRIBUTES
        .iter()
        .find(|(c, _)| *c == id)
        .map(|(_, links)| *links)
        .unwrap_or(&[])
}

/// A value of a listing's attribute.
#[derive(Debug, Clone, Copy)]
pub enum Av {
    /// A number.
    N(i64),
    /// One option value (or text).
    S(&'static str),
    /// Several option values.
    M(&'static [&'static str]),
}

use Av::{M, N, S};

/// A demo listing.
#[derive(Debug, Clone, Copy)]
pub struct ListingDef {
    /// Listing id.
    pub id: i64,
    /// Category id.
    pub category_id: i64,
    /// Title (Serbian, as the seller wrote it).
    pub title: &'static str,
    /// Description (Serbian).
    pub description: &'static str,
    /// Price in RSD.
    pub price: i64,
    /// Price before a discount, in RSD.
    pub old_price: Option<i64>,
    /// City.
    pub city: &'static str,
    /// Attribute values by code.
    pub attrs: &'static [(&'static str, Av)],
}

#[allow(clippy::too_many_arguments)]
const fn l(
    id: i64,
    category_id: i64,
    title: &'static str,
    description: &'static str,
    price: i64,
    old_price: Option<i64>,
    city: &'static str,
    attrs: &'static [(&'static str, Av)],
) -> ListingDef {
    ListingDef {
        id,
        category_id,
        title,
        description,
        price,
        old_price,
        city,
        attrs,
    }
}

/// Every demo listing (prices in RSD).
#[rustfmt::skip]
pub const LISTINGS: &[ListingDef] = &[
    // Lični automobili
    l(5001, 1301, "Volkswagen Golf 7 1.6 TDI Comfortline", "Redovno servisiran, servisna knjiga, dva ključa. Registrovan do marta.", 1_290_000, Some(1_350_000), "Beograd",
        &[("car_make_id", N(4)), ("car_model_id", N(401)), ("car_generation_id", N(40107)), ("year", N(2014)), ("mileage", N(178_000)), ("fuel_type", S("diesel")), ("transmission", S("manual")), ("body_type", S("hatchback")), ("color", M(&["gray"])), ("power_hp", N(110)), ("condition", S("used"))]),
    l(5002, 1301, "Škoda Octavia 2.0 TDI Style karavan", "Prvi vlasnik u Srbiji, DSG menjač, navigacija, grejanje sedišta.", 1_750_000, None, "Novi Sad",
        &[("car_make_id", N(9)), ("car_model_id", N(902)), ("car_generation_id", N(90203)), ("year", N(2017)), ("mileage", N(165_000)), ("fuel_type", S("diesel")), ("transmission", S("dsg")), ("body_type", S("wagon")), ("color", M(&["white"])), ("power_hp", N(150)), ("condition", S("used"))]),
    l(5003, 1301, "Audi A4 2.0 TDI quattro S line", "Full oprema, matrix farovi, kožna sedišta. Moguća zamena.", 2_100_000, None, "Beograd",
        &[("car_make_id", N(1)), ("car_model_id", N(104)), ("car_generation_id", N(10405)), ("year", N(2016)), ("mileage", N(198_000)), ("fuel_type", S("diesel")), ("transmission", S("automatic")), ("body_type", S("sedan")), ("color", M(&["black"])), ("power_hp", N(190)), ("condition", S("used"))]),
    l(5004, 1301, "BMW 320d xDrive Luxury Line", "Uvoz iz Nemačke, kupljen nov u Srbiji, sve odrađeno.", 2_690_000, Some(2_850_000), "Niš",
        &[("car_make_id", N(2)), ("car_model_id", N(203)), ("car_generation_id", N(20307)), ("year", N(2018)), ("mileage", N(142_000)), ("fuel_type", S("diesel")), ("transmission", S("automatic")), ("body_type", S("sedan")), ("color", M(&["blue"])), ("power_hp", N(190)), ("condition", S("used"))]),
    l(5005, 1301, "Opel Astra J 1.4 Turbo Cosmo", "Benzin, garažiran, nove gume, bez ulaganja.", 760_000, None, "Kragujevac",
        &[("car_make_id", N(5)), ("car_model_id", N(502)), ("car_generation_id", N(50204)), ("year", N(2012)), ("mileage", N(156_000)), ("fuel_type", S("petrol")), ("transmission", S("manual")), ("body_type", S("hatchback")), ("color", M(&["red"])), ("power_hp", N(140)), ("condition", S("used"))]),
    l(5006, 1301, "Peugeot 308 SW 1.6 HDi Active", "Ekonomičan karavan, panorama krov, veliki prtljažnik.", 880_000, None, "Subotica",
        &[("car_make_id", N(6)), ("car_model_id", N(603)), ("car_generation_id", N(60302)), ("year", N(2015)), ("mileage", N(189_000)), ("fuel_type", S("diesel")), ("transmission", S("manual")), ("body_type", S("wagon")), ("color", M(&["silver"])), ("power_hp", N(120)), ("condition", S("used"))]),
    l(5007, 1301, "Renault Clio 1.2 16V Dynamique", "Idealan gradski auto, mala potrošnja, klima ispravna.", 590_000, None, "Čačak",
        &[("car_make_id", N(7)), ("car_model_id", N(701)), ("car_generation_id", N(70104)), ("year", N(2013)), ("mileage", N(121_000)), ("fuel_type", S("petrol")), ("transmission", S("manual")), ("body_type", S("hatchback")), ("color", M(&["white"])), ("power_hp", N(75)), ("condition", S("used"))]),
    l(5008, 1301, "Toyota Corolla 1.8 Hybrid Comfort", "Novo vozilo, fabrička garancija 5 godina, odmah dostupno.", 3_290_000, None, "Beograd",
        &[("car_make_id", N(10)), ("car_model_id", N(1001)), ("car_generation_id", N(100112)), ("year", N(2025)), ("mileage", N(15)), ("fuel_type", S("hybrid")), ("transmission", S("cvt")), ("body_type", S("sedan")), ("color", M(&["white"])), ("power_hp", N(140)), ("condition", S("new"))]),
    l(5009, 1301, "Fiat Punto 1.3 Multijet, oštećen", "Udaren prednji deo, motor i menjač ispravni. Prodaje se u viđenom stanju.", 380_000, None, "Kraljevo",
        &[("car_make_id", N(8)), ("car_model_id", N(803)), ("car_generation_id", N(80303)), ("year", N(2011)), ("mileage", N(205_000)), ("fuel_type", S("diesel")), ("transmission", S("manual")), ("body_type", S("hatchback")), ("color", M(&["blue"])), ("power_hp", N(75)), ("condition", S("damaged"))]),
    l(5010, 1301, "Mercedes-Benz C 220 d AMG Line", "Servisiran u ovlašćenom servisu, LED farovi, kamera.", 3_520_000, Some(3_690_000), "Novi Sad",
        &[("car_make_id", N(3)), ("car_model_id", N(302)), ("car_generation_id", N(30205)), ("year", N(2019)), ("mileage", N(118_000)), ("fuel_type", S("diesel")), ("transmission", S("automatic")), ("body_type", S("sedan")), ("color", M(&["black", "silver"])), ("power_hp", N(194)), ("condition", S("used"))]),
    l(5011, 1301, "Dacia Duster 1.5 dCi 4x4 Prestige", "Pogon na sva četiri točka, kuka za prikolicu, zimske gume.", 1_520_000, None, "Valjevo",
        &[("car_make_id", N(13)), ("car_model_id", N(1302)), ("car_generation_id", N(130202)), ("year", N(2019)), ("mileage", N(97_000)), ("fuel_type", S("diesel")), ("transmission", S("manual")), ("body_type", S("suv")), ("color", M(&["brown"])), ("power_hp", N(115)), ("condition", S("used"))]),
    l(5012, 1301, "Hyundai Tucson 1.6 T-GDI automatik", "Garancija do 2026, kupljen u Srbiji, prvi vlasnik.", 3_150_000, None, "Pančevo",
        &[("car_make_id", N(14)), ("car_model_id", N(1405)), ("car_generation_id", N(140504)), ("year", N(2021)), ("mileage", N(45_000)), ("fuel_type", S("petrol")), ("transmission", S("automatic")), ("body_type", S("suv")), ("color", M(&["gray"])), ("power_hp", N(177)), ("condition", S("used"))]),
    // Zastava vozila
    l(5013, 10101, "Zastava 101 Skala 55", "Oldtajmer u originalnom stanju, redovno registrovan.", 145_000, None, "Kragujevac",
        &[("car_model_id", N(1501)), ("year", N(1988)), ("mileage", N(98_000)), ("fuel_type", S("petrol")), ("transmission", S("manual")), ("body_type", S("hatchback")), ("color", M(&["white"])), ("power_hp", N(55)), ("condition", S("used"))]),
    l(5014, 10101, "Zastava 750 Fića, očuvan oldtajmer", "Restauriran 2019, oldtajmer tablice, nova farba.", 235_000, None, "Beograd",
        &[("car_model_id", N(1502)), ("year", N(1979)), ("mileage", N(67_000)), ("fuel_type", S("petrol")), ("transmission", S("manual")), ("body_type", S("sedan")), ("color", M(&["red"])), ("power_hp", N(25)), ("condition", S("used"))]),
    l(5015, 10101, "Zastava Florida 1.4", "Pouzdan porodični auto, novi akumulator i kvačilo.", 98_000, None, "Niš",
        &[("car_model_id", N(1503)), ("year", N(1996)), ("mileage", N(143_000)), ("fuel_type", S("petrol")), ("transmission", S("manual")), ("body_type", S("hatchback")), ("color", M(&["blue"])), ("power_hp", N(71)), ("condition", S("used"))]),
    l(5016, 10101, "Zastava 10 1.2", "Drugi vlasnik, garažiran, mali troškovi održavanja.", 215_000, None, "Šabac",
        &[("car_model_id", N(1504)), ("year", N(2008)), ("mileage", N(112_000)), ("fuel_type", S("petrol")), ("transmission", S("manual")), ("body_type", S("hatchback")), ("color", M(&["silver"])), ("power_hp", N(60)), ("condition", S("used"))]),
    l(5017, 10101, "Zastava Skala 55 Poly", "Poslednja serija, nova limarija, registrovana godinu dana.", 175_000, Some(195_000), "Zrenjanin",
        &[("car_model_id", N(1505)), ("year", N(2006)), ("mileage", N(87_000)), ("fuel_type", S("petrol")), ("transmission", S("manual")), ("body_type", S("hatchback")), ("color", M(&["white"])), ("power_hp", N(55)), ("condition", S("used"))]),
    l(5018, 10101, "Zastava Florida In 1.6 na gas", "Ugrađen atestiran plin, oštećen zadnji branik.", 129_000, None, "Leskovac",
        &[("car_model_id", N(1506)), ("year", N(2003)), ("mileage", N(121_000)), ("fuel_type", S("lpg")), ("transmission", S("manual")), ("body_type", S("hatchback")), ("color", M(&["gray"])), ("power_hp", N(78)), ("condition", S("damaged"))]),
    // Yugo klasici
    l(5019, 10102, "Yugo 45, prvi vlasnik", "Original boja, 89.000 km, čuvan u garaži.", 120_000, None, "Novi Sad",
        &[("car_model_id", N(1601)), ("year", N(1985)), ("mileage", N(89_000)), ("fuel_type", S("petrol")), ("transmission", S("manual")), ("body_type", S("hatchback")), ("color", M(&["red"])), ("power_hp", N(45)), ("condition", S("used"))]),
    l(5020, 10102, "Yugo Koral 55", "Vozno stanje, registrovan do leta.", 95_000, None, "Smederevo",
        &[("car_model_id", N(1602)), ("year", N(1990)), ("mileage", N(134_000)), ("fuel_type", S("petrol")), ("transmission", S("manual")), ("body_type", S("hatchback")), ("color", M(&["white"])), ("power_hp", N(55)), ("condition", S("used"))]),
    l(5021, 10102, "Yugo Cabrio, kolekcionarski primerak", "Jedan od retkih kabrioleta, nova cirada, kompletna dokumentacija.", 690_000, None, "Beograd",
        &[("car_model_id", N(1603)), ("year", N(1991)), ("mileage", N(58_000)), ("fuel_type", S("petrol")), ("transmission", S("manual")), ("body_type", S("convertible")), ("color", M(&["yellow"])), ("power_hp", N(65)), ("condition", S("used"))]),
    l(5022, 10102, "Yugo Tempo 55 na plin", "Ekonomičan, plinski uređaj atestiran, hitna prodaja.", 85_000, None, "Užice",
        &[("car_model_id", N(1604)), ("year", N(1989)), ("mileage", N(101_000)), ("fuel_type", S("lpg")), ("transmission", S("manual")), ("body_type", S("hatchback")), ("color", M(&["blue"])), ("power_hp", N(55)), ("condition", S("used"))]),
    // FAP kamioni
    l(5023, 10103, "FAP 1314 kiper", "Trostrani kiper, motor generalno remontovan.", 1_050_000, None, "Čačak",
        &[("year", N(1987)), ("mileage", N(420_000)), ("power_hp", N(140)), ("fuel_type", S("diesel")), ("load_capacity_kg", N(8_000)), ("axle_count", N(2)), ("condition", S("used"))]),
    l(5024, 10103, "FAP 2026 BS/AV 6x6", "Pogon 6x6, idealan za teren i šumu.", 2_300_000, None, "Kraljevo",
        &[("year", N(1992)), ("mileage", N(310_000)), ("power_hp", N(260)), ("fuel_type", S("diesel")), ("load_capacity_kg", N(10_000)), ("axle_count", N(3)), ("condition", S("used"))]),
    l(5025, 10103, "FAP 1118 sa ceradom", "Registrovan, nove gume, cerada i lukovi novi.", 1_640_000, None, "Sombor",
        &[("year", N(2004)), ("mileage", N(265_000)), ("power_hp", N(180)), ("fuel_type", S("diesel")), ("load_capacity_kg", N(5_500)), ("axle_count", N(2)), ("condition", S("used"))]),
    // IMT traktori
    l(5026, 10104, "IMT 539", "Ispravan traktor, nove zadnje gume, papiri uredni.", 610_000, None, "Sombor",
        &[("year", N(1989)), ("power_hp", N(39)), ("operating_hours", N(6_200)), ("condition", S("used"))]),
    l(5027, 10104, "IMT 560", "Servisiran, hidraulika ispravna, kabina.", 740_000, None, "Zrenjanin",
        &[("year", N(1985)), ("power_hp", N(60)), ("operating_hours", N(8_900)), ("condition", S("used"))]),
    l(5028, 10104, "IMT 577 DV", "Dupla vuča, očuvan, radio samo na imanju.", 1_180_000, Some(1_250_000), "Valjevo",
        &[("year", N(1991)), ("power_hp", N(77)), ("operating_hours", N(7_400)), ("condition", S("used"))]),
    // Uvozna vozila
    l(5029, 10110, "Volkswagen Passat B8 2.0 TDI, uvoz Nemačka", "Sveže uvezen, ocarinjen, servisna istorija.", 2_050_000, None, "Beograd",
        &[("car_make_id", N(4)), ("car_model_id", N(405)), ("year", N(2018)), ("mileage", N(187_000)), ("fuel_type", S("diesel")), ("transmission", S("dsg")), ("body_type", S("wagon")), ("power_hp", N(150)), ("condition", S("used"))]),
    l(5030, 10110, "Ford Focus 1.5 EcoBlue, uvoz Švajcarska", "Neocarinjen, može na ime kupca, kao nov.", 1_480_000, None, "Novi Sad",
        &[("car_make_id", N(11)), ("car_model_id", N(1103)), ("year", N(2019)), ("mileage", N(123_000)), ("fuel_type", S("diesel")), ("transmission", S("manual")), ("body_type", S("hatchback")), ("power_hp", N(120)), ("condition", S("used"))]),
    // EU uvoz
    l(5031, 10111, "Audi A6 Avant 3.0 TDI quattro", "Uvoz iz Austrije, full oprema, webasto.", 2_950_000, None, "Beograd",
        &[("car_make_id", N(1)), ("car_model_id", N(106)), ("car_make", S("audi")), ("year", N(2017)), ("mileage", N(210_000)), ("fuel_type", S("diesel")), ("transmission", S("automatic")), ("body_type", S("wagon")), ("power_hp", N(272)), ("condition", S("used"))]),
    l(5032, 10111, "Renault Megane Grandtour 1.5 dCi", "Uvoz iz Francuske, ocarinjen, registrovan.", 1_020_000, None, "Kragujevac",
        &[("car_make_id", N(7)), ("car_model_id", N(703)), ("car_make", S("renault")), ("year", N(2016)), ("mileage", N(176_000)), ("fuel_type", S("diesel")), ("transmission", S("manual")), ("body_type", S("wagon")), ("power_hp", N(110)), ("condition", S("used"))]),
    l(5033, 10111, "Citroën C4 Picasso 1.6 HDi", "Uvoz iz Belgije, sedam sedišta, poluautomatik.", 990_000, None, "Subotica",
        &[("car_make_id", N(12)), ("car_model_id", N(1204)), ("car_make", S("citroen")), ("year", N(2015)), ("mileage", N(189_000)), ("fuel_type", S("diesel")), ("transmission", S("semi-automatic")), ("body_type", S("minivan")), ("power_hp", N(115)), ("condition", S("used"))]),
    l(5034, 10111, "BMW X3 xDrive20d M paket", "Uvoz iz Nemačke, garancija na kilometražu.", 3_100_000, None, "Niš",
        &[("car_make_id", N(2)), ("car_model_id", N(211)), ("car_make", S("bmw")), ("year", N(2017)), ("mileage", N(168_000)), ("fuel_type", S("diesel")), ("transmission", S("automatic")), ("body_type", S("suv")), ("power_hp", N(190)), ("condition", S("used"))]),
    // Komercijalna vozila
    l(5035, 10120, "Volkswagen Transporter T6 2.0 TDI", "Dostavno vozilo, pregrada, tri sedišta, PDV uračunat.", 2_250_000, None, "Beograd",
        &[("car_make_id", N(4)), ("car_model_id", N(410)), ("year", N(2018)), ("mileage", N(210_000)), ("power_hp", N(150)), ("fuel_type", S("diesel")), ("transmission", S("manual")), ("load_capacity_kg", N(1_200)), ("condition", S("used"))]),
    l(5036, 10120, "Fiat Ducato 2.3 Multijet maxi", "Visoki krov, produženi, servisiran.", 1_390_000, None, "Novi Pazar",
        &[("car_make_id", N(8)), ("car_model_id", N(810)), ("year", N(2016)), ("mileage", N(245_000)), ("power_hp", N(130)), ("fuel_type", S("diesel")), ("transmission", S("manual")), ("load_capacity_kg", N(1_500)), ("condition", S("used"))]),
    // Kamioni
    l(5037, 10121, "MAN TGX 18.440 tegljač", "Euro 5, retarder, redovno održavan.", 4_600_000, None, "Šabac",
        &[("car_make_id", N(19)), ("car_model_id", N(1901)), ("year", N(2015)), ("mileage", N(780_000)), ("power_hp", N(440)), ("fuel_type", S("diesel")), ("load_capacity_kg", N(18_000)), ("axle_count", N(2)), ("condition", S("used"))]),
    l(5038, 10121, "Iveco Eurocargo 120E25", "Sanduk sa hidrauličnom rampom, tahograf ispravan.", 2_300_000, None, "Pančevo",
        &[("car_make_id", N(18)), ("car_model_id", N(1802)), ("year", N(2012)), ("mileage", N(520_000)), ("power_hp", N(250)), ("fuel_type", S("diesel")), ("load_capacity_kg", N(6_500)), ("axle_count", N(2)), ("condition", S("used"))]),
    l(5039, 10121, "Mercedes-Benz Actros 2545", "Troosovinac, Euro 6, navigacija i klima u kabini.", 5_900_000, Some(6_200_000), "Novi Sad",
        &[("car_make_id", N(3)), ("car_model_id", N(320)), ("year", N(2016)), ("mileage", N(690_000)), ("power_hp", N(449)), ("fuel_type", S("diesel")), ("load_capacity_kg", N(24_000)), ("axle_count", N(3)), ("condition", S("used"))]),
    // Motocikli
    l(5040, 1302, "Yamaha MT-07 ABS", "Prvi vlasnik, akrapović auspuh, zimovao u garaži.", 780_000, None, "Beograd",
        &[("year", N(2019)), ("mileage", N(18_000)), ("power_hp", N(75)), ("color", M(&["blue"])), ("condition", S("used"))]),
    l(5041, 1302, "Honda CB500F", "A2 kategorija, servisiran, nove gume.", 560_000, None, "Novi Sad",
        &[("year", N(2017)), ("mileage", N(26_000)), ("power_hp", N(48)), ("color", M(&["red"])), ("condition", S("used"))]),
    l(5042, 1302, "Tomos APN 6 moped", "Original delovi, pali iz prve.", 45_000, None, "Kraljevo",
        &[("year", N(1986)), ("mileage", N(12_000)), ("power_hp", N(10)), ("color", M(&["red"])), ("condition", S("used"))]),
    // Auto delovi
    l(5043, 1303, "Set zimskih guma 205/55 R16", "Četiri nove gume, DOT 2024, sa felnama.", 38_000, None, "Beograd",
        &[("condition", S("new"))]),
    l(5044, 1303, "Alternator za Golf 4 1.9 TDI", "Skinut sa ispravnog vozila, garancija na ugradnju.", 9_500, None, "Niš",
        &[("condition", S("used")), ("car_make", S("volkswagen"))]),
    l(5045, 1303, "Farovi za Zastava 101, par", "Novi, u originalnom pakovanju.", 6_800, None, "Kragujevac",
        &[("condition", S("new")), ("car_make", S("zastava"))]),
    // Pametni telefoni
    l(5046, 1101, "iPhone 13 128GB", "Baterija 88%, bez ogrebotina, kutija i punjač.", 62_000, None, "Beograd",
        &[("condition", S("used")), ("brand", S("apple")), ("storage_gb", S("128")), ("color", M(&["black"]))]),
    l(5047, 1101, "Samsung Galaxy S23 256GB", "Nov, zapakovan, garancija 2 godine.", 94_000, Some(104_000), "Novi Sad",
        &[("condition", S("new")), ("brand", S("samsung")), ("storage_gb", S("256")), ("color", M(&["green"]))]),
    l(5048, 1101, "Xiaomi Redmi Note 12 Pro", "Korišćen pola godine, maska i zaštitno staklo.", 24_500, None, "Niš",
        &[("condition", S("used")), ("brand", S("xiaomi")), ("storage_gb", S("128")), ("color", M(&["blue"]))]),
    l(5049, 1101, "iPhone 15 Pro 256GB obnovljen", "Fabrički obnovljen, nova baterija, garancija 12 meseci.", 129_000, None, "Beograd",
        &[("condition", S("refurbished")), ("brand", S("apple")), ("storage_gb", S("256")), ("color", M(&["gray"]))]),
    l(5050, 1101, "Samsung Galaxy A54 128GB", "Ispravan, sitni tragovi korišćenja.", 29_000, None, "Subotica",
        &[("condition", S("used")), ("brand", S("samsung")), ("storage_gb", S("128")), ("color", M(&["white"]))]),
    // Računari
    l(5051, 1102, "Lenovo ThinkPad T14 Gen 2", "Obnovljen, i5, 16GB RAM, 512GB SSD, nova baterija.", 72_000, None, "Beograd",
        &[("condition", S("refurbished")), ("brand", S("lenovo")), ("ram_gb", N(16))]),
    l(5052, 1102, "Dell XPS 13 9310", "i7, 16GB RAM, 4K ekran na dodir, odličan.", 98_000, None, "Novi Sad",
        &[("condition", S("used")), ("brand", S("dell")), ("ram_gb", N(16))]),
    l(5053, 1102, "Gejmerski računar Ryzen 7 5800X / RTX 3070", "32GB RAM, 1TB NVMe, kućište sa staklom.", 135_000, None, "Kragujevac",
        &[("condition", S("used")), ("ram_gb", N(32))]),
    l(5054, 1102, "HP ProBook 450 G8", "Nov laptop, i5, 8GB RAM, Windows 11 Pro.", 84_000, Some(89_000), "Čačak",
        &[("condition", S("new")), ("brand", S("hp")), ("ram_gb", N(8))]),
    // Stanovi
    l(5055, 1401, "Dvosoban stan, Vračar, 54 m²", "Renoviran, treći sprat, lift, centralno grejanje, uknjižen.", 22_300_000, None, "Beograd",
        &[("area", N(54)), ("rooms", N(2)), ("floor", N(3))]),
    l(5056, 1401, "Trosoban stan, Liman 3, 78 m²", "Peti sprat, dve terase, pogled na Dunav.", 18_700_000, Some(19_500_000), "Novi Sad",
        &[("area", N(78)), ("rooms", N(3)), ("floor", N(5))]),
    l(5057, 1401, "Jednosoban stan u centru, 38 m²", "Drugi sprat, namešten, idealan za izdavanje.", 6_900_000, None, "Niš",
        &[("area", N(38)), ("rooms", N(1)), ("floor", N(2))]),
    l(5058, 1401, "Garsonjera, Novi Beograd, blok 45, 27 m²", "Osmi sprat, pogled na Savu, blizu prevoza.", 10_400_000, None, "Beograd",
        &[("area", N(27)), ("rooms", N(1)), ("floor", N(8))]),
    // Moda
    l(5059, 1002, "Zimska jakna The North Face", "Veličina M, nošena jednu sezonu.", 14_500, None, "Beograd",
        &[("condition", S("used")), ("size", S("m")), ("color", M(&["black"]))]),
    l(5060, 1002, "Kožna jakna, prirodna koža", "Veličina L, ručni rad, kao nova.", 11_000, None, "Novi Sad",
        &[("condition", S("used")), ("size", S("l")), ("color", M(&["brown"]))]),
    // Dom i bašta
    l(5061, 1005, "Trosed na razvlačenje", "Sa prostorom za posteljinu, štof kao nov.", 24_000, None, "Zrenjanin",
        &[("condition", S("used"))]),
    l(5062, 1005, "Baštenska garnitura od ratana", "Sto i četiri stolice, nova, sa jastucima.", 38_500, None, "Smederevo",
        &[("condition", S("new"))]),
];

/// The category with id `id`.
pub fn category(id: i64) -> Option<&'static CategoryDef> {
    CATEGORIES.iter().find(|c| c.id == id)
}

/// Ids of `id` and all its descendants.
pub fn subtree_ids(id: i64) -> Vec<i64> {
    let mut out = vec![id];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        out.extend(
            CATEGORIES
                .iter()
                .filter(|c| c.parent_id == Some(parent))
                .map(|c| c.id),
        );
        i += 1;
    }
    out
}

/// Depth of category `id` (0 for a root).
pub fn level(id: i64) -> i32 {
    let mut depth = 0;
    let mut cur = category(id).and_then(|c| c.parent_id);
    while let Some(p) = cur {
        depth += 1;
        cur = category(p).and_then(|c| c.parent_id);
    }
    depth
}

/// The slug path of category `id`, root first, joined with `/`.
pub fn slug_path(id: i64) -> String {
    let mut parts = Vec::new();
    let mut cur = category(id);
    while let Some(c) = cur {
        parts.push(c.slug);
        cur = c.parent_id.and_then(category);
    }
    parts.reverse();
    parts.join("/")
}

/// Number of listings in category `id` and its descendants.
pub fn listing_count(id: i64) -> usize {
    let ids = subtree_ids(id);
    LISTINGS
        .iter()
        .filter(|l| ids.contains(&l.category_id))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_and_parents_exist() {
        let ids: HashSet<_> = CATEGORIES.iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), CATEGORIES.len());
        for c in CATEGORIES {
            if let Some(p) = c.parent_id {
                assert!(ids.contains(&p), "parent of {}", c.id);
            }
        }
        let attr_ids: HashSet<_> = ATTRIBUTES.iter().map(|a| a.id).collect();
        assert_eq!(attr_ids.len(), ATTRIBUTES.len());
        let listing_ids: HashSet<_> = LISTINGS.iter().map(|l| l.id).collect();
        assert_eq!(listing_ids.len(), LISTINGS.len());
        assert!(LISTINGS.len() >= 60);
    }

    #[test]
    fn links_and_listing_values_are_valid() {
        for (cat_id, links) in CATEGORY_ATTRIBUTES {
            assert!(category(*cat_id).is_some(), "link category {cat_id}");
            for (a, _) in *links {
                assert!(attribute(*a).is_some(), "attribute {a} of {cat_id}");
            }
        }
        for l in LISTINGS {
            assert!(category(l.category_id).is_some(), "listing {}", l.id);
            for (code, v) in l.attrs {
                let def = attribute_by_code(code).unwrap_or_else(|| panic!("code {code}"));
                match (def.attr_type, v) {
                    (AttrType::Number, Av::N(n)) => {
                        assert!(def.min.is_none_or(|m| *n >= m), "{} {code}", l.id);
                        assert!(def.max.is_none_or(|m| *n <= m), "{} {code}", l.id);
                    }
                    (AttrType::Select, Av::S(s)) => assert!(def.option(s).is_some(), "{s}"),
                    (AttrType::Multiselect, Av::M(all)) => {
                        assert!(all.iter().all(|s| def.option(s).is_some()))
                    }
                    other => panic!("listing {} {code}: {other:?}", l.id),
                }
            }
        }
    }

    #[test]
    fn tree_helpers() {
        assert_eq!(level(1003), 0);
        assert_eq!(level(10101), 2);
        assert_eq!(
            slug_path(10101),
            "automotive/domaca-proizvodnja/zastava-vozila"
        );
        assert!(subtree_ids(1003).contains(&10121));
        assert_eq!(listing_count(10101), 6);
        assert_eq!(listing_count(10110), 6);
    }
}
