//! The ORM against the same work written by hand with pg-wire (issue 4's benchmark): flushing
//! 10,000 new objects of a 6-column model, loading 10,000 objects, and loading 1,000 authors with
//! their 10 articles each.
//!
//! Each scenario is written twice. The ORM side uses the session as the documentation shows it.
//! The hand side is what a competent pg-wire user writes for the same result: statements
//! prepared once per connection (before any run), a flush as one prepared `INSERT ... RETURNING
//! id` per row sent in one [`client.batch()`](pg_wire::Client::batch) inside a transaction, a load
//! as one query whose rows are turned into structs, and a one-to-many load as two queries
//! (`... WHERE author_id = ANY($1)`) grouped with a hash map. Both sides end with the same data in
//! owned Rust values (the ORM's objects, the hand side's structs) and fold every field into a
//! checksum, so neither can skip decoding; both drop what they built before the clock stops.
//!
//! Transactions are equivalent: the flush is `BEGIN`, the INSERTs, `COMMIT` on both sides (the
//! ORM's `commit()` with `expire_on_commit` off; [`OrmScenario::FlushExpire`] measures the
//! default, which then reloads every object). A load is one session on the ORM side, closed at the
//! end (its `BEGIN` and `ROLLBACK` are part of the ORM's cost); the hand side runs its queries
//! outside a transaction.

use std::collections::HashMap;
use std::hint::black_box;

use chrono::{DateTime, TimeZone, Utc};
use orm::{Engine, Metadata, Model, Obj, select};
use pg_wire::types::ToSql;

use crate::BoxError;
use crate::scenarios::{Measurement, Timer, check, row_text};
use crate::wire_count::{WireCounter, WireCounts};

/// New objects per flush.
pub const FLUSH_OBJECTS: u32 = 10_000;
/// Rows of the table the load reads.
pub const LOAD_OBJECTS: u32 = 10_000;
/// Authors, and articles per author, of the one-to-many load.
pub const AUTHORS: u32 = 1_000;
pub const ARTICLES_PER_AUTHOR: u32 = 10;

/// The flush target: 6 columns (a SERIAL key and five values of the types scenario 3 fetches).
#[derive(Model, Debug, Clone, Default)]
#[orm(table = "orm_flush_items")]
pub struct FlushItem {
    #[orm(primary_key)]
    pub id: Option<i32>,
    pub a: i32,
    pub b: i64,
    #[orm(length = 100)]
    pub c: String,
    pub d: f64,
    pub e: DateTime<Utc>,
}

/// The same 6 columns, in the table the load reads (filled once).
#[derive(Model, Debug, Clone, Default)]
#[orm(table = "orm_load_items")]
pub struct LoadItem {
    #[orm(primary_key)]
    pub id: Option<i32>,
    pub a: i32,
    pub b: i64,
    #[orm(length = 100)]
    pub c: String,
    pub d: f64,
    pub e: DateTime<Utc>,
}

/// An author and, through `BenchAuthor::ARTICLES`, their articles.
#[derive(Model, Debug, Clone, Default)]
#[orm(table = "orm_authors")]
#[orm(relationship(name = "articles", target = BenchArticle, foreign_key = author_id, backref = "author"))]
pub struct BenchAuthor {
    #[orm(primary_key)]
    pub id: Option<i32>,
    #[orm(length = 100)]
    pub name: String,
    #[orm(length = 255)]
    pub email: String,
}

#[derive(Model, Debug, Clone, Default)]
#[orm(table = "orm_articles")]
pub struct BenchArticle {
    #[orm(primary_key)]
    pub id: Option<i32>,
    #[orm(foreign_key = "orm_authors.id", index)]
    pub author_id: i32,
    #[orm(length = 200)]
    pub title: String,
    pub content: String,
    pub views: i32,
}

/// The hand side's row structs.
struct Item {
    id: Option<i32>,
    a: i32,
    b: i64,
    c: String,
    d: f64,
    e: DateTime<Utc>,
}

struct Author {
    id: i32,
    name: String,
    email: String,
}

struct Article {
    id: i32,
    author_id: i32,
    title: String,
    content: String,
    views: i32,
}

const INSERT_ITEM: &str =
    "INSERT INTO orm_flush_items (a, b, c, d, e) VALUES ($1, $2, $3, $4, $5) RETURNING id";
const SELECT_ITEMS: &str = "SELECT id, a, b, c, d, e FROM orm_load_items";
const SELECT_AUTHORS: &str = "SELECT id, name, email FROM orm_authors";
const SELECT_ARTICLES: &str =
    "SELECT id, author_id, title, content, views FROM orm_articles WHERE author_id = ANY($1)";

