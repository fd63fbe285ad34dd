//! The code `#[derive(Model)]` generates: `impl orm::Model` (a static table description, column
//! values in and out) and an inherent impl with one typed column constant per field.
//!
//! Everything is checked here that can be checked from the tokens, with errors spanned on the
//! offending attribute. What needs the field types' `ColumnType` impls (is this an integer column,
//! does `sql_type` fit the Rust type) becomes a `const` assertion spanned on the attribute, so it
//! fails at compile time too.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    Data, DeriveInput, Fields, GenericArgument, Ident, LitStr, PathArguments, Type, Visibility,
};

use crate::attrs::{DefaultAttr, FieldAttrs, RelationshipKind, TableAttrs, check_identifier};

/// One field of the model, with its parsed attributes.
struct Field<'a> {
    ident: &'a Ident,
    ty: &'a Type,
    vis: &'a Visibility,
    attrs: FieldAttrs,
    /// The column name.
    column: String,
    /// Where the column name comes from (the `column` attribute or the field name).
    column_span: Span,
    /// `Option<T>` as written (a type alias of an `Option` is not recognised here, but its
    /// nullability still comes from `ColumnType::NULLABLE`).
    inner_option: Option<&'a Type>,
}

/// `T` if `ty` is written `Option<T>` (or `std::option::Option<T>`, `core::option::Option<T>`).
fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let segments: Vec<String> = path
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    let is_option = matches!(
        segments
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        ["Option"] | ["std" | "core", "option", "Option"]
    );
    if !is_option {
        return None;
    }
    let last = path.path.segments.last()?;
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.iter().collect::<Vec<_>>().as_slice() {
        [GenericArgument::Type(inner)] => Some(inner),
        _ => None,
    }
}

/// The field name without a raw-identifier prefix (`r#type` is column `type`).
fn unraw(ident: &Ident) -> String {
    let name = ident.to_string();
    name.strip_prefix("r#").map(str::to_owned).unwrap_or(name)
}

