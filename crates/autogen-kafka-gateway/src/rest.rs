//! The HTTP+JSON binding under `/a2a/rest`: the same operations as the JSON-RPC endpoint, as resources.
//!
//! | request | operation |
//! |---|---|
//! | `POST /message:send` | `SendMessage` (body: its params) |
//! | `POST /message:stream` | `SendStreamingMessage`, server-sent events of bare results |
//! | `GET /tasks/{id}?historyLength=N` | `GetTask` |
//! | `GET /tasks?contextId=&status=&pageSize=&pageToken=&historyLength=&includeArtifacts=` | `ListTasks` |
//! | `POST /tasks/{id}:cancel` | `CancelTask` |
//!
//! Results are the bare JSON objects; errors carry the HTTP status of their A2A error and a `google.rpc.Status`
//! body naming the A2A reason ([`RpcError::rest_body`]).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value};

use crate::gateway::{
    Refusal, Shared, admit, cancel_task, get_task, list_tasks, send_message, start_task,
    task_events,
};
use crate::wire::RpcError;

/// The binding's routes, relative to its base path.
pub(crate) fn routes() -> axum::Router<Arc<Shared>> {
    axum::Router::new()
        .route("/message:send", post(send))
        .route("/message:stream", post(stream))
        .route("/tasks", get(list))
        .route("/tasks/{id}", get(task).post(task_action))
}

/// The response of an operation's outcome.
fn reply(outcome: Result<Value, RpcError>) -> Response {
    match outcome {
        Ok(result) => Json(result).into_response(),
        Err(error) => failure(&error),
    }
}

/// An error as the binding sends it.
fn failure(error: &RpcError) -> Response {
    let (status, _, _) = error.rest_mapping();
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(error.rest_body())).into_response()
}

/// The response refusing the request, if it is not admitted.
fn refused(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    admit(shared, headers).err().map(|refusal| match refusal {
        Refusal::Unauthorized => Refusal::unauthorized(),
        Refusal::Version(error) => failure(&error),
    })
}

/// The JSON body, or the error for one that is not JSON.
fn body_json(body: &Bytes) -> Result<Value, RpcError> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_slice(body)
        .map_err(|error| RpcError::new(RpcError::PARSE, format!("the body is not JSON: {error}")))
}

async fn send(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = refused(&shared, &headers) {
        return refusal;
    }
    let outcome = match body_json(&body) {
        Ok(params) => send_message(&shared, params).await,
        Err(error) => Err(error),
    };
    reply(outcome)
}

async fn stream(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = refused(&shared, &headers) {
        return refusal;
    }
    match body_json(&body).and_then(|params| start_task(&shared, params)) {
        Ok((changes, _)) => task_events(None, changes).into_response(),
        Err(error) => failure(&error),
    }
}

/// Query parameters as the JSON params of an operation: numbers and booleans where they parse as such.
fn query_params(query: HashMap<String, String>) -> Value {
    let map = query
        .into_iter()
        .map(|(key, text)| {
            let value = text
                .parse::<u64>()
                .map(Value::from)
                .or_else(|_| text.parse::<bool>().map(Value::from))
                .unwrap_or(Value::String(text));
            (key, value)
        })
        .collect();
    Value::Object(map)
}

async fn task(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refusal) = refused(&shared, &headers) {
        return refusal;
    }
    let mut params = query_params(query);
    params["id"] = Value::String(id);
    reply(get_task(&shared, params))
}

async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refusal) = refused(&shared, &headers) {
        return refusal;
    }
    let mut params = query_params(query);
    // The page token and the context id are text, whatever they look like.
    for key in ["pageToken", "contextId"] {
        if let Some(value) = params.get_mut(key)
            && !value.is_string()
        {
            *value = Value::String(value.to_string());
        }
    }
    reply(list_tasks(&shared, params))
}

/// `POST /tasks/{id}:cancel` (the router matches the whole segment, action included).
async fn task_action(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(segment): Path<String>,
) -> Response {
    if let Some(refusal) = refused(&shared, &headers) {
        return refusal;
    }
    match segment.rsplit_once(':') {
        Some((id, "cancel")) => {
            let params = serde_json::json!({"id": id});
            reply(cancel_task(&shared, params).await)
        }
        Some((_, action)) => failure(&RpcError::new(
            RpcError::UNSUPPORTED_OPERATION,
            format!("this gateway does not serve tasks/{{id}}:{action}"),
        )),
        None => failure(&RpcError::new(
            RpcError::METHOD_NOT_FOUND,
            "POST /tasks/{id} needs an action: /tasks/{id}:cancel",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_become_numbers_and_booleans_where_they_parse() {
        let query = HashMap::from([
            ("pageSize".to_owned(), "10".to_owned()),
            ("includeArtifacts".to_owned(), "true".to_owned()),
            ("status".to_owned(), "TASK_STATE_WORKING".to_owned()),
        ]);
        let params = query_params(query);
        assert_eq!(params["pageSize"], 10);
        assert_eq!(params["includeArtifacts"], true);
        assert_eq!(params["status"], "TASK_STATE_WORKING");
    }

    #[test]
    fn errors_carry_the_http_status_and_the_a2a_reason() {
        let error = RpcError::new(RpcError::TASK_NOT_FOUND, "no task x");
        assert_eq!(failure(&error).status(), StatusCode::NOT_FOUND);
        let body = error.rest_body();
        assert_eq!(body["error"]["details"][0]["reason"], "TASK_NOT_FOUND");
        assert_eq!(body["error"]["message"], "no task x");
        let refused = RpcError::new(RpcError::TASK_NOT_CANCELABLE, "ended");
        assert_eq!(failure(&refused).status(), StatusCode::BAD_REQUEST);
        let internal = RpcError::new(RpcError::INTERNAL, "oops");
        assert_eq!(
            failure(&internal).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
