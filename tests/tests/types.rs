//! Round trips of every supported type through a real server: sent as a binary parameter, read
//! back as a binary column, and checked against the server's own text rendering, so an encoder and
//! a decoder that were wrong in the same way would still be caught.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use harness::{AuthMethod, TestServer};
use pg_wire::error::report;
use pg_wire::types::{Date, FromSqlOwned, Timestamp, ToSql};
use pg_wire::{Client, ErrorKind};

async fn client() -> Client {
    let server = TestServer::shared(AuthMethod::Trust);
    let db = server.fresh_database().await.unwrap();
    let conninfo = format!(
        "{} options='-c TimeZone=UTC -c DateStyle=ISO,MDY -c extra_float_digits=1'",
        server.connection_string(server.superuser(), None, &db, false)
    );
    Client::connect(&conninfo.parse().unwrap()).await.unwrap()
}

/// Sends `value` as a `sql_type` parameter, reads it back, and returns (value read, server text).
async fn round_trip<T>(client: &Client, sql_type: &str, value: &T) -> (T, Option<String>)
where
    T: ToSql + Sync + FromSqlOwned,
{
    let sql = format!("SELECT $1::{sql_type}, $1::{sql_type}::text");
    let row = client
        .query_one(sql.as_str(), &[value])
        .await
        .unwrap_or_else(|e| panic!("{sql_type} {value:?}: {}", report(&e)));
    (row.get(0), row.get(1))
}

async fn check<T>(client: &Client, sql_type: &str, value: T, text: Option<&str>)
where
    T: ToSql + Sync + FromSqlOwned + PartialEq,
{
    let (back, server_text) = round_trip(client, sql_type, &value).await;
    assert_eq!(back, value, "{sql_type} round trip");
    assert_eq!(
        server_text.as_deref(),
        text,
        "{sql_type} {value:?} as the server prints it"
    );
}

#[tokio::test]
async fn integers_with_extremes_and_null() {
    let client = client().await;
    check(&client, "int2", i16::MIN, Some("-32768")).await;
    check(&client, "int2", i16::MAX, Some("32767")).await;
    check(&client, "int4", i32::MIN, Some("-2147483648")).await;
    check(&client, "int4", 0i32, Some("0")).await;
    check(&client, "int8", i64::MIN, Some("-9223372036854775808")).await;
    check(&client, "int8", i64::MAX, Some("9223372036854775807")).await;
    check(&client, "oid", u32::MAX, Some("4294967295")).await;
    check(&client, "\"char\"", b'x' as i8, Some("x")).await;
    check(&client, "int4", None::<i32>, None).await;
    check(&client, "int8", Some(-1i64), Some("-1")).await;
}

#[tokio::test]
async fn floats_with_nan_and_infinities() {
    let client = client().await;
    check(&client, "float8", 1.5f64, Some("1.5")).await;
    check(&client, "float8", f64::INFINITY, Some("Infinity")).await;
    check(&client, "float8", f64::NEG_INFINITY, Some("-Infinity")).await;
    check(
        &client,
        "float8",
        f64::MIN_POSITIVE,
        Some("2.2250738585072014e-308"),
    )
    .await;
    check(&client, "float4", f32::MAX, Some("3.4028235e+38")).await;
    check(&client, "float4", -0.0f32, Some("-0")).await;
    let (nan, text) = round_trip(&client, "float8", &f64::NAN).await;
    assert!(nan.is_nan());
    assert_eq!(text.as_deref(), Some("NaN"));
    let (nan, _) = round_trip(&client, "float4", &f32::NAN).await;
    assert!(nan.is_nan());
}

#[tokio::test]
async fn booleans() {
    let client = client().await;
    check(&client, "bool", true, Some("true")).await;
    check(&client, "bool", false, Some("false")).await;
    check(&client, "bool", None::<bool>, None).await;
}

#[tokio::test]
async fn text_types_with_empty_and_multibyte_strings() {
    let client = client().await;
    for ty in ["text", "varchar", "name"] {
        check(&client, ty, String::new(), Some("")).await;
        check(
            &client,
            ty,
            "h\u{e9}llo w\u{f6}rld \u{1f600}".to_owned(),
            Some("h\u{e9}llo w\u{f6}rld \u{1f600}"),
        )
        .await;
    }
    // bpchar pads to its length and the padding is kept in the value.
    let row = client
        .query_one("SELECT $1::bpchar(5)", &[&"ab"])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "ab   ");
    // Borrowed reads do not copy.
    let row = client
        .query_one("SELECT 'borrowed'::text", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>(0), "borrowed");
}

