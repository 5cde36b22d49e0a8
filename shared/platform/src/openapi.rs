//! Every service's OpenAPI 3 document, generated from its handlers' `#[utoipa::path]`
//! annotations, served at `GET /openapi.json` with a Swagger UI at `/docs`.
//!
//! The handlers document what they answer themselves; the answers every route gets from the
//! platform (a malformed or oversized body, a bad path or query, a missing admin token, a
//! database that is away) are added here, from the shape of each operation, so no document
//! forgets one and none claims one its route cannot give.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Components, ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};

use crate::api::ApiError;

/// The security scheme of the operator endpoints (`crate::admin`).
pub const ADMIN_TOKEN: &str = "admin_token";

/// Completes `api`, the document of `service`: its title, the error schema, the admin token's
/// security scheme and the platform's answers on every operation.
pub fn finish(service: &str, mut api: OpenApi) -> OpenApi {
    api.info.title = format!("sagaworks {service}");
    api.info.version = env!("CARGO_PKG_VERSION").to_owned();
    api.info.description = Some(format!(
        "The {service} service's HTTP API. Errors are `{{\"error\", \"message\", \"field\"?}}`."
    ));
    api.info.license = None;
    let components = api.components.get_or_insert_with(Components::new);
    components.schemas.insert(
        "Error".to_owned(),
        <ApiError as utoipa::PartialSchema>::schema(),
    );
    components.security_schemes.insert(
        ADMIN_TOKEN.to_owned(),
        SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("`ADMIN_TOKEN` of the service's environment"))
                .build(),
        )
        .into(),
    );
    for item in api.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let has_parameters = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let mut standard = vec![(
                "503",
                "`unavailable`: the database is away, or `timeout`: no answer within 30 s",
            )];
            if operation.request_body.is_some() {
                standard.extend([
                    ("400", "`malformed_json`: the body is not JSON"),
                    ("413", "`invalid_body`: the body is over the route's limit"),
                    ("415", "`unsupported_media_type`: the body is not `application/json`"),
                    (
                        "422",
                        "`invalid_field`: a field is missing, of the wrong type or out of range (named in `field`)",
                    ),
                ]);
            }
            if has_parameters {
                standard.extend([
                    ("400", "`invalid_path` / `invalid_query`: a parameter does not parse"),
                    (
                        "422",
                        "`invalid_field`: a parameter holds a value the service cannot accept (named in `field`)",
                    ),
                ]);
            }
            if operation.security.is_some() {
                standard.extend([
                    ("401", "`unauthorized`: no or another bearer token"),
                    (
                        "403",
                        "`admin_disabled`: the service was started without `ADMIN_TOKEN`",
                    ),
                ]);
            }
            for (status, description) in standard {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| error_response(description));
            }
        }
    }
    api
}

fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Error")))
                .build(),
        )
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn};
    use utoipa::openapi::request_body::RequestBodyBuilder;
    use utoipa::openapi::{HttpMethod, OpenApiBuilder, PathItem, PathsBuilder};

    use super::*;

    fn statuses(api: &OpenApi, path: &str, method: &str) -> Vec<String> {
        let json = serde_json::to_value(api).unwrap();
        let responses = json["paths"][path][method]["responses"]
            .as_object()
            .unwrap();
        responses.keys().cloned().collect()
    }

    #[test]
    fn each_operation_gets_the_answers_its_shape_can_give() {
        let read =
            OperationBuilder::new().response("200", ResponseBuilder::new().description("ok"));
        let write = OperationBuilder::new()
            .request_body(Some(RequestBodyBuilder::new().build()))
            .parameter(
                ParameterBuilder::new()
                    .name("sku")
                    .parameter_in(ParameterIn::Path),
            )
            .securities(Some([utoipa::openapi::security::SecurityRequirement::new(
                ADMIN_TOKEN,
                Vec::<String>::new(),
            )]))
            .response("200", ResponseBuilder::new().description("ok"));
        let paths = PathsBuilder::new()
            .path("/read", PathItem::new(HttpMethod::Get, read))
            .path("/write/{sku}", PathItem::new(HttpMethod::Put, write))
            .build();
        let api = finish("test", OpenApiBuilder::new().paths(paths).build());

        assert_eq!(statuses(&api, "/read", "get"), ["200", "503"]);
        assert_eq!(
            statuses(&api, "/write/{sku}", "put"),
            ["200", "400", "401", "403", "413", "415", "422", "503"]
        );
        let json = serde_json::to_value(&api).unwrap();
        assert_eq!(
            json["components"]["securitySchemes"][ADMIN_TOKEN]["scheme"],
            "bearer"
        );
        assert_eq!(
            json["components"]["schemas"]["Error"]["required"],
            serde_json::json!(["error", "message"])
        );
    }
}
