//! What a valid order is. `PlaceOrder::parse` turns the request body into domain values or says
//! which field is wrong; nothing past it re-checks.

use events::{Address, Line, catalogue};
use serde::Deserialize;
use uuid::Uuid;

use crate::error::Error;

/// At most this many lines, and this many of one SKU, per order.
const MAX_LINES: usize = 50;
const MAX_QUANTITY: i64 = 1000;

/// The body of `POST /orders` as a client sends it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    pub customer_id: Uuid,
    /// Each SKU on one line only.
    #[schema(min_items = 1, max_items = 50)]
    pub lines: Vec<LineRequest>,
    /// The PSP's card token: `tok_visa` is captured, `tok_declined` declined.
    #[schema(example = "tok_visa", min_length = 1, max_length = 64)]
    pub card_token: String,
    pub shipping_address: AddressRequest,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    /// A SKU of the catalogue (`GET /products` on inventory).
    #[schema(schema_with = catalogue_sku)]
    pub sku: String,
    #[schema(example = 2, minimum = 1, maximum = 1000)]
    pub quantity: i64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressRequest {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[schema(min_length = 1, max_length = 200)]
    pub line1: String,
    #[schema(min_length = 1, max_length = 200)]
    pub city: String,
    #[schema(min_length = 1, max_length = 200)]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "DE", pattern = "^[A-Z]{2}$")]
    pub country: String,
}

/// The SKUs an order may name, from the catalogue the prices come from.
fn catalogue_sku() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(catalogue::PRODUCTS.map(|(sku, _, _)| sku)))
        .build()
}

/// A valid order, priced from the catalogue.
#[derive(Debug, PartialEq)]
pub struct PlaceOrder {
    pub customer_id: Uuid,
    pub lines: Vec<Line>,
    pub total_cents: i64,
    pub card_token: String,
    pub shipping_address: Address,
}

impl PlaceOrder {
    pub fn parse(request: OrderRequest) -> Result<Self, Error> {
        if request.lines.is_empty() || request.lines.len() > MAX_LINES {
            return Err(Error::invalid(
                "lines",
                format!("an order has 1 to {MAX_LINES} lines"),
            ));
        }
        let mut lines: Vec<Line> = Vec::with_capacity(request.lines.len());
        for (i, line) in request.lines.into_iter().enumerate() {
            let unit_price_cents = catalogue::price_cents(&line.sku).ok_or_else(|| {
                Error::invalid(
                    format!("lines[{i}].sku"),
                    format!("unknown SKU `{}`", line.sku),
                )
            })?;
            if !(1..=MAX_QUANTITY).contains(&line.quantity) {
                return Err(Error::invalid(
                    format!("lines[{i}].quantity"),
                    format!("quantity must be 1 to {MAX_QUANTITY}"),
                ));
            }
            if lines.iter().any(|seen| seen.sku == line.sku) {
                return Err(Error::invalid(
                    format!("lines[{i}].sku"),
                    "each SKU appears on one line only",
                ));
            }
            lines.push(Line {
                sku: line.sku,
                quantity: line.quantity as i32,
                unit_price_cents,
            });
        }
        let total_cents = lines
            .iter()
            .map(|line| i64::from(line.quantity) * line.unit_price_cents)
            .sum();
        let card_token = request.card_token.trim().to_owned();
        if card_token.is_empty() || card_token.len() > 64 {
            return Err(Error::invalid(
                "card_token",
                "a card token of 1 to 64 characters",
            ));
        }
        Ok(Self {
            customer_id: request.customer_id,
            lines,
            total_cents,
            card_token,
            shipping_address: parse_address(request.shipping_address)?,
        })
    }
}

fn parse_address(address: AddressRequest) -> Result<Address, Error> {
    let text = |field: &str, value: String| {
        let value = value.trim().to_owned();
        if value.is_empty() || value.len() > 200 {
            return Err(Error::invalid(
                format!("shipping_address.{field}"),
                "1 to 200 characters",
            ));
        }
        Ok(value)
    };
    let country = address.country.trim().to_owned();
    if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(Error::invalid(
            "shipping_address.country",
            "an ISO 3166-1 alpha-2 code such as DE",
        ));
    }
    Ok(Address {
        name: text("name", address.name)?,
        line1: text("line1", address.line1)?,
        city: text("city", address.city)?,
        postal_code: text("postal_code", address.postal_code)?,
        country,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request(lines: &serde_json::Value, country: &str) -> OrderRequest {
        platform::api::from_value(json!({
            "customer_id": Uuid::nil(),
            "lines": lines,
            "card_token": "tok_visa",
            "shipping_address": {"name": "A", "line1": "B", "city": "C", "postal_code": "1", "country": country},
        }))
        .unwrap()
    }

    #[test]
    fn prices_come_from_the_catalogue() {
        let order = PlaceOrder::parse(request(
            &json!([{"sku": "SKU-BOLT", "quantity": 2}, {"sku": "SKU-ROPE", "quantity": 1}]),
            "DE",
        ))
        .unwrap();
        assert_eq!(order.total_cents, 2 * 1450 + 1890);
    }

    #[test]
    fn each_invalid_value_names_its_field() {
        let cases = [
            (json!([]), "DE", "lines"),
            (
                json!([{"sku": "SKU-NOPE", "quantity": 1}]),
                "DE",
                "lines[0].sku",
            ),
            (
                json!([{"sku": "SKU-BOLT", "quantity": 0}]),
                "DE",
                "lines[0].quantity",
            ),
            (
                json!([{"sku": "SKU-BOLT", "quantity": -3}]),
                "DE",
                "lines[0].quantity",
            ),
            (
                json!([{"sku": "SKU-BOLT", "quantity": 1}, {"sku": "SKU-BOLT", "quantity": 1}]),
                "DE",
                "lines[1].sku",
            ),
            (
                json!([{"sku": "SKU-BOLT", "quantity": 1}]),
                "Germany",
                "shipping_address.country",
            ),
        ];
        for (lines, country, field) in cases {
            match PlaceOrder::parse(request(&lines, country)) {
                Err(Error::Invalid { field: at, .. }) => assert_eq!(at, field, "{lines} {country}"),
                other => panic!("{lines} {country}: {other:?}"),
            }
        }
    }
}
