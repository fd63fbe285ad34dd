//! The ORM layer: models, a Session with a unit of work and an identity map, typed queries.
//!
//! Nothing is here yet; it is built on `pg-wire` once the driver is complete.
