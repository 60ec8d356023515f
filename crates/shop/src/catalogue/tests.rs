//! The catalogue's checks: what a file may say, and what is refused with which error.

#![allow(clippy::unwrap_used)]

use super::*;

const GOOD: &str = r#"
    [[items]]
    id = "concert"
    name = "Concert, 31 December"
    price_cents = 4500
    stock = 50
    kind = "ticket"

    [[items]]
    id = "app"
    name = "usher app 1.0"
    price_cents = 999
    stock = 1000
    kind = "download"
    download_name = "usher-app-1.0.txt"
"#;

fn id(text: &str) -> ItemId {
    ItemId::new(text).unwrap()
}

#[test]
fn good_file_parses_in_order() {
    let catalogue = Catalogue::from_toml(GOOD).unwrap();
    let ids: Vec<_> = catalogue.items().iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["concert", "app"]);
    let concert = catalogue.get(&id("concert")).unwrap();
    assert_eq!(concert.price_cents, 4500);
    assert_eq!(concert.initial_stock, 50);
    assert_eq!(concert.kind, Kind::Ticket);
    let app = catalogue.get(&id("app")).unwrap();
    assert_eq!(app.kind.file_name(), Some("usher-app-1.0.txt"));
    assert!(catalogue.get(&id("nope")).is_none());
}

#[test]
fn demo_catalogue_is_valid_and_has_concert_and_app() {
    let demo = Catalogue::demo();
    assert_eq!(demo.get(&id("concert")).unwrap().initial_stock, 50);
    let app = demo.get(&id("app")).unwrap();
    assert!(app.kind.file_name().is_some());
    assert!(app.initial_stock >= 1000);
}

#[test]
fn unknown_field_is_refused() {
    let text = GOOD.replace("stock = 50", "stock = 50\ncolour = \"red\"");
    let error = Catalogue::from_toml(&text).unwrap_err();
    assert!(matches!(error, CatalogueError::Parse(_)), "{error}");
    assert!(error.to_string().contains("colour"), "{error}");
    let top = format!("colour = \"red\"\n{GOOD}");
    assert!(matches!(
        Catalogue::from_toml(&top),
        Err(CatalogueError::Parse(_))
    ));
}

#[test]
fn prices_have_a_currency_and_items_may_have_a_description() {
    assert_eq!(Catalogue::from_toml(GOOD).unwrap().currency(), "EUR");
    let usd = format!("currency = \"USD\"\n{GOOD}");
    assert_eq!(Catalogue::from_toml(&usd).unwrap().currency(), "USD");
    for bad in ["usd", "EURO", "", "E1R"] {
        let text = format!("currency = \"{bad}\"\n{GOOD}");
        let error = Catalogue::from_toml(&text).unwrap_err();
        assert!(
            matches!(error, CatalogueError::Currency(_)),
            "{bad}: {error}"
        );
    }
    let described = GOOD.replace("stock = 50", "stock = 50\ndescription = \" Loud. \"");
    let catalogue = Catalogue::from_toml(&described).unwrap();
    assert_eq!(catalogue.items()[0].description.as_deref(), Some("Loud."));
    let long = GOOD.replace(
        "stock = 50",
        &format!("stock = 50\ndescription = \"{}\"", "x".repeat(2001)),
    );
    assert!(matches!(
        Catalogue::from_toml(&long),
        Err(CatalogueError::BadItem { .. })
    ));
}

#[test]
fn bad_id_is_refused() {
    for bad in ["con cert", "", "a/b", "ü"] {
        let text = GOOD.replace("\"concert\"", &format!("\"{bad}\""));
        let error = Catalogue::from_toml(&text).unwrap_err();
        assert!(
            matches!(error, CatalogueError::BadId { .. }),
            "{bad}: {error}"
        );
    }
    let long = GOOD.replace("\"concert\"", &format!("\"{}\"", "x".repeat(65)));
    assert!(matches!(
        Catalogue::from_toml(&long),
        Err(CatalogueError::BadId { .. })
    ));
}

#[test]
fn bad_kind_is_refused() {
    let text = GOOD.replace("kind = \"ticket\"", "kind = \"voucher\"");
    let error = Catalogue::from_toml(&text).unwrap_err();
    assert!(matches!(error, CatalogueError::Parse(_)), "{error}");
}

#[test]
fn download_name_must_match_kind_and_be_safe() {
    let missing = GOOD.replace("download_name = \"usher-app-1.0.txt\"", "");
    assert!(matches!(
        Catalogue::from_toml(&missing),
        Err(CatalogueError::BadItem { .. })
    ));
    let on_ticket = GOOD.replace(
        "kind = \"ticket\"",
        "kind = \"ticket\"\ndownload_name = \"x\"",
    );
    assert!(matches!(
        Catalogue::from_toml(&on_ticket),
        Err(CatalogueError::BadItem { .. })
    ));
    for unsafe_name in ["a\\\"b", "../etc", ".hidden", "a b"] {
        let text = GOOD.replace("usher-app-1.0.txt", unsafe_name);
        assert!(
            matches!(
                Catalogue::from_toml(&text),
                Err(CatalogueError::BadItem { .. })
            ),
            "{unsafe_name}"
        );
    }
}

#[test]
fn duplicates_empty_and_too_many_are_refused() {
    let twice = GOOD.replace("\"app\"", "\"concert\"");
    assert!(matches!(
        Catalogue::from_toml(&twice),
        Err(CatalogueError::Duplicate(_))
    ));
    assert!(matches!(
        Catalogue::from_toml("items = []"),
        Err(CatalogueError::Empty)
    ));
    let many: String = (0..=MAX_ITEMS)
        .map(|n| {
            format!(
                "[[items]]\nid = \"i{n}\"\nname = \"n\"\nprice_cents = 1\nstock = 1\nkind = \"ticket\"\n"
            )
        })
        .collect();
    assert!(matches!(
        Catalogue::from_toml(&many),
        Err(CatalogueError::TooMany(_))
    ));
}

#[test]
fn pictures_are_read_beside_the_catalogue_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalogue.toml");
    let with = GOOD.replace("stock = 50", "stock = 50\nimage = \"stage.svg\"");
    std::fs::write(&path, &with).unwrap();
    // Named but missing: the catalogue says which item.
    let missing = Catalogue::load(&path).unwrap_err();
    assert!(matches!(missing, CatalogueError::Image { .. }), "{missing}");
    assert!(missing.to_string().contains("concert"), "{missing}");
    std::fs::write(
        dir.path().join("stage.svg"),
        "<svg viewBox=\"0 0 1 1\"></svg>",
    )
    .unwrap();
    let catalogue = Catalogue::load(&path).unwrap();
    let image = catalogue
        .get(&id("concert"))
        .unwrap()
        .image
        .clone()
        .unwrap();
    assert_eq!(image.content_type, "image/svg+xml");
    assert!(catalogue.get(&id("app")).unwrap().image.is_none());
    // Text alone has no folder to find it in.
    assert!(matches!(
        Catalogue::from_toml(&with),
        Err(CatalogueError::Image { .. })
    ));
    // The demo's are built in.
    assert!(
        Catalogue::demo()
            .items()
            .iter()
            .all(|item| item.image.is_some())
    );
}

#[test]
fn load_reads_a_file_and_reports_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalogue.toml");
    std::fs::write(&path, GOOD).unwrap();
    assert_eq!(Catalogue::load(&path).unwrap().items().len(), 2);
    let missing = Catalogue::load(dir.path().join("missing.toml")).unwrap_err();
    assert!(matches!(missing, CatalogueError::Read { .. }));
}
