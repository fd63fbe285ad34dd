//! `inet` and `cidr`: [`std::net::IpAddr`], and the [`Inet`] and [`Cidr`] types that add a netmask.
//!
//! The binary format is the server's `inet_send`/`cidr_send` (`network_send` in `network.c`):
//!
//! ```text
//! family:  u8   2 for IPv4 (PGSQL_AF_INET), 3 for IPv6 (PGSQL_AF_INET6)
//! bits:    u8   netmask length, at most 32 or 128
//! is_cidr: u8   1 for cidr, 0 for inet (ignored when read, as the server does)
//! nb:      u8   address length: 4 or 16
//! address: nb bytes, network order
//! ```
//!
//! A `cidr` has no bits set to the right of its netmask; the decoder checks it as `cidr_recv` does.
//! Text forms follow `inet_out`/`cidr_out`: an `inet` shows `/bits` only when the netmask is not
//! the full length, a `cidr` always shows it; IPv6 addresses are compressed as the server does
//! (`::ffff:1.2.3.4` and `::1.2.3.4` keep their IPv4 tail in dotted form).

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use bytes::{BufMut, BytesMut};

use crate::types::builtin::{InvalidText, check_type};
use crate::types::reader::Reader;
use crate::types::{BoxError, FromSql, IsNull, ToSql, Type};

const PGSQL_AF_INET: u8 = 2;
const PGSQL_AF_INET6: u8 = 3;

/// The largest netmask of an address's family: 32 or 128.
fn max_bits(addr: &IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// Whether no bit of `addr` is set to the right of the first `netmask` bits.
fn is_network(addr: &IpAddr, netmask: u8) -> bool {
    match addr {
        IpAddr::V4(v4) => {
            let host = u32::MAX.checked_shr(u32::from(netmask)).unwrap_or(0);
            u32::from(*v4) & host == 0
        }
        IpAddr::V6(v6) => {
            let host = u128::MAX.checked_shr(u32::from(netmask)).unwrap_or(0);
            u128::from(*v6) & host == 0
        }
    }
}

/// A netmask longer than the address (over 32 for IPv4, 128 for IPv6), or a `cidr` with bits set
/// to the right of its netmask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidNetwork {
    addr: IpAddr,
    netmask: u8,
    cidr: bool,
}

impl fmt::Display for InvalidNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.netmask > max_bits(&self.addr) {
            write!(
                f,
                "netmask /{} is longer than the {}-bit address {}",
                self.netmask,
                max_bits(&self.addr),
                self.addr
            )
        } else {
            debug_assert!(self.cidr);
            write!(
                f,
                "invalid cidr value {}/{}: bits are set to the right of the netmask",
                self.addr, self.netmask
            )
        }
    }
}

impl StdError for InvalidNetwork {}

/// An `inet` value: a host address with the netmask of its subnet (`192.168.0.1/24`), or a plain
/// address when the netmask is full (`/32` for IPv4, `/128` for IPv6).
///
/// ```
/// use pg_wire::types::Inet;
///
/// let host: Inet = "192.168.0.1/24".parse().unwrap();
/// assert_eq!(host.netmask(), 24);
/// assert_eq!(host.to_string(), "192.168.0.1/24");
/// assert_eq!("::1".parse::<Inet>().unwrap().netmask(), 128);
/// assert!(Inet::new("10.0.0.1".parse().unwrap(), 33).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Inet {
    addr: IpAddr,
    netmask: u8,
}

impl Inet {
    /// The address `addr` with a netmask of `netmask` bits; fails when the netmask is longer than
    /// the address.
    pub fn new(addr: IpAddr, netmask: u8) -> Result<Inet, InvalidNetwork> {
        if netmask > max_bits(&addr) {
            return Err(InvalidNetwork {
                addr,
                netmask,
                cidr: false,
            });
        }
        Ok(Inet { addr, netmask })
    }

    /// The address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The netmask length in bits.
    pub fn netmask(&self) -> u8 {
        self.netmask
    }
}

impl From<IpAddr> for Inet {
    /// The address with a full netmask.
    fn from(addr: IpAddr) -> Self {
        Inet {
            addr,
            netmask: max_bits(&addr),
        }
    }
}

