//! Arrays: `Vec<T>` and `&[T]` for one-dimensional arrays, [`Array<T>`] for any number of
//! dimensions (with lower bounds), in PostgreSQL's binary and text array formats.
//!
//! The binary format is the server's `array_send`/`array_recv`, all integers big-endian:
//!
//! ```text
//! ndim:       i32        number of dimensions, 0 (empty array) to 6 (MAXDIM)
//! has_null:   i32        1 when some element is NULL, else 0
//! element:    u32        OID of the element type
//! ndim × (len: i32, lower_bound: i32)
//! for each element, in row-major order: length i32 (-1 for NULL), then that many bytes in the
//! element type's binary format
//! ```
//!
//! Decoding checks every count against the bytes that remain before allocating, the number of
//! dimensions, the bounds, and that the element OID is the column's element type. The text format
//! is the server's `array_out`/`array_in`: `{1,2,3}`, `{{1,2},{3,4}}`, `{"a b",NULL,"c\"d"}`, with a
//! `[0:1]={...}` prefix when a lower bound is not 1; it is parsed for columns that arrive in text
//! (arrays of types without a binary decoder, such as user enums), element by element through
//! [`FromSql::from_sql_text`].
//!
//! Parameters are written in binary format when the array type is a built-in one and every
//! element writes binary; otherwise (an array of strings, or an array type unknown to this module
//! such as `_myenum`) in text format, each element quoted, so the server's `array_in` parses it.
//! An empty `Vec` or slice can be written to any array type.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

use bytes::{BufMut, BytesMut};

use crate::types::builtin::{InvalidText, WrongType};
use crate::types::reader::Reader;
use crate::types::{BoxError, Format, FromSql, IsNull, ToSql, Type};

/// The element type used for an array type this module does not know (such as a user enum's
/// array): OID 0, "unspecified", as in the protocol's Parse message.
const UNSPECIFIED: Type = Type::from_oid(0);

/// The largest number of dimensions of a PostgreSQL array (`MAXDIM`).
pub const MAX_DIMENSIONS: usize = 6;

/// One dimension of an [`Array`]: its length and the subscript of its first element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dimension {
    /// The number of elements along this dimension (at least 1 in an [`Array`]).
    pub len: usize,
    /// The subscript of the first element; 1 unless the array was built otherwise.
    pub lower_bound: i32,
}

impl Dimension {
    /// A dimension of `len` elements starting at subscript 1.
    pub const fn new(len: usize) -> Dimension {
        Dimension {
            len,
            lower_bound: 1,
        }
    }
}

/// A PostgreSQL array of any number of dimensions: the dimensions, with their lower bounds, and
/// the elements in row-major order (the last subscript varies fastest), as the server stores them.
///
/// An empty array has no dimensions. `T` is `Option<_>` when elements may be NULL.
///
/// ```
/// use pg_wire::types::{Array, Dimension};
///
/// // '{{1,2,3},{4,5,6}}'::int4[]
/// let a = Array::from_parts(vec![Dimension::new(2), Dimension::new(3)], vec![1, 2, 3, 4, 5, 6])
///     .unwrap();
/// assert_eq!(a.get(&[2, 1]), Some(&4));
/// assert_eq!(a.to_string(), "{{1,2,3},{4,5,6}}");
/// assert_eq!(Array::from(vec!["x"]).to_string(), "{x}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Array<T> {
    dims: Vec<Dimension>,
    elements: Vec<T>,
}

/// Dimensions and elements that do not make an [`Array`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrayShapeError {
    reason: String,
}

impl fmt::Display for ArrayShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid array shape: {}", self.reason)
    }
}

impl StdError for ArrayShapeError {}

fn shape_error(reason: impl Into<String>) -> ArrayShapeError {
    ArrayShapeError {
        reason: reason.into(),
    }
}

/// The number of elements of arrays with dimensions `dims`, checking the limits the server
/// checks: at most [`MAX_DIMENSIONS`], lengths that fit an `i32`, upper bounds that do not overflow.
fn element_count(dims: &[Dimension]) -> Result<usize, ArrayShapeError> {
    if dims.len() > MAX_DIMENSIONS {
        return Err(shape_error(format!(
            "{} dimensions, at most {MAX_DIMENSIONS} allowed",
            dims.len()
        )));
    }
    // No dimensions: the empty array.
    let mut count: usize = usize::from(!dims.is_empty());
    for dim in dims {
        let len = i32::try_from(dim.len)
            .map_err(|_| shape_error(format!("dimension length {} too large", dim.len)))?;
        if dim.lower_bound.checked_add(len).is_none() {
            return Err(shape_error(format!(
                "lower bound {} plus length {len} overflows",
                dim.lower_bound
            )));
        }
        count = count
            .checked_mul(dim.len)
            .ok_or_else(|| shape_error("too many elements"))?;
    }
    Ok(count)
}

impl<T> Array<T> {
    /// The array with dimensions `dims` and `elements` in row-major order. Fails unless the
    /// element count is the product of the lengths, there are at most [`MAX_DIMENSIONS`]
    /// dimensions, and lengths and bounds fit PostgreSQL's 32-bit fields. Dimensions of length 0
    /// (with no elements) make the empty array, which has no dimensions, as on the server.
    pub fn from_parts(dims: Vec<Dimension>, elements: Vec<T>) -> Result<Array<T>, ArrayShapeError> {
        let count = element_count(&dims)?;
        if count != elements.len() {
            return Err(shape_error(format!(
                "the dimensions hold {count} elements, {} given",
                elements.len()
            )));
        }
        let dims = if count == 0 { Vec::new() } else { dims };
        Ok(Array { dims, elements })
    }

    /// The dimensions, outermost first; empty for an empty array.
    pub fn dimensions(&self) -> &[Dimension] {
        &self.dims
    }

    /// The number of dimensions: 0 for an empty array.
    pub fn ndim(&self) -> usize {
        self.dims.len()
    }

    /// The elements in row-major order.
    pub fn elements(&self) -> &[T] {
        &self.elements
    }

    /// The elements in row-major order.
    pub fn into_elements(self) -> Vec<T> {
        self.elements
    }

    /// The total number of elements.
    pub fn len(&self) -> usize {
        self.elements.len()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// An iterator over the elements in row-major order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.elements.iter()
    }

    /// The element at PostgreSQL subscripts `subscripts` (one per dimension, counted from each
    /// dimension's lower bound), or `None` when out of bounds or of the wrong count.
    pub fn get(&self, subscripts: &[i32]) -> Option<&T> {
        if subscripts.len() != self.dims.len() || self.dims.is_empty() {
            return None;
        }
        let mut offset: usize = 0;
        for (dim, subscript) in self.dims.iter().zip(subscripts) {
            let index = usize::try_from(i64::from(*subscript) - i64::from(dim.lower_bound)).ok()?;
            if index >= dim.len {
                return None;
            }
            offset = offset.checked_mul(dim.len)?.checked_add(index)?;
        }
        self.elements.get(offset)
    }
}

impl<T> Default for Array<T> {
    /// The empty array.
    fn default() -> Self {
        Array {
            dims: Vec::new(),
            elements: Vec::new(),
        }
    }
}

