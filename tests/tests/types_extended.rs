//! Round trips of numeric, interval, inet/cidr, uuid, json and arrays (including multi-dimensional
//! arrays with NULLs and enum arrays in text form) through a real server, checked against the
//! server's own text output.

use std::net::IpAddr;

use harness::{AuthMethod, TestServer};
use pg_wire::Client;
use pg_wire::error::report;
use pg_wire::types::{Array, Cidr, Dimension, FromSqlOwned, Inet, Interval, Numeric, ToSql};

async fn client() -> Client {
    let server = TestServer::shared(AuthMethod::Trust);
    let db = server.fresh_database().await.unwrap();
    let conninfo = format!(
        "{} options='-c TimeZone=UTC -c DateStyle=ISO,MDY -c extra_float_digits=1'",
        server.connection_string(server.superuser(), None, &db, false)
    );
    Client::connect(&conninfo.parse().unwrap()).await.unwrap()
}

async fn round_trip<T>(client: &Client, sql_type: &str, value: &T) -> (T, String)
where
    T: ToSql + Sync + FromSqlOwned,
{
    let sql = format!("SELECT $1::{sql_type}, format($$%s$$, $1::{sql_type})");
    let row = client
        .query_one(sql.as_str(), &[value])
        .await
        .unwrap_or_else(|e| panic!("{sql_type} {value:?}: {}", report(&e)));
    (row.get(0), row.get(1))
}

async fn check<T>(client: &Client, sql_type: &str, value: T, text: &str)
where
    T: ToSql + Sync + FromSqlOwned + PartialEq,
{
    let (back, server_text) = round_trip(client, sql_type, &value).await;
    assert_eq!(back, value, "{sql_type} round trip");
    assert_eq!(
        server_text, text,
        "{sql_type} {value:?} as the server prints it"
    );
    // String reads the binary column as the server's text.
    let sql = format!("SELECT $1::{sql_type}");
    let row = client.query_one(sql.as_str(), &[&value]).await.unwrap();
    let s: String = row
        .try_get(0)
        .unwrap_or_else(|e| panic!("{sql_type}: {}", report(&e)));
    assert_eq!(s, text, "{sql_type} read as String");
}

/// The server's text of `expr`, and String reading the binary column.
async fn same_text(client: &Client, expr: &str) {
    let sql = format!("SELECT {expr}, format($$%s$$, {expr})");
    let row = client
        .query_one(sql.as_str(), &[])
        .await
        .unwrap_or_else(|e| panic!("{expr}: {}", report(&e)));
    let ours: String = row
        .try_get(0)
        .unwrap_or_else(|e| panic!("{expr}: {}", report(&e)));
    let theirs: String = row.get(1);
    assert_eq!(ours, theirs, "{expr}");
}

