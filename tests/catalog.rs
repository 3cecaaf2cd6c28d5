//! Catalog discovery, object rules and routing against a real MariaDB source.

mod support;

use ferry::catalog::Catalog;
use ferry::endpoint::{Endpoint, EndpointConfig};
use ferry::rules::{ObjectRules, Route};
use ferry::{Coded, Side};

async fn source_endpoint(pair: &support::Pair) -> Endpoint {
    let cfg = EndpointConfig::new("127.0.0.1", pair.source.port, "root");
    Endpoint::open(Side::Source, &cfg, None, 2)
        .await
        .expect("open source")
}

/// A schema with every kind of object the catalog must see.
async fn create_shop(pair: &support::Pair, db: &str) {
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
             USE `{db}`;
             CREATE TABLE customers (id INT PRIMARY KEY, email VARCHAR(100) NOT NULL, UNIQUE KEY uk_email (email)) ENGINE=InnoDB;
             CREATE TABLE orders (
               id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
               customer_id INT NOT NULL,
               qty INT NOT NULL,
               price DECIMAL(10,2),
               total DECIMAL(12,2) AS (qty * price) STORED,
               label VARCHAR(20) AS (CONCAT('n', qty)) VIRTUAL,
               secret INT INVISIBLE,
               CONSTRAINT fk_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
             ) ENGINE=InnoDB;
             CREATE TABLE logs (msg TEXT, at DATETIME) ENGINE=MyISAM;
             CREATE TABLE codes (code CHAR(3) NOT NULL, region VARCHAR(5) NULL, UNIQUE KEY uk_region (region), UNIQUE KEY uk_code (code));
             CREATE TABLE tmp_scratch (id INT PRIMARY KEY);
             CREATE TABLE MixedCase (id INT PRIMARY KEY);
             CREATE VIEW v_totals AS SELECT id, total FROM orders;
             CREATE TRIGGER trg_qty BEFORE INSERT ON orders FOR EACH ROW SET NEW.qty = GREATEST(NEW.qty, 0);
             CREATE PROCEDURE p_count() SELECT COUNT(*) FROM orders;
             CREATE FUNCTION f_double(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
             CREATE EVENT ev_purge ON SCHEDULE EVERY 1 DAY DO DELETE FROM logs;
             INSERT INTO customers VALUES (1, 'a@x'), (2, 'b@x'), (3, 'c@x');
             INSERT INTO orders (customer_id, qty, price) VALUES (1, 2, 9.50), (2, 1, 3.00), (3, 5, 1.25), (1, 1, 1.00);
             ANALYZE TABLE customers, orders;"
        ))
        .await;
}