/// Filled once, after `create_all`; autovacuum off as for the driver scenarios' tables.
const FILL: &[&str] = &[
    "ALTER TABLE orm_flush_items SET (autovacuum_enabled = off)",
    "ALTER TABLE orm_load_items SET (autovacuum_enabled = off)",
    "ALTER TABLE orm_authors SET (autovacuum_enabled = off)",
    "ALTER TABLE orm_articles SET (autovacuum_enabled = off)",
    "INSERT INTO orm_load_items (a, b, c, d, e) SELECT g, g::int8 * 1000003, 'row number ' || g, \
     g::float8 / 7, timestamptz '2025-01-01 00:00:00+00' + g * interval '1 second' \
     FROM generate_series(1, 10000) AS g",
    "INSERT INTO orm_authors (name, email) SELECT 'Author ' || g, 'author' || g || '@example.com' \
     FROM generate_series(1, 1000) AS g",
    "INSERT INTO orm_articles (author_id, title, content, views) \
     SELECT (g - 1) / 10 + 1, 'Article ' || g || ': how to write clean code', \
     'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor ' || g, \
     g % 997 FROM generate_series(1, 10000) AS g",
    "VACUUM ANALYZE orm_flush_items, orm_load_items, orm_authors, orm_articles",
];

/// One ORM scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrmScenario {
    Flush,
    FlushExpire,
    Load,
    Selectin,
}

impl OrmScenario {
    pub const ALL: [OrmScenario; 4] = [
        OrmScenario::Flush,
        OrmScenario::FlushExpire,
        OrmScenario::Load,
        OrmScenario::Selectin,
    ];

    /// The name `--scenario` takes.
    pub fn name(self) -> &'static str {
        match self {
            OrmScenario::Flush => "orm-flush",
            OrmScenario::FlushExpire => "orm-flush-expire",
            OrmScenario::Load => "orm-load",
            OrmScenario::Selectin => "orm-selectin",
        }
    }

    /// The short label of the report (`o1` ...), also accepted by `--scenario`.
    pub fn number(self) -> &'static str {
        match self {
            OrmScenario::Flush => "o1",
            OrmScenario::FlushExpire => "o1e",
            OrmScenario::Load => "o2",
            OrmScenario::Selectin => "o3",
        }
    }

    /// A short title for the tables.
    pub fn title(self) -> &'static str {
        match self {
            OrmScenario::Flush => "flush 10k new objects, 6 cols",
            OrmScenario::FlushExpire => "  same, default commit",
            OrmScenario::Load => "load 10k objects, 6 cols",
            OrmScenario::Selectin => "1k authors + their 10k articles",
        }
    }

    /// What one run does, on each side.
    pub fn description(self) -> String {
        match self {
            OrmScenario::Flush => format!(
                "{FLUSH_OBJECTS} new objects (SERIAL id + int4, int8, varchar, float8, timestamptz) \
                 written with their generated ids in one transaction: orm `session.add` each, \
                 `session.commit()` (expire_on_commit off); by hand: one prepared `INSERT ... \
                 RETURNING id` per row in one `client.batch()` between BEGIN and COMMIT"
            ),
            OrmScenario::FlushExpire => format!(
                "not in the issue's list: (o1) with the ORM's default `commit()`, whose \
                 expire_on_commit reloads the {FLUSH_OBJECTS} objects afterwards (one SELECT ... \
                 IN in a transaction of its own); the hand side is (o1)'s, unchanged"
            ),
            OrmScenario::Load => format!(
                "load {LOAD_OBJECTS} rows x 6 columns as owned objects, every field read: orm \
                 `session.all(&select::<LoadItem>())` in a fresh session (then closed); by hand: \
                 one prepared query, rows into structs"
            ),
            OrmScenario::Selectin => format!(
                "load {AUTHORS} authors and their {ARTICLES_PER_AUTHOR} articles each, grouped per \
                 author: orm `session.all` + `session.load_many(&authors, BenchAuthor::ARTICLES)` \
                 in a fresh session; by hand: two prepared queries (authors, then articles \
                 WHERE author_id = ANY($1)) grouped with a hash map"
            ),
        }
    }

    /// What the throughput counts.
    pub fn unit(self) -> &'static str {
        "objects/s"
    }

    /// Objects per run.
    fn objects(self) -> u64 {
        match self {
            OrmScenario::Flush | OrmScenario::FlushExpire => FLUSH_OBJECTS.into(),
            OrmScenario::Load => LOAD_OBJECTS.into(),
            OrmScenario::Selectin => u64::from(AUTHORS) * u64::from(1 + ARTICLES_PER_AUTHOR),
        }
    }

    /// Parses a name or a label.
    pub fn parse(text: &str) -> Option<OrmScenario> {
        OrmScenario::ALL
            .into_iter()
            .find(|s| s.name() == text || s.number() == text)
    }
}

