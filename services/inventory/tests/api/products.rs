use serde_json::{Value, json};

use crate::helpers::TestApp;

impl TestApp {
    async fn put_stock(&self, sku: &str, body: &Value) -> reqwest::Response {
        self.client
            .put(format!("{}/products/{sku}/stock", self.address))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }
}

#[tokio::test]
async fn stock_is_set_for_a_known_sku_and_bad_input_is_a_4xx_naming_the_field() {
    let app = TestApp::spawn().await;

    let set = app.put_stock("SKU-BOLT", &json!({"available": 7})).await;
    let unknown = app.put_stock("SKU-NONE", &json!({"available": 7})).await;
    let negative = app.put_stock("SKU-BOLT", &json!({"available": -1})).await;
    let nul = app.put_stock("SKU%00", &json!({"available": 7})).await;
    let escape = app.put_stock("SKU%1B%5B2J", &json!({"available": 7})).await;

    assert_eq!(set.status(), 200);
    let product: Value = set.json().await.unwrap();
    assert_eq!(product["available"], 7);
    assert_eq!(unknown.status(), 404);
    for (response, field) in [(negative, "available"), (nul, "sku"), (escape, "sku")] {
        assert_eq!(response.status(), 422);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["field"], field, "{error}");
    }
}