#[tokio::test]
async fn numerics() {
    let client = client().await;
    for text in [
        "0",
        "0.00",
        "1.50",
        "-1.5",
        "12345.678",
        "0.0001",
        "0.00001",
        "100000000.01",
        "-9223372036854775808",
        "NaN",
        "Infinity",
        "-Infinity",
        "1e-20",
        "3.14159265358979323846264338327950288",
    ] {
        let n: Numeric = text.parse().unwrap();
        let shown = n.to_string();
        check(&client, "numeric", n, &shown).await;
    }
    let big = format!("{}.{}", "9".repeat(1000), "1".repeat(1000));
    check(&client, "numeric", big.parse::<Numeric>().unwrap(), &big).await;
    for expr in [
        "1.50::numeric",
        "'-0.000'::numeric",
        "(2::numeric ^ 200)",
        "1::numeric / 3",
        "'1e-300'::numeric",
        "'NaN'::numeric",
        "'-inf'::numeric",
        "123456789.123456789::numeric(20,3)",
    ] {
        same_text(&client, expr).await;
        let row = client
            .query_one(format!("SELECT {expr}, ({expr})::text").as_str(), &[])
            .await
            .unwrap();
        let n: Numeric = row.get(0);
        let t: String = row.get(1);
        assert_eq!(n.to_string(), t, "{expr}");
    }
    let row = client
        .query_one(
            "SELECT $1::numeric = 1.5",
            &[&"1.50".parse::<Numeric>().unwrap()],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
}

#[tokio::test]
async fn intervals() {
    let client = client().await;
    for expr in [
        "'0'::interval",
        "'1 year 2 mons 3 days 04:05:06.789'::interval",
        "'-1 day +02:00'::interval",
        "'1 day -02:00'::interval",
        "'-1 mon +1 day'::interval",
        "'-13 mons'::interval",
        "'-0.000001 s'::interval",
        "'100 hours'::interval",
        "'178956970 years 7 mons'::interval",
        "'-178956970 years -8 mons'::interval",
        "'2562047788:00:54.775807'::interval",
        "'-2562047788:00:54.775807'::interval",
        "'1.5 days'::interval",
        "'0.5 mon'::interval",
    ] {
        same_text(&client, expr).await;
        let row = client
            .query_one(format!("SELECT {expr}, ({expr})::text").as_str(), &[])
            .await
            .unwrap();
        let i: Interval = row.get(0);
        let t: String = row.get(1);
        assert_eq!(i.to_string(), t, "{expr}");
        assert_eq!(t.parse::<Interval>().unwrap(), i);
    }
    check(
        &client,
        "interval",
        Interval::new(14, -3, 1),
        "1 year 2 mons -3 days +00:00:00.000001",
    )
    .await;
}

#[tokio::test]
async fn networks() {
    let client = client().await;
    check(
        &client,
        "inet",
        "192.168.0.1".parse::<IpAddr>().unwrap(),
        "192.168.0.1",
    )
    .await;
    check(
        &client,
        "inet",
        "::ffff:1.2.3.4".parse::<IpAddr>().unwrap(),
        "::ffff:1.2.3.4",
    )
    .await;
    check(
        &client,
        "inet",
        "10.0.0.1/8".parse::<Inet>().unwrap(),
        "10.0.0.1/8",
    )
    .await;
    check(
        &client,
        "cidr",
        "10.0.0.0/8".parse::<Cidr>().unwrap(),
        "10.0.0.0/8",
    )
    .await;
    check(
        &client,
        "cidr",
        "2001:db8::/32".parse::<Cidr>().unwrap(),
        "2001:db8::/32",
    )
    .await;
    for expr in [
        "'::1'::inet",
        "'::'::inet",
        "'1::'::inet",
        "'2001:DB8:0:0:1:0:0:1'::inet",
        "'2001:db8:0:0:0:1:0:0'::inet",
        "'::1.2.3.4'::inet",
        "'::0.0.0.2'::inet",
        "'::ffff:0:0'::inet",
        "'0:0:1::'::inet",
        "'fe80::1:2/64'::inet",
        "'10/8'::cidr",
        "'192.168.1'::cidr",
        "'::/0'::cidr",
        "'1.2.3.4/32'::cidr",
        "'1:0:1:0:1:0:1:0'::inet",
    ] {
        same_text(&client, expr).await;
    }
    let err = client
        .query_one("SELECT $1::cidr", &[&"10.0.0.1/8".parse::<Inet>().unwrap()])
        .await
        .unwrap_err();
    assert!(report(&err).contains("right of"), "{}", report(&err));
}

#[tokio::test]
async fn uuids_and_json() {
    let client = client().await;
    same_text(&client, "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid").await;
    same_text(&client, "'{\"a\": [1, 2]}'::jsonb").await;
    same_text(&client, "'{\"a\":  [1, 2]}'::json").await;
    let row = client
        .query_one("SELECT '{\"a\": 1}'::jsonb, '[1]'::json", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>(0), "{\"a\": 1}");
    assert_eq!(row.get::<_, &str>(1), "[1]");
    let row = client
        .query_one("SELECT $1::jsonb ->> 'k'", &[&"{\"k\": \"v\"}"])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "v");
}