#[tokio::test]
async fn catalog_sees_tables_keys_fks_generated_columns_and_objects() {
    let pair = support::pair();
    let db = support::unique("cat_");
    create_shop(&pair, &db).await;
    let ep = source_endpoint(&pair).await;
    let cat = Catalog::load(&ep, |s| s == db).await.expect("catalog");

    assert_eq!(cat.schemas.len(), 1);
    assert_eq!(cat.schemas[0].name, db);
    assert_eq!(cat.schemas[0].collation, "utf8mb4_unicode_ci");
    let names: Vec<&str> = cat.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "MixedCase",
            "codes",
            "customers",
            "logs",
            "orders",
            "tmp_scratch"
        ]
    );

    let orders = cat.table(&db, "orders").expect("orders");
    assert_eq!(orders.engine.as_deref(), Some("InnoDB"));
    assert_eq!(
        orders.primary_key.as_ref().map(|k| k.columns.clone()),
        Some(vec!["id".to_string()])
    );
    assert!(
        orders.row_estimate >= 1,
        "ANALYZE gives an estimate: {}",
        orders.row_estimate
    );
    assert!(orders.data_bytes > 0);
    let col = |n: &str| orders.columns.iter().find(|c| c.name == n).expect(n);
    assert!(col("id").unsigned);
    assert!(!col("qty").unsigned && !col("qty").nullable);
    assert!(col("price").nullable);
    let total = col("total").generated.as_ref().expect("total is generated");
    assert!(total.stored);
    assert!(total.expression.contains("qty"), "{}", total.expression);
    let label = col("label").generated.as_ref().expect("label is generated");
    assert!(!label.stored);
    assert!(col("secret").invisible);
    assert!(col("qty").generated.is_none());
    assert_eq!(
        orders.columns.iter().map(|c| c.ordinal).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6, 7]
    );
    assert_eq!(orders.foreign_keys.len(), 1);
    let fk = &orders.foreign_keys[0];
    assert_eq!(fk.name, "fk_customer");
    assert_eq!(fk.columns, ["customer_id"]);
    assert_eq!(
        (fk.ref_schema.as_str(), fk.ref_table.as_str()),
        (db.as_str(), "customers")
    );
    assert_eq!(fk.ref_columns, ["id"]);

    let logs = cat.table(&db, "logs").expect("logs");
    assert_eq!(logs.engine.as_deref(), Some("MyISAM"));
    assert!(logs.primary_key.is_none() && logs.row_key().is_none());

    let codes = cat.table(&db, "codes").expect("codes");
    assert!(codes.primary_key.is_none());
    let keys: Vec<&str> = codes
        .unique_not_null_keys
        .iter()
        .map(|k| k.name.as_str())
        .collect();
    assert_eq!(
        keys,
        ["uk_code"],
        "a unique key over a nullable column cannot identify rows"
    );
    assert_eq!(
        codes.row_key().map(|k| k.columns.clone()),
        Some(vec!["code".to_string()])
    );

    let customers = cat.table(&db, "customers").expect("customers");
    assert_eq!(customers.unique_not_null_keys[0].columns, ["email"]);

    assert_eq!(cat.views.len(), 1);
    assert_eq!(cat.views[0].name, "v_totals");
    assert_eq!(cat.views[0].definer, "root@127.0.0.1");
    assert_eq!(cat.triggers.len(), 1);
    let trg = &cat.triggers[0];
    assert_eq!(
        (
            trg.name.as_str(),
            trg.table.as_str(),
            trg.timing.as_str(),
            trg.event.as_str()
        ),
        ("trg_qty", "orders", "BEFORE", "INSERT")
    );
    let routines: Vec<(String, String)> = cat
        .routines
        .iter()
        .map(|r| (r.kind.clone(), r.name.clone()))
        .collect();
    assert_eq!(
        routines,
        [
            ("FUNCTION".into(), "f_double".into()),
            ("PROCEDURE".into(), "p_count".into())
        ]
    );
    assert_eq!(cat.events.len(), 1);
    assert_eq!(cat.events[0].name, "ev_purge");

    // System schemas never appear, even when asked for.
    let all = Catalog::load(&ep, |_| true).await.expect("catalog");
    assert!(all.schemas.iter().all(|s| ![
        "mysql",
        "sys",
        "information_schema",
        "performance_schema"
    ]
    .contains(&s.name.as_str())));
    assert!(all.schemas.iter().any(|s| s.name == db));
    ep.close().await;
}

fn rules(include: &[String], exclude: &[String], routes: &[(String, String)]) -> ObjectRules {
    ObjectRules {
        include: include.to_vec(),
        exclude: exclude.to_vec(),
        route: routes
            .iter()
            .map(|(f, t)| Route {
                from: f.clone(),
                to: t.clone(),
            })
            .collect(),
        skip: Vec::new(),
    }
}

fn profile_with(pair: &support::Pair, objects: ObjectRules) -> ferry::Profile {
    ferry::Profile {
        name: "catalog-test".into(),
        mode: ferry::Mode::Full,
        source: EndpointConfig::new("127.0.0.1", pair.source.port, "root"),
        shards: Vec::new(),
        target: EndpointConfig::new("127.0.0.1", pair.target.port, "root"),
        objects,
        options: Default::default(),
        incremental: Default::default(),
        ignore_checks: Vec::new(),
        reverse_of: None,
    }
}

