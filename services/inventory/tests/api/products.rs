use serde_json::{Value, json};

use inventory::Inventory;
use participant::testing::TestApp;

/// The service, its operator endpoints behind `token` (off without one).
async fn spawn(token: Option<&str>) -> TestApp {
    let args: Vec<&str> = token
        .map(|t| ["--admin-token", t])
        .into_iter()
        .flatten()
        .collect();
    TestApp::spawn_with::<Inventory>(&args).await
}

async fn put_stock(app: &TestApp, sku: &str, body: &Value) -> reqwest::Response {
    app.client
        .put(format!("{}/products/{sku}/stock", app.address))
        .bearer_auth(testkit::ADMIN_TOKEN)
        .json(body)
        .send()
        .await
        .expect("request sent")
}

#[tokio::test]
async fn stock_is_set_for_a_known_sku_and_bad_input_is_a_4xx_naming_the_field() {
    let app = spawn(Some(testkit::ADMIN_TOKEN)).await;

    let set = put_stock(&app, "SKU-BOLT", &json!({"available": 7})).await;
    let unknown = put_stock(&app, "SKU-NONE", &json!({"available": 7})).await;
    let negative = put_stock(&app, "SKU-BOLT", &json!({"available": -1})).await;
    let nul = put_stock(&app, "SKU%00", &json!({"available": 7})).await;
    let escape = put_stock(&app, "SKU%1B%5B2J", &json!({"available": 7})).await;

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

#[tokio::test]
async fn stock_changes_answer_only_the_admin_token() {
    let app = spawn(Some(testkit::ADMIN_TOKEN)).await;
    let url = format!("{}/products/SKU-BOLT/stock", app.address);
    let body = json!({"available": 0});

    let anonymous = app.client.put(&url).json(&body).send().await.unwrap();
    let wrong = app
        .client
        .put(&url)
        .bearer_auth("not-the-admin-token-at-all")
        .json(&body)
        .send()
        .await
        .unwrap();

    for response in [anonymous, wrong] {
        assert_eq!(response.status(), 401);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "unauthorized");
    }
    let products: Vec<Value> = app.get("/products").await.json().await.unwrap();
    let bolt = products.iter().find(|p| p["sku"] == "SKU-BOLT").unwrap();
    assert_ne!(bolt["available"], 0, "the refused requests changed nothing");
}

#[tokio::test]
async fn without_an_admin_token_stock_changes_are_off() {
    let app = spawn(None).await;

    let response = app
        .client
        .put(format!("{}/products/SKU-BOLT/stock", app.address))
        .bearer_auth(testkit::ADMIN_TOKEN)
        .json(&json!({"available": 0}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 403);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"], "admin_disabled");
    assert_eq!(app.get("/products").await.status(), 200);
}