/// A `cidr` value: a network, given by an address whose bits right of the netmask are all zero
/// (`10.1.0.0/16`).
///
/// ```
/// use pg_wire::types::Cidr;
///
/// let net: Cidr = "10.1.0.0/16".parse().unwrap();
/// assert_eq!(net.to_string(), "10.1.0.0/16");
/// assert!("10.1.2.3/16".parse::<Cidr>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    netmask: u8,
}

impl Cidr {
    /// The network `addr/netmask`; fails when the netmask is longer than the address or `addr`
    /// has bits set to the right of it (as the server's `cidr` input refuses).
    pub fn new(addr: IpAddr, netmask: u8) -> Result<Cidr, InvalidNetwork> {
        if netmask > max_bits(&addr) || !is_network(&addr, netmask) {
            return Err(InvalidNetwork {
                addr,
                netmask,
                cidr: true,
            });
        }
        Ok(Cidr { addr, netmask })
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The netmask length in bits.
    pub fn netmask(&self) -> u8 {
        self.netmask
    }
}

/// Formats an address as the server's `inet_net_ntop` does.
fn write_addr(f: &mut fmt::Formatter<'_>, addr: &IpAddr) -> fmt::Result {
    match addr {
        IpAddr::V4(v4) => write!(f, "{v4}"),
        IpAddr::V6(v6) => write_ipv6(f, v6),
    }
}

/// IPv6 as `inet_net_ntop_ipv6` writes it: lowercase hex words without leading zeros, the first
/// longest run of two or more zero words as `::`, and the last 32 bits in dotted form for
/// `::a.b.c.d` and `::ffff:a.b.c.d`.
fn write_ipv6(f: &mut fmt::Formatter<'_>, addr: &Ipv6Addr) -> fmt::Result {
    let words = addr.segments();
    // The first longest run of zero words.
    let (mut best_base, mut best_len) = (0usize, 0usize);
    let mut run: Option<(usize, usize)> = None;
    for (i, word) in words.iter().enumerate() {
        if *word == 0 {
            let (base, len) = run.map_or((i, 1), |(base, len)| (base, len + 1));
            run = Some((base, len));
            if len > best_len {
                (best_base, best_len) = (base, len);
            }
        } else {
            run = None;
        }
    }
    let compress = best_len >= 2;
    let in_run = |i: usize| compress && i >= best_base && i < best_base + best_len;
    let ipv4_tail = compress
        && best_base == 0
        && (best_len == 6 || (best_len == 5 && words.get(5) == Some(&0xffff)));
    for (i, word) in words.iter().enumerate() {
        if in_run(i) {
            if i == best_base {
                f.write_str(":")?;
            }
            continue;
        }
        if i != 0 {
            f.write_str(":")?;
        }
        if i == 6 && ipv4_tail {
            let [.., a, b, c, d] = addr.octets();
            return write!(f, "{a}.{b}.{c}.{d}");
        }
        write!(f, "{word:x}")?;
    }
    if compress && best_base + best_len == words.len() {
        f.write_str(":")?;
    }
    Ok(())
}

impl fmt::Display for Inet {
    /// As `inet_out`: `192.168.0.1/24`, or just the address with a full netmask.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_addr(f, &self.addr)?;
        if self.netmask != max_bits(&self.addr) {
            write!(f, "/{}", self.netmask)?;
        }
        Ok(())
    }
}

impl fmt::Display for Cidr {
    /// As `cidr_out`: always `address/bits`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_addr(f, &self.addr)?;
        write!(f, "/{}", self.netmask)
    }
}

/// Text that is not an address with an optional `/bits` netmask, or an invalid combination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseNetworkError(());

impl fmt::Display for ParseNetworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid inet or cidr value: expected ADDRESS or ADDRESS/BITS")
    }
}

impl StdError for ParseNetworkError {}

