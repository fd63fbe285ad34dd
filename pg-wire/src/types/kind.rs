//! PostgreSQL type identities: [`Type`] wraps a `pg_type` OID and knows the built-in types.
//!
//! The constants and their array types follow PostgreSQL's catalog (`src/include/catalog/pg_type.dat`);
//! the OIDs of built-in types are fixed across server versions. Types created at run time (enums,
//! domains, composites, extension types such as `citext`) get OIDs of 16384 and up, which differ from
//! one database to another: they are still representable (`Type::from_oid`) but have no name here.

use std::fmt;

/// An object identifier, as PostgreSQL uses for rows of its catalogs (here: `pg_type.oid`).
pub type Oid = u32;

/// A PostgreSQL data type, identified by its OID.
///
/// Built-in types are available as constants (`Type::INT4`, `Type::TEXT_ARRAY`, ...); any other OID
/// can be wrapped with [`Type::from_oid`].
///
/// ```
/// use pg_wire::types::Type;
///
/// assert_eq!(Type::INT4.name(), Some("int4"));
/// assert_eq!(Type::INT4.array_of(), Some(Type::INT4_ARRAY));
/// assert_eq!(Type::from_oid(1007), Type::INT4_ARRAY);
/// assert_eq!(Type::from_oid(16384).to_string(), "oid 16384");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Type(Oid);

impl Type {
    /// The type with this OID (built-in or not).
    pub const fn from_oid(oid: Oid) -> Type {
        Type(oid)
    }

    /// The type's OID, as sent in Parse, ParameterDescription and RowDescription.
    pub const fn oid(&self) -> Oid {
        self.0
    }

    /// Whether this is an array type known to this module (`_int4`, `_text`, ...).
    pub const fn is_array(&self) -> bool {
        self.array_element().is_some()
    }
}