/// `orm::SqlType` for a name accepted by `sql_type = ...` (without length, precision or zone).
fn sql_type_tokens(name: &Ident) -> TokenStream {
    match name.to_string().as_str() {
        "String" => quote!(::orm::SqlType::String(::core::option::Option::None)),
        "Numeric" => quote!(::orm::SqlType::Numeric {
            precision: ::core::option::Option::None,
            scale: ::core::option::Option::None,
        }),
        "DateTime" => quote!(::orm::SqlType::DateTime { timezone: false }),
        other => {
            let variant = Ident::new(other, name.span());
            quote!(::orm::SqlType::#variant)
        }
    }
}

fn u32_option(value: Option<u32>) -> TokenStream {
    match value {
        Some(n) => quote!(::core::option::Option::Some(#n)),
        None => quote!(::core::option::Option::None),
    }
}

/// A compile-time assertion spanned on `span`: the code is wrong for the types it names.
/// Each is its own `const` item, so every failing one is reported.
fn const_assert(span: Span, condition: TokenStream, message: String) -> TokenStream {
    quote_spanned! {span=>
        const _: () = ::core::assert!(#condition, #message);
    }
}

/// Expands `#[derive(Model)]` on `input`.
pub fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let name = &input.ident;
    if !input.generics.params.is_empty() || input.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            input.generics.span(),
            "a model cannot be generic: its table description is a single static",
        ));
    }
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new(
            name.span(),
            "`#[derive(Model)]` applies to structs with named fields",
        ));
    };
    let Fields::Named(named) = &data.fields else {
        return Err(syn::Error::new(
            data.fields.span(),
            "`#[derive(Model)]` applies to structs with named fields: one field per column",
        ));
    };
    let table_attrs = TableAttrs::parse(&input.attrs, name.span())?;
    let table_name = table_attrs.table.value();

    // Parse every field, collecting all errors rather than stopping at the first.
    let mut errors: Option<syn::Error> = None;
    let mut push_error = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    let mut fields = Vec::new();
    let mut all_parsed = true;
    for field in &named.named {
        let Some(ident) = &field.ident else { continue };
        match FieldAttrs::parse(&field.attrs) {
            Ok(attrs) => {
                let (column, column_span) = match &attrs.column {
                    Some((lit, _)) => (lit.value(), lit.span()),
                    None => (unraw(ident), ident.span()),
                };
                if attrs.column.is_none() {
                    if let Err(e) = check_identifier(&column, column_span, "column") {
                        push_error(e);
                    }
                }
                fields.push(Field {
                    ident,
                    ty: &field.ty,
                    vis: &field.vis,
                    attrs,
                    column,
                    column_span,
                    inner_option: option_inner(&field.ty),
                });
            }
            Err(e) => {
                all_parsed = false;
                push_error(e);
            }
        }
    }
    for e in check_model(name, &fields, all_parsed) {
        push_error(e);
    }
    if let Some(errors) = errors {
        return Err(errors);
    }

    let primary_keys = fields
        .iter()
        .filter(|f| f.attrs.primary_key.is_some_and(|(pk, _)| pk))
        .count();
    let mut helpers = Vec::new();
    let mut assertions = Vec::new();
    let mut column_defs = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        let (def, helper, asserts) = column_def(i, field, primary_keys);
        column_defs.push(def);
        helpers.extend(helper);
        assertions.extend(asserts);
    }

    let count = fields.len();
    let idents: Vec<&Ident> = fields.iter().map(|f| f.ident).collect();
    let columns: Vec<&str> = fields.iter().map(|f| f.column.as_str()).collect();
    let indexes: Vec<usize> = (0..count).collect();
    let vars: Vec<Ident> = (0..count).map(|i| format_ident!("__value{}", i)).collect();
    let types: Vec<&syn::Type> = fields.iter().map(|f| f.ty).collect();
    // The primary key columns' variables, in column order.
    let key_vars: Vec<&Ident> = fields
        .iter()
        .zip(&vars)
        .filter(|(f, _)| f.attrs.primary_key.is_some_and(|(pk, _)| pk))
        .map(|(_, var)| var)
        .collect();
    let constants = fields.iter().enumerate().map(|(i, f)| {
        let constant = format_ident!("{}", unraw(f.ident).to_uppercase(), span = f.ident.span());
        let ty = f.ty;
        let vis = f.vis;
        let column = &f.column;
        let doc = format!("The `{column}` column of table `{table_name}`, for queries.");
        quote! {
            #[doc = #doc]
            #[allow(dead_code)]
            #vis const #constant: ::orm::Column<Self, #ty> = ::orm::Column::new(#i, #column);
        }
    });

    let relationships = table_attrs.relationships.iter().map(|rel| {
        let vis = &input.vis;
        let target = &rel.target;
        let rel_name = rel.name.value();
        let constant = format_ident!("{}", rel_name.to_uppercase(), span = rel.name.span());
        let fk = format_ident!("{}", unraw(&rel.foreign_key).to_uppercase(), span = rel.foreign_key.span());
        match rel.kind {
            RelationshipKind::OneToMany => {
                let cascade = rel.cascade_delete.then(|| quote! { .cascade_delete() });
                let backref_name = rel.backref.as_ref().map(LitStr::value).unwrap_or_default();
                let doc = format!("The `{rel_name}` relationship: the `{}` rows whose `{}` points here.", quote!(#target), rel.foreign_key);
                let backref = rel.backref.as_ref().map(|backref| {
                    let back_constant = format_ident!("{}", backref.value().to_uppercase(), span = backref.span());
                    let doc = format!("The `{}` relationship (the backref of `{name}::{constant}`): the parent row.", backref.value());
                    quote! {
                        #[automatically_derived]
                        impl #target {
                            #[doc = #doc]
                            #[allow(dead_code)]
                            #vis const #back_constant: ::orm::ManyToOne<#target, #name> =
                                ::orm::ManyToOne::new(#backref, #target::#fk.index());
                        }
                    }
                });
                quote! {
                    #[automatically_derived]
                    impl #name {
                        #[doc = #doc]
                        #[allow(dead_code)]
                        #vis const #constant: ::orm::OneToMany<#name, #target> =
                            ::orm::OneToMany::new(#rel_name, #target::#fk.index(), #backref_name) #cascade;
                    }
                    #backref
                }
            }
            RelationshipKind::ManyToMany => {
                let through = rel.through.as_ref();
                let remote = rel.remote.as_ref().map(|r| format_ident!("{}", unraw(r).to_uppercase(), span = r.span()));
                let doc = format!("The `{rel_name}` relationship: the `{}` rows related through `{}`.", quote!(#target), quote!(#through));
                let backref = rel.backref.as_ref().map(|backref| {
                    let back_constant = format_ident!("{}", backref.value().to_uppercase(), span = backref.span());
                    let doc = format!("The `{}` relationship (the backref of `{name}::{constant}`).", backref.value());
                    quote! {
                        #[automatically_derived]
                        impl #target {
                            #[doc = #doc]
                            #[allow(dead_code)]
                            #vis const #back_constant: ::orm::ManyToMany<#target, #name> = ::orm::ManyToMany::new(
                                #backref,
                                <#through as ::orm::Model>::TABLE,
                                #through::#remote.index(),
                                #through::#fk.index(),
                            );
                        }
                    }
                });
                quote! {
                    #[automatically_derived]
                    impl #name {
                        #[doc = #doc]
                        #[allow(dead_code)]
                        #vis const #constant: ::orm::ManyToMany<#name, #target> = ::orm::ManyToMany::new(
                            #rel_name,
                            <#through as ::orm::Model>::TABLE,
                            #through::#fk.index(),
                            #through::#remote.index(),
                        );
                    }
                    #backref
                }
            }
            RelationshipKind::ManyToOne => {
                let doc = format!("The `{rel_name}` relationship: the `{}` row `{}` points to.", quote!(#target), rel.foreign_key);
                quote! {
                    #[automatically_derived]
                    impl #name {
                        #[doc = #doc]
                        #[allow(dead_code)]
                        #vis const #constant: ::orm::ManyToOne<#name, #target> =
                            ::orm::ManyToOne::new(#rel_name, Self::#fk.index());
                    }
                }
            }
        }
    });

    // The one-to-many relationships this model declares, for what deleting an object does to
    // its children.
    let declarations = table_attrs
        .relationships
        .iter()
        .filter(|rel| rel.kind == RelationshipKind::OneToMany)
        .map(|rel| {
            let constant = format_ident!(
                "{}",
                rel.name.value().to_uppercase(),
                span = rel.name.span()
            );
            quote!(#name::#constant.declaration())
        });

    // And its many-to-many relationships, whose association rows go with a deleted object.
    let associations = table_attrs
        .relationships
        .iter()
        .filter(|rel| rel.kind == RelationshipKind::ManyToMany)
        .map(|rel| {
            let constant = format_ident!(
                "{}",
                rel.name.value().to_uppercase(),
                span = rel.name.span()
            );
            quote!(#name::#constant.key())
        });

    Ok(quote! {
        #(#relationships)*

        #[automatically_derived]
        impl ::orm::Model for #name {
            const RELATIONSHIPS: &'static [::orm::ChildRelationship] = &[#(#declarations),*];

            const ASSOCIATIONS: &'static [::orm::AssociationKey] = &[#(#associations),*];

            const TABLE: &'static ::orm::Table = {
                #(#helpers)*
                static COLUMNS: [::orm::ColumnDef; #count] = [#(#column_defs),*];
                static TABLE: ::orm::Table = ::orm::Table {
                    name: #table_name,
                    columns: &COLUMNS,
                };
                &TABLE
            };

            fn values(&self) -> ::std::vec::Vec<::orm::Value> {
                ::std::vec![#(::orm::ColumnType::to_value(&self.#idents)),*]
            }

            fn value(&self, index: usize) -> ::core::option::Option<::orm::Value> {
                match index {
                    #(#indexes => ::core::option::Option::Some(
                        ::orm::ColumnType::to_value(&self.#idents),
                    ),)*
                    _ => ::core::option::Option::None,
                }
            }

            fn set_value(
                &mut self,
                index: usize,
                value: ::orm::Value,
            ) -> ::core::result::Result<(), ::orm::OrmError> {
                match index {
                    #(#indexes => {
                        self.#idents = ::orm::__private::from_value(value, #table_name, #columns)?;
                    })*
                    _ => {
                        return ::core::result::Result::Err(
                            ::orm::__private::no_column(#table_name, index, #count),
                        );
                    }
                }
                ::core::result::Result::Ok(())
            }

            fn from_values(
                values: ::std::vec::Vec<::orm::Value>,
            ) -> ::core::result::Result<Self, ::orm::OrmError> {
                let [#(#vars),*] = ::orm::__private::exact_values::<#count>(values, #table_name)?;
                ::core::result::Result::Ok(Self {
                    #(#idents: ::orm::__private::from_value(#vars, #table_name, #columns)?,)*
                })
            }

            fn read_row<__Known>(
                row: &::orm::__private::Row,
                known: impl ::core::ops::FnOnce(&mut [::orm::Value]) -> ::core::option::Option<__Known>,
            ) -> ::core::result::Result<::orm::__private::RowRead<Self, __Known>, ::orm::OrmError> {
                // Every column read first, in order, then converted: as `from_values` of the
                // row's values, without a `Value` in between.
                #(
                    let #vars = ::orm::__private::read_column::<#types>(
                        row,
                        #indexes,
                        <Self as ::orm::Model>::TABLE,
                    )?;
                )*
                let mut key = [#(::orm::__private::key_value(&#key_vars)),*];
                if let ::core::option::Option::Some(known) = known(&mut key) {
                    return ::core::result::Result::Ok(::orm::__private::RowRead::Known(known));
                }
                ::core::result::Result::Ok(::orm::__private::RowRead::New(Self {
                    #(#idents: ::orm::__private::field(#vars, #table_name, #columns)?,)*
                }))
            }
        }

        #[automatically_derived]
        impl #name {
            #(#constants)*
        }

        #(#assertions)*
    })
}