/// `address[/bits]`, with the full netmask when `/bits` is absent.
fn parse_network(s: &str) -> Result<(IpAddr, u8), ParseNetworkError> {
    let (addr, bits) = match s.split_once('/') {
        Some((addr, bits)) => (addr, Some(bits)),
        None => (s, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| ParseNetworkError(()))?;
    let bits = match bits {
        None => max_bits(&addr),
        Some(bits) if !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit()) => {
            bits.parse().map_err(|_| ParseNetworkError(()))?
        }
        Some(_) => return Err(ParseNetworkError(())),
    };
    Ok((addr, bits))
}

impl FromStr for Inet {
    type Err = ParseNetworkError;

    /// `address` or `address/bits`, in the standard notations of IPv4 and IPv6 (the
    /// abbreviated IPv4 forms the server also accepts, such as `10/8`, are not).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, bits) = parse_network(s)?;
        Inet::new(addr, bits).map_err(|_| ParseNetworkError(()))
    }
}

impl FromStr for Cidr {
    type Err = ParseNetworkError;

    /// `address/bits` (or a bare address, a network of one host), refusing bits set to the right
    /// of the netmask.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, bits) = parse_network(s)?;
        Cidr::new(addr, bits).map_err(|_| ParseNetworkError(()))
    }
}

fn is_network_type(ty: &Type) -> bool {
    matches!(*ty, Type::INET | Type::CIDR)
}

/// Writes the binary form; `is_cidr` as the parameter type says.
fn encode(ty: &Type, addr: &IpAddr, netmask: u8, out: &mut BytesMut) {
    let is_cidr = *ty == Type::CIDR;
    match addr {
        IpAddr::V4(v4) => {
            out.put_slice(&[PGSQL_AF_INET, netmask, u8::from(is_cidr), 4]);
            out.put_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            out.put_slice(&[PGSQL_AF_INET6, netmask, u8::from(is_cidr), 16]);
            out.put_slice(&v6.octets());
        }
    }
}

/// Reads the binary form of an `inet` or `cidr` (checking a `cidr`'s host bits).
fn decode(ty: &Type, raw: &[u8]) -> Result<(IpAddr, u8), BoxError> {
    let mut r = Reader::new(ty, raw);
    let family = r.u8()?;
    let bits = r.u8()?;
    let _is_cidr = r.u8()?;
    let nb = r.u8()?;
    let addr = match (family, nb) {
        (PGSQL_AF_INET, 4) => {
            let octets = <[u8; 4]>::try_from(r.take(4)?).map_err(|_| r.error("short"))?;
            IpAddr::V4(Ipv4Addr::from(octets))
        }
        (PGSQL_AF_INET6, 16) => {
            let octets = <[u8; 16]>::try_from(r.take(16)?).map_err(|_| r.error("short"))?;
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        (PGSQL_AF_INET | PGSQL_AF_INET6, _) => {
            return Err(r.error(format!("invalid address length {nb}")));
        }
        _ => return Err(r.error(format!("invalid address family {family}"))),
    };
    if bits > max_bits(&addr) {
        return Err(r.error(format!("invalid netmask /{bits}")));
    }
    if *ty == Type::CIDR && !is_network(&addr, bits) {
        return Err(r.error("bits are set to the right of the netmask"));
    }
    r.finish()?;
    Ok((addr, bits))
}

/// The text of a binary `inet` or `cidr`, as `inet_out`/`cidr_out` write it.
pub(crate) fn network_text(ty: &Type, raw: &[u8]) -> Result<String, BoxError> {
    let (addr, netmask) = decode(ty, raw)?;
    Ok(if *ty == Type::CIDR {
        Cidr { addr, netmask }.to_string()
    } else {
        Inet { addr, netmask }.to_string()
    })
}

/// `inet` with a full netmask, or `cidr` (a network of one host), in binary format.
impl ToSql for IpAddr {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        check_type::<IpAddr>(is_network_type(ty), ty)?;
        encode(ty, self, max_bits(self), out);
        Ok(IsNull::No)
    }

    fn accepts(&self, ty: &Type) -> bool {
        is_network_type(ty)
    }
}