#[tokio::test]
async fn rules_select_and_route_real_tables() {
    let pair = support::pair();
    let db = support::unique("rul_");
    create_shop(&pair, &db).await;
    let ep = source_endpoint(&pair).await;

    let objects = rules(
        &[format!("{db}.*")],
        &[format!("{db}.tmp_*")],
        &[
            (format!("{db}.customers"), "crm.clients".into()),
            (format!("{db}.*"), format!("{db}_v2.*")),
        ],
    );
    let sel = ferry::inspect::selected_on(&ep, &profile_with(&pair, objects))
        .await
        .expect("selection");
    let mapped: Vec<(String, String)> = sel
        .tables
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                format!("{}.{}", t.target_schema, t.target_name),
            )
        })
        .collect();
    let v2 = format!("{db}_v2");
    assert_eq!(
        mapped,
        [
            ("MixedCase".to_string(), format!("{v2}.MixedCase")),
            ("codes".into(), format!("{v2}.codes")),
            ("customers".into(), "crm.clients".into()),
            ("logs".into(), format!("{v2}.logs")),
            ("orders".into(), format!("{v2}.orders")),
        ]
    );
    let kinds: Vec<(&str, &str, &str)> = sel
        .objects
        .iter()
        .map(|o| (o.kind.as_str(), o.name.as_str(), o.target_schema.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("view", "v_totals", v2.as_str()),
            ("trigger", "trg_qty", v2.as_str()),
            ("function", "f_double", v2.as_str()),
            ("procedure", "p_count", v2.as_str()),
            ("event", "ev_purge", v2.as_str()),
        ]
    );
    // Objects the user leaves out by name (the Objects page's checkboxes).
    let mut skipping = rules(&[format!("{db}.*")], &[], &[]);
    skipping.skip = vec![
        format!("view {db}.v_totals"),
        format!("PROCEDURE `{db}`.`p_count`"),
        format!("trigger {db}.no_such_trigger"),
    ];
    let skipped = ferry::inspect::selected_on(&ep, &profile_with(&pair, skipping))
        .await
        .expect("selection");
    let left: Vec<&str> = skipped.objects.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(left, ["trg_qty", "f_double", "ev_purge"]);
    assert_eq!(
        skipped.tables.len(),
        sel.tables.len() + 1,
        "tables stay selected"
    );
    assert_eq!(
        sel.tables
            .iter()
            .find(|t| t.name == "logs")
            .map(|t| t.row_key.len()),
        Some(0)
    );

    // Explicit names: one table only; names are case-sensitive with lower_case_table_names=0.
    let one = rules(&[format!("{db}.MixedCase")], &[], &[]);
    let sel = ferry::inspect::selected_on(&ep, &profile_with(&pair, one))
        .await
        .expect("selection");
    assert_eq!(sel.tables.len(), 1);
    // The schema's routines and event come along with any of its tables; the view
    // and the trigger need `orders`, so they are left out, saying so.
    let names = |objects: Vec<&ferry::rules::SelectedObject>| -> Vec<String> {
        objects
            .iter()
            .map(|o| format!("{} {}", o.kind, o.name))
            .collect()
    };
    assert_eq!(
        names(sel.objects.iter().collect()),
        ["function f_double", "procedure p_count", "event ev_purge"]
    );
    assert_eq!(
        names(sel.left_out.iter().map(|l| &l.object).collect()),
        ["view v_totals", "trigger trg_qty"]
    );
    let orders = (db.clone(), "orders".to_string());
    assert!(
        sel.left_out.iter().all(|l| l.missing == [orders.clone()]),
        "{:?}",
        sel.left_out
    );
    assert!(sel.broken_keys.is_empty(), "{:?}", sel.broken_keys);

    // `orders` without `customers`: its view and trigger come, its foreign key breaks.
    let child = rules(&[format!("{db}.orders")], &[], &[]);
    let sel = ferry::inspect::selected_on(&ep, &profile_with(&pair, child))
        .await
        .expect("selection");
    assert_eq!(
        names(sel.objects.iter().collect()),
        [
            "view v_totals",
            "trigger trg_qty",
            "function f_double",
            "procedure p_count",
            "event ev_purge"
        ]
    );
    assert_eq!(
        sel.objects[0].depends_on,
        [orders],
        "the view is built on orders"
    );
    let broken: Vec<(&str, &str, &str)> = sel
        .broken_keys
        .iter()
        .map(|k| (k.table.as_str(), k.name.as_str(), k.parent_table.as_str()))
        .collect();
    assert_eq!(broken, [("orders", "fk_customer", "customers")]);

    let wrong_case = rules(&[format!("{db}.mixedcase")], &[], &[]);
    let err = ferry::inspect::selected_on(&ep, &profile_with(&pair, wrong_case))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "rules.unknown_table", "{err}");

    let unknown = rules(&["no_such_db.*".into()], &[], &[]);
    let err = ferry::inspect::selected_on(&ep, &profile_with(&pair, unknown))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "rules.unknown_schema");
    assert!(err.to_string().contains("no_such_db"), "{err}");
    ep.close().await;
}
