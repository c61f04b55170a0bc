//! `snuba-api`: SnQL over HTTP, as Snuba serves it.
//!
//! `POST /{dataset}/snql` with `{"query": "MATCH (events) SELECT ..."}`
//! answers `{"data": [...], "meta": [...], "timing": {...}}`. A query that
//! does not parse or does not fit its entity gets a 400 with
//! `{"error": {"type": "invalid_query", "message": ...}}`; a failing store a
//! 500 with the store's message. `GET /health` answers 200 once the store
//! answers a query.
//!
//! The API reads every project's data and has no authentication, like
//! Snuba's: bind it to an internal address only.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use sentry_snuba::store::{EventStore, QueryError, run_parsed, run_snql};
use serde::Deserialize;
use serde_json::json;

/// The largest request body accepted.
pub const MAX_QUERY_BODY: usize = 2 * 1024 * 1024;

/// The router of `snuba-api` over `store`.
pub fn snuba_router(store: Arc<dyn EventStore>) -> Router {
    Router::new()
        .route("/{dataset}/snql", post(snql))
        .route("/health", get(health))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_QUERY_BODY))
        .with_state(store)
}

/// The body of a query request; fields Sentry sends besides `query`
/// (`tenant_ids`, `app_id`, `parent_api`, ...) are accepted and ignored.
#[derive(Deserialize)]
struct QueryBody {
    query: String,
}

/// The entities a dataset may read.
fn dataset_entities(dataset: &str) -> Option<&'static [&'static str]> {
    Some(match dataset {
        "events" | "discover" => &["events", "transactions"],
        "transactions" => &["transactions"],
        "outcomes" | "outcomes_raw" => &["outcomes"],
        _ => return None,
    })
}

fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error": {"type": kind, "message": message.into()}})),
    )
        .into_response()
}

async fn snql(
    State(store): State<Arc<dyn EventStore>>,
    Path(dataset): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(entities) = dataset_entities(&dataset) else {
        return error(
            StatusCode::NOT_FOUND,
            "dataset_does_not_exist",
            format!("dataset {dataset:?} does not exist"),
        );
    };
    let body: QueryBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("the body must be JSON with a \"query\" string: {e}"),
            );
        }
    };
    let started = Instant::now();
    let query = match sentry_snuba::snql::parse(&body.query) {
        Ok(query) => query,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_query", e.to_string()),
    };
    if let sentry_snuba::snql::Source::Entity(entity) = &query.from {
        if !entities.contains(&entity.name.as_str()) {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!(
                    "entity {:?} is not part of dataset {dataset:?}",
                    entity.name
                ),
            );
        }
    }
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match run_parsed(store.as_ref(), &query, started).await {
        Ok((result, timing)) => Json(json!({
            "data": result.data,
            "meta": result.meta,
            "timing": {
                "timestamp": timestamp,
                "duration_ms": timing.duration_ms,
                "marks_ms": {"validate_query": timing.parse_ms, "execute": timing.query_ms},
            },
        }))
        .into_response(),
        Err(e @ QueryError::Storage(_)) => {
            tracing::error!(error = %e, "query failed in the store");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                store.backend(),
                e.to_string(),
            )
        }
        Err(e) => error(StatusCode::BAD_REQUEST, "invalid_query", e.to_string()),
    }
}

async fn health(State(store): State<Arc<dyn EventStore>>) -> Response {
    let probe = "MATCH (events) SELECT count() AS c WHERE project_id = 0 \
                 AND timestamp >= '2000-01-01T00:00:00' AND timestamp < '2000-01-02T00:00:00'";
    match run_snql(store.as_ref(), probe).await {
        Ok(_) => Json(json!({"status": "ok"})).into_response(),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn post(app: &Router, path: &str, query: &str) -> (StatusCode, serde_json::Value) {
        let body = json!({ "query": query }).to_string();
        let response = app
            .clone()
            .oneshot(Request::post(path).body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn answers_queries_and_explains_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("events.sqlite").display());
        let app = snuba_router(sentry_snuba::store::open(&url).await.unwrap());
        let range = "project_id = 1 AND timestamp >= '2024-05-01T00:00:00' \
                     AND timestamp < '2024-05-02T00:00:00'";

        let (status, body) = post(
            &app,
            "/events/snql",
            &format!("MATCH (events) SELECT count() AS c WHERE {range}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"], json!([{"c": 0}]));
        assert_eq!(body["meta"], json!([{"name": "c", "type": "UInt64"}]));
        assert!(body["timing"]["duration_ms"].is_number());

        let (status, body) = post(&app, "/events/snql", "MATCH (events) SELECT count( WHERE").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["type"], "invalid_query");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("column")
        );

        let (status, body) = post(
            &app,
            "/outcomes/snql",
            &format!("MATCH (events) SELECT count() AS c WHERE {range}"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not part of dataset")
        );

        let (status, _) = post(&app, "/nope/snql", "MATCH (events) SELECT count() AS c").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