/// `inet` or `cidr` with a full netmask (a host address); any shorter netmask is an error, as
/// it would be lost: read such values as [`Inet`] or [`Cidr`].
impl<'a> FromSql<'a> for IpAddr {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        check_type::<IpAddr>(is_network_type(ty), ty)?;
        let (addr, netmask) = decode(ty, raw)?;
        full_mask(ty, addr, netmask)
    }

    fn accepts(ty: &Type) -> bool {
        is_network_type(ty)
    }

    fn from_sql_text(ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
        check_type::<IpAddr>(is_network_type(ty), ty)?;
        let (addr, netmask) =
            parse_network(raw).map_err(|_| Box::new(InvalidText::new(ty, raw)) as BoxError)?;
        full_mask(ty, addr, netmask)
    }

    fn accepts_text(ty: &Type) -> bool {
        is_network_type(ty)
    }
}

fn full_mask(ty: &Type, addr: IpAddr, netmask: u8) -> Result<IpAddr, BoxError> {
    if netmask == max_bits(&addr) {
        Ok(addr)
    } else {
        Err(format!(
            "the {ty} value {addr}/{netmask} has a netmask, which IpAddr cannot hold; read it as types::Inet or types::Cidr"
        )
        .into())
    }
}

/// `inet` (and `cidr`, whose values are valid `inet` values), in binary format.
impl ToSql for Inet {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        check_type::<Inet>(is_network_type(ty), ty)?;
        if *ty == Type::CIDR {
            Cidr::new(self.addr, self.netmask)?;
        }
        encode(ty, &self.addr, self.netmask, out);
        Ok(IsNull::No)
    }

    fn accepts(&self, ty: &Type) -> bool {
        is_network_type(ty)
    }
}

/// `inet` and `cidr`, binary or text.
impl<'a> FromSql<'a> for Inet {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        check_type::<Inet>(is_network_type(ty), ty)?;
        let (addr, netmask) = decode(ty, raw)?;
        Ok(Inet { addr, netmask })
    }

    fn accepts(ty: &Type) -> bool {
        is_network_type(ty)
    }

    fn from_sql_text(ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
        check_type::<Inet>(is_network_type(ty), ty)?;
        raw.parse()
            .map_err(|_| Box::new(InvalidText::new(ty, raw)) as BoxError)
    }

    fn accepts_text(ty: &Type) -> bool {
        is_network_type(ty)
    }
}

/// `cidr` (and `inet`, which takes any network address), in binary format.
impl ToSql for Cidr {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        check_type::<Cidr>(is_network_type(ty), ty)?;
        encode(ty, &self.addr, self.netmask, out);
        Ok(IsNull::No)
    }

    fn accepts(&self, ty: &Type) -> bool {
        is_network_type(ty)
    }
}