impl<T> From<Vec<T>> for Array<T> {
    /// A one-dimensional array with lower bound 1, or the empty array. (Lengths beyond
    /// `i32::MAX` fail when the array is written.)
    fn from(elements: Vec<T>) -> Self {
        let dims = if elements.is_empty() {
            Vec::new()
        } else {
            vec![Dimension::new(elements.len())]
        };
        Array { dims, elements }
    }
}

impl<T> IntoIterator for Array<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    fn into_iter(self) -> Self::IntoIter {
        self.elements.into_iter()
    }
}

impl<'x, T> IntoIterator for &'x Array<T> {
    type Item = &'x T;
    type IntoIter = std::slice::Iter<'x, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.elements.iter()
    }
}

impl<T: fmt::Display> fmt::Display for Array<T> {
    /// The server's text form, elements quoted where `array_out` quotes them:
    /// `{{1,2},{3,4}}`, `[0:1]={a,"b c"}`, `{}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<Option<String>> =
            self.elements.iter().map(|e| Some(e.to_string())).collect();
        f.write_str(&format_text_array(&self.dims, &texts, b','))
    }
}

/// A multi-dimensional array read into a `Vec`, which holds one dimension only.
#[derive(Debug, Clone)]
pub struct WrongDimensions {
    /// The array's SQL type.
    pub ty: Type,
    /// Its number of dimensions.
    pub ndim: usize,
}

impl fmt::Display for WrongDimensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a {}-dimensional {} value cannot be read into a Vec; read it as types::Array<_>",
            self.ndim, self.ty
        )
    }
}

impl StdError for WrongDimensions {}

// ---------------------------------------------------------------------------------------------
// Binary format
// ---------------------------------------------------------------------------------------------

/// A decoded binary array whose elements are still raw bytes (`None` for NULL).
pub(crate) struct RawArray<'a> {
    pub(crate) dims: Vec<Dimension>,
    pub(crate) elements: Vec<Option<&'a [u8]>>,
}

/// Decodes the binary array `raw` of array type `ty`, whose elements must be of type `element`.
pub(crate) fn decode_binary<'a>(
    ty: &Type,
    element: &Type,
    raw: &'a [u8],
) -> Result<RawArray<'a>, BoxError> {
    let mut r = Reader::new(ty, raw);
    let ndim = r.i32()?;
    let ndim = usize::try_from(ndim)
        .ok()
        .filter(|n| *n <= MAX_DIMENSIONS)
        .ok_or_else(|| r.error(format!("invalid number of dimensions {ndim}")))?;
    let flags = r.i32()?;
    if flags != 0 && flags != 1 {
        return Err(r.error(format!("invalid flags {flags}")));
    }
    let element_oid = r.u32()?;
    if element_oid != element.oid() {
        return Err(r.error(format!(
            "element type is {}, expected {element}",
            Type::from_oid(element_oid)
        )));
    }
    let mut dims = Vec::with_capacity(ndim);
    for _ in 0..ndim {
        let len = r.i32()?;
        let lower_bound = r.i32()?;
        let len = usize::try_from(len)
            .map_err(|_| r.error(format!("negative dimension length {len}")))?;
        dims.push(Dimension { len, lower_bound });
    }
    let count = element_count(&dims).map_err(|e| r.error(e.reason))?;
    if count == 0 {
        // As array_recv: a zero length makes the empty array.
        r.finish()?;
        return Ok(RawArray {
            dims: Vec::new(),
            elements: Vec::new(),
        });
    }
    // Each element takes at least its 4-byte length: refuse a count the bytes cannot hold before
    // allocating for it.
    if count > r.remaining() / 4 {
        return Err(r.error(format!(
            "{count} elements announced, only {} bytes follow",
            r.remaining()
        )));
    }
    let mut elements = Vec::with_capacity(count);
    for _ in 0..count {
        let len = r.i32()?;
        let element = match len {
            -1 => None,
            _ => {
                let len = usize::try_from(len)
                    .map_err(|_| r.error(format!("invalid element length {len}")))?;
                Some(r.take(len)?)
            }
        };
        elements.push(element);
    }
    r.finish()?;
    Ok(RawArray { dims, elements })
}

/// Decodes each raw element as `T` of type `element`.
fn decode_elements<'a, T: FromSql<'a>>(
    element: &Type,
    raw: Vec<Option<&'a [u8]>>,
) -> Result<Vec<T>, BoxError> {
    raw.into_iter()
        .map(|e| match e {
            Some(bytes) => T::from_sql(element, bytes),
            None => T::from_sql_null(element),
        })
        .collect()
}

/// The element type of array type `ty` when `T` reads it in binary format.
fn binary_element<'a, T: FromSql<'a>>(ty: &Type) -> Option<Type> {
    ty.array_element().filter(|e| T::accepts(e))
}

/// The element type to read text-format elements of `ty` with, when `T` reads it: the built-in
/// element type, or `Type::from_oid(0)` (unspecified) for an array type this module does not know
/// (a user enum's array, say, which arrives in text format).
fn text_element<'a, T: FromSql<'a>>(ty: &Type) -> Option<Type> {
    let element = match ty.array_element() {
        Some(element) => element,
        None if ty.name().is_none() => UNSPECIFIED,
        None => return None,
    };
    T::accepts_text(&element).then_some(element)
}

/// How an array parameter is written.
enum Mode {
    /// Binary, with this element type.
    Binary(Type),
    /// Text, elements written for this element type.
    Text(Type),
}

/// The mode for writing `elements` as a parameter of type `ty`: binary when `ty` is a built-in
/// array type and no element writes text, else text.
fn mode<T: ToSql>(ty: &Type, elements: &[T]) -> Mode {
    match ty.array_element() {
        Some(element)
            if elements
                .iter()
                .all(|e| e.encode_format(&element) == Format::Binary) =>
        {
            Mode::Binary(element)
        }
        Some(element) => Mode::Text(element),
        None => Mode::Text(UNSPECIFIED),
    }
}

fn accepts_elements<T: ToSql>(ty: &Type, elements: &[T]) -> bool {
    match ty.array_element() {
        Some(element) => elements.iter().all(|e| e.accepts(&element)),
        // An array type not known here (a user type's array): only text elements can be sent,
        // as text. A scalar type of unknown OID is indistinguishable; the server will refuse it.
        None => ty.name().is_none() && elements.iter().all(|e| e.accepts(&UNSPECIFIED)),
    }
}

/// Writes `elements` with dimensions `dims` as a parameter of type `ty`; on error nothing is left
/// in `out`.
fn write_array<T: ToSql>(
    ty: &Type,
    dims: &[Dimension],
    elements: &[T],
    out: &mut BytesMut,
) -> Result<IsNull, BoxError> {
    if !accepts_elements(ty, elements) {
        return Err(Box::new(WrongType::new::<[T]>(ty)));
    }
    let start = out.len();
    let result = match mode(ty, elements) {
        Mode::Binary(element) => write_binary(&element, dims, elements, out),
        Mode::Text(element) => write_text(ty, &element, dims, elements, out),
    };
    if result.is_err() {
        out.truncate(start);
    }
    result.map(|()| IsNull::No)
}