#[tokio::test]
async fn bytea_including_16_mib() {
    let client = client().await;
    check(&client, "bytea", Vec::<u8>::new(), Some("\\x")).await;
    check(&client, "bytea", vec![0u8, 1, 255], Some("\\x0001ff")).await;
    let big: Vec<u8> = (0..16 * 1024 * 1024)
        .map(|i: u32| (i % 251) as u8)
        .collect();
    let row = client
        .query_one(
            "SELECT $1::bytea, length($1::bytea), md5($1::bytea)",
            &[&big],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(1), 16 * 1024 * 1024);
    assert_eq!(row.get::<_, &[u8]>(0), &big[..]);
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn datetime(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32, micro: u32) -> NaiveDateTime {
    date(y, m, d).and_hms_micro_opt(h, mi, s, micro).unwrap()
}

#[tokio::test]
async fn dates_times_and_timestamps_with_bc_and_far_future() {
    let client = client().await;
    check(&client, "date", date(2000, 1, 1), Some("2000-01-01")).await;
    check(&client, "date", date(1999, 12, 31), Some("1999-12-31")).await;
    check(&client, "date", date(-44, 3, 15), Some("0045-03-15 BC")).await;
    check(&client, "date", date(200_000, 6, 30), Some("200000-06-30")).await;
    check(
        &client,
        "time",
        NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999).unwrap(),
        Some("23:59:59.999999"),
    )
    .await;
    check(&client, "time", NaiveTime::MIN, Some("00:00:00")).await;
    check(
        &client,
        "timestamp",
        datetime(2022, 8, 29, 0, 0, 0, 0),
        Some("2022-08-29 00:00:00"),
    )
    .await;
    check(
        &client,
        "timestamp",
        datetime(-4712, 1, 1, 12, 0, 0, 1),
        Some("4713-01-01 12:00:00.000001 BC"),
    )
    .await;
    check(
        &client,
        "timestamp",
        datetime(262_000, 12, 31, 23, 59, 59, 0),
        Some("262000-12-31 23:59:59"),
    )
    .await;
    let utc = Utc.from_utc_datetime(&datetime(2024, 2, 29, 12, 30, 0, 123_456));
    check(
        &client,
        "timestamptz",
        utc,
        Some("2024-02-29 12:30:00.123456+00"),
    )
    .await;
    let bc = Utc.from_utc_datetime(&datetime(-100, 1, 1, 0, 0, 0, 0));
    check(
        &client,
        "timestamptz",
        bc,
        Some("0101-01-01 00:00:00+00 BC"),
    )
    .await;
    // A value with an offset is the same instant.
    let offset = FixedOffset::east_opt(5 * 3600)
        .unwrap()
        .from_local_datetime(&datetime(2024, 1, 1, 5, 0, 0, 0))
        .unwrap();
    let (back, text) = round_trip(&client, "timestamptz", &offset).await;
    assert_eq!(back, offset);
    assert_eq!(text.as_deref(), Some("2024-01-01 00:00:00+00"));
    let _: DateTime<Utc> = client.query_one("SELECT now()", &[]).await.unwrap().get(0);
}

#[tokio::test]
async fn infinity_where_the_type_allows_it() {
    let client = client().await;
    check(
        &client,
        "timestamp",
        Timestamp::<NaiveDateTime>::PosInfinity,
        Some("infinity"),
    )
    .await;
    check(
        &client,
        "timestamp",
        Timestamp::<NaiveDateTime>::NegInfinity,
        Some("-infinity"),
    )
    .await;
    check(
        &client,
        "timestamptz",
        Timestamp::<DateTime<Utc>>::PosInfinity,
        Some("infinity"),
    )
    .await;
    check(
        &client,
        "date",
        Date::<NaiveDate>::NegInfinity,
        Some("-infinity"),
    )
    .await;
    check(
        &client,
        "date",
        Date::Value(date(2020, 2, 29)),
        Some("2020-02-29"),
    )
    .await;
    // Reading infinity into a plain chrono type is an error that says so.
    let row = client
        .query_one("SELECT 'infinity'::timestamp", &[])
        .await
        .unwrap();
    let err = row.try_get::<_, NaiveDateTime>(0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conversion);
    assert!(report(&err).contains("infinity"), "{}", report(&err));
}

#[tokio::test]
async fn other_types_are_readable_as_text_or_raw_bytes() {
    let client = client().await;
    let row = client
        .query_one(
            "SELECT 1.50::numeric, '{1,NULL,3}'::int4[], '(1,2)'::point, 'a'::text",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "1.50");
    assert_eq!(row.get::<_, String>(1), "{1,NULL,3}");
    assert_eq!(row.get_raw(2).unwrap(), Some(&b"(1,2)"[..]));
    // A string parameter feeds any type through its input function.
    let row = client
        .query_one("SELECT $1::numeric * 2", &[&"1.25"])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "2.50");
}

#[tokio::test]
async fn wrong_rust_type_names_the_column_and_both_types() {
    let client = client().await;
    let row = client
        .query_one("SELECT 42::int4 AS answer", &[])
        .await
        .unwrap();
    let err = row.try_get::<_, String>("answer").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conversion);
    let text = err.to_string();
    assert!(
        text.contains("\"answer\"") && text.contains("int4") && text.contains("String"),
        "{text}"
    );
    // NULL into a non-Option type.
    let row = client
        .query_one("SELECT NULL::int4 AS n", &[])
        .await
        .unwrap();
    let err = row.try_get::<_, i32>("n").unwrap_err();
    assert!(report(&err).contains("NULL"), "{}", report(&err));
    // A parameter of the wrong type names the parameter and both types.
    let err = client
        .query_one("SELECT $1::int4", &[&true])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conversion);
    let text = err.to_string();
    assert!(
        text.contains("$1") && text.contains("bool") && text.contains("int4"),
        "{text}"
    );
    // A value out of range of the parameter type.
    let err = client
        .query_one("SELECT $1::int2", &[&70_000i32])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conversion, "{}", report(&err));
    // The connection is still fine.
    assert_eq!(
        client
            .query_one("SELECT 1::int4", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        1
    );
}