/// `cidr`, binary or text. (An `inet` may have host bits set: read it as [`Inet`].)
impl<'a> FromSql<'a> for Cidr {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        check_type::<Cidr>(*ty == Type::CIDR, ty)?;
        let (addr, netmask) = decode(ty, raw)?;
        Ok(Cidr { addr, netmask })
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::CIDR
    }

    fn from_sql_text(ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
        check_type::<Cidr>(*ty == Type::CIDR, ty)?;
        raw.parse()
            .map_err(|_| Box::new(InvalidText::new(ty, raw)) as BoxError)
    }

    fn accepts_text(ty: &Type) -> bool {
        *ty == Type::CIDR
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::builtin::InvalidBinary;

    fn to_bytes<T: ToSql>(value: &T, ty: &Type) -> Vec<u8> {
        assert!(value.accepts(ty));
        let mut buf = BytesMut::new();
        value.to_sql(ty, &mut buf).unwrap();
        buf.to_vec()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn binary_matches_network_send() {
        // family, bits, is_cidr, nb, address.
        assert_eq!(
            to_bytes(&ip("192.168.0.1"), &Type::INET),
            [2, 32, 0, 4, 192, 168, 0, 1]
        );
        assert_eq!(
            to_bytes(&"192.168.0.1/24".parse::<Inet>().unwrap(), &Type::INET),
            [2, 24, 0, 4, 192, 168, 0, 1]
        );
        assert_eq!(
            to_bytes(&"10.0.0.0/8".parse::<Cidr>().unwrap(), &Type::CIDR),
            [2, 8, 1, 4, 10, 0, 0, 0]
        );
        let mut v6 = vec![3, 128, 0, 16];
        v6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        v6.extend_from_slice(&[0; 11]);
        v6.push(1);
        assert_eq!(to_bytes(&ip("2001:db8::1"), &Type::INET), v6);
        assert_eq!(
            IpAddr::from_sql(&Type::INET, &v6).unwrap(),
            ip("2001:db8::1")
        );
        assert_eq!(
            to_bytes(&ip("::"), &Type::CIDR),
            [
                3, 128, 1, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
            ]
        );
    }

    #[test]
    fn round_trips() {
        for (text, ty) in [
            ("0.0.0.0/0", Type::INET),
            ("255.255.255.255", Type::INET),
            ("10.1.2.3/8", Type::INET),
            ("::/0", Type::CIDR),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Type::INET),
            ("fe80::/10", Type::CIDR),
            ("10.0.0.0/8", Type::CIDR),
            ("192.168.1.1/32", Type::CIDR),
        ] {
            let inet: Inet = text.parse().unwrap();
            let bytes = to_bytes(&inet, &ty);
            assert_eq!(Inet::from_sql(&ty, &bytes).unwrap(), inet, "{text}");
            let shown = network_text(&ty, &bytes).unwrap();
            if ty == Type::CIDR {
                let cidr: Cidr = text.parse().unwrap();
                assert_eq!(Cidr::from_sql(&ty, &bytes).unwrap(), cidr);
                assert_eq!(shown, cidr.to_string());
                assert_eq!(to_bytes(&cidr, &ty), bytes);
            } else {
                assert_eq!(shown, text);
            }
        }
    }

    #[test]
    fn text_matches_inet_out() {
        let cases = [
            ("::1", "::1"),
            ("::", "::"),
            ("1::", "1::"),
            ("2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
            ("2001:db8:0:0:0:1:0:0", "2001:db8::1:0:0"),
            ("1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0"),
            ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
            ("::1.2.3.4", "::1.2.3.4"),
            ("::0.0.0.2", "::2"),
            ("::ffff:0:0", "::ffff:0.0.0.0"),
            ("0:0:0:0:0:ffff:0:1", "::ffff:0.0.0.1"),
            ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
            ("fe80::1:2", "fe80::1:2"),
            ("0:0:1::", "0:0:1::"),
        ];
        for (input, output) in cases {
            let inet: Inet = input.parse().unwrap();
            assert_eq!(inet.to_string(), output, "{input}");
            let with_mask = Inet::new(inet.addr(), 64).unwrap();
            assert_eq!(with_mask.to_string(), format!("{output}/64"));
        }
        assert_eq!(
            "10.0.0.0/32".parse::<Cidr>().unwrap().to_string(),
            "10.0.0.0/32"
        );
        assert_eq!("::/0".parse::<Cidr>().unwrap().to_string(), "::/0");
        assert_eq!(
            Inet::from(ip("1.2.3.4")),
            Inet::new(ip("1.2.3.4"), 32).unwrap()
        );
    }

    #[test]
    fn validation() {
        assert!(Inet::new(ip("1.2.3.4"), 33).is_err());
        assert!(Inet::new(ip("::1"), 129).is_err());
        assert!(Inet::new(ip("::1"), 128).is_ok());
        assert!(Cidr::new(ip("10.0.0.1"), 8).is_err());
        assert!(Cidr::new(ip("10.128.0.0"), 8).is_err());
        assert!(Cidr::new(ip("10.128.0.0"), 9).is_ok());
        assert!(Cidr::new(ip("0.0.0.0"), 0).is_ok());
        assert!(Cidr::new(ip("::1"), 127).is_err());
        assert_eq!(
            Cidr::new(ip("10.0.0.1"), 8).unwrap_err().to_string(),
            "invalid cidr value 10.0.0.1/8: bits are set to the right of the netmask"
        );
        assert_eq!(
            Inet::new(ip("10.0.0.1"), 40).unwrap_err().to_string(),
            "netmask /40 is longer than the 32-bit address 10.0.0.1"
        );
        for bad in [
            "",
            "1.2.3",
            "1.2.3.4/",
            "1.2.3.4/33",
            "1.2.3.4/+8",
            "::1/129",
            "x/8",
            "1.2.3.4/8/8",
            "10/8",
        ] {
            assert!(bad.parse::<Inet>().is_err(), "{bad}");
        }
        assert!("10.0.0.1/8".parse::<Cidr>().is_err());
        // An Inet with host bits is refused for a cidr parameter.
        let host: Inet = "10.0.0.1/8".parse().unwrap();
        assert!(host.to_sql(&Type::CIDR, &mut BytesMut::new()).is_err());
    }

    #[test]
    fn malformed_binary() {
        let cases: &[&[u8]] = &[
            &[],
            &[2, 32, 0],
            &[2, 32, 0, 4, 1, 2, 3],
            &[2, 32, 0, 4, 1, 2, 3, 4, 5],
            &[2, 33, 0, 4, 1, 2, 3, 4],
            &[
                3, 129, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
            &[2, 32, 0, 16, 1, 2, 3, 4],
            &[3, 128, 0, 4, 1, 2, 3, 4],
            &[1, 32, 0, 4, 1, 2, 3, 4],
            &[10, 32, 0, 4, 1, 2, 3, 4],
            &[2, 32, 0, 255],
        ];
        for raw in cases {
            let e = Inet::from_sql(&Type::INET, raw).unwrap_err();
            assert!(e.is::<InvalidBinary>(), "{raw:?}: {e}");
            assert!(IpAddr::from_sql(&Type::INET, raw).is_err());
            assert!(network_text(&Type::CIDR, raw).is_err());
        }
        // A cidr with host bits set, as cidr_recv refuses; the same bytes are a valid inet.
        let host_bits = [2, 8, 1, 4, 10, 0, 0, 1];
        assert!(Cidr::from_sql(&Type::CIDR, &host_bits).is_err());
        assert!(Inet::from_sql(&Type::CIDR, &host_bits).is_err());
        assert_eq!(
            Inet::from_sql(&Type::INET, &host_bits).unwrap().to_string(),
            "10.0.0.1/8"
        );
        // is_cidr is ignored, as the server does.
        assert!(Inet::from_sql(&Type::INET, &[2, 32, 7, 4, 1, 2, 3, 4]).is_ok());
        for len in 0..24usize {
            for fill in [0u8, 2, 3, 4, 16, 32, 128, 255] {
                let _ = Inet::from_sql(&Type::INET, &vec![fill; len]);
                let _ = Cidr::from_sql(&Type::CIDR, &vec![fill; len]);
            }
        }
    }

    #[test]
    fn ip_addr_needs_a_full_netmask() {
        assert_eq!(
            IpAddr::from_sql(&Type::INET, &[2, 32, 0, 4, 1, 2, 3, 4]).unwrap(),
            ip("1.2.3.4")
        );
        assert_eq!(
            IpAddr::from_sql(&Type::CIDR, &[2, 32, 1, 4, 1, 2, 3, 4]).unwrap(),
            ip("1.2.3.4")
        );
        let e = IpAddr::from_sql(&Type::INET, &[2, 24, 0, 4, 1, 2, 3, 4]).unwrap_err();
        assert!(e.to_string().contains("read it as types::Inet"), "{e}");
        assert_eq!(
            IpAddr::from_sql_text(&Type::INET, "::1").unwrap(),
            ip("::1")
        );
        assert!(IpAddr::from_sql_text(&Type::INET, "::1/64").is_err());
        assert!(IpAddr::from_sql_text(&Type::INET, "nope").is_err());
        assert!(IpAddr::from_sql(&Type::TEXT, b"1.2.3.4").is_err());
        assert!(!ToSql::accepts(&ip("::1"), &Type::TEXT));
        assert!(<Cidr as FromSql>::accepts(&Type::CIDR));
        assert!(!<Cidr as FromSql>::accepts(&Type::INET));
        assert_eq!(
            Inet::from_sql_text(&Type::INET, "10.0.0.1/8").unwrap(),
            Inet::new(ip("10.0.0.1"), 8).unwrap()
        );
        assert_eq!(
            Cidr::from_sql_text(&Type::CIDR, "10.0.0.0/8").unwrap(),
            Cidr::new(ip("10.0.0.0"), 8).unwrap()
        );
    }
}
