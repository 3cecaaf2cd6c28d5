//! Discovery: what a server holds, read from `information_schema`.
//!
//! The catalog is read once per phase and is the single place later phases learn
//! tables, columns and keys from. System schemas and Ferry's own meta schema are never
//! part of it. Row counts and sizes are the server's estimates (InnoDB statistics);
//! they size progress bars and chunk plans, never correctness decisions.
//!
//! All queries are parameterised; the schema list is passed as placeholders, so only
//! the selected schemas' metadata is read even on servers with thousands of tables.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures_util::future::try_join_all;
use mysql_async::prelude::{FromValue, Queryable};
use mysql_async::{Conn, Params, Row, Value};
use serde::Serialize;

use crate::endpoint::{Endpoint, EndpointError};
use crate::error::Coded;

/// Ferry's checkpoint schema on the target; never migrated, never listed.
pub use crate::profile::META_SCHEMA;

/// Schemas that belong to the server itself (MySQL, MariaDB, TiDB).
pub const SYSTEM_SCHEMAS: &[&str] = &[
    "mysql",
    "information_schema",
    "performance_schema",
    "sys",
    "metrics_schema",
    "inspection_schema",
    "lightning_task_info",
    META_SCHEMA,
];

pub fn is_system_schema(name: &str) -> bool {
    SYSTEM_SCHEMAS.iter().any(|s| s.eq_ignore_ascii_case(name))
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("reading {what} from information_schema failed: {cause}")]
    Query { what: &'static str, cause: String },
    #[error("unexpected value in {what}: {cause}")]
    Decode { what: &'static str, cause: String },
    #[error("the server skipped tables while listing {what} ({detail}); DDL or FLUSH TABLES kept running")]
    Busy { what: &'static str, detail: String },
}

impl Coded for CatalogError {
    fn code(&self) -> &'static str {
        match self {
            CatalogError::Endpoint(e) => e.code(),
            CatalogError::Query { .. } => "catalog.query_failed",
            CatalogError::Decode { .. } => "catalog.decode_failed",
            CatalogError::Busy { .. } => "catalog.busy",
        }
    }

    fn remedy(&self) -> String {
        match self {
            CatalogError::Endpoint(e) => e.remedy(),
            CatalogError::Query { .. } => {
                "grant the account SELECT and SHOW VIEW on the schemas to migrate (and TRIGGER, EVENT for those objects)".into()
            }
            CatalogError::Decode { .. } => {
                "report this with the server version; the server returned metadata Ferry does not understand".into()
            }
            CatalogError::Busy { .. } => {
                "try again when no DDL or FLUSH TABLES runs on the selected schemas".into()
            }
        }
    }

    fn is_transient(&self) -> bool {
        matches!(self, CatalogError::Busy { .. })
            || matches!(self, CatalogError::Endpoint(e) if e.is_transient())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Schema {
    pub name: String,
    pub charset: String,
    pub collation: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Generated {
    pub expression: String,
    /// STORED / PERSISTENT rather than VIRTUAL.
    pub stored: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    pub ordinal: u32,
    pub data_type: String,
    pub column_type: String,
    pub nullable: bool,
    pub unsigned: bool,
    pub charset: Option<String>,
    pub collation: Option<String>,
    /// Generated columns are recomputed on the target, never written.
    pub generated: Option<Generated>,
    pub invisible: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Key {
    pub name: String,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub ref_schema: String,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
    /// `ON UPDATE` / `ON DELETE` rules as information_schema writes them
    /// (`CASCADE`, `SET NULL`, `RESTRICT`, `NO ACTION`, `SET DEFAULT`).
    pub on_update: String,
    pub on_delete: String,
}

impl ForeignKey {
    /// Whether changing or deleting a parent row changes child rows: InnoDB does
    /// that inside the engine and does not binlog those child changes.
    pub fn cascades(&self) -> bool {
        let acts = |r: &str| matches!(r, "CASCADE" | "SET NULL" | "SET DEFAULT");
        acts(&self.on_update) || acts(&self.on_delete)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    pub schema: String,
    pub name: String,
    pub engine: Option<String>,
    pub row_estimate: u64,
    pub data_bytes: u64,
    pub index_bytes: u64,
    pub collation: Option<String>,
    pub columns: Vec<Column>,
    pub primary_key: Option<Key>,
    /// Unique keys whose columns are all NOT NULL (and not prefix indexes): usable
    /// to identify a row when there is no primary key.
    pub unique_not_null_keys: Vec<Key>,
    /// Unique indexes besides the primary key, nullable or not: rows of such a
    /// table can conflict on values other than their key.
    pub secondary_unique: usize,
    pub foreign_keys: Vec<ForeignKey>,
    /// MariaDB `WITH SYSTEM VERSIONING`: the server keeps history rows itself.
    pub system_versioned: bool,
}

impl Table {
    /// The key that identifies rows: the primary key, else the first NOT NULL
    /// unique key. `None` means the table can only be copied as one chunk and
    /// replicated with whole-row matching.
    pub fn row_key(&self) -> Option<&Key> {
        self.primary_key
            .as_ref()
            .or_else(|| self.unique_not_null_keys.first())
    }

    pub fn total_bytes(&self) -> u64 {
        self.data_bytes.saturating_add(self.index_bytes)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct View {
    pub schema: String,
    pub name: String,
    pub definer: String,
    pub security_type: String,
    /// The tables and views of the schemas read that its definition selects
    /// from; empty when the account may not read the definition.
    pub uses: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trigger {
    pub schema: String,
    pub name: String,
    pub table: String,
    pub timing: String,
    pub event: String,
    pub definer: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Routine {
    pub schema: String,
    pub name: String,
    /// `PROCEDURE` or `FUNCTION`.
    pub kind: String,
    pub definer: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub schema: String,
    pub name: String,
    pub definer: String,
    pub status: String,
}

/// The known tables and views a stored view definition names. The server stores
/// a definition with every table qualified and quoted (`` `shop`.`orders` ``, and
/// columns as `` `shop`.`orders`.`id` ``), so each run of quoted names joined by
/// dots is read for a `schema`.`table` it starts with.
fn names_used(definition: &str, known: &HashSet<(&str, &str)>) -> Vec<(String, String)> {
    let mut idents: Vec<(String, usize, usize)> = Vec::new();
    let bytes = definition.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'`' => {
                let start = i;
                let mut name = String::new();
                i += 1;
                let mut closed = false;
                while i < bytes.len() {
                    if bytes[i] == b'`' {
                        if bytes.get(i + 1) == Some(&b'`') {
                            name.push('`');
                            i += 2;
                            continue;
                        }
                        closed = true;
                        break;
                    }
                    let ch_len = definition[i..].chars().next().map_or(1, char::len_utf8);
                    name.push_str(&definition[i..i + ch_len]);
                    i += ch_len;
                }
                if !closed {
                    break;
                }
                idents.push((name, start, i + 1));
                i += 1;
            }
            // A string literal may hold backticks that name nothing.
            q @ (b'\'' | b'"') => {
                i += 1;
                while i < bytes.len() && bytes[i] != q {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    let mut found: Vec<(String, String)> = Vec::new();
    for pair in idents.windows(2) {
        let ((a, _, a_end), (b, b_start, _)) = (&pair[0], &pair[1]);
        let joined = definition.get(*a_end..*b_start) == Some(".");
        if joined && known.contains(&(a.as_str(), b.as_str())) {
            let n = (a.clone(), b.clone());
            if !found.contains(&n) {
                found.push(n);
            }
        }
    }
    found
}

/// Everything discovered in the selected schemas of one server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Catalog {
    pub schemas: Vec<Schema>,
    pub tables: Vec<Table>,
    pub views: Vec<View>,
    pub triggers: Vec<Trigger>,
    pub routines: Vec<Routine>,
    pub events: Vec<Event>,
}

impl Catalog {
    /// Tables that a foreign key with an action (CASCADE, SET NULL) references:
    /// changing their rows changes rows of other tables inside the engine.
    pub fn cascade_parents(&self) -> std::collections::HashSet<(String, String)> {
        self.tables
            .iter()
            .flat_map(|t| &t.foreign_keys)
            .filter(|fk| fk.cascades())
            .map(|fk| (fk.ref_schema.clone(), fk.ref_table.clone()))
            .collect()
    }

    pub fn table(&self, schema: &str, name: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.schema == schema && t.name == name)
    }

    pub fn schema_names(&self) -> Vec<String> {
        self.schemas.iter().map(|s| s.name.clone()).collect()
    }

    /// Names of all non-system schemas, unfiltered.
    pub async fn load_schema_names(endpoint: &Endpoint) -> Result<Vec<String>, CatalogError> {
        let mut conn = endpoint.conn().await?;
        // No parameter: the text protocol's one round trip, not a prepare's two.
        let names: Vec<String> = conn
            .query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME")
            .await
            .map_err(query_err("schemas"))?;
        Ok(names.into_iter().filter(|n| !is_system_schema(n)).collect())
    }

    /// Reads the catalog of every non-system schema for which `want_schema` is true.
    pub async fn load(
        endpoint: &Endpoint,
        want_schema: impl Fn(&str) -> bool,
    ) -> Result<Catalog, CatalogError> {
        // information_schema silently skips a table whose definition is being
        // changed or flushed at that instant (warning 1684): read again rather than
        // migrate without it.
        let mut attempt = 0;
        loop {
            match load_with(endpoint, &want_schema).await {
                Err(CatalogError::Busy { .. }) if attempt < 20 => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
                }
                other => break other,
            }
        }
    }
}

fn query_err(what: &'static str) -> impl Fn(mysql_async::Error) -> CatalogError {
    move |e| CatalogError::Query {
        what,
        cause: e.to_string(),
    }
}

/// Takes column `i` of `row` as `T`, naming `what` on failure.
fn take<T: FromValue>(row: &mut Row, i: usize, what: &'static str) -> Result<T, CatalogError> {
    let value = row
        .take::<Value, _>(i)
        .ok_or_else(|| CatalogError::Decode {
            what,
            cause: format!("column {i} is missing"),
        })?;
    mysql_async::from_value_opt::<T>(value).map_err(|e| CatalogError::Decode {
        what,
        cause: e.to_string(),
    })
}

/// A schema's default character set and collation (`None`: no such schema);
/// a table created there without its own takes them.
pub async fn schema_defaults(
    conn: &mut Conn,
    schema: &str,
) -> Result<Option<(String, String)>, mysql_async::Error> {
    conn.exec_first(
        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
        (schema,),
    )
    .await
}

/// Every table of `schemas` as the server names it (schema, table): one query,
/// where asking for each table costs a round trip apiece at a distance.
pub async fn list_tables(
    conn: &mut Conn,
    schemas: &std::collections::BTreeSet<&str>,
) -> Result<Vec<(String, String)>, mysql_async::Error> {
    if schemas.is_empty() {
        return Ok(Vec::new());
    }
    conn.exec(
        format!(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA IN ({})",
            placeholders(schemas.len())
        ),
        schemas.iter().copied().collect::<Vec<_>>(),
    )
    .await
}

/// Every table of the server's own schemas (not the system ones), in one round
/// trip with nothing to bind: for a step that needs a few schemas' tables
/// before it knows which schemas (see `precheck::context`).
pub async fn list_all_tables(conn: &mut Conn) -> Result<Vec<(String, String)>, mysql_async::Error> {
    conn.query(
        "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA \
         NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')",
    )
    .await
}

/// Whether `schema.table` holds a row.
pub async fn holds_rows(
    conn: &mut Conn,
    schema: &str,
    table: &str,
) -> Result<bool, mysql_async::Error> {
    let any: Option<u8> = conn
        .query_first(format!(
            "SELECT 1 FROM {}.{} LIMIT 1",
            crate::checkpoint::quote(schema),
            crate::checkpoint::quote(table)
        ))
        .await?;
    Ok(any.is_some())
}

/// What each catalog query reads, the key its rows are fetched under and the
/// name its errors give.
const COLS: &str = "columns";
const IDX: &str = "indexes";
const FK: &str = "foreign keys";
const TBL: &str = "tables";
const VW: &str = "views";
const TRG: &str = "triggers";
const RTN: &str = "routines";
const EVT: &str = "events";

/// The catalog queries' rows, by what each reads.
struct Fetched(HashMap<&'static str, Vec<Row>>);

impl Fetched {
    fn take(&mut self, what: &'static str) -> Result<Vec<Row>, CatalogError> {
        self.0.remove(what).ok_or(CatalogError::Decode {
            what,
            cause: "the query's rows are missing".into(),
        })
    }
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

async fn rows(
    conn: &mut Conn,
    what: &'static str,
    sql: String,
    schemas: &[String],
) -> Result<Vec<Row>, CatalogError> {
    let params: Vec<Value> = schemas.iter().map(|s| Value::from(s.as_str())).collect();
    let rows: Vec<Row> = conn
        .exec(sql, Params::Positional(params))
        .await
        .map_err(query_err(what))?;
    if conn.get_warnings() > 0 {
        let warnings: Vec<(String, u32, String)> =
            conn.query("SHOW WARNINGS").await.map_err(query_err(what))?;
        // ER_WARN_I_S_SKIPPED_TABLE
        if let Some((_, _, message)) = warnings.into_iter().find(|w| w.1 == 1684) {
            return Err(CatalogError::Busy {
                what,
                detail: message,
            });
        }
    }
    Ok(rows)
}

/// Reads the catalog: the schemas first, then the rest of its queries side by
/// side, each connection taken from the pool only for its query (however small
/// the pool, every query gets its turn).
async fn load_with(
    endpoint: &Endpoint,
    want_schema: &impl Fn(&str) -> bool,
) -> Result<Catalog, CatalogError> {
    let mut catalog = Catalog::default();
    let schema_rows: Vec<Row> = endpoint
        .conn()
        .await?
        // No parameter: the text protocol's one round trip, not a prepare's two.
        .query(
            "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME \
             FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME",
        )
        .await
        .map_err(query_err("schemas"))?;
    for mut row in schema_rows {
        let name: String = take(&mut row, 0, "schemas")?;
        if is_system_schema(&name) || !want_schema(&name) {
            continue;
        }
        catalog.schemas.push(Schema {
            name,
            charset: take(&mut row, 1, "schemas")?,
            collation: take(&mut row, 2, "schemas")?,
        });
    }
    let names = catalog.schema_names();
    if names.is_empty() {
        return Ok(catalog);
    }
    let ph = placeholders(names.len());
    // Every query at once, each on a connection of its own: at a distance the
    // catalog costs a few round trips instead of two per query.
    let queries: Vec<(&'static str, String)> = vec![
        (COLS, format!(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, DATA_TYPE, COLUMN_TYPE, \
             IS_NULLABLE, CHARACTER_SET_NAME, COLLATION_NAME, EXTRA, GENERATION_EXPRESSION \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA IN ({ph}) \
             ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION"
        )),
        (IDX, format!(
            "SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, NULLABLE \
             FROM information_schema.STATISTICS WHERE TABLE_SCHEMA IN ({ph}) \
             ORDER BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
        )),
        (FK, format!(
            "SELECT k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, \
             k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, \
             COALESCE(r.UPDATE_RULE, 'RESTRICT'), COALESCE(r.DELETE_RULE, 'RESTRICT') \
             FROM information_schema.KEY_COLUMN_USAGE k \
             LEFT JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
               ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
              AND r.TABLE_NAME = k.TABLE_NAME \
             WHERE k.TABLE_SCHEMA IN ({ph}) AND k.REFERENCED_TABLE_NAME IS NOT NULL \
             ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION"
        )),
        (TBL, format!(
            "SELECT TABLE_SCHEMA, TABLE_NAME, ENGINE, TABLE_ROWS, DATA_LENGTH, INDEX_LENGTH, TABLE_COLLATION, \
             TABLE_TYPE = 'SYSTEM VERSIONED' \
             FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA IN ({ph}) AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') \
             ORDER BY TABLE_SCHEMA, TABLE_NAME"
        )),
        (VW, format!(
            "SELECT TABLE_SCHEMA, TABLE_NAME, DEFINER, SECURITY_TYPE, VIEW_DEFINITION FROM information_schema.VIEWS \
             WHERE TABLE_SCHEMA IN ({ph}) ORDER BY TABLE_SCHEMA, TABLE_NAME"
        )),
        (TRG, format!(
            "SELECT TRIGGER_SCHEMA, TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, DEFINER \
             FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA IN ({ph}) \
             ORDER BY TRIGGER_SCHEMA, TRIGGER_NAME"
        )),
        (RTN, format!(
            "SELECT ROUTINE_SCHEMA, ROUTINE_NAME, ROUTINE_TYPE, DEFINER FROM information_schema.ROUTINES \
             WHERE ROUTINE_SCHEMA IN ({ph}) ORDER BY ROUTINE_SCHEMA, ROUTINE_TYPE, ROUTINE_NAME"
        )),
        (EVT, format!(
            "SELECT EVENT_SCHEMA, EVENT_NAME, DEFINER, STATUS FROM information_schema.EVENTS \
             WHERE EVENT_SCHEMA IN ({ph}) ORDER BY EVENT_SCHEMA, EVENT_NAME"
        )),
    ];
    let mut fetched = Fetched(
        try_join_all(queries.into_iter().map(|(what, sql)| {
            let names = &names;
            async move {
                let mut conn = endpoint.conn().await?;
                Ok::<_, CatalogError>((what, rows(&mut conn, what, sql, names).await?))
            }
        }))
        .await?
        .into_iter()
        .collect(),
    );

    // Columns, keyed by table.
    let mut columns: BTreeMap<(String, String), Vec<Column>> = BTreeMap::new();
    for mut row in fetched.take(COLS)? {
        let schema: String = take(&mut row, 0, COLS)?;
        let table: String = take(&mut row, 1, COLS)?;
        let column_type: String = take(&mut row, 5, COLS)?;
        let extra: String = take::<Option<String>>(&mut row, 9, COLS)?.unwrap_or_default();
        let expression: Option<String> = take(&mut row, 10, COLS)?;
        let upper = extra.to_ascii_uppercase();
        // MySQL 8 marks expression defaults DEFAULT_GENERATED; those are not generated columns.
        let generated = if upper.contains("VIRTUAL GENERATED")
            || upper.contains("STORED GENERATED")
            || upper.contains("PERSISTENT GENERATED")
        {
            Some(Generated {
                expression: expression.unwrap_or_default(),
                stored: !upper.contains("VIRTUAL"),
            })
        } else {
            None
        };
        let col = Column {
            name: take(&mut row, 2, COLS)?,
            ordinal: take(&mut row, 3, COLS)?,
            data_type: take(&mut row, 4, COLS)?,
            unsigned: column_type.to_ascii_lowercase().contains("unsigned"),
            column_type,
            nullable: take::<String>(&mut row, 6, COLS)? == "YES",
            charset: take(&mut row, 7, COLS)?,
            collation: take(&mut row, 8, COLS)?,
            generated,
            invisible: upper.contains("INVISIBLE"),
        };
        columns.entry((schema, table)).or_default().push(col);
    }

    // Indexes: primary key and unique keys, columns in index order.
    struct Index {
        unique: bool,
        usable: bool,
        columns: Vec<String>,
    }
    let mut indexes: BTreeMap<(String, String), BTreeMap<String, Index>> = BTreeMap::new();
    for mut row in fetched.take(IDX)? {
        let schema: String = take(&mut row, 0, IDX)?;
        let table: String = take(&mut row, 1, IDX)?;
        let index: String = take(&mut row, 2, IDX)?;
        let non_unique: i64 = take(&mut row, 3, IDX)?;
        // Functional indexes (MySQL 8) have no column name.
        let column: Option<String> = take(&mut row, 4, IDX)?;
        let sub_part: Option<i64> = take(&mut row, 5, IDX)?;
        let nullable: String = take::<Option<String>>(&mut row, 6, IDX)?.unwrap_or_default();
        let entry = indexes
            .entry((schema, table))
            .or_default()
            .entry(index)
            .or_insert(Index {
                unique: non_unique == 0,
                usable: true,
                columns: Vec::new(),
            });
        match column {
            Some(c) if sub_part.is_none() && nullable != "YES" => entry.columns.push(c),
            _ => entry.usable = false,
        }
    }

    // Foreign keys, columns in constraint order.
    let mut fks: BTreeMap<(String, String), Vec<ForeignKey>> = BTreeMap::new();
    for mut row in fetched.take(FK)? {
        let schema: String = take(&mut row, 0, FK)?;
        let table: String = take(&mut row, 1, FK)?;
        let name: String = take(&mut row, 2, FK)?;
        let column: String = take(&mut row, 3, FK)?;
        let ref_schema: String = take(&mut row, 4, FK)?;
        let ref_table: String = take(&mut row, 5, FK)?;
        let ref_column: String = take(&mut row, 6, FK)?;
        let on_update: String = take(&mut row, 7, FK)?;
        let on_delete: String = take(&mut row, 8, FK)?;
        let list = fks.entry((schema, table)).or_default();
        match list.iter_mut().find(|f| f.name == name) {
            Some(fk) => {
                fk.columns.push(column);
                fk.ref_columns.push(ref_column);
            }
            None => list.push(ForeignKey {
                name,
                columns: vec![column],
                ref_schema,
                ref_table,
                ref_columns: vec![ref_column],
                on_update,
                on_delete,
            }),
        }
    }
    for mut row in fetched.take(TBL)? {
        let schema: String = take(&mut row, 0, TBL)?;
        let name: String = take(&mut row, 1, TBL)?;
        let key = (schema.clone(), name.clone());
        let mut primary_key = None;
        let mut unique_not_null_keys = Vec::new();
        let mut secondary_unique = 0;
        for (index, ix) in indexes.remove(&key).unwrap_or_default() {
            if ix.unique && index != "PRIMARY" {
                secondary_unique += 1;
            }
            if !(ix.unique && ix.usable && !ix.columns.is_empty()) {
                continue;
            }
            let k = Key {
                name: index,
                columns: ix.columns,
            };
            if k.name == "PRIMARY" {
                primary_key = Some(k);
            } else {
                unique_not_null_keys.push(k);
            }
        }
        catalog.tables.push(Table {
            engine: take(&mut row, 2, TBL)?,
            row_estimate: take::<Option<u64>>(&mut row, 3, TBL)?.unwrap_or(0),
            data_bytes: take::<Option<u64>>(&mut row, 4, TBL)?.unwrap_or(0),
            index_bytes: take::<Option<u64>>(&mut row, 5, TBL)?.unwrap_or(0),
            collation: take(&mut row, 6, TBL)?,
            columns: columns.remove(&key).unwrap_or_default(),
            primary_key,
            unique_not_null_keys,
            secondary_unique,
            foreign_keys: fks.remove(&key).unwrap_or_default(),
            system_versioned: take::<Option<i64>>(&mut row, 7, TBL)?.unwrap_or(0) != 0,
            schema,
            name,
        });
    }
    let mut definitions = Vec::new();
    for mut row in fetched.take(VW)? {
        catalog.views.push(View {
            schema: take(&mut row, 0, VW)?,
            name: take(&mut row, 1, VW)?,
            definer: take(&mut row, 2, VW)?,
            security_type: take(&mut row, 3, VW)?,
            uses: Vec::new(),
        });
        definitions.push(take::<Option<String>>(&mut row, 4, VW)?.unwrap_or_default());
    }
    let known: HashSet<(&str, &str)> = catalog
        .tables
        .iter()
        .map(|t| (t.schema.as_str(), t.name.as_str()))
        .chain(
            catalog
                .views
                .iter()
                .map(|v| (v.schema.as_str(), v.name.as_str())),
        )
        .collect();
    let uses: Vec<Vec<(String, String)>> =
        definitions.iter().map(|d| names_used(d, &known)).collect();
    for (view, uses) in catalog.views.iter_mut().zip(uses) {
        view.uses = uses;
    }
    for mut row in fetched.take(TRG)? {
        catalog.triggers.push(Trigger {
            schema: take(&mut row, 0, TRG)?,
            name: take(&mut row, 1, TRG)?,
            table: take(&mut row, 2, TRG)?,
            timing: take(&mut row, 3, TRG)?,
            event: take(&mut row, 4, TRG)?,
            definer: take(&mut row, 5, TRG)?,
        });
    }
    for mut row in fetched.take(RTN)? {
        catalog.routines.push(Routine {
            schema: take(&mut row, 0, RTN)?,
            name: take(&mut row, 1, RTN)?,
            kind: take(&mut row, 2, RTN)?,
            definer: take(&mut row, 3, RTN)?,
        });
    }
    for mut row in fetched.take(EVT)? {
        catalog.events.push(Event {
            schema: take(&mut row, 0, EVT)?,
            name: take(&mut row, 1, EVT)?,
            definer: take(&mut row, 2, EVT)?,
            status: take(&mut row, 3, EVT)?,
        });
    }

    // Byte order, not the server's collation order, so listings are stable everywhere.
    catalog
        .tables
        .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    catalog
        .views
        .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_definition_names_the_tables_it_reads() {
        let known: HashSet<(&str, &str)> =
            [("shop", "customers"), ("shop", "orders"), ("shop", "v_big")]
                .into_iter()
                .collect();
        // As MariaDB stores it: qualified and quoted, columns with their table.
        let def = "select `shop`.`customers`.`id` AS `id`,'`shop`.`v_big`' AS `s` \
                   from (`shop`.`customers` join `shop`.`orders` on(`shop`.`orders`.`c` = `shop`.`customers`.`id`))";
        assert_eq!(
            names_used(def, &known),
            [
                ("shop".to_string(), "customers".to_string()),
                ("shop".to_string(), "orders".to_string())
            ]
        );
        // A name with a backtick in it, and an unknown table.
        let known: HashSet<(&str, &str)> = [("a`b", "t")].into_iter().collect();
        assert_eq!(
            names_used("select 1 from `a``b`.`t` join `x`.`y`", &known),
            [("a`b".to_string(), "t".to_string())]
        );
        assert!(names_used("", &known).is_empty());
    }
}