/// Which side of a comparison a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Orm,
    Hand,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Orm => "orm",
            Side::Hand => "pg-wire by hand",
        }
    }
}

/// The hand side's statements, prepared once per connection.
struct HandStatements {
    insert_item: pg_wire::Statement,
    select_items: pg_wire::Statement,
    select_authors: pg_wire::Statement,
    select_articles: pg_wire::Statement,
}

/// The two sides' connections: the ORM's engine (its pool opens one connection on first use) and
/// the hand side's client.
pub struct OrmBench {
    engine: Engine,
    hand: pg_wire::Client,
    statements: HandStatements,
}

impl OrmBench {
    /// Creates the tables with the ORM's `create_all` and fills them, through `config`. Run once.
    pub async fn setup(config: &pg_wire::Config) -> Result<(), BoxError> {
        let client = pg_wire::Client::connect(config).await?;
        let metadata = Metadata::new(&[
            FlushItem::TABLE,
            LoadItem::TABLE,
            BenchAuthor::TABLE,
            BenchArticle::TABLE,
        ]);
        metadata.create_all(&client).await?;
        for sql in FILL {
            client.batch_execute(sql).await?;
        }
        Ok(())
    }

    /// Both sides, connected with `config` (directly, or through the wire counter).
    pub async fn connect(config: &pg_wire::Config) -> Result<OrmBench, BoxError> {
        let engine = Engine::new(config.clone(), pg_wire::PoolOptions::new());
        let hand = pg_wire::Client::connect(config).await?;
        let statements = HandStatements {
            insert_item: hand.prepare(INSERT_ITEM).await?,
            select_items: hand.prepare(SELECT_ITEMS).await?,
            select_authors: hand.prepare(SELECT_AUTHORS).await?,
            select_articles: hand.prepare(SELECT_ARTICLES).await?,
        };
        Ok(OrmBench {
            engine,
            hand,
            statements,
        })
    }

    /// The backend process id of the ORM's pooled connection (opening it if needed), and of the
    /// hand side's.
    pub async fn backend_pids(&self) -> Result<(i32, i32), BoxError> {
        let pool_client = self.engine.pool().get().await?;
        let orm: i32 = pool_client
            .query_one("SELECT pg_backend_pid()", &[])
            .await?
            .get(0);
        let hand: i32 = self
            .hand
            .query_one("SELECT pg_backend_pid()", &[])
            .await?
            .get(0);
        Ok((orm, hand))
    }

    /// One run: the untimed preparation, then the timed work.
    pub async fn run(
        &mut self,
        side: Side,
        scenario: OrmScenario,
    ) -> Result<Measurement, BoxError> {
        self.prepare(scenario).await?;
        self.timed(side, scenario).await
    }

    /// What a run needs before the clock starts: an empty table for the flushes.
    async fn prepare(&mut self, scenario: OrmScenario) -> Result<(), BoxError> {
        if matches!(scenario, OrmScenario::Flush | OrmScenario::FlushExpire) {
            self.hand.batch_execute("TRUNCATE orm_flush_items").await?;
        }
        Ok(())
    }

    async fn timed(&mut self, side: Side, scenario: OrmScenario) -> Result<Measurement, BoxError> {
        match (scenario, side) {
            (OrmScenario::Flush, Side::Orm) => self.orm_flush(false).await,
            (OrmScenario::FlushExpire, Side::Orm) => self.orm_flush(true).await,
            (OrmScenario::Flush | OrmScenario::FlushExpire, Side::Hand) => self.hand_flush().await,
            (OrmScenario::Load, Side::Orm) => self.orm_load().await,
            (OrmScenario::Load, Side::Hand) => self.hand_load().await,
            (OrmScenario::Selectin, Side::Orm) => self.orm_selectin().await,
            (OrmScenario::Selectin, Side::Hand) => self.hand_selectin().await,
        }
    }

    // (o1) flush 10,000 new objects.