/// Defines the built-in type constants and the lookup tables derived from them, from one list, so a
/// name, an OID and an array relation can never disagree. Each entry is
/// `CONST = oid, "typname"` optionally followed by `[] ARRAY_CONST = array_oid` (the array type's
/// name is the element's with a leading underscore, as in PostgreSQL). A duplicated OID makes an
/// unreachable match arm, which the lints reject.
macro_rules! builtin_types {
    ($(
        $(#[$doc:meta])*
        $name:ident = $oid:literal, $sql:literal $(, [] $array:ident = $array_oid:literal)?;
    )*) => {
        impl Type {
            $(
                $(#[$doc])*
                pub const $name: Type = Type($oid);
                $(
                    #[doc = concat!("`_", $sql, "`: array of [`Type::", stringify!($name), "`].")]
                    pub const $array: Type = Type($array_oid);
                )?
            )*

            /// The SQL name of a built-in type, as in `pg_type.typname` (`"int4"`, `"_int4"`), or `None`
            /// for a type this module does not know (such as a user-defined type).
            pub const fn name(&self) -> Option<&'static str> {
                match self.0 {
                    $(
                        $oid => Some($sql),
                        $( $array_oid => Some(concat!("_", $sql)), )?
                    )*
                    _ => None,
                }
            }

            /// The element type of a built-in array type (`_int4` gives `int4`); `None` for other types.
            pub const fn array_element(&self) -> Option<Type> {
                match self.0 {
                    $( $( $array_oid => Some(Type($oid)), )? )*
                    _ => None,
                }
            }

            /// The array type whose elements are of this built-in type (`int4` gives `_int4`); `None`
            /// when this module knows no such array type.
            pub const fn array_of(&self) -> Option<Type> {
                match self.0 {
                    $( $( $oid => Some(Type($array_oid)), )? )*
                    _ => None,
                }
            }
        }
    };
}

builtin_types! {
    /// `bool`: boolean, `true`/`false`.
    BOOL = 16, "bool", [] BOOL_ARRAY = 1000;
    /// `bytea`: variable-length binary string.
    BYTEA = 17, "bytea", [] BYTEA_ARRAY = 1001;
    /// `"char"`: a single byte, used in the system catalogs.
    CHAR = 18, "char", [] CHAR_ARRAY = 1002;
    /// `name`: 63-byte identifier of the system catalogs.
    NAME = 19, "name", [] NAME_ARRAY = 1003;
    /// `int8` (`bigint`): 8-byte signed integer.
    INT8 = 20, "int8", [] INT8_ARRAY = 1016;
    /// `int2` (`smallint`): 2-byte signed integer.
    INT2 = 21, "int2", [] INT2_ARRAY = 1005;
    /// `int2vector`: array of `int2` used in system tables.
    INT2_VECTOR = 22, "int2vector", [] INT2_VECTOR_ARRAY = 1006;
    /// `int4` (`integer`): 4-byte signed integer.
    INT4 = 23, "int4", [] INT4_ARRAY = 1007;
    /// `regproc`: registered procedure.
    REGPROC = 24, "regproc", [] REGPROC_ARRAY = 1008;
    /// `text`: variable-length string.
    TEXT = 25, "text", [] TEXT_ARRAY = 1009;
    /// `oid`: object identifier, unsigned 4 bytes.
    OID = 26, "oid", [] OID_ARRAY = 1028;
    /// `tid`: physical location of a tuple, `(block,offset)`.
    TID = 27, "tid", [] TID_ARRAY = 1010;
    /// `xid`: transaction id.
    XID = 28, "xid", [] XID_ARRAY = 1011;
    /// `cid`: command identifier.
    CID = 29, "cid", [] CID_ARRAY = 1012;
    /// `oidvector`: array of `oid` used in system tables.
    OID_VECTOR = 30, "oidvector", [] OID_VECTOR_ARRAY = 1013;
    /// `pg_ddl_command`: internal type for passing a collected command.
    PG_DDL_COMMAND = 32, "pg_ddl_command";
    /// `pg_type`: row type of the `pg_type` catalog.
    PG_TYPE = 71, "pg_type", [] PG_TYPE_ARRAY = 210;
    /// `pg_attribute`: row type of the `pg_attribute` catalog.
    PG_ATTRIBUTE = 75, "pg_attribute", [] PG_ATTRIBUTE_ARRAY = 270;
    /// `pg_proc`: row type of the `pg_proc` catalog.
    PG_PROC = 81, "pg_proc", [] PG_PROC_ARRAY = 272;
    /// `pg_class`: row type of the `pg_class` catalog.
    PG_CLASS = 83, "pg_class", [] PG_CLASS_ARRAY = 273;
    /// `json`: JSON stored as text.
    JSON = 114, "json", [] JSON_ARRAY = 199;
    /// `xml`: XML content.
    XML = 142, "xml", [] XML_ARRAY = 143;
    /// `pg_node_tree`: string representing an internal node tree.
    PG_NODE_TREE = 194, "pg_node_tree";
    /// `table_am_handler`: pseudo-type for the result of a table access method handler.
    TABLE_AM_HANDLER = 269, "table_am_handler";
    /// `index_am_handler`: pseudo-type for the result of an index access method handler.
    INDEX_AM_HANDLER = 325, "index_am_handler";
    /// `point`: geometric point `(x,y)`.
    POINT = 600, "point", [] POINT_ARRAY = 1017;
    /// `lseg`: geometric line segment.
    LSEG = 601, "lseg", [] LSEG_ARRAY = 1018;
    /// `path`: geometric path.
    PATH = 602, "path", [] PATH_ARRAY = 1019;
    /// `box`: geometric box.
    BOX = 603, "box", [] BOX_ARRAY = 1020;
    /// `polygon`: geometric polygon.
    POLYGON = 604, "polygon", [] POLYGON_ARRAY = 1027;
    /// `line`: geometric line.
    LINE = 628, "line", [] LINE_ARRAY = 629;
    /// `cidr`: IPv4 or IPv6 network address.
    CIDR = 650, "cidr", [] CIDR_ARRAY = 651;
    /// `float4` (`real`): single-precision floating point.
    FLOAT4 = 700, "float4", [] FLOAT4_ARRAY = 1021;
    /// `float8` (`double precision`): double-precision floating point.
    FLOAT8 = 701, "float8", [] FLOAT8_ARRAY = 1022;
    /// `unknown`: pseudo-type of a literal whose type is not yet determined.
    UNKNOWN = 705, "unknown";
    /// `circle`: geometric circle.
    CIRCLE = 718, "circle", [] CIRCLE_ARRAY = 719;
    /// `macaddr8`: EUI-64 MAC address.
    MACADDR8 = 774, "macaddr8", [] MACADDR8_ARRAY = 775;
    /// `money`: currency amount.
    MONEY = 790, "money", [] MONEY_ARRAY = 791;
    /// `macaddr`: MAC address.
    MACADDR = 829, "macaddr", [] MACADDR_ARRAY = 1040;
    /// `inet`: IPv4 or IPv6 host address, with optional netmask.
    INET = 869, "inet", [] INET_ARRAY = 1041;
    /// `aclitem`: access control list item.
    ACLITEM = 1033, "aclitem", [] ACLITEM_ARRAY = 1034;
    /// `bpchar` (`char(n)`): blank-padded string.
    BPCHAR = 1042, "bpchar", [] BPCHAR_ARRAY = 1014;
    /// `varchar` (`character varying(n)`): variable-length string with a limit.
    VARCHAR = 1043, "varchar", [] VARCHAR_ARRAY = 1015;
    /// `date`: calendar date.
    DATE = 1082, "date", [] DATE_ARRAY = 1182;
    /// `time`: time of day without time zone.
    TIME = 1083, "time", [] TIME_ARRAY = 1183;
    /// `timestamp`: date and time without time zone.
    TIMESTAMP = 1114, "timestamp", [] TIMESTAMP_ARRAY = 1115;
    /// `timestamptz`: date and time with time zone (an absolute instant).
    TIMESTAMPTZ = 1184, "timestamptz", [] TIMESTAMPTZ_ARRAY = 1185;
    /// `interval`: time span.
    INTERVAL = 1186, "interval", [] INTERVAL_ARRAY = 1187;
    /// `timetz`: time of day with time zone.
    TIMETZ = 1266, "timetz", [] TIMETZ_ARRAY = 1270;
    /// `bit`: fixed-length bit string.
    BIT = 1560, "bit", [] BIT_ARRAY = 1561;
    /// `varbit`: variable-length bit string.
    VARBIT = 1562, "varbit", [] VARBIT_ARRAY = 1563;
    /// `numeric`: arbitrary precision number.
    NUMERIC = 1700, "numeric", [] NUMERIC_ARRAY = 1231;
    /// `refcursor`: reference to a cursor (portal name).
    REFCURSOR = 1790, "refcursor", [] REFCURSOR_ARRAY = 2201;
    /// `regprocedure`: registered procedure, with argument types.
    REGPROCEDURE = 2202, "regprocedure", [] REGPROCEDURE_ARRAY = 2207;
    /// `regoper`: registered operator.
    REGOPER = 2203, "regoper", [] REGOPER_ARRAY = 2208;
    /// `regoperator`: registered operator, with argument types.
    REGOPERATOR = 2204, "regoperator", [] REGOPERATOR_ARRAY = 2209;
    /// `regclass`: registered relation.
    REGCLASS = 2205, "regclass", [] REGCLASS_ARRAY = 2210;
    /// `regtype`: registered type.
    REGTYPE = 2206, "regtype", [] REGTYPE_ARRAY = 2211;
    /// `record`: pseudo-type of any composite (row) value.
    RECORD = 2249, "record", [] RECORD_ARRAY = 2287;
    /// `cstring`: pseudo-type of a C string.
    CSTRING = 2275, "cstring", [] CSTRING_ARRAY = 1263;
    /// `any`: pseudo-type standing for any type.
    ANY = 2276, "any";
    /// `anyarray`: polymorphic array pseudo-type.
    ANYARRAY = 2277, "anyarray";
    /// `void`: pseudo-type of a function that returns no value.
    VOID = 2278, "void";
    /// `trigger`: pseudo-type of a trigger function's result.
    TRIGGER = 2279, "trigger";
    /// `language_handler`: pseudo-type of a language handler's result.
    LANGUAGE_HANDLER = 2280, "language_handler";
    /// `internal`: pseudo-type of an internal data structure.
    INTERNAL = 2281, "internal";
    /// `anyelement`: polymorphic pseudo-type.
    ANYELEMENT = 2283, "anyelement";
    /// `anynonarray`: polymorphic pseudo-type for a non-array.
    ANYNONARRAY = 2776, "anynonarray";
    /// `uuid`: universally unique identifier.
    UUID = 2950, "uuid", [] UUID_ARRAY = 2951;
    /// `txid_snapshot`: transaction snapshot (legacy form).
    TXID_SNAPSHOT = 2970, "txid_snapshot", [] TXID_SNAPSHOT_ARRAY = 2949;
    /// `fdw_handler`: pseudo-type of a foreign-data wrapper handler's result.
    FDW_HANDLER = 3115, "fdw_handler";
    /// `pg_lsn`: write-ahead log position.
    PG_LSN = 3220, "pg_lsn", [] PG_LSN_ARRAY = 3221;
    /// `tsm_handler`: pseudo-type of a table sampling method handler's result.
    TSM_HANDLER = 3310, "tsm_handler";
    /// `pg_ndistinct`: multivariate n-distinct coefficients.
    PG_NDISTINCT = 3361, "pg_ndistinct";
    /// `pg_dependencies`: multivariate functional dependencies.
    PG_DEPENDENCIES = 3402, "pg_dependencies";
    /// `anyenum`: polymorphic pseudo-type for an enum.
    ANYENUM = 3500, "anyenum";
    /// `tsvector`: text search document.
    TSVECTOR = 3614, "tsvector", [] TSVECTOR_ARRAY = 3643;
    /// `tsquery`: text search query.
    TSQUERY = 3615, "tsquery", [] TSQUERY_ARRAY = 3645;
    /// `gtsvector`: GiST index internal form of a text search document.
    GTSVECTOR = 3642, "gtsvector", [] GTSVECTOR_ARRAY = 3644;
    /// `regconfig`: registered text search configuration.
    REGCONFIG = 3734, "regconfig", [] REGCONFIG_ARRAY = 3735;
    /// `regdictionary`: registered text search dictionary.
    REGDICTIONARY = 3769, "regdictionary", [] REGDICTIONARY_ARRAY = 3770;
    /// `jsonb`: JSON stored in a decomposed binary form.
    JSONB = 3802, "jsonb", [] JSONB_ARRAY = 3807;
    /// `anyrange`: polymorphic pseudo-type for a range.
    ANYRANGE = 3831, "anyrange";
    /// `event_trigger`: pseudo-type of an event trigger function's result.
    EVENT_TRIGGER = 3838, "event_trigger";
    /// `int4range`: range of `int4`.
    INT4_RANGE = 3904, "int4range", [] INT4_RANGE_ARRAY = 3905;
    /// `numrange`: range of `numeric`.
    NUM_RANGE = 3906, "numrange", [] NUM_RANGE_ARRAY = 3907;
    /// `tsrange`: range of `timestamp`.
    TS_RANGE = 3908, "tsrange", [] TS_RANGE_ARRAY = 3909;
    /// `tstzrange`: range of `timestamptz`.
    TSTZ_RANGE = 3910, "tstzrange", [] TSTZ_RANGE_ARRAY = 3911;
    /// `daterange`: range of `date`.
    DATE_RANGE = 3912, "daterange", [] DATE_RANGE_ARRAY = 3913;
    /// `int8range`: range of `int8`.
    INT8_RANGE = 3926, "int8range", [] INT8_RANGE_ARRAY = 3927;
    /// `jsonpath`: SQL/JSON path expression.
    JSONPATH = 4072, "jsonpath", [] JSONPATH_ARRAY = 4073;
    /// `regnamespace`: registered namespace (schema).
    REGNAMESPACE = 4089, "regnamespace", [] REGNAMESPACE_ARRAY = 4090;
    /// `regrole`: registered role.
    REGROLE = 4096, "regrole", [] REGROLE_ARRAY = 4097;
    /// `regcollation`: registered collation.
    REGCOLLATION = 4191, "regcollation", [] REGCOLLATION_ARRAY = 4192;
    /// `int4multirange`: multirange of `int4`.
    INT4_MULTI_RANGE = 4451, "int4multirange", [] INT4_MULTI_RANGE_ARRAY = 6150;
    /// `nummultirange`: multirange of `numeric`.
    NUM_MULTI_RANGE = 4532, "nummultirange", [] NUM_MULTI_RANGE_ARRAY = 6151;
    /// `tsmultirange`: multirange of `timestamp`.
    TS_MULTI_RANGE = 4533, "tsmultirange", [] TS_MULTI_RANGE_ARRAY = 6152;
    /// `tstzmultirange`: multirange of `timestamptz`.
    TSTZ_MULTI_RANGE = 4534, "tstzmultirange", [] TSTZ_MULTI_RANGE_ARRAY = 6153;
    /// `datemultirange`: multirange of `date`.
    DATE_MULTI_RANGE = 4535, "datemultirange", [] DATE_MULTI_RANGE_ARRAY = 6155;
    /// `int8multirange`: multirange of `int8`.
    INT8_MULTI_RANGE = 4536, "int8multirange", [] INT8_MULTI_RANGE_ARRAY = 6157;
    /// `anymultirange`: polymorphic pseudo-type for a multirange.
    ANYMULTIRANGE = 4537, "anymultirange";
    /// `anycompatiblemultirange`: polymorphic pseudo-type for a multirange of a common type.
    ANYCOMPATIBLEMULTIRANGE = 4538, "anycompatiblemultirange";
    /// `pg_brin_bloom_summary`: BRIN bloom summary.
    PG_BRIN_BLOOM_SUMMARY = 4600, "pg_brin_bloom_summary";
    /// `pg_brin_minmax_multi_summary`: BRIN minmax-multi summary.
    PG_BRIN_MINMAX_MULTI_SUMMARY = 4601, "pg_brin_minmax_multi_summary";
    /// `pg_mcv_list`: multivariate most-common-values list.
    PG_MCV_LIST = 5017, "pg_mcv_list";
    /// `pg_snapshot`: transaction snapshot.
    PG_SNAPSHOT = 5038, "pg_snapshot", [] PG_SNAPSHOT_ARRAY = 5039;
    /// `xid8`: full (64-bit) transaction id.
    XID8 = 5069, "xid8", [] XID8_ARRAY = 271;
    /// `anycompatible`: polymorphic pseudo-type for a common type.
    ANYCOMPATIBLE = 5077, "anycompatible";
    /// `anycompatiblearray`: polymorphic pseudo-type for an array of a common type.
    ANYCOMPATIBLEARRAY = 5078, "anycompatiblearray";
    /// `anycompatiblenonarray`: polymorphic pseudo-type for a non-array common type.
    ANYCOMPATIBLENONARRAY = 5079, "anycompatiblenonarray";
    /// `anycompatiblerange`: polymorphic pseudo-type for a range of a common type.
    ANYCOMPATIBLERANGE = 5080, "anycompatiblerange";
}

impl fmt::Display for Type {
    /// The SQL name (`int4`, `_text`), or `oid N` for a type without a known name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "oid {}", self.0),
        }
    }
}

