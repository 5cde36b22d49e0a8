//! The database pool every service uses.

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The longest one statement may run, and a transaction may sit idle, before the server ends
/// it: a stuck query or a task that forgot its transaction must not hold row locks for ever.
const STATEMENT_TIMEOUT: &str = "15s";
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "60s";

/// A pool for `url`. Waiting for a connection is bounded, so a request during a database outage
/// fails with a 503 in seconds instead of hanging; at start the database gets `patience` to
/// appear (a container starting next to it, a proxy cut by the chaos suite).
pub async fn connect(url: &str, max_connections: u32, patience: Duration) -> sqlx::Result<PgPool> {
    let connect = PgConnectOptions::from_str(url)?.options([
        ("statement_timeout", STATEMENT_TIMEOUT),
        (
            "idle_in_transaction_session_timeout",
            IDLE_IN_TRANSACTION_TIMEOUT,
        ),
    ]);
    let options = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(3));
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match options.clone().connect_with(connect.clone()).await {
            Ok(pool) => return Ok(pool),
            Err(error) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(%error, "database not reachable yet, retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// An enum stored as text, whose values the table's `check` constraint lists: a status is a type
/// in Rust and its name in SQL and JSON. It gets `as_str`, `FromStr`, `Display`, serde and an
/// OpenAPI schema as that text, and binds and decodes as text in sqlx.
///
/// ```ignore
/// platform::text_enum! {
///     /// Where a shipment is.
///     pub enum ShipmentStatus { Scheduled = "SCHEDULED", Cancelled = "CANCELLED" }
/// }
/// ```
#[macro_export]
macro_rules! text_enum {
    // `$text:tt`, not `literal`: utoipa does not read a literal fragment in `serde(rename)`.
    ($(#[$meta:meta])* $vis:vis enum $name:ident {
        $($(#[$variant_meta:meta])* $variant:ident = $text:tt),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[derive(::serde::Serialize, ::serde::Deserialize, ::utoipa::ToSchema)]
        $vis enum $name {
            $($(#[$variant_meta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, String> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!("no {} `{other}`", stringify!($name))),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::sqlx::Type<::sqlx::Postgres> for $name {
            fn type_info() -> ::sqlx::postgres::PgTypeInfo {
                <&str as ::sqlx::Type<::sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &::sqlx::postgres::PgTypeInfo) -> bool {
                <&str as ::sqlx::Type<::sqlx::Postgres>>::compatible(ty)
            }
        }

        impl<'q> ::sqlx::Encode<'q, ::sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut ::sqlx::postgres::PgArgumentBuffer,
            ) -> Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                <&str as ::sqlx::Encode<'q, ::sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> ::sqlx::Decode<'r, ::sqlx::Postgres> for $name {
            fn decode(
                value: ::sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, ::sqlx::error::BoxDynError> {
                let text = <&str as ::sqlx::Decode<'r, ::sqlx::Postgres>>::decode(value)?;
                Ok(text.parse::<Self>()?)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::text_enum! {
        /// A test.
        enum Colour { Red = "RED", DarkBlue = "DARK_BLUE" }
    }

    #[test]
    fn a_text_enum_is_its_text_in_json_openapi_and_parsing() {
        let schema = serde_json::to_value(<Colour as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(schema["enum"], serde_json::json!(["RED", "DARK_BLUE"]));
        assert_eq!(serde_json::to_value(Colour::DarkBlue).unwrap(), "DARK_BLUE");
        let back: Colour = serde_json::from_value(serde_json::json!("RED")).unwrap();
        assert_eq!(back, Colour::Red);
        assert_eq!("DARK_BLUE".parse(), Ok(Colour::DarkBlue));
        assert_eq!(
            "dark_blue".parse::<Colour>(),
            Err("no Colour `dark_blue`".into())
        );
        assert_eq!(Colour::Red.to_string(), "RED");
    }
}
