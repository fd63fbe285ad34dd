//! Parsing of the `#[orm(...)]` attributes on a model struct and its fields.
//!
//! Each key may appear once per struct or field (across any number of `#[orm(...)]` attributes);
//! an unknown key, a repeated key or a malformed value is an error spanned on that key or value.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, Ident, LitBool, LitInt, LitStr, Path, Token};

/// The struct's attributes: `#[orm(table = "articles")]` and its relationships.
pub struct TableAttrs {
    /// The table name.
    pub table: LitStr,
    /// `relationship(...)` (one-to-many, with an optional backref) and `belongs_to(...)`
    /// (many-to-one) declarations.
    pub relationships: Vec<RelationshipAttr>,
}

/// Which side of a foreign key a relationship declaration names.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RelationshipKind {
    /// `relationship(...)` on the parent: its children through their foreign key.
    OneToMany,
    /// `belongs_to(...)` on the child: its parent through its own foreign key.
    ManyToOne,
    /// `many_to_many(...)`: through an association model.
    ManyToMany,
}

/// `relationship(name = "articles", target = Article, foreign_key = author_id, backref =
/// "author", cascade_delete)` or `belongs_to(name = "author", target = Author, foreign_key =
/// author_id)`.
pub struct RelationshipAttr {
    /// Which side is declared.
    pub kind: RelationshipKind,
    /// The relationship's name; its constant is the name in upper case.
    pub name: LitStr,
    /// The other model.
    pub target: Path,
    /// The foreign key field (on the child model).
    pub foreign_key: Ident,
    /// The reverse side's name (one-to-many only).
    pub backref: Option<LitStr>,
    /// Whether deleting a parent deletes its children (one-to-many only).
    pub cascade_delete: bool,
    /// The association model (many-to-many only).
    pub through: Option<Path>,
    /// The association's column pointing to the other model (many-to-many only; `foreign_key`
    /// names the one pointing to this model).
    pub remote: Option<Ident>,
}

fn parse_relationship(
    meta: syn::meta::ParseNestedMeta<'_>,
    kind: RelationshipKind,
) -> syn::Result<RelationshipAttr> {
    let span = meta.path.span();
    let mut name = None;
    let mut target = None;
    let mut foreign_key = None;
    let mut backref = None;
    let mut cascade_delete = false;
    let mut through = None;
    let mut remote = None;
    meta.parse_nested_meta(|inner| {
        if inner.path.is_ident("name") {
            let lit: LitStr = inner.value()?.parse()?;
            check_identifier(&lit.value(), lit.span(), "relationship")?;
            name = Some(lit);
        } else if inner.path.is_ident("target") {
            target = Some(inner.value()?.parse::<Path>()?);
        } else if inner.path.is_ident("foreign_key") {
            foreign_key = Some(inner.value()?.parse::<Ident>()?);
        } else if inner.path.is_ident("through") && kind == RelationshipKind::ManyToMany {
            through = Some(inner.value()?.parse::<Path>()?);
        } else if inner.path.is_ident("remote") && kind == RelationshipKind::ManyToMany {
            remote = Some(inner.value()?.parse::<Ident>()?);
        } else if inner.path.is_ident("backref") && kind != RelationshipKind::ManyToOne {
            let lit: LitStr = inner.value()?.parse()?;
            check_identifier(&lit.value(), lit.span(), "backref")?;
            backref = Some(lit);
        } else if inner.path.is_ident("cascade_delete") && kind == RelationshipKind::OneToMany {
            cascade_delete = true;
        } else {
            return Err(inner.error(match kind {
                RelationshipKind::OneToMany => {
                    "unknown relationship key; expected name, target, foreign_key, backref or cascade_delete"
                }
                RelationshipKind::ManyToOne => "unknown belongs_to key; expected name, target or foreign_key",
                RelationshipKind::ManyToMany => {
                    "unknown many_to_many key; expected name, target, through, foreign_key, remote or backref"
                }
            }));
        }
        Ok(())
    })?;
    let missing =
        |what: &str| syn::Error::new(span, format!("the relationship needs `{what} = ...`"));
    Ok(RelationshipAttr {
        kind,
        name: name.ok_or_else(|| missing("name"))?,
        target: target.ok_or_else(|| missing("target"))?,
        foreign_key: foreign_key.ok_or_else(|| missing("foreign_key"))?,
        backref,
        cascade_delete,
        through: match kind {
            RelationshipKind::ManyToMany => Some(through.ok_or_else(|| missing("through"))?),
            _ => None,
        },
        remote: match kind {
            RelationshipKind::ManyToMany => Some(remote.ok_or_else(|| missing("remote"))?),
            _ => None,
        },
    })
}

