//! How the store's two special value types (instants and run ids) are written in each backend.
//!
//! The queries are shared by SQLite and PostgreSQL (both accept `$1` placeholders), so a value bound
//! to a query must encode sensibly in both. Two newtypes make that so:
//! - [`Ts`]: `TIMESTAMPTZ` on PostgreSQL; on SQLite RFC 3339 UTC text with exactly six fractional
//!   digits, so text order is time order and `ORDER BY` / range filters work on the text.
//!   Both backends keep microseconds (PostgreSQL's precision), so both load back the same value.
//! - [`Id`]: `UUID` on PostgreSQL, hyphenated text on SQLite (readable with the `sqlite3` shell).

use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};
use uuid::Uuid;

/// The SQLite text form of an instant: fixed width, so text order is time order.
const SQLITE_TS_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

/// An instant as the store keeps it: UTC, truncated to the microsecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ts(DateTime<Utc>);

impl Ts {
    pub(crate) fn new(at: DateTime<Utc>) -> Ts {
        Ts(at.trunc_subsecs(6))
    }

    pub(crate) fn get(self) -> DateTime<Utc> {
        self.0
    }
}

impl Type<Sqlite> for Ts {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for Ts {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(self.0.format(SQLITE_TS_FORMAT).to_string(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Ts {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <String as Decode<Sqlite>>::decode(value)?;
        let at = DateTime::parse_from_rfc3339(&text)
            .map_err(|e| format!("stored time `{text}` is not RFC 3339: {e}"))?;
        Ok(Ts::new(at.with_timezone(&Utc)))
    }
}

impl Type<Postgres> for Ts {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Ts {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Postgres>::encode(self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Ts {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Ts::new(<DateTime<Utc> as Decode<Postgres>>::decode(value)?))
    }
}

/// A run id: a UUID, handed to callers as its hyphenated text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Id(pub(crate) Uuid);

impl Id {
    pub(crate) fn new_v4() -> Id {
        Id(Uuid::new_v4())
    }

    /// Parses a run id given by a caller; `None` when it cannot be a run id at all.
    pub(crate) fn parse(text: &str) -> Option<Id> {
        Uuid::from_str(text.trim()).ok().map(Id)
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl Type<Sqlite> for Id {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for Id {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(self.to_string(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Id {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <String as Decode<Sqlite>>::decode(value)?;
        Id::parse(&text).ok_or_else(|| format!("stored run id `{text}` is not a UUID").into())
    }
}

impl Type<Postgres> for Id {
    fn type_info() -> PgTypeInfo {
        <Uuid as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Id {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Postgres>::encode(self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Id {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Id(<Uuid as Decode<Postgres>>::decode(value)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn instants_lose_only_their_nanoseconds() {
        let at = Utc.with_ymd_and_hms(2025, 3, 1, 18, 30, 0).unwrap()
            + chrono::Duration::nanoseconds(123_456_789);
        let kept = Ts::new(at).get();
        assert_eq!(kept.timestamp_subsec_nanos(), 123_456_000);
    }

    #[test]
    fn sqlite_text_of_instants_sorts_in_time_order() {
        let early = Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).unwrap();
        let late = early + chrono::Duration::microseconds(1);
        let text = |t: DateTime<Utc>| Ts::new(t).0.format(SQLITE_TS_FORMAT).to_string();
        assert_eq!(text(early), "2025-03-01T09:00:00.000000Z");
        assert!(text(early) < text(late));
    }

    #[test]
    fn run_ids_must_be_uuids() {
        assert!(Id::parse("not-a-run").is_none());
        let id = Id::new_v4();
        assert_eq!(Id::parse(&id.to_string()), Some(id));
    }
}