fn write_binary<T: ToSql>(
    element: &Type,
    dims: &[Dimension],
    elements: &[T],
    out: &mut BytesMut,
) -> Result<(), BoxError> {
    element_count(dims)?;
    let ndim = i32::try_from(dims.len())?;
    out.put_i32(ndim);
    let flags_at = out.len();
    out.put_i32(0);
    out.put_u32(element.oid());
    for dim in dims {
        out.put_i32(i32::try_from(dim.len)?);
        out.put_i32(dim.lower_bound);
    }
    let mut has_null = false;
    for value in elements {
        let len_at = out.len();
        out.put_i32(0);
        match value.to_sql(element, out)? {
            IsNull::Yes => {
                out.truncate(len_at);
                out.put_i32(-1);
                has_null = true;
            }
            IsNull::No => {
                let len = out.len() - len_at - 4;
                let len = i32::try_from(len).map_err(|_| {
                    format!("an array element of {len} bytes exceeds the protocol's limit")
                })?;
                patch_i32(out, len_at, len)?;
            }
        }
    }
    patch_i32(out, flags_at, i32::from(has_null))
}

/// Overwrites the `i32` at `at` (written earlier as a placeholder).
fn patch_i32(out: &mut BytesMut, at: usize, value: i32) -> Result<(), BoxError> {
    let slot = at
        .checked_add(4)
        .and_then(|end| out.get_mut(at..end))
        .ok_or("array placeholder out of bounds")?;
    slot.copy_from_slice(&value.to_be_bytes());
    Ok(())
}

fn write_text<T: ToSql>(
    ty: &Type,
    element: &Type,
    dims: &[Dimension],
    elements: &[T],
    out: &mut BytesMut,
) -> Result<(), BoxError> {
    element_count(dims)?;
    let delimiter = delimiter(ty);
    let mut texts = Vec::with_capacity(elements.len());
    let mut scratch = BytesMut::new();
    for value in elements {
        scratch.clear();
        match value.to_sql(element, &mut scratch)? {
            IsNull::Yes => texts.push(None),
            IsNull::No if value.encode_format(element) == Format::Text => {
                texts.push(Some(String::from_utf8(scratch.to_vec())?));
            }
            IsNull::No => {
                return Err(format!(
                    "array element of Rust type `{}` writes binary, which an array sent in text \
                     format (type {ty}) cannot hold",
                    value.type_name()
                )
                .into());
            }
        }
    }
    out.put_slice(format_text_array(dims, &texts, delimiter).as_bytes());
    Ok(())
}

/// `[T]`: a one-dimensional array (lower bound 1), or the empty array; see the module docs for
/// the format.
impl<T: ToSql> ToSql for [T] {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let dims = if self.is_empty() {
            Vec::new()
        } else {
            vec![Dimension::new(self.len())]
        };
        write_array(ty, &dims, self, out)
    }

    fn accepts(&self, ty: &Type) -> bool {
        accepts_elements(ty, self)
    }

    fn encode_format(&self, ty: &Type) -> Format {
        match mode(ty, self) {
            Mode::Binary(_) => Format::Binary,
            Mode::Text(_) => Format::Text,
        }
    }
}

/// As `[T]`.
impl<T: ToSql> ToSql for Vec<T> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        self.as_slice().to_sql(ty, out)
    }

    fn accepts(&self, ty: &Type) -> bool {
        self.as_slice().accepts(ty)
    }

    fn encode_format(&self, ty: &Type) -> Format {
        self.as_slice().encode_format(ty)
    }
}

/// Any number of dimensions, with their lower bounds.
impl<T: ToSql> ToSql for Array<T> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        write_array(ty, &self.dims, &self.elements, out)
    }

    fn accepts(&self, ty: &Type) -> bool {
        accepts_elements(ty, &self.elements)
    }

    fn encode_format(&self, ty: &Type) -> Format {
        self.elements.as_slice().encode_format(ty)
    }
}

/// A one-dimensional (or empty) array whose elements `T` reads; NULL elements need
/// `T = Option<_>`. Binary for built-in array types whose element type `T` reads; text for the
/// others (for example `Vec<String>` from an enum array). A multi-dimensional array is a
/// [`WrongDimensions`] error: read it as [`Array<T>`].
impl<'a, T: FromSql<'a>> FromSql<'a> for Vec<T> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let element = binary_element::<T>(ty).ok_or_else(|| WrongType::new::<Self>(ty))?;
        let array = decode_binary(ty, &element, raw)?;
        if array.dims.len() > 1 {
            return Err(Box::new(WrongDimensions {
                ty: ty.clone(),
                ndim: array.dims.len(),
            }));
        }
        decode_elements(&element, array.elements)
    }

    fn accepts(ty: &Type) -> bool {
        binary_element::<T>(ty).is_some()
    }

    fn from_sql_text(ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
        let array = Array::<T>::from_sql_text(ty, raw)?;
        if array.ndim() > 1 {
            return Err(Box::new(WrongDimensions {
                ty: ty.clone(),
                ndim: array.ndim(),
            }));
        }
        Ok(array.into_elements())
    }

    fn accepts_text(ty: &Type) -> bool {
        text_element::<T>(ty).is_some()
    }
}

/// An array of any number of dimensions whose elements `T` reads, binary or text, as `Vec<T>`.
impl<'a, T: FromSql<'a>> FromSql<'a> for Array<T> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let element = binary_element::<T>(ty).ok_or_else(|| WrongType::new::<Self>(ty))?;
        let array = decode_binary(ty, &element, raw)?;
        Ok(Array {
            dims: array.dims,
            elements: decode_elements(&element, array.elements)?,
        })
    }

    fn accepts(ty: &Type) -> bool {
        binary_element::<T>(ty).is_some()
    }

    fn from_sql_text(ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
        let element = text_element::<T>(ty).ok_or_else(|| WrongType::new::<Self>(ty))?;
        let parsed = parse_text_array(raw, delimiter(ty))
            .map_err(|_| Box::new(InvalidText::new(ty, raw)) as BoxError)?;
        let elements = parsed
            .elements
            .into_iter()
            .map(|e| match e {
                None => T::from_sql_null(&element),
                Some(Cow::Borrowed(text)) => T::from_sql_text(&element, text),
                Some(Cow::Owned(text)) => T::from_sql_text_owned(&element, text),
            })
            .collect::<Result<Vec<T>, BoxError>>()?;
        Ok(Array {
            dims: parsed.dims,
            elements,
        })
    }

    fn accepts_text(ty: &Type) -> bool {
        text_element::<T>(ty).is_some()
    }
}

// ---------------------------------------------------------------------------------------------
// Text format
// ---------------------------------------------------------------------------------------------

/// The element delimiter of array type `ty`: `;` for `box` (whose values contain commas), `,`
/// for every other built-in type.
fn delimiter(ty: &Type) -> u8 {
    if *ty == Type::BOX_ARRAY { b';' } else { b',' }
}

/// Whitespace as the server's array parser skips it (`scanner_isspace`).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Whether `array_out` quotes this element text.
fn needs_quotes(text: &str, delimiter: u8) -> bool {
    text.is_empty()
        || text.eq_ignore_ascii_case("NULL")
        || text
            .bytes()
            .any(|b| matches!(b, b'{' | b'}' | b'"' | b'\\') || b == delimiter || is_space(b))
}