/// A client-side default or `onupdate`: a function, or a constant value.
pub enum DefaultAttr {
    /// `default = path`: a `fn() -> orm::Value`.
    Function(Path),
    /// `default_value = expr`: a constant converted with `ColumnType::to_value`.
    Value(Expr),
}

/// `numeric(precision = p, scale = s)`: precision and scale.
pub type NumericAttr = (Option<u32>, Option<u32>);

/// The SQL type names accepted by `sql_type = ...`.
pub const SQL_TYPES: &[&str] = &[
    "Text",
    "String",
    "Integer",
    "BigInteger",
    "SmallInteger",
    "Boolean",
    "Float",
    "Numeric",
    "Date",
    "DateTime",
    "LargeBinary",
    "Uuid",
    "Json",
];

/// A field's attributes. Every entry keeps the span of its key for error messages.
#[derive(Default)]
pub struct FieldAttrs {
    /// `primary_key`.
    pub primary_key: Option<(bool, Span)>,
    /// `autoincrement = bool`.
    pub autoincrement: Option<(bool, Span)>,
    /// `length = n`.
    pub length: Option<(u32, Span)>,
    /// `unique`.
    pub unique: Option<(bool, Span)>,
    /// `index`.
    pub index: Option<(bool, Span)>,
    /// `nullable = bool`.
    pub nullable: Option<(bool, Span)>,
    /// `default = path` or `default_value = expr`.
    pub default: Option<(DefaultAttr, Span)>,
    /// `onupdate = path` or `onupdate_value = expr`.
    pub onupdate: Option<(DefaultAttr, Span)>,
    /// `server_default = "sql"`.
    pub server_default: Option<(LitStr, Span)>,
    /// `foreign_key = "table.column"`: the referenced table and column.
    pub foreign_key: Option<(String, String, Span)>,
    /// `sql_type = Name`.
    pub sql_type: Option<(Ident, Span)>,
    /// `numeric(precision = p, scale = s)`.
    pub numeric: Option<(NumericAttr, Span)>,
    /// `timezone`.
    pub timezone: Option<(bool, Span)>,
    /// `column = "name"`.
    pub column: Option<(LitStr, Span)>,
}

fn is_orm(attr: &Attribute) -> bool {
    attr.path().is_ident("orm")
}

/// Stores `value` in `slot`, or fails if the key was already given.
fn set_once<T>(slot: &mut Option<(T, Span)>, value: T, span: Span, key: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(span, format!("`{key}` is given twice")));
    }
    *slot = Some((value, span));
    Ok(())
}