    async fn orm_flush(&mut self, expire_on_commit: bool) -> Result<Measurement, BoxError> {
        let mut text = String::new();
        let start = Timer::start();
        let mut session = self.engine.session();
        session.set_expire_on_commit(expire_on_commit);
        let objects: Vec<Obj<FlushItem>> = (0..FLUSH_OBJECTS as i32)
            .map(|i| {
                row_text(&mut text, i);
                Obj::new(FlushItem {
                    id: None,
                    a: i,
                    b: i64::from(i) * 3,
                    c: text.clone(),
                    d: f64::from(i) / 7.0,
                    e: timestamp(i),
                })
            })
            .collect();
        for object in &objects {
            session.add(object);
        }
        session.commit().await?;
        let mut ids = 0i64;
        for object in &objects {
            ids += i64::from(object.read().id.ok_or("a flushed object has no id")?);
        }
        drop(session);
        drop(objects);
        black_box(ids);
        Ok(start.stop(FLUSH_OBJECTS.into()))
    }

    async fn hand_flush(&mut self) -> Result<Measurement, BoxError> {
        let statement = self.statements.insert_item.clone();
        let mut text = String::new();
        let start = Timer::start();
        let mut items: Vec<Item> = (0..FLUSH_OBJECTS as i32)
            .map(|i| {
                row_text(&mut text, i);
                Item {
                    id: None,
                    a: i,
                    b: i64::from(i) * 3,
                    c: text.clone(),
                    d: f64::from(i) / 7.0,
                    e: timestamp(i),
                }
            })
            .collect();
        let transaction = self.hand.transaction().await?;
        let ids: Vec<i32> = {
            let params: Vec<[&(dyn ToSql + Sync); 5]> = items
                .iter()
                .map(|item| {
                    [
                        &item.a as _,
                        &item.b as _,
                        &item.c as _,
                        &item.d as _,
                        &item.e as _,
                    ]
                })
                .collect();
            let mut batch = transaction.batch();
            for p in &params {
                batch.query(&statement, p);
            }
            let results = batch.run().await?;
            results
                .into_iter()
                .map(|result| {
                    let result = result?;
                    let row = result.rows.first().ok_or("INSERT returned no row")?;
                    Ok(row.try_get::<_, i32>(0)?)
                })
                .collect::<Result<_, BoxError>>()?
        };
        check(ids.len() == items.len(), "missing INSERT results")?;
        for (item, id) in items.iter_mut().zip(ids) {
            item.id = Some(id);
        }
        transaction.commit().await?;
        let mut sum = 0i64;
        for item in &items {
            sum += i64::from(item.id.ok_or("a flushed row has no id")?);
        }
        drop(items);
        black_box(sum);
        Ok(start.stop(FLUSH_OBJECTS.into()))
    }

    // (o2) load 10,000 objects.

    async fn orm_load(&mut self) -> Result<Measurement, BoxError> {
        let start = Timer::start();
        let mut session = self.engine.session();
        let objects = session.all(&select::<LoadItem>()).await?;
        check(objects.len() == LOAD_OBJECTS as usize, "wrong object count")?;
        let mut sum = 0i64;
        for object in &objects {
            let item = object.read();
            sum = fold_item(sum, item.id, item.a, item.b, &item.c, item.d, item.e);
        }
        session.close().await?;
        drop(session);
        drop(objects);
        black_box(sum);
        Ok(start.stop(LOAD_OBJECTS.into()))
    }

    async fn hand_load(&mut self) -> Result<Measurement, BoxError> {
        let start = Timer::start();
        let rows = self.hand.query(&self.statements.select_items, &[]).await?;
        let items: Vec<Item> = rows
            .iter()
            .map(|row| Item {
                id: Some(row.get(0)),
                a: row.get(1),
                b: row.get(2),
                c: row.get(3),
                d: row.get(4),
                e: row.get(5),
            })
            .collect();
        drop(rows);
        check(items.len() == LOAD_OBJECTS as usize, "wrong row count")?;
        let mut sum = 0i64;
        for item in &items {
            sum = fold_item(sum, item.id, item.a, item.b, &item.c, item.d, item.e);
        }
        drop(items);
        black_box(sum);
        Ok(start.stop(LOAD_OBJECTS.into()))
    }

    // (o3) 1,000 authors with their articles.

    async fn orm_selectin(&mut self) -> Result<Measurement, BoxError> {
        let start = Timer::start();
        let mut session = self.engine.session();
        let authors = session.all(&select::<BenchAuthor>()).await?;
        let articles = session.load_many(&authors, BenchAuthor::ARTICLES).await?;
        check(authors.len() == AUTHORS as usize, "wrong author count")?;
        let mut sum = 0i64;
        for (author, articles) in authors.iter().zip(&articles) {
            check(
                articles.len() == ARTICLES_PER_AUTHOR as usize,
                "wrong article count",
            )?;
            let author = author.read();
            sum = fold_author(sum, author.id.unwrap_or(0), &author.name, &author.email);
            for article in articles {
                let article = article.read();
                check(
                    Some(article.author_id) == author.id,
                    "an article under the wrong author",
                )?;
                sum = fold_article(
                    sum,
                    article.id.unwrap_or(0),
                    &article.title,
                    &article.content,
                    article.views,
                );
            }
        }
        session.close().await?;
        drop(session);
        drop(articles);
        drop(authors);
        black_box(sum);
        Ok(start.stop(OrmScenario::Selectin.objects()))
    }