impl fmt::Debug for Type {
    /// `Type(int4)`, or `Type(oid 16384)` for a type without a known name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Type({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_match_the_catalog() {
        let expected: &[(Type, Oid, &str)] = &[
            (Type::BOOL, 16, "bool"),
            (Type::BYTEA, 17, "bytea"),
            (Type::CHAR, 18, "char"),
            (Type::NAME, 19, "name"),
            (Type::INT8, 20, "int8"),
            (Type::INT2, 21, "int2"),
            (Type::INT4, 23, "int4"),
            (Type::TEXT, 25, "text"),
            (Type::OID, 26, "oid"),
            (Type::JSON, 114, "json"),
            (Type::XML, 142, "xml"),
            (Type::FLOAT4, 700, "float4"),
            (Type::FLOAT8, 701, "float8"),
            (Type::UNKNOWN, 705, "unknown"),
            (Type::BPCHAR, 1042, "bpchar"),
            (Type::VARCHAR, 1043, "varchar"),
            (Type::DATE, 1082, "date"),
            (Type::TIME, 1083, "time"),
            (Type::TIMESTAMP, 1114, "timestamp"),
            (Type::TIMESTAMPTZ, 1184, "timestamptz"),
            (Type::INTERVAL, 1186, "interval"),
            (Type::TIMETZ, 1266, "timetz"),
            (Type::NUMERIC, 1700, "numeric"),
            (Type::UUID, 2950, "uuid"),
            (Type::JSONB, 3802, "jsonb"),
            (Type::INET, 869, "inet"),
            (Type::CIDR, 650, "cidr"),
            (Type::MACADDR, 829, "macaddr"),
            (Type::MONEY, 790, "money"),
            (Type::BIT, 1560, "bit"),
            (Type::VARBIT, 1562, "varbit"),
            (Type::VOID, 2278, "void"),
            (Type::RECORD, 2249, "record"),
            (Type::REGCLASS, 2205, "regclass"),
            (Type::REGTYPE, 2206, "regtype"),
            (Type::TSVECTOR, 3614, "tsvector"),
            (Type::INT4_RANGE, 3904, "int4range"),
            (Type::INT8_RANGE, 3926, "int8range"),
            (Type::BOOL_ARRAY, 1000, "_bool"),
            (Type::BYTEA_ARRAY, 1001, "_bytea"),
            (Type::CHAR_ARRAY, 1002, "_char"),
            (Type::NAME_ARRAY, 1003, "_name"),
            (Type::INT2_ARRAY, 1005, "_int2"),
            (Type::INT4_ARRAY, 1007, "_int4"),
            (Type::TEXT_ARRAY, 1009, "_text"),
            (Type::BPCHAR_ARRAY, 1014, "_bpchar"),
            (Type::VARCHAR_ARRAY, 1015, "_varchar"),
            (Type::INT8_ARRAY, 1016, "_int8"),
            (Type::FLOAT4_ARRAY, 1021, "_float4"),
            (Type::FLOAT8_ARRAY, 1022, "_float8"),
            (Type::OID_ARRAY, 1028, "_oid"),
            (Type::TIMESTAMP_ARRAY, 1115, "_timestamp"),
            (Type::DATE_ARRAY, 1182, "_date"),
            (Type::TIME_ARRAY, 1183, "_time"),
            (Type::TIMESTAMPTZ_ARRAY, 1185, "_timestamptz"),
            (Type::INTERVAL_ARRAY, 1187, "_interval"),
            (Type::TIMETZ_ARRAY, 1270, "_timetz"),
            (Type::NUMERIC_ARRAY, 1231, "_numeric"),
            (Type::UUID_ARRAY, 2951, "_uuid"),
            (Type::JSON_ARRAY, 199, "_json"),
            (Type::JSONB_ARRAY, 3807, "_jsonb"),
            (Type::INET_ARRAY, 1041, "_inet"),
            (Type::CIDR_ARRAY, 651, "_cidr"),
            (Type::MACADDR_ARRAY, 1040, "_macaddr"),
            (Type::XML_ARRAY, 143, "_xml"),
            (Type::MONEY_ARRAY, 791, "_money"),
            (Type::BIT_ARRAY, 1561, "_bit"),
            (Type::VARBIT_ARRAY, 1563, "_varbit"),
            (Type::RECORD_ARRAY, 2287, "_record"),
            (Type::XID8_ARRAY, 271, "_xid8"),
        ];
        for (ty, oid, name) in expected {
            assert_eq!(ty.oid(), *oid, "{name}");
            assert_eq!(ty.name(), Some(*name), "{oid}");
            assert_eq!(Type::from_oid(*oid), *ty);
        }
    }

    #[test]
    fn array_relations() {
        assert_eq!(Type::INT4.array_of(), Some(Type::INT4_ARRAY));
        assert_eq!(Type::INT4_ARRAY.array_element(), Some(Type::INT4));
        assert_eq!(Type::JSON.array_of(), Some(Type::JSON_ARRAY));
        assert_eq!(Type::XID8_ARRAY.array_element(), Some(Type::XID8));
        assert_eq!(Type::INT4.array_element(), None);
        assert_eq!(Type::INT4_ARRAY.array_of(), None);
        assert_eq!(Type::UNKNOWN.array_of(), None);
        assert_eq!(Type::VOID.array_of(), None);
        assert!(Type::TEXT_ARRAY.is_array());
        assert!(!Type::TEXT.is_array());
        assert_eq!(Type::from_oid(16384).array_of(), None);
        assert_eq!(Type::from_oid(16384).array_element(), None);
    }

    #[test]
    fn every_array_points_back_to_its_element() {
        for oid in 0..10_000 {
            let ty = Type::from_oid(oid);
            if let Some(array) = ty.array_of() {
                assert_eq!(array.array_element(), Some(ty.clone()), "{ty}");
                let name = ty.name().unwrap_or_default();
                assert_eq!(array.name().map(|n| n.trim_start_matches('_')), Some(name));
            }
            if let Some(element) = ty.array_element() {
                assert_eq!(element.array_of(), Some(ty.clone()), "{ty}");
            }
        }
    }

    #[test]
    fn display_and_debug() {
        assert_eq!(Type::INT4.to_string(), "int4");
        assert_eq!(Type::TEXT_ARRAY.to_string(), "_text");
        assert_eq!(format!("{:?}", Type::INT4), "Type(int4)");
        assert_eq!(Type::from_oid(16384).to_string(), "oid 16384");
        assert_eq!(format!("{:?}", Type::from_oid(16384)), "Type(oid 16384)");
        assert_eq!(Type::from_oid(16384).name(), None);
    }

    #[test]
    fn const_context() {
        const T: Type = Type::from_oid(23);
        const OID: Oid = T.oid();
        const NAME: Option<&str> = T.name();
        assert_eq!(OID, 23);
        assert_eq!(NAME, Some("int4"));
    }
}