/// A flag: `key` alone, or `key = true` / `key = false`.
fn flag(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<bool> {
    if meta.input.peek(Token![=]) {
        let lit: LitBool = meta.value()?.parse()?;
        Ok(lit.value)
    } else {
        Ok(true)
    }
}

/// `key = true` or `key = false`.
fn boolean(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<bool> {
    let lit: LitBool = meta.value()?.parse()?;
    Ok(lit.value)
}

/// A positive integer literal that fits a `u32`.
fn positive(lit: &LitInt, what: &str) -> syn::Result<u32> {
    let n: u32 = lit
        .base10_parse()
        .map_err(|_| syn::Error::new(lit.span(), format!("{what} must be a positive integer")))?;
    if n == 0 {
        return Err(syn::Error::new(
            lit.span(),
            format!("{what} must be a positive integer"),
        ));
    }
    Ok(n)
}

/// The longest identifier PostgreSQL keeps whole (NAMEDATALEN - 1 bytes); longer ones are
/// silently truncated by the server, so the model's name would not match the database's.
const MAX_IDENTIFIER: usize = 63;

/// Checks a table or column name: not empty, at most 63 bytes.
pub fn check_identifier(name: &str, span: Span, what: &str) -> syn::Result<()> {
    if name.is_empty() {
        return Err(syn::Error::new(span, format!("the {what} name is empty")));
    }
    if name.len() > MAX_IDENTIFIER {
        return Err(syn::Error::new(
            span,
            format!(
                "the {what} name `{name}` is {} bytes long; PostgreSQL keeps at most {MAX_IDENTIFIER}",
                name.len()
            ),
        ));
    }
    if name.contains('\0') {
        return Err(syn::Error::new(
            span,
            format!("the {what} name contains a NUL character"),
        ));
    }
    Ok(())
}

impl TableAttrs {
    /// Reads `#[orm(table = "...")]` from the struct's attributes.
    pub fn parse(attrs: &[Attribute], struct_span: Span) -> syn::Result<TableAttrs> {
        let mut table: Option<(LitStr, Span)> = None;
        let mut relationships = Vec::new();
        for attr in attrs.iter().filter(|a| is_orm(a)) {
            attr.parse_nested_meta(|meta| {
                let span = meta.path.span();
                if meta.path.is_ident("table") {
                    let lit: LitStr = meta.value()?.parse()?;
                    check_identifier(&lit.value(), lit.span(), "table")?;
                    set_once(&mut table, lit, span, "table")
                } else if meta.path.is_ident("relationship") {
                    relationships.push(parse_relationship(meta, RelationshipKind::OneToMany)?);
                    Ok(())
                } else if meta.path.is_ident("belongs_to") {
                    relationships.push(parse_relationship(meta, RelationshipKind::ManyToOne)?);
                    Ok(())
                } else if meta.path.is_ident("many_to_many") {
                    relationships.push(parse_relationship(meta, RelationshipKind::ManyToMany)?);
                    Ok(())
                } else {
                    Err(meta.error(
                        "unknown model attribute; the struct takes `table = \"name\"`, `relationship(...)`, `belongs_to(...)` and `many_to_many(...)`",
                    ))
                }
            })?;
        }
        match table {
            Some((table, _)) => Ok(TableAttrs {
                table,
                relationships,
            }),
            None => Err(syn::Error::new(
                struct_span,
                "a model needs its table name: add `#[orm(table = \"name\")]` to the struct",
            )),
        }
    }
}

impl FieldAttrs {
    /// Reads every `#[orm(...)]` attribute of a field.
    pub fn parse(attrs: &[Attribute]) -> syn::Result<FieldAttrs> {
        let mut out = FieldAttrs::default();
        for attr in attrs.iter().filter(|a| is_orm(a)) {
            attr.parse_nested_meta(|meta| out.parse_one(meta))?;
        }
        Ok(out)
    }

    fn parse_one(&mut self, meta: syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
        let span = meta.path.span();
        let Some(key) = meta.path.get_ident().map(Ident::to_string) else {
            return Err(meta.error("expected a column attribute name"));
        };
        match key.as_str() {
            "primary_key" => set_once(&mut self.primary_key, flag(&meta)?, span, &key),
            "unique" => set_once(&mut self.unique, flag(&meta)?, span, &key),
            "index" => set_once(&mut self.index, flag(&meta)?, span, &key),
            "timezone" => set_once(&mut self.timezone, flag(&meta)?, span, &key),
            "autoincrement" => set_once(&mut self.autoincrement, boolean(&meta)?, span, &key),
            "nullable" => set_once(&mut self.nullable, boolean(&meta)?, span, &key),
            "length" => {
                let lit: LitInt = meta.value()?.parse()?;
                let n = positive(&lit, "`length`")?;
                set_once(&mut self.length, n, span, &key)
            }
            "default" | "onupdate" => {
                let path: Path = meta.value()?.parse()?;
                let slot = if key == "default" {
                    &mut self.default
                } else {
                    &mut self.onupdate
                };
                if slot.is_some() {
                    return Err(syn::Error::new(
                        span,
                        format!("`{key}` and `{key}_value` exclude each other"),
                    ));
                }
                set_once(slot, DefaultAttr::Function(path), span, &key)
            }
            "default_value" | "onupdate_value" => {
                let expr: Expr = meta.value()?.parse()?;
                let base = key.trim_end_matches("_value");
                let slot = if base == "default" {
                    &mut self.default
                } else {
                    &mut self.onupdate
                };
                if slot.is_some() {
                    return Err(syn::Error::new(
                        span,
                        format!("`{base}` and `{key}` exclude each other"),
                    ));
                }
                set_once(slot, DefaultAttr::Value(expr), span, &key)
            }
            "server_default" => {
                let lit: LitStr = meta.value()?.parse()?;
                if lit.value().trim().is_empty() {
                    return Err(syn::Error::new(
                        lit.span(),
                        "`server_default` is SQL text and cannot be empty",
                    ));
                }
                set_once(&mut self.server_default, lit, span, &key)
            }
            "foreign_key" => {
                let lit: LitStr = meta.value()?.parse()?;
                let text = lit.value();
                let parts: Vec<&str> = text.split('.').collect();
                let [table, column] = parts.as_slice() else {
                    return Err(syn::Error::new(
                        lit.span(),
                        format!(
                            "`foreign_key` must name one column as \"table.column\", not \"{text}\""
                        ),
                    ));
                };
                check_identifier(table, lit.span(), "referenced table")?;
                check_identifier(column, lit.span(), "referenced column")?;
                if self.foreign_key.is_some() {
                    return Err(syn::Error::new(span, "`foreign_key` is given twice"));
                }
                self.foreign_key = Some(((*table).to_owned(), (*column).to_owned(), span));
                Ok(())
            }
            "sql_type" => {
                let ident: Ident = meta.value()?.parse()?;
                if !SQL_TYPES.contains(&ident.to_string().as_str()) {
                    return Err(syn::Error::new(
                        ident.span(),
                        format!(
                            "unknown `sql_type` `{ident}`; expected one of {}",
                            SQL_TYPES.join(", ")
                        ),
                    ));
                }
                set_once(&mut self.sql_type, ident, span, &key)
            }
            "numeric" => {
                let mut precision: Option<u32> = None;
                let mut scale: Option<u32> = None;
                if meta.input.peek(syn::token::Paren) {
                    meta.parse_nested_meta(|inner| {
                        let which = if inner.path.is_ident("precision") {
                            &mut precision
                        } else if inner.path.is_ident("scale") {
                            &mut scale
                        } else {
                            return Err(inner.error("expected `precision = n` or `scale = n`"));
                        };
                        if which.is_some() {
                            return Err(inner.error("given twice"));
                        }
                        let lit: LitInt = inner.value()?.parse()?;
                        let n: u32 = lit.base10_parse()?;
                        *which = Some(n);
                        Ok(())
                    })?;
                }
                if scale.is_some() && precision.is_none() {
                    return Err(syn::Error::new(
                        span,
                        "`numeric(scale = ...)` needs a precision too",
                    ));
                }
                if precision == Some(0) {
                    return Err(syn::Error::new(
                        span,
                        "the precision of a numeric column must be positive",
                    ));
                }
                if let (Some(p), Some(s)) = (precision, scale) {
                    if s > p {
                        return Err(syn::Error::new(
                            span,
                            format!(
                                "the scale ({s}) of a numeric column cannot exceed its precision ({p})"
                            ),
                        ));
                    }
                }
                set_once(&mut self.numeric, (precision, scale), span, &key)
            }
            "column" => {
                let lit: LitStr = meta.value()?.parse()?;
                check_identifier(&lit.value(), lit.span(), "column")?;
                set_once(&mut self.column, lit, span, &key)
            }
            "skip" => {
                Err(meta.error("every field of a model is a column; `skip` is not supported"))
            }
            _ => Err(meta.error(format!(
                "unknown column attribute `{key}`; expected one of primary_key, autoincrement, \
                 length, unique, index, nullable, default, default_value, onupdate, \
                 onupdate_value, server_default, foreign_key, sql_type, numeric, timezone, column"
            ))),
        }
    }
}