/// The text form of an array with dimensions `dims` and element texts `texts` (`None` for NULL),
/// as `array_out` writes it.
pub(crate) fn format_text_array(
    dims: &[Dimension],
    texts: &[Option<String>],
    delimiter: u8,
) -> String {
    let mut out = String::new();
    if dims.is_empty() {
        out.push_str("{}");
        return out;
    }
    if dims.iter().any(|d| d.lower_bound != 1) {
        for dim in dims {
            let upper = i64::from(dim.lower_bound) + i64::try_from(dim.len).unwrap_or(i64::MAX) - 1;
            out.push_str(&format!("[{}:{upper}]", dim.lower_bound));
        }
        out.push('=');
    }
    let delimiter = char::from(delimiter);
    // Elements per block at each depth: the product of the inner lengths.
    let mut strides = vec![1usize; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        let inner = strides.get(i + 1).copied().unwrap_or(1);
        let len = dims.get(i + 1).map_or(1, |d| d.len);
        if let Some(s) = strides.get_mut(i) {
            *s = inner.saturating_mul(len);
        }
    }
    for (index, text) in texts.iter().enumerate() {
        // Close and open a brace for every dimension whose block starts here.
        let opening = strides.iter().filter(|s| index % **s == 0).count();
        if index > 0 {
            for _ in 0..opening.saturating_sub(1) {
                out.push('}');
            }
            out.push(delimiter);
        }
        let open = if index == 0 {
            dims.len()
        } else {
            opening.saturating_sub(1)
        };
        for _ in 0..open {
            out.push('{');
        }
        match text {
            None => out.push_str("NULL"),
            Some(text) if needs_quotes(text, delimiter as u8) => {
                out.push('"');
                for c in text.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
            Some(text) => out.push_str(text),
        }
    }
    for _ in 0..dims.len() {
        out.push('}');
    }
    out
}

/// A parsed text array: dimensions and element texts (`None` for NULL), borrowed from the input
/// unless unescaping changed them.
pub(crate) struct TextArray<'a> {
    pub(crate) dims: Vec<Dimension>,
    pub(crate) elements: Vec<Option<Cow<'a, str>>>,
}

/// Why a text array did not parse (detail for tests; callers report [`InvalidText`]).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TextArrayError(&'static str);

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    delimiter: u8,
    /// The depth at which elements sit, once one has been seen.
    leaf_depth: Option<usize>,
    /// The length found at each depth.
    lens: Vec<Option<usize>>,
    elements: Vec<Option<Cow<'a, str>>>,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn slice(&self, from: usize, to: usize) -> Result<&'a str, TextArrayError> {
        self.text.get(from..to).ok_or(TextArrayError("bad slice"))
    }

    /// A signed decimal integer (for the dimension decoration).
    fn integer(&mut self) -> Result<i64, TextArrayError> {
        self.skip_space();
        let start = self.pos;
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.pos += 1;
        }
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let value = self
            .slice(start, self.pos)?
            .parse()
            .map_err(|_| TextArrayError("bad dimension bound"))?;
        self.skip_space();
        Ok(value)
    }

    /// `[lb:ub]...=` (or `[ub]`, lower bound 1).
    fn decoration(&mut self) -> Result<Vec<(i32, usize)>, TextArrayError> {
        let mut dims = Vec::new();
        while self.eat(b'[') {
            if dims.len() == MAX_DIMENSIONS {
                return Err(TextArrayError("too many dimensions"));
            }
            let first = self.integer()?;
            let (lower, upper) = if self.eat(b':') {
                (first, self.integer()?)
            } else {
                (1, first)
            };
            if !self.eat(b']') {
                return Err(TextArrayError("missing ]"));
            }
            let lower = i32::try_from(lower).map_err(|_| TextArrayError("bound out of range"))?;
            let upper = i32::try_from(upper).map_err(|_| TextArrayError("bound out of range"))?;
            let len = i64::from(upper) - i64::from(lower) + 1;
            let len = usize::try_from(len)
                .ok()
                .filter(|l| *l > 0)
                .ok_or(TextArrayError("upper bound below lower bound"))?;
            dims.push((lower, len));
            self.skip_space();
        }
        if !self.eat(b'=') {
            return Err(TextArrayError("missing = after dimensions"));
        }
        self.skip_space();
        Ok(dims)
    }

    /// One `{...}` at `depth`.
    fn braces(&mut self, depth: usize) -> Result<(), TextArrayError> {
        if depth >= MAX_DIMENSIONS {
            return Err(TextArrayError("too many dimensions"));
        }
        if !self.eat(b'{') {
            return Err(TextArrayError("expected {"));
        }
        let mut count = 0usize;
        loop {
            self.skip_space();
            if self.peek() == Some(b'{') {
                if self.leaf_depth.is_some_and(|leaf| leaf <= depth) {
                    return Err(TextArrayError("mixed nesting"));
                }
                self.braces(depth + 1)?;
            } else {
                if self.leaf_depth.is_some_and(|leaf| leaf != depth) {
                    return Err(TextArrayError("mixed nesting"));
                }
                self.leaf_depth = Some(depth);
                let element = self.element()?;
                self.elements.push(element);
            }
            count += 1;
            self.skip_space();
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                Some(b) if b == self.delimiter => self.pos += 1,
                _ => return Err(TextArrayError("expected delimiter or }")),
            }
        }
        match self.lens.get_mut(depth) {
            Some(Some(len)) if *len != count => Err(TextArrayError("sub-arrays differ in length")),
            Some(slot) => {
                *slot = Some(count);
                Ok(())
            }
            None => Err(TextArrayError("depth out of range")),
        }
    }

    /// A quoted or unquoted element; unquoted `NULL` (any case) is `None`.
    fn element(&mut self) -> Result<Option<Cow<'a, str>>, TextArrayError> {
        if self.eat(b'"') {
            return self.quoted().map(Some);
        }
        let start = self.pos;
        let mut owned: Option<Vec<u8>> = None;
        // End of the significant text (trailing unescaped whitespace excluded).
        let mut end = start;
        let mut owned_end = 0;
        loop {
            let Some(b) = self.peek() else {
                return Err(TextArrayError("unterminated array"));
            };
            if b == self.delimiter || b == b'}' {
                break;
            }
            if matches!(b, b'{' | b'"') {
                return Err(TextArrayError("unexpected { or \" in element"));
            }
            if b == b'\\' {
                let escaped = self
                    .peek_at(self.pos + 1)
                    .ok_or(TextArrayError("dangling backslash"))?;
                let buf = owned.get_or_insert_with(|| {
                    self.text
                        .as_bytes()
                        .get(start..end)
                        .unwrap_or_default()
                        .to_vec()
                });
                buf.truncate(if owned_end == 0 { buf.len() } else { owned_end });
                buf.push(escaped);
                owned_end = buf.len();
                self.pos += 2;
                end = self.pos;
                continue;
            }
            if let Some(buf) = owned.as_mut() {
                buf.push(b);
                if !is_space(b) {
                    owned_end = buf.len();
                }
            }
            self.pos += 1;
            if !is_space(b) {
                end = self.pos;
            }
        }
        match owned {
            Some(mut buf) => {
                buf.truncate(owned_end);
                String::from_utf8(buf)
                    .map(|s| Some(Cow::Owned(s)))
                    .map_err(|_| TextArrayError("invalid UTF-8"))
            }
            None => {
                let text = self.slice(start, end)?;
                if text.is_empty() {
                    Err(TextArrayError("empty unquoted element"))
                } else if text.eq_ignore_ascii_case("NULL") {
                    Ok(None)
                } else {
                    Ok(Some(Cow::Borrowed(text)))
                }
            }
        }
    }

    fn peek_at(&self, pos: usize) -> Option<u8> {
        self.text.as_bytes().get(pos).copied()
    }

    /// The rest of a quoted element, after its opening quote.
    fn quoted(&mut self) -> Result<Cow<'a, str>, TextArrayError> {
        let start = self.pos;
        let mut owned: Option<Vec<u8>> = None;
        loop {
            let b = self
                .peek()
                .ok_or(TextArrayError("unterminated quoted element"))?;
            match b {
                b'"' => {
                    let end = self.pos;
                    self.pos += 1;
                    return match owned {
                        Some(buf) => String::from_utf8(buf)
                            .map(Cow::Owned)
                            .map_err(|_| TextArrayError("invalid UTF-8")),
                        None => self.slice(start, end).map(Cow::Borrowed),
                    };
                }
                b'\\' => {
                    let escaped = self
                        .peek_at(self.pos + 1)
                        .ok_or(TextArrayError("dangling backslash"))?;
                    let buf = owned.get_or_insert_with(|| {
                        self.text
                            .as_bytes()
                            .get(start..self.pos)
                            .unwrap_or_default()
                            .to_vec()
                    });
                    buf.push(escaped);
                    self.pos += 2;
                }
                _ => {
                    if let Some(buf) = owned.as_mut() {
                        buf.push(b);
                    }
                    self.pos += 1;
                }
            }
        }
    }
}