    async fn hand_selectin(&mut self) -> Result<Measurement, BoxError> {
        let start = Timer::start();
        let rows = self
            .hand
            .query(&self.statements.select_authors, &[])
            .await?;
        let authors: Vec<Author> = rows
            .iter()
            .map(|row| Author {
                id: row.get(0),
                name: row.get(1),
                email: row.get(2),
            })
            .collect();
        drop(rows);
        let ids: Vec<i32> = authors.iter().map(|a| a.id).collect();
        let position: HashMap<i32, usize> =
            ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let rows = self
            .hand
            .query(&self.statements.select_articles, &[&ids])
            .await?;
        let mut grouped: Vec<Vec<Article>> = Vec::new();
        grouped.resize_with(authors.len(), Vec::new);
        for row in &rows {
            let article = Article {
                id: row.get(0),
                author_id: row.get(1),
                title: row.get(2),
                content: row.get(3),
                views: row.get(4),
            };
            let slot = position
                .get(&article.author_id)
                .and_then(|&i| grouped.get_mut(i))
                .ok_or("an article of an author not asked for")?;
            slot.push(article);
        }
        drop(rows);
        let loaded: Vec<(Author, Vec<Article>)> = authors.into_iter().zip(grouped).collect();
        check(loaded.len() == AUTHORS as usize, "wrong author count")?;
        let mut sum = 0i64;
        for (author, articles) in &loaded {
            check(
                articles.len() == ARTICLES_PER_AUTHOR as usize,
                "wrong article count",
            )?;
            sum = fold_author(sum, author.id, &author.name, &author.email);
            for article in articles {
                check(
                    article.author_id == author.id,
                    "an article under the wrong author",
                )?;
                sum = fold_article(
                    sum,
                    article.id,
                    &article.title,
                    &article.content,
                    article.views,
                );
            }
        }
        drop(loaded);
        black_box(sum);
        Ok(start.stop(OrmScenario::Selectin.objects()))
    }
}

/// Row `i`'s timestamp.
fn timestamp(i: i32) -> DateTime<Utc> {
    // A valid date: 2025-01-01 plus i seconds.
    Utc.timestamp_opt(1_735_689_600 + i64::from(i), 0)
        .single()
        .unwrap_or_default()
}

fn fold_item(sum: i64, id: Option<i32>, a: i32, b: i64, c: &str, d: f64, e: DateTime<Utc>) -> i64 {
    crate::scenarios::fold(sum, a, b, c, d, e).wrapping_add(i64::from(id.unwrap_or(0)))
}

fn fold_author(sum: i64, id: i32, name: &str, email: &str) -> i64 {
    sum.wrapping_add(i64::from(id))
        .wrapping_add(name.len() as i64)
        .wrapping_add(email.len() as i64)
}

fn fold_article(sum: i64, id: i32, title: &str, content: &str, views: i32) -> i64 {
    sum.wrapping_add(i64::from(id))
        .wrapping_add(title.len() as i64)
        .wrapping_add(content.len() as i64)
        .wrapping_add(i64::from(views))
}

/// What crossed the wire in one run of each side, counted after a warm-up run.
#[derive(Debug, Clone, Copy)]
pub struct WireRun {
    pub orm: WireCounts,
    pub hand: WireCounts,
}

/// Runs `scenario` once per side through the wire counter to warm up (prepared statements, the
/// pool's connection), then once more per side, counting the messages of that run alone.
pub async fn count_wire(
    counter: &WireCounter,
    bench: &mut OrmBench,
    scenario: OrmScenario,
) -> Result<WireRun, BoxError> {
    let mut counts = [WireCounts::default(); 2];
    for (slot, side) in counts.iter_mut().zip([Side::Orm, Side::Hand]) {
        bench.run(side, scenario).await?;
        bench.prepare(scenario).await?;
        let before = counter.snapshot();
        bench.timed(side, scenario).await?;
        *slot = counter.snapshot().since(&before);
    }
    let [orm, hand] = counts;
    Ok(WireRun { orm, hand })
}