/// Checks across fields and attribute combinations that the tokens alone decide.
/// `complete` is false when some field's attributes did not parse (its `primary_key` is unknown).
fn check_model(name: &Ident, fields: &[Field<'_>], complete: bool) -> Vec<syn::Error> {
    let mut errors = Vec::new();
    let mut columns: Vec<&str> = Vec::new();
    let mut constants: Vec<String> = Vec::new();
    let mut autoincrement: Option<&Field<'_>> = None;
    let mut has_primary_key = false;
    for f in fields {
        let a = &f.attrs;
        let primary_key = a.primary_key.is_some_and(|(pk, _)| pk);
        has_primary_key |= primary_key;
        if columns.contains(&f.column.as_str()) {
            errors.push(syn::Error::new(
                f.column_span,
                format!("two fields map to column `{}`", f.column),
            ));
        }
        columns.push(&f.column);
        let constant = unraw(f.ident).to_uppercase();
        if constants.contains(&constant) {
            errors.push(syn::Error::new(
                f.ident.span(),
                format!("two fields get the column constant `{constant}`"),
            ));
        }
        constants.push(constant);

        match a.nullable {
            Some((true, span)) if primary_key => errors.push(syn::Error::new(
                span,
                "a primary key column is never nullable",
            )),
            Some((true, span)) if f.inner_option.is_none() => errors.push(syn::Error::new(
                span,
                "`nullable = true` needs an `Option<T>` field: a non-Option field cannot hold NULL",
            )),
            Some((false, span))
                if f.inner_option.is_some()
                    && !primary_key
                    && a.default.is_none()
                    && a.server_default.is_none() =>
            {
                errors.push(syn::Error::new(
                    span,
                    "an `Option` field with `nullable = false` could only ever be inserted as \
                     Some: make the field non-Option, or give the column a `default`, \
                     `default_value` or `server_default` that fills in a None on INSERT",
                ))
            }
            _ => {}
        }
        if let Some((true, span)) = a.autoincrement {
            if !primary_key {
                errors.push(syn::Error::new(
                    span,
                    "`autoincrement` applies to primary key columns only",
                ));
            } else if let Some(first) = autoincrement {
                errors.push(syn::Error::new(
                    span,
                    format!(
                        "only one column can be autoincrement; `{}` already is",
                        first.column
                    ),
                ));
            } else if a.default.is_some() || a.server_default.is_some() {
                errors.push(syn::Error::new(
                    span,
                    "an autoincrement column gets its value from the server; it cannot also have \
                     a default",
                ));
            }
            autoincrement = autoincrement.or(Some(f));
        }
        if let Some((ident, _)) = &a.sql_type {
            let ty = ident.to_string();
            if let Some((_, span)) = a.length {
                if ty != "String" && ty != "Text" {
                    errors.push(syn::Error::new(
                        span,
                        format!("`length` applies to String and Text columns, not `{ty}`"),
                    ));
                }
            }
            if let Some((_, span)) = a.numeric {
                if ty != "Numeric" {
                    errors.push(syn::Error::new(
                        span,
                        format!("`numeric(...)` applies to Numeric columns, not `{ty}`"),
                    ));
                }
            }
            if let Some((_, span)) = a.timezone {
                if ty != "DateTime" {
                    errors.push(syn::Error::new(
                        span,
                        format!("`timezone` applies to DateTime columns, not `{ty}`"),
                    ));
                }
            }
        }
        if let (Some((_, span)), Some(_)) = (a.length, a.numeric) {
            errors.push(syn::Error::new(
                span,
                "`length` and `numeric(...)` exclude each other",
            ));
        }
        if let (Some((_, span)), Some(_)) = (a.timezone, a.numeric) {
            errors.push(syn::Error::new(
                span,
                "`timezone` and `numeric(...)` exclude each other",
            ));
        }
    }
    if complete && !has_primary_key {
        errors.push(syn::Error::new(
            name.span(),
            "a model needs a primary key: mark its field(s) with `#[orm(primary_key)]`",
        ));
    }
    errors
}

/// The `ColumnDef` of field `i`, the helper functions its scalar defaults need, and the
/// compile-time assertions on its types.
fn column_def(
    i: usize,
    f: &Field<'_>,
    primary_keys: usize,
) -> (TokenStream, Vec<TokenStream>, Vec<TokenStream>) {
    let a = &f.attrs;
    let ty = f.ty;
    let column = &f.column;
    let mut helpers = Vec::new();
    let mut assertions = Vec::new();
    let native = quote_spanned!(ty.span()=> <#ty as ::orm::ColumnType>::SQL_TYPE);

    // The SQL type: the Rust type's own, unless an attribute says otherwise.
    let mut sql_type = match &a.sql_type {
        Some((ident, _)) => sql_type_tokens(ident),
        None => native.clone(),
    };
    // The attribute that changed the SQL type, and what the field must then be.
    let mut changed_by: Option<(String, Span)> = a.sql_type.as_ref().map(|(ident, span)| {
        (
            format!(
                "`sql_type = {ident}` does not hold the values of this field's Rust type (a \
                 column's SQL type must read and write the same kind of value as the type's own \
                 `orm::ColumnType::SQL_TYPE`)"
            ),
            *span,
        )
    });
    if let Some(((precision, scale), span)) = a.numeric {
        let (p, s) = (u32_option(precision), u32_option(scale));
        sql_type = quote!(::orm::SqlType::Numeric { precision: #p, scale: #s });
        changed_by = Some((
            "`numeric(...)` needs a field of type `pg_wire::types::Numeric`".into(),
            span,
        ));
    }
    if let Some((timezone, span)) = a.timezone {
        sql_type = quote!(::orm::SqlType::DateTime { timezone: #timezone });
        let needed = if timezone {
            "`chrono::DateTime<chrono::Utc>`"
        } else {
            "`chrono::NaiveDateTime`"
        };
        changed_by = Some((format!("`timezone` needs a field of type {needed}"), span));
    }
    if let Some((length, span)) = a.length {
        assertions.push(const_assert(
            span,
            quote!(::orm::__private::is_textual(&#sql_type)),
            format!(
                "column `{column}`: `length` applies to String and Text columns; this field's \
                 SQL type is neither"
            ),
        ));
        sql_type = quote!(::orm::__private::with_length(#sql_type, #length));
    }
    if let Some((message, span)) = changed_by {
        assertions.push(const_assert(
            span,
            quote!(::orm::__private::same_values(&#sql_type, &#native)),
            format!("column `{column}`: {message}"),
        ));
    }

    let primary_key = a.primary_key.is_some_and(|(pk, _)| pk);
    let nullable = if primary_key {
        quote!(false)
    } else {
        match a.nullable {
            Some((nullable, _)) => quote!(#nullable),
            None => quote_spanned!(ty.span()=> <#ty as ::orm::ColumnType>::NULLABLE),
        }
    };
    // As SQLAlchemy's autoincrement="auto": the single integer primary key column, without a
    // default or a foreign key, is SERIAL.
    let autoincrement = match a.autoincrement {
        Some((false, _)) => quote!(false),
        Some((true, span)) => {
            assertions.push(const_assert(
                span,
                quote!(::orm::__private::is_integer(&#sql_type)),
                format!("column `{column}`: `autoincrement` needs an integer column"),
            ));
            quote!(true)
        }
        None if primary_key
            && primary_keys == 1
            && a.default.is_none()
            && a.server_default.is_none()
            && a.foreign_key.is_none() =>
        {
            quote!(::orm::__private::is_integer(&#sql_type))
        }
        None => quote!(false),
    };
    let unique = a.unique.is_some_and(|(u, _)| u);
    let index = a.index.is_some_and(|(x, _)| x);

    let mut default_tokens = |which: &str, attr: &Option<(DefaultAttr, Span)>| match attr {
        None => quote!(::core::option::Option::None),
        Some((DefaultAttr::Function(path), _)) => {
            let name = path_name(path);
            quote!(::core::option::Option::Some(::orm::ClientDefault::callable(#name, #path)))
        }
        Some((DefaultAttr::Value(expr), _)) => {
            let helper = format_ident!("__orm_{}_{}", which, i);
            let target = f.inner_option.unwrap_or(ty);
            let name = quote!(#expr).to_string();
            helpers.push(quote_spanned! {expr.span()=>
                fn #helper() -> ::orm::Value {
                    let value: #target = ::core::convert::Into::into(#expr);
                    ::orm::ColumnType::to_value(&value)
                }
            });
            quote!(::core::option::Option::Some(::orm::ClientDefault::scalar(#name, #helper)))
        }
    };
    let default = default_tokens("default", &a.default);
    let onupdate = default_tokens("onupdate", &a.onupdate);
    let server_default = match &a.server_default {
        Some((lit, _)) => quote!(::core::option::Option::Some(#lit)),
        None => quote!(::core::option::Option::None),
    };
    let foreign_key = match &a.foreign_key {
        Some((table, column, _)) => quote!(::core::option::Option::Some(::orm::ForeignKey {
            table: #table,
            column: #column,
        })),
        None => quote!(::core::option::Option::None),
    };
    let def = quote! {
        ::orm::ColumnDef {
            nullable: #nullable,
            primary_key: #primary_key,
            autoincrement: #autoincrement,
            unique: #unique,
            index: #index,
            default: #default,
            onupdate: #onupdate,
            server_default: #server_default,
            foreign_key: #foreign_key,
            ..::orm::ColumnDef::new(#column, #sql_type)
        }
    };
    (def, helpers, assertions)
}

/// A default function's path as written, for the table's repr: `orm::now`.
fn path_name(path: &syn::Path) -> String {
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let joined = segments.join("::");
    if path.leading_colon.is_some() {
        format!("::{joined}")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(input: TokenStream) -> String {
        let input: DeriveInput = syn::parse2(input).unwrap();
        match expand(&input) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    #[test]
    fn the_tutorial_model_expands() {
        let input: DeriveInput = syn::parse_quote! {
            #[orm(table = "articles")]
            pub struct Article {
                #[orm(primary_key)] pub id: Option<i32>,
                #[orm(length = 100, unique)] pub slug: String,
                #[orm(default = orm::now, onupdate = orm::now)]
                pub updated_on: Option<chrono::NaiveDateTime>,
                #[orm(foreign_key = "authors.id")] pub author_id: Option<i32>,
            }
        };
        let code = expand(&input).unwrap().to_string();
        assert!(code.contains("impl :: orm :: Model for Article"), "{code}");
        assert!(code.contains("const SLUG"), "{code}");
        assert!(code.contains("\"orm::now\""), "{code}");
    }

    #[test]
    fn errors_name_the_problem() {
        let cases: Vec<(TokenStream, &str)> = vec![
            (
                quote! { struct A { #[orm(primary_key)] id: i32 } },
                "add `#[orm(table = \"name\")]`",
            ),
            (
                quote! { #[orm(table = "a")] struct A { id: i32 } },
                "needs a primary key",
            ),
            (
                quote! { #[orm(table = "a", table = "b")] struct A { #[orm(primary_key)] id: i32 } },
                "`table` is given twice",
            ),
            (
                quote! { #[orm(table = "a")] struct A { #[orm(primary_key, colour)] id: i32 } },
                "unknown column attribute `colour`",
            ),
            (
                quote! { #[orm(table = "a")] struct A { #[orm(primary_key)] id: i32, #[orm(nullable = false)] x: Option<i32> } },
                "an `Option` field with `nullable = false`",
            ),
            (
                quote! { #[orm(table = "a")] struct A { #[orm(primary_key)] id: i32, #[orm(nullable = true)] x: i32 } },
                "a non-Option field cannot hold NULL",
            ),
            (
                quote! { #[orm(table = "a")] struct A { #[orm(primary_key)] id: i32, #[orm(foreign_key = "authors")] x: i32 } },
                "\"table.column\"",
            ),
            (
                quote! { #[orm(table = "a")] struct A { #[orm(primary_key)] id: i32, #[orm(foreign_key = "s.authors.id")] x: i32 } },
                "\"table.column\"",
            ),
            (
                quote! { #[orm(table = "a")] struct A { #[orm(primary_key)] id: i32, #[orm(sql_type = Varchar)] x: String } },
                "unknown `sql_type` `Varchar`",
            ),
            (
                quote! { #[orm(table = "a")] struct A { #[orm(primary_key)] id: i32, #[orm(sql_type = Integer, length = 3)] x: i32 } },
                "`length` applies to String and Text columns, not `Integer`",
            ),
            (
                quote! { #[orm(table = "a")] struct A { #[orm(primary_key)] id: i32, #[orm(length = 0)] x: String } },
                "must be a positive integer",
            ),
            (
                quote! { #[orm(table = "a")] struct A { #[orm(primary_key)] id: i32, #[orm(default = f, default_value = 1)] x: i32 } },
                "exclude each other",
            ),
            (
                quote! { #[orm(table = "a")] struct A { #[orm(primary_key)] id: i32, #[orm(column = "id")] x: i32 } },
                "two fields map to column `id`",
            ),
            (
                quote! { #[orm(table = "a")] struct A { #[orm(primary_key)] id: i32, #[orm(autoincrement = true)] x: i32 } },
                "primary key columns only",
            ),
            (
                quote! { #[orm(table = "a")] struct A { #[orm(primary_key, nullable = true)] id: Option<i32> } },
                "never nullable",
            ),
            (
                quote! { #[orm(table = "a")] struct A { #[orm(primary_key)] id: i32, #[orm(numeric(scale = 2))] x: i32 } },
                "needs a precision",
            ),
            (
                quote! { #[orm(table = "a")] struct A { #[orm(primary_key)] id: i32, #[orm(skip)] x: i32 } },
                "`skip` is not supported",
            ),
            (
                quote! { #[orm(table = "a")] struct A<T> { #[orm(primary_key)] id: T } },
                "cannot be generic",
            ),
            (
                quote! { #[orm(table = "a")] struct A(i32); },
                "named fields",
            ),
            (
                quote! { #[orm(table = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")] struct A { #[orm(primary_key)] id: i32 } },
                "64 bytes long; PostgreSQL keeps at most 63",
            ),
        ];
        for (input, expected) in cases {
            let message = error(input.clone());
            assert!(
                message.contains(expected),
                "{input}\n  gave: {message}\n  expected: {expected}"
            );
        }
    }

    #[test]
    fn several_errors_are_reported_together() {
        let message = error(quote! {
            #[orm(table = "a")]
            struct A { #[orm(colour)] x: i32, #[orm(nullable = true)] y: i32 }
        });
        assert!(message.contains("colour"), "{message}");
        assert!(message.contains("cannot hold NULL"), "{message}");
    }

    #[test]
    fn option_types_are_recognised() {
        let ty: Type = syn::parse_quote!(Option<i32>);
        assert!(option_inner(&ty).is_some());
        let ty: Type = syn::parse_quote!(::std::option::Option<String>);
        assert!(option_inner(&ty).is_some());
        let ty: Type = syn::parse_quote!(Vec<i32>);
        assert!(option_inner(&ty).is_none());
    }
}
