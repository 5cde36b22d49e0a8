//! The product catalogue: reference data both order (prices) and inventory (products, seeded
//! with `INITIAL_STOCK` each when its table is empty) read. Stock levels are inventory's alone.

/// `(sku, name, price in cents)`.
pub const PRODUCTS: [(&str, &str, i64); 8] = [
    ("SKU-ANVIL", "Anvil, 50 kg", 12900),
    ("SKU-BOLT", "Hex bolt M8, box of 100", 1450),
    ("SKU-CABLE", "Steel cable, 10 m", 3200),
    ("SKU-DRILL", "Cordless drill", 8900),
    ("SKU-GLOVES", "Work gloves", 990),
    ("SKU-HAMMER", "Claw hammer", 2450),
    ("SKU-LADDER", "Step ladder", 7400),
    ("SKU-ROPE", "Hemp rope, 20 m", 1890),
];

pub const INITIAL_STOCK: i32 = 10_000;

/// The price of `sku`, if the catalogue has it.
pub fn price_cents(sku: &str) -> Option<i64> {
    PRODUCTS
        .iter()
        .find(|(known, _, _)| *known == sku)
        .map(|(_, _, price)| *price)
}