/// Parses the text form of an array, as `array_in` reads it (with the given element delimiter).
pub(crate) fn parse_text_array(text: &str, delimiter: u8) -> Result<TextArray<'_>, TextArrayError> {
    let mut p = Parser {
        text,
        pos: 0,
        delimiter,
        leaf_depth: None,
        lens: vec![None; MAX_DIMENSIONS],
        elements: Vec::new(),
    };
    p.skip_space();
    let decoration = if p.peek() == Some(b'[') {
        Some(p.decoration()?)
    } else {
        None
    };
    // `{}` (possibly with spaces) is the empty array.
    let empty_start = p.pos;
    if p.eat(b'{') {
        p.skip_space();
        if p.eat(b'}') {
            p.skip_space();
            if p.peek().is_some() {
                return Err(TextArrayError("trailing characters"));
            }
            if decoration.is_some_and(|d| !d.is_empty()) {
                return Err(TextArrayError("dimensions given for an empty array"));
            }
            return Ok(TextArray {
                dims: Vec::new(),
                elements: Vec::new(),
            });
        }
        p.pos = empty_start;
    }
    p.braces(0)?;
    p.skip_space();
    if p.peek().is_some() {
        return Err(TextArrayError("trailing characters"));
    }
    let ndim = p.leaf_depth.map_or(0, |leaf| leaf + 1);
    let lens: Vec<usize> = p.lens.iter().take(ndim).map(|l| l.unwrap_or(0)).collect();
    let dims: Vec<Dimension> = match decoration {
        None => lens.iter().map(|len| Dimension::new(*len)).collect(),
        Some(decoration) => {
            if decoration.len() != ndim
                || decoration
                    .iter()
                    .zip(&lens)
                    .any(|((_, dlen), len)| dlen != len)
            {
                return Err(TextArrayError("dimensions do not match the array"));
            }
            decoration
                .iter()
                .map(|(lower_bound, len)| Dimension {
                    len: *len,
                    lower_bound: *lower_bound,
                })
                .collect()
        }
    };
    let count = element_count(&dims).map_err(|_| TextArrayError("bad dimensions"))?;
    if count != p.elements.len() {
        return Err(TextArrayError(
            "element count does not match the dimensions",
        ));
    }
    Ok(TextArray {
        dims,
        elements: p.elements,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::builtin::InvalidBinary;
    use crate::types::{Numeric, WasNull};

    /// The binary header of an array: ndim, has_null, element OID, then (len, lower bound) pairs.
    fn header(ndim: i32, has_null: i32, oid: u32, dims: &[(i32, i32)]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&ndim.to_be_bytes());
        out.extend_from_slice(&has_null.to_be_bytes());
        out.extend_from_slice(&oid.to_be_bytes());
        for (len, lb) in dims {
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&lb.to_be_bytes());
        }
        out
    }

    fn int4_elements(out: &mut Vec<u8>, values: &[Option<i32>]) {
        for v in values {
            match v {
                Some(v) => {
                    out.extend_from_slice(&4i32.to_be_bytes());
                    out.extend_from_slice(&v.to_be_bytes());
                }
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
    }

    fn encode<T: ToSql + ?Sized>(value: &T, ty: &Type) -> Result<Vec<u8>, BoxError> {
        let mut buf = BytesMut::new();
        match value.to_sql(ty, &mut buf)? {
            IsNull::No => Ok(buf.to_vec()),
            IsNull::Yes => Ok(Vec::new()),
        }
    }

    #[test]
    fn int4_array_matches_array_send() {
        // SELECT '{1,2,3}'::int4[] in binary, by hand from array_send.
        let mut expected = header(1, 0, 23, &[(3, 1)]);
        int4_elements(&mut expected, &[Some(1), Some(2), Some(3)]);
        let v = vec![1i32, 2, 3];
        assert!(v.accepts(&Type::INT4_ARRAY));
        assert_eq!(v.encode_format(&Type::INT4_ARRAY), Format::Binary);
        assert_eq!(encode(&v, &Type::INT4_ARRAY).unwrap(), expected);
        assert_eq!(encode(v.as_slice(), &Type::INT4_ARRAY).unwrap(), expected);
        assert_eq!(encode(&&v[..], &Type::INT4_ARRAY).unwrap(), expected);
        assert_eq!(
            Vec::<i32>::from_sql(&Type::INT4_ARRAY, &expected).unwrap(),
            v
        );
        // Widening as for scalars: int4 elements read as i64.
        assert_eq!(
            Vec::<i64>::from_sql(&Type::INT4_ARRAY, &expected).unwrap(),
            [1, 2, 3]
        );
        assert_eq!(
            expected,
            [
                0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 23, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0,
                1, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 3
            ]
        );
    }

    #[test]
    fn nulls() {
        let mut expected = header(1, 1, 23, &[(3, 1)]);
        int4_elements(&mut expected, &[Some(1), None, Some(3)]);
        let v = vec![Some(1i32), None, Some(3)];
        assert_eq!(encode(&v, &Type::INT4_ARRAY).unwrap(), expected);
        assert_eq!(
            Vec::<Option<i32>>::from_sql(&Type::INT4_ARRAY, &expected).unwrap(),
            v
        );
        let e = Vec::<i32>::from_sql(&Type::INT4_ARRAY, &expected).unwrap_err();
        assert!(e.is::<WasNull>());
        // All NULL.
        let mut all_null = header(1, 1, 25, &[(2, 1)]);
        int4_elements(&mut all_null, &[None, None]);
        let v: Vec<Option<String>> = vec![None, None];
        assert_eq!(encode(&v, &Type::TEXT_ARRAY).unwrap(), all_null);
        assert_eq!(v.encode_format(&Type::TEXT_ARRAY), Format::Binary);
    }

    #[test]
    fn empty_arrays() {
        // array_send of '{}': ndim 0, no dimensions.
        for ty in [
            Type::INT4_ARRAY,
            Type::TEXT_ARRAY,
            Type::JSONB_ARRAY,
            Type::UUID_ARRAY,
        ] {
            let element = ty.array_element().unwrap();
            let expected = header(0, 0, element.oid(), &[]);
            let empty: Vec<i32> = Vec::new();
            assert!(empty.accepts(&ty), "{ty}");
            assert_eq!(encode(&empty, &ty).unwrap(), expected, "{ty}");
            assert_eq!(encode(&Vec::<String>::new(), &ty).unwrap(), expected);
            assert_eq!(encode(&Array::<bool>::default(), &ty).unwrap(), expected);
        }
        let raw = header(0, 0, 23, &[]);
        assert!(
            Vec::<i32>::from_sql(&Type::INT4_ARRAY, &raw)
                .unwrap()
                .is_empty()
        );
        let a = Array::<i32>::from_sql(&Type::INT4_ARRAY, &raw).unwrap();
        assert_eq!(a.ndim(), 0);
        assert!(a.is_empty());
        // A zero-length dimension is the empty array too.
        let raw = header(2, 0, 23, &[(0, 1), (5, 1)]);
        assert_eq!(
            Array::<i32>::from_sql(&Type::INT4_ARRAY, &raw).unwrap(),
            Array::default()
        );
        // To an array type unknown here: text.
        let user_array = Type::from_oid(16_390);
        assert!(Vec::<String>::new().accepts(&user_array));
        assert_eq!(
            Vec::<String>::new().encode_format(&user_array),
            Format::Text
        );
        assert_eq!(encode(&Vec::<String>::new(), &user_array).unwrap(), b"{}");
    }

    #[test]
    fn multi_dimensional() {
        // '[0:1][1:2]={{1,2},{3,NULL}}'::int4[]
        let mut raw = header(2, 1, 23, &[(2, 0), (2, 1)]);
        int4_elements(&mut raw, &[Some(1), Some(2), Some(3), None]);
        let a = Array::<Option<i32>>::from_sql(&Type::INT4_ARRAY, &raw).unwrap();
        assert_eq!(
            a.dimensions(),
            [
                Dimension {
                    len: 2,
                    lower_bound: 0
                },
                Dimension {
                    len: 2,
                    lower_bound: 1
                }
            ]
        );
        assert_eq!(a.elements(), [Some(1), Some(2), Some(3), None]);
        assert_eq!(a.get(&[0, 2]), Some(&Some(2)));
        assert_eq!(a.get(&[1, 1]), Some(&Some(3)));
        assert_eq!(a.get(&[2, 1]), None);
        assert_eq!(a.get(&[1, 0]), None);
        assert_eq!(a.get(&[1]), None);
        assert_eq!(encode(&a, &Type::INT4_ARRAY).unwrap(), raw);
        let e = Vec::<Option<i32>>::from_sql(&Type::INT4_ARRAY, &raw).unwrap_err();
        assert!(e.is::<WrongDimensions>());
        assert_eq!(
            e.to_string(),
            "a 2-dimensional _int4 value cannot be read into a Vec; read it as types::Array<_>"
        );
        let texts: Vec<Option<String>> = a.iter().map(|e| e.map(|v| v.to_string())).collect();
        assert_eq!(
            format_text_array(a.dimensions(), &texts, b','),
            "[0:1][1:2]={{1,2},{3,NULL}}"
        );
        // 1-D through Array.
        let one = Array::from(vec![7i64]);
        assert_eq!(
            encode(&one, &Type::INT8_ARRAY).unwrap(),
            [
                header(1, 0, 20, &[(1, 1)]),
                8i32.to_be_bytes().to_vec(),
                7i64.to_be_bytes().to_vec()
            ]
            .concat()
        );
        assert_eq!(
            Array::<i64>::from_sql(&Type::INT8_ARRAY, &encode(&one, &Type::INT8_ARRAY).unwrap())
                .unwrap(),
            one
        );
    }

    #[test]
    fn six_dimensions_and_no_more() {
        let dims = vec![Dimension::new(1); 6];
        let a = Array::from_parts(dims, vec![5i16]).unwrap();
        let raw = encode(&a, &Type::INT2_ARRAY).unwrap();
        assert_eq!(Array::<i16>::from_sql(&Type::INT2_ARRAY, &raw).unwrap(), a);
        assert_eq!(a.to_string(), "{{{{{{5}}}}}}");
        assert!(Array::from_parts(vec![Dimension::new(1); 7], vec![5i16]).is_err());
        let mut raw = header(7, 0, 21, &[(1, 1); 7]);
        raw.extend_from_slice(&[0, 0, 0, 2, 0, 5]);
        let e = Array::<i16>::from_sql(&Type::INT2_ARRAY, &raw).unwrap_err();
        assert!(e.is::<InvalidBinary>(), "{e}");
    }

    #[test]
    fn shapes() {
        assert!(Array::from_parts(vec![Dimension::new(2)], vec![1]).is_err());
        assert!(
            Array::from_parts(vec![Dimension::new(2), Dimension::new(2)], vec![1, 2, 3]).is_err()
        );
        let e = Array::from_parts(
            vec![Dimension {
                len: 2,
                lower_bound: i32::MAX - 1,
            }],
            vec![1, 2],
        )
        .unwrap_err();
        assert!(e.to_string().contains("overflows"), "{e}");
        assert_eq!(
            Array::<i32>::from_parts(vec![Dimension::new(0), Dimension::new(3)], vec![]).unwrap(),
            Array::default()
        );
        let a = Array::from(vec![1, 2]);
        assert_eq!(a.len(), 2);
        assert_eq!(a.iter().sum::<i32>(), 3);
        assert_eq!((&a).into_iter().count(), 2);
        assert_eq!(a.clone().into_iter().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(a.into_elements(), [1, 2]);
        assert_eq!(Array::<i32>::from(vec![]).ndim(), 0);
    }

    #[test]
    fn malformed_binary_is_an_error() {
        let mut good = header(1, 0, 23, &[(2, 1)]);
        int4_elements(&mut good, &[Some(1), Some(2)]);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("short header", good.get(..10).unwrap().to_vec()),
            ("negative ndim", header(-1, 0, 23, &[])),
            ("flags 2", header(0, 2, 23, &[])),
            ("wrong element oid", header(0, 0, 25, &[])),
            ("negative dim", header(1, 0, 23, &[(-1, 1)])),
            ("bound overflow", header(1, 0, 23, &[(2, i32::MAX)])),
            ("missing dims", header(2, 0, 23, &[(1, 1)])),
            // A hostile count: 2^31-1 elements with no data; must fail before allocating.
            ("huge count", header(1, 0, 23, &[(i32::MAX, 1)])),
            (
                "huge product",
                header(3, 0, 23, &[(65_536, 1), (65_536, 1), (65_536, 1)]),
            ),
            (
                "truncated element",
                good.get(..good.len() - 1).unwrap().to_vec(),
            ),
            ("trailing byte", [good.clone(), vec![0]].concat()),
            ("element length -2", {
                let mut v = header(1, 0, 23, &[(1, 1)]);
                v.extend_from_slice(&(-2i32).to_be_bytes());
                v
            }),
            ("element longer than value", {
                let mut v = header(1, 0, 23, &[(1, 1)]);
                v.extend_from_slice(&i32::MAX.to_be_bytes());
                v
            }),
            (
                "zero-length dim with data",
                [header(1, 0, 23, &[(0, 1)]), vec![0; 4]].concat(),
            ),
        ];
        for (name, raw) in cases {
            let e = Vec::<i32>::from_sql(&Type::INT4_ARRAY, &raw).unwrap_err();
            assert!(e.is::<InvalidBinary>(), "{name}: {e}");
            assert!(
                Array::<i32>::from_sql(&Type::INT4_ARRAY, &raw).is_err(),
                "{name}"
            );
        }
        // An element of the wrong width is the element type's error.
        let mut raw = header(1, 0, 23, &[(1, 1)]);
        raw.extend_from_slice(&[0, 0, 0, 2, 0, 1]);
        assert!(Vec::<i32>::from_sql(&Type::INT4_ARRAY, &raw).is_err());
        let e = Vec::<i32>::from_sql(&Type::INT4_ARRAY, &header(0, 0, 25, &[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid binary _int4 value: element type is text, expected int4"
        );
    }

    #[test]
    fn binary_decoder_never_panics() {
        let base = {
            let mut v = header(2, 1, 23, &[(2, 1), (1, 1)]);
            int4_elements(&mut v, &[Some(1), None]);
            v
        };
        // Every truncation and every single-byte corruption.
        for cut in 0..base.len() {
            let _ = Array::<Option<i32>>::from_sql(&Type::INT4_ARRAY, base.get(..cut).unwrap());
        }
        for i in 0..base.len() {
            for byte in [0x00u8, 0x01, 0x7f, 0x80, 0xff] {
                let mut v = base.clone();
                *v.get_mut(i).unwrap() = byte;
                let _ = Array::<Option<i32>>::from_sql(&Type::INT4_ARRAY, &v);
                let _ = Vec::<Option<String>>::from_sql(&Type::TEXT_ARRAY, &v);
            }
        }
    }

    #[test]
    fn type_checks() {
        assert!(<Vec<i32> as FromSql>::accepts(&Type::INT4_ARRAY));
        assert!(<Vec<i64> as FromSql>::accepts(&Type::INT2_ARRAY));
        assert!(!<Vec<i32> as FromSql>::accepts(&Type::INT8_ARRAY));
        assert!(!<Vec<i32> as FromSql>::accepts(&Type::INT4));
        assert!(!<Vec<String> as FromSql>::accepts(&Type::from_oid(16_390)));
        assert!(<Vec<String> as FromSql>::accepts(&Type::TEXT_ARRAY));
        assert!(<Array<Option<Numeric>> as FromSql>::accepts(
            &Type::NUMERIC_ARRAY
        ));
        assert!(
            Vec::<i32>::from_sql(&Type::INT8_ARRAY, &header(0, 0, 20, &[]))
                .unwrap_err()
                .is::<WrongType>()
        );
        // Elements must accept the element type.
        assert!(!vec![1i32].accepts(&Type::TEXT_ARRAY));
        assert!(!vec![1i32].accepts(&Type::INT4));
        assert!(!vec![1i32].accepts(&Type::from_oid(16_390)));
        assert!(vec![1i64].accepts(&Type::INT2_ARRAY));
        let e = encode(&vec![100_000i64], &Type::INT2_ARRAY).unwrap_err();
        assert!(e.to_string().contains("100000"), "{e}");
        let mut buf = BytesMut::from(&b"keep"[..]);
        assert!(vec![1i32, 2].to_sql(&Type::TEXT_ARRAY, &mut buf).is_err());
        assert!(
            vec![1i64, i64::MAX]
                .to_sql(&Type::INT4_ARRAY, &mut buf)
                .is_err()
        );
        assert_eq!(&buf[..], b"keep");
    }

    #[test]
    fn strings_are_sent_as_text_arrays() {
        let v = vec!["a", "b c", "", "NULL", "x\"y\\z", "{}", "é"];
        assert_eq!(v.encode_format(&Type::TEXT_ARRAY), Format::Text);
        assert_eq!(
            encode(&v, &Type::TEXT_ARRAY).unwrap(),
            r#"{a,"b c","","NULL","x\"y\\z","{}",é}"#.as_bytes()
        );
        let opt = vec![Some("a"), None];
        assert_eq!(encode(&opt, &Type::VARCHAR_ARRAY).unwrap(), b"{a,NULL}");
        // A user enum's array type (unknown OID).
        let user_array = Type::from_oid(16_390);
        assert!(vec!["happy", "sad"].accepts(&user_array));
        assert_eq!(
            encode(&vec!["happy", "sad"], &user_array).unwrap(),
            b"{happy,sad}"
        );
        // Strings to any built-in array type, through its input function.
        assert_eq!(
            encode(&vec!["1", "2"], &Type::INT4_ARRAY).unwrap(),
            b"{1,2}"
        );
        // `box` arrays use `;` between elements, so a comma needs no quotes (as array_out writes).
        assert_eq!(
            encode(&vec!["(0,0),(1,1)"], &Type::BOX_ARRAY).unwrap(),
            b"{(0,0),(1,1)}"
        );
        assert_eq!(
            encode(&vec!["a;b"], &Type::BOX_ARRAY).unwrap(),
            br#"{"a;b"}"#
        );
        // Multi-dimensional with bounds.
        let a = Array::from_parts(
            vec![
                Dimension {
                    len: 2,
                    lower_bound: -1,
                },
                Dimension::new(1),
            ],
            vec!["a".to_owned(), "b".to_owned()],
        )
        .unwrap();
        assert_eq!(
            encode(&a, &Type::TEXT_ARRAY).unwrap(),
            b"[-1:0][1:1]={{a},{b}}"
        );
        assert!(encode(&vec!["nul\0"], &Type::TEXT_ARRAY).is_err());
    }

    #[test]
    fn mixed_formats_are_refused() {
        let params: Vec<Box<dyn ToSql + Sync>> = vec![Box::new("1"), Box::new(2i32)];
        assert_eq!(params.encode_format(&Type::INT4_ARRAY), Format::Text);
        let mut buf = BytesMut::new();
        let e = params.to_sql(&Type::INT4_ARRAY, &mut buf).unwrap_err();
        assert!(e.to_string().contains("writes binary"), "{e}");
        assert!(buf.is_empty());
    }

    #[test]
    fn text_arrays_parse() {
        let parse = |s| parse_text_array(s, b',');
        let texts = |s| -> Vec<Option<String>> {
            parse(s)
                .unwrap()
                .elements
                .into_iter()
                .map(|e| e.map(Cow::into_owned))
                .collect()
        };
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(texts("{a,b}"), [s("a"), s("b")]);
        assert_eq!(texts("{}"), Vec::<Option<String>>::new());
        assert_eq!(texts(" { } "), Vec::<Option<String>>::new());
        assert_eq!(
            texts(r#"{"a b",NULL,"NULL",null,""}"#),
            [s("a b"), None, s("NULL"), None, s("")]
        );
        assert_eq!(texts(r#"{"x\"y\\z",\N\ULL}"#), [s("x\"y\\z"), s("NULL")]);
        assert_eq!(texts("{ a b , c }"), [s("a b"), s("c")]);
        assert_eq!(texts(r"{a\ ,b}"), [s("a "), s("b")]);
        assert_eq!(texts(r"{a\,b}"), [s("a,b")]);
        assert_eq!(texts(r"{ab\\ }"), [s("ab\\")]);
        assert_eq!(texts(r"{a\b c }"), [s("ab c")]);
        assert_eq!(texts("{é,日本}"), [s("é"), s("日本")]);
        assert_eq!(texts("{{1,2},{3,4}}"), [s("1"), s("2"), s("3"), s("4")]);
        let a = parse("[0:1][-2:-2]={{x},{y}}").unwrap();
        assert_eq!(
            a.dims,
            [
                Dimension {
                    len: 2,
                    lower_bound: 0
                },
                Dimension {
                    len: 1,
                    lower_bound: -2
                }
            ]
        );
        let a = parse("[2]={x,y}").unwrap();
        assert_eq!(a.dims, [Dimension::new(2)]);
        let a = parse("{{{a}}}").unwrap();
        assert_eq!(a.dims, [Dimension::new(1); 3]);
        // Borrowed unless unescaped.
        let a = parse(r#"{abc,"d e",f\g}"#).unwrap();
        assert!(matches!(
            a.elements.first(),
            Some(Some(Cow::Borrowed("abc")))
        ));
        assert!(matches!(
            a.elements.get(1),
            Some(Some(Cow::Borrowed("d e")))
        ));
        assert!(matches!(a.elements.get(2), Some(Some(Cow::Owned(_)))));
        // The box delimiter.
        assert_eq!(
            parse_text_array("{(1,1),(0,0);(2,2),(1,1)}", b';')
                .unwrap()
                .elements
                .len(),
            2
        );
    }

    #[test]
    fn bad_text_arrays() {
        for bad in [
            "",
            "{",
            "}",
            "{a",
            "{a,}",
            "{,a}",
            "{a b\"c}",
            "{\"a}",
            "{a}x",
            "{{1},2}",
            "{1,{2}}",
            "{{1,2},{3}}",
            "{{},{}}",
            "[1:2]={a}",
            "[2:1]={a}",
            "[1:1]{a}",
            "[1:1]=",
            "[1:1]={}",
            "[x]={a}",
            "[1:99999999999]={a}",
            "{{{{{{{1}}}}}}}",
            "[1][1][1][1][1][1][1]={{{{{{{1}}}}}}}",
            "{a\\",
            "{\"a\\",
            "{NULL",
            "a",
            "{a}{b}",
        ] {
            assert!(parse_text_array(bad, b',').is_err(), "{bad:?}");
        }
        assert!(parse_text_array("{{{{{{1}}}}}}", b',').is_ok());
        // Never panics on arbitrary input.
        let pieces = [
            "{", "}", ",", "\"", "\\", "a", " ", "[", "]", ":", "=", "1", "-", "é", "NULL",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    for d in pieces {
                        let text = format!("{a}{b}{c}{d}");
                        let _ = parse_text_array(&text, b',');
                        let _ = parse_text_array(&format!("{{{text}}}"), b',');
                    }
                }
            }
        }
    }

    #[test]
    fn text_arrays_read_as_strings() {
        let user_array = Type::from_oid(16_390);
        assert!(<Vec<String> as FromSql>::accepts_text(&user_array));
        assert!(<Vec<Option<String>> as FromSql>::accepts_text(&user_array));
        assert!(<Array<String> as FromSql>::accepts_text(&user_array));
        assert!(<Vec<String> as FromSql>::accepts_text(&Type::TIMETZ_ARRAY));
        assert!(!<Vec<String> as FromSql>::accepts_text(&Type::TEXT));
        assert!(!<Vec<String> as FromSql>::accepts_text(&Type::INT4));
        assert!(!<Vec<i32> as FromSql>::accepts_text(&user_array));
        assert_eq!(
            Vec::<String>::from_sql_text(&user_array, r#"{happy,"very sad","a\"b"}"#).unwrap(),
            ["happy", "very sad", "a\"b"]
        );
        assert_eq!(
            Vec::<Option<String>>::from_sql_text(&user_array, "{x,NULL}").unwrap(),
            [Some("x".to_owned()), None]
        );
        assert!(
            Vec::<String>::from_sql_text(&user_array, "{x,NULL}")
                .unwrap_err()
                .is::<WasNull>()
        );
        let a = Array::<String>::from_sql_text(&user_array, "[0:1]={a,b}").unwrap();
        assert_eq!(a.dimensions()[0].lower_bound, 0);
        assert_eq!(a.to_string(), "[0:1]={a,b}");
        assert!(
            Vec::<String>::from_sql_text(&user_array, "{{a},{b}}")
                .unwrap_err()
                .is::<WrongDimensions>()
        );
        assert!(
            Vec::<String>::from_sql_text(&user_array, "{a")
                .unwrap_err()
                .is::<InvalidText>()
        );
        // Borrowing works where no unescaping was needed, and fails where it was.
        let raw = String::from("{a,\"b c\"}");
        let borrowed = Vec::<&str>::from_sql_text(&user_array, &raw).unwrap();
        assert_eq!(borrowed, ["a", "b c"]);
        assert!(Vec::<&str>::from_sql_text(&user_array, r#"{"a\"b"}"#).is_err());
        // Text arrays of built-in types whose elements parse from text.
        assert_eq!(
            Vec::<i32>::from_sql_text(&Type::INT4_ARRAY, "{1,-2,3}").unwrap(),
            [1, -2, 3]
        );
        assert_eq!(
            Vec::<Option<Numeric>>::from_sql_text(&Type::NUMERIC_ARRAY, "{1.50,NULL}").unwrap(),
            [Some("1.50".parse().unwrap()), None]
        );
        assert_eq!(
            Vec::<String>::from_sql_text(&Type::BOX_ARRAY, "{(1,1),(0,0);(2,2),(1,1)}").unwrap(),
            ["(1,1),(0,0)", "(2,2),(1,1)"]
        );
    }

    #[test]
    fn display_quotes_like_array_out() {
        let a = Array::from(vec![
            "a", "", "b c", "NULL", "null", "x,y", "q\"", "\\", "{", "é",
        ]);
        assert_eq!(
            a.to_string(),
            r#"{a,"","b c","NULL","null","x,y","q\"","\\","{",é}"#
        );
        // Round trip through the parser.
        let text = a.to_string();
        let parsed = parse_text_array(&text, b',').unwrap();
        let back: Vec<String> = parsed
            .elements
            .into_iter()
            .map(|e| e.unwrap().into_owned())
            .collect();
        assert_eq!(back, a.elements());
        assert_eq!(Array::<i32>::default().to_string(), "{}");
        let a = Array::from_parts(
            vec![Dimension::new(2), Dimension::new(2), Dimension::new(2)],
            (1..=8).collect(),
        )
        .unwrap();
        assert_eq!(a.to_string(), "{{{1,2},{3,4}},{{5,6},{7,8}}}");
        let text = a.to_string();
        let parsed = parse_text_array(&text, b',').unwrap();
        assert_eq!(parsed.dims, a.dimensions());
    }
}