#[tokio::test]
async fn arrays() {
    let client = client().await;
    check(&client, "int4[]", vec![1i32, 2, 3], "{1,2,3}").await;
    check(&client, "int4[]", vec![Some(1i32), None], "{1,NULL}").await;
    check(&client, "int8[]", Vec::<i64>::new(), "{}").await;
    check(&client, "text[]", Vec::<String>::new(), "{}").await;
    check(
        &client,
        "text[]",
        vec![
            "a b".to_owned(),
            "".into(),
            "NULL".into(),
            "x\"y\\z".into(),
            "é".into(),
        ],
        r#"{"a b","","NULL","x\"y\\z",é}"#,
    )
    .await;
    check(
        &client,
        "text[]",
        vec![Some("x".to_owned()), None],
        "{x,NULL}",
    )
    .await;
    check(
        &client,
        "numeric[]",
        vec!["1.50".parse::<Numeric>().unwrap(), Numeric::NAN],
        "{1.50,NaN}",
    )
    .await;
    check(
        &client,
        "interval[]",
        vec![Interval::new(0, 1, 0)],
        "{\"1 day\"}",
    )
    .await;
    check(
        &client,
        "float8[]",
        vec![1.5f64, 1e20, -0.0],
        "{1.5,1e+20,-0}",
    )
    .await;
    check(&client, "bool[]", vec![true, false], "{t,f}").await;
    check(&client, "bytea[]", vec![vec![1u8, 255]], r#"{"\\x01ff"}"#).await;
    check(
        &client,
        "inet[]",
        vec!["::1".parse::<IpAddr>().unwrap()],
        "{::1}",
    )
    .await;
    let a = Array::from_parts(
        vec![
            Dimension {
                len: 2,
                lower_bound: 0,
            },
            Dimension::new(2),
        ],
        vec![1i16, 2, 3, 4],
    )
    .unwrap();
    check(&client, "int2[]", a, "[0:1][1:2]={{1,2},{3,4}}").await;
    let a = Array::from_parts(
        vec![Dimension::new(2), Dimension::new(1)],
        vec!["a".to_owned(), "b c".to_owned()],
    )
    .unwrap();
    check(&client, "text[]", a, r#"{{a},{"b c"}}"#).await;
    for expr in [
        "'{1,2,3}'::int4[]",
        "'{}'::int4[]",
        "'[0:2]={1,2,3}'::int4[]",
        "'{{1,2},{3,4}}'::int8[]",
        "ARRAY[1.5::float4, 1e6, 'NaN', '-Infinity']",
        "ARRAY[0.1::float8, 1e15, 1e-5, 123456789012345678]",
        "ARRAY['a'::\"char\", '\\', '']",
        "ARRAY['2000-01-01'::date, 'infinity', '0044-03-15 BC']",
        "ARRAY['13:45:00.25'::time, '24:00']",
        "ARRAY['2000-01-31 13:45:00.123'::timestamp, '0001-01-01 00:00 BC']",
        "ARRAY['{}'::jsonb, '{\"a\": \"b\"}']",
        "ARRAY['a b'::varchar, NULL, '']",
        "'{{{{{{1}}}}}}'::int4[]",
        "ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid]",
        "ARRAY['10/8'::cidr]",
        "ARRAY['\\x00'::bytea]",
        "ARRAY[4294967295::oid]",
    ] {
        same_text(&client, expr).await;
    }
    // Arrays without a binary decoder: text, parsed.
    client
        .batch_execute(
            "CREATE TYPE mood AS ENUM ('happy', 'very sad', 'a\"b\\c'); CREATE TABLE t (m mood[])",
        )
        .await
        .unwrap();
    let row = client.query_one("SELECT ARRAY['happy', 'very sad', 'a\"b\\c', NULL]::mood[], '[0:1]={happy,happy}'::mood[]", &[]).await.unwrap();
    let moods: Vec<Option<String>> = row.get(0);
    assert_eq!(
        moods,
        [
            Some("happy".into()),
            Some("very sad".into()),
            Some("a\"b\\c".into()),
            None
        ]
    );
    let a: Array<String> = row.get(1);
    assert_eq!(a.dimensions()[0].lower_bound, 0);
    let row = client
        .query_one("SELECT $1::mood[]", &[&vec!["happy", "a\"b\\c"]])
        .await
        .unwrap();
    let back: Vec<String> = row.get(0);
    assert_eq!(back, ["happy", "a\"b\\c"]);
    let row = client
        .query_one("SELECT $1::mood[]", &[&Vec::<String>::new()])
        .await
        .unwrap();
    assert!(row.get::<_, Vec<String>>(0).is_empty());
    // Text to int4[]; strings to timetz[] (no binary decoder).
    let row = client
        .query_one(
            "SELECT $1::int4[], $2::timetz[]",
            &[&vec!["1", "2"], &vec!["01:02:03+04"]],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Vec<i32>>(0), [1, 2]);
    assert_eq!(row.get::<_, Vec<String>>(1), ["01:02:03+04"]);
    // An insert and select of an empty array into a typed column.
    client
        .execute("INSERT INTO t VALUES ($1)", &[&Vec::<String>::new()])
        .await
        .unwrap();
    // box[] uses ';'.
    let row = client
        .query_one("SELECT ARRAY['(1,1),(0,0)'::box, '(2,2),(1,1)']", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, Vec<String>>(0), ["(1,1),(0,0)", "(2,2),(1,1)"]);
    // The server accepts our binary encodings of odd shapes.
    let row = client
        .query_one(
            "SELECT array_dims($1::int4[]), array_length($2::text[], 1)",
            &[
                &Array::from_parts(
                    vec![Dimension {
                        len: 3,
                        lower_bound: -5,
                    }],
                    vec![1i32, 2, 3],
                )
                .unwrap(),
                &vec![None::<String>, None],
            ],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "[-5:-3]");
    assert_eq!(row.get::<_, i32>(1), 2);
}

#[tokio::test]
async fn serde_json_values_and_uuids_behind_their_features() {
    let client = client().await;
    let value =
        serde_json::json!({"name": "ünï", "tags": [1, 2.5, null, true], "nested": {"k": "v"}});
    for ty in ["json", "jsonb"] {
        let sql = format!("SELECT $1::{ty}, ($1::{ty} -> 'nested' ->> 'k')");
        let row = client.query_one(sql.as_str(), &[&value]).await.unwrap();
        assert_eq!(row.get::<_, serde_json::Value>(0), value, "{ty}");
        assert_eq!(row.get::<_, String>(1), "v");
    }
    let id = uuid::Uuid::parse_str("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap();
    let row = client
        .query_one("SELECT $1::uuid, $1::uuid::text, gen_random_uuid()", &[&id])
        .await
        .unwrap();
    assert_eq!(row.get::<_, uuid::Uuid>(0), id);
    assert_eq!(
        row.get::<_, String>(1),
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    );
    assert_eq!(row.get::<_, uuid::Uuid>(2).get_version_num(), 4);
    let ids: Vec<uuid::Uuid> = client
        .query_one("SELECT ARRAY[$1::uuid, $1::uuid]", &[&id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(ids, [id, id]);
}
