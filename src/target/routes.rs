//! Routes of the demo app and the handler that runs them through a worker.
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use rand::rngs::StdRng;
use rand::Rng;
use std::time::Instant;

use super::stats::Stats;
use super::timer::PreciseTimer;
use super::workers::WorkerPool;
use super::ServiceTime;

/// Largest POST body accepted by /api/items.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// How much longer than the service time `/slow` takes.
const SLOW_FACTOR: u32 = 10;

/// Items `GET /api/items/{id}` knows: ids 1 to this.
const MAX_ITEM_ID: u64 = 10_000;

const ITEMS_JSON: &str = r#"[{"id":1,"name":"widget","price":9.5},{"id":2,"name":"gadget","price":24.0},{"id":3,"name":"gizmo","price":3.25}]"#;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/`: a line of text.
    Index,
    /// `GET /api/items`: a small JSON list.
    ListItems,
    /// `POST /api/items`: counts the items of a JSON body.
    PostItems,
    /// `/slow`: ten times the service time.
    Slow,
    /// `POST /login`: sets a session cookie.
    Login,
    /// `/whoami`: the session cookie, or 401.
    WhoAmI,
    /// `POST /api/login`: a JSON token for `{"username", "password"}`.
    ApiLogin,
    /// `GET /api/items/{id}`: one item (a bearer token required).
    Item(u64),
    /// `POST /api/orders`: an order id (a bearer token required).
    Order,
    /// `GET /api/status`: 200 with an error in the body (a degraded backend).
    Degraded,
    /// `/health`: answered at once, without a worker.
    Health,
    /// A known path with the wrong method (405, without a worker).
    MethodNotAllowed(&'static str),
    /// Unknown path (404, without a worker).
    NotFound,
}

impl Route {
    pub fn of(method: &Method, path: &str) -> Route {
        let read = method == Method::GET || method == Method::HEAD;
        match path {
            "/" if read => Route::Index,
            "/api/items" if read => Route::ListItems,
            "/api/items" if method == Method::POST => Route::PostItems,
            "/api/items" => Route::MethodNotAllowed("GET, HEAD, POST"),
            "/slow" if read => Route::Slow,
            "/login" if method == Method::POST => Route::Login,
            "/login" => Route::MethodNotAllowed("POST"),
            "/whoami" if read => Route::WhoAmI,
            "/health" if read => Route::Health,
            "/api/login" if method == Method::POST => Route::ApiLogin,
            "/api/orders" if method == Method::POST => Route::Order,
            "/api/login" | "/api/orders" => Route::MethodNotAllowed("POST"),
            "/api/status" if read => Route::Degraded,
            "/" | "/slow" | "/whoami" | "/health" | "/api/status" => {
                Route::MethodNotAllowed("GET, HEAD")
            }
            _ => match path.strip_prefix("/api/items/").map(str::parse::<u64>) {
                Some(Ok(id)) if (1..=MAX_ITEM_ID).contains(&id) && read => Route::Item(id),
                Some(Ok(id)) if (1..=MAX_ITEM_ID).contains(&id) => {
                    Route::MethodNotAllowed("GET, HEAD")
                }
                _ => Route::NotFound,
            },
        }
    }
}

/// Everything a request handler needs, shared by all connections.
#[derive(Debug)]
pub struct App {
    pub pool: Arc<WorkerPool>,
    pub timer: PreciseTimer,
    pub service_time: ServiceTime,
    pub error_rate: f64,
    pub stats: Stats,
}

/// Random draws of one request, made under the connection's RNG lock at once.
struct Draws {
    service: std::time::Duration,
    fail: bool,
    session_id: u64,
}

/// Answer one request. `rng` belongs to the connection (seeded from `--seed`).
pub async fn handle(
    app: Arc<App>,
    rng: Arc<Mutex<StdRng>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let route = Route::of(req.method(), req.uri().path());
    let immediate = match route {
        Route::Health => Some(text(StatusCode::OK, "ok\n")),
        Route::NotFound => Some(text(StatusCode::NOT_FOUND, "not found\n")),
        Route::MethodNotAllowed(allow) => {
            let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            Some(resp)
        }
        _ => None,
    };
    if let Some(resp) = immediate {
        Stats::add(&app.stats.immediate);
        return Ok(resp);
    }

    let session = session_cookie(&req);
    if matches!(route, Route::Item(_) | Route::Order) && bearer_user(&req).is_none() {
        Stats::add(&app.stats.immediate);
        let mut resp = json(
            StatusCode::UNAUTHORIZED,
            r#"{"error":"missing or invalid bearer token: POST /api/login first"}"#.to_string(),
        );
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return Ok(resp);
    }
    let (mut login, mut posted_items) = (None, None);
    if route == Route::PostItems || route == Route::ApiLogin {
        let read = match route {
            Route::ApiLogin => login_user(req.into_body()).await.map(|u| login = Some(u)),
            _ => count_json_items(req.into_body())
                .await
                .map(|n| posted_items = Some(n)),
        };
        if let Err(resp) = read {
            Stats::add(&app.stats.immediate);
            return Ok(resp);
        }
    }

    let arrival = Instant::now();
    let Some(mut worker) = app.pool.acquire(arrival).await else {
        Stats::add(&app.stats.rejected);
        return Ok(text(
            StatusCode::SERVICE_UNAVAILABLE,
            "backlog full, try again later\n",
        ));
    };
    let draws = {
        let mut rng = rng.lock().unwrap_or_else(PoisonError::into_inner);
        Draws {
            service: app.service_time.sample(&mut *rng),
            fail: app.error_rate > 0.0 && rng.gen::<f64>() < app.error_rate,
            session_id: rng.gen(),
        }
    };
    let factor = if route == Route::Slow { SLOW_FACTOR } else { 1 };
    let done = worker.occupy(draws.service * factor);
    app.timer.sleep_until(done).await;
    drop(worker);
    Stats::add(&app.stats.served);
    if draws.fail {
        Stats::add(&app.stats.errors);
        return Ok(text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"));
    }

    Ok(match route {
        Route::ListItems => json(StatusCode::OK, ITEMS_JSON.to_string()),
        Route::PostItems => json(
            StatusCode::CREATED,
            format!("{{\"received\":{}}}", posted_items.unwrap_or(0)),
        ),
        Route::Slow => text(StatusCode::OK, "slow response\n"),
        Route::Login => {
            let id = format!("{:016x}", draws.session_id);
            let mut resp = json(StatusCode::OK, format!("{{\"session\":\"{id}\"}}"));
            let cookie = format!("session={id}; Path=/; HttpOnly");
            resp.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_str(&cookie).expect("hex id is a valid header"),
            );
            resp
        }
        Route::ApiLogin => {
            let user = login.unwrap_or_default();
            let body = serde_json::json!({ "token": token_for(&user), "user": user });
            json(StatusCode::OK, body.to_string())
        }
        Route::Item(id) => json(
            StatusCode::OK,
            format!(
                r#"{{"id":{id},"name":"item-{id}","price":{}.{:02},"in_stock":{}}}"#,
                id % 97 + 1,
                id % 100,
                id % 7 != 0
            ),
        ),
        Route::Order => {
            let order = format!("{:016x}", draws.session_id);
            let mut resp = json(
                StatusCode::CREATED,
                format!(r#"{{"order_id":"{order}","status":"confirmed"}}"#),
            );
            resp.headers_mut().insert(
                "x-order-id",
                HeaderValue::from_str(&order).expect("hex id is a valid header"),
            );
            resp
        }
        Route::Degraded => json(
            StatusCode::OK,
            r#"{"status":"error","error":"database unavailable"}"#.to_string(),
        ),
        Route::WhoAmI => match session {
            Some(id) => text(StatusCode::OK, format!("{id}\n")),
            None => text(StatusCode::UNAUTHORIZED, "no session, POST /login first\n"),
        },
        _ => text(StatusCode::OK, "hello from capplan target\n"),
    })
}

/// Read a JSON body and count its items: array length, object keys, else 1.
async fn count_json_items(body: Incoming) -> Result<usize, Response<Full<Bytes>>> {
    let bytes = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => {
            return Err(text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body larger than {MAX_BODY_BYTES} bytes\n"),
            ))
        }
        Err(err) => {
            return Err(text(
                StatusCode::BAD_REQUEST,
                format!("could not read body: {err}\n"),
            ))
        }
    };
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Array(items)) => Ok(items.len()),
        Ok(serde_json::Value::Object(fields)) => Ok(fields.len()),
        Ok(_) => Ok(1),
        Err(err) => Err(text(
            StatusCode::BAD_REQUEST,
            format!("body is not JSON: {err}\n"),
        )),
    }
}

/// Read `POST /api/login`'s JSON body: the user it names, or the 400 to answer.
async fn login_user(body: Incoming) -> Result<String, Response<Full<Bytes>>> {
    let bad = |why: &str| {
        json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({ "error": why }).to_string(),
        )
    };
    let bytes = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Err(bad("unreadable or too large body")),
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Err(bad(
            "the body must be JSON: {\"username\": ..., \"password\": ...}",
        ));
    };
    let field = |name: &str| {
        value
            .get(name)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
    };
    match (field("username"), field("password")) {
        (Some(user), Some(_)) => Ok(user.to_string()),
        _ => Err(bad("username and password are required")),
    }
}

/// A user's token: the user's hash and a signature of it (checked without a store).
fn token_for(user: &str) -> String {
    let id = sip(user.as_bytes());
    format!("{id:016x}{:016x}", sip(&id.to_le_bytes()) ^ TOKEN_KEY)
}

/// Mixed into token signatures so that a hash alone is not a token.
const TOKEN_KEY: u64 = 0x6361_7070_6c61_6e21;

fn sip(bytes: &[u8]) -> u64 {
    use std::hash::Hasher;
    // DefaultHasher::new() has fixed keys: the same token in every process.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(bytes);
    h.finish()
}

/// The user id of a valid `Authorization: Bearer <token>`, if the request has one.
fn bearer_user<B>(req: &Request<B>) -> Option<u64> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?.trim();
    if token.len() != 32 {
        return None;
    }
    let id = u64::from_str_radix(&token[..16], 16).ok()?;
    let sig = u64::from_str_radix(&token[16..], 16).ok()?;
    (sig == sip(&id.to_le_bytes()) ^ TOKEN_KEY).then_some(id)
}

/// Value of the `session` cookie, if the request carries one.
fn session_cookie<B>(req: &Request<B>) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == "session" && !value.is_empty()).then(|| value.to_string())
        })
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    response(status, "text/plain; charset=utf-8", body.into())
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    response(status, "application/json", Bytes::from(body))
}

fn response(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_method_and_path() {
        assert_eq!(Route::of(&Method::GET, "/"), Route::Index);
        assert_eq!(Route::of(&Method::GET, "/api/items"), Route::ListItems);
        assert_eq!(Route::of(&Method::POST, "/api/items"), Route::PostItems);
        assert_eq!(Route::of(&Method::GET, "/health"), Route::Health);
        assert_eq!(Route::of(&Method::POST, "/login"), Route::Login);
        assert_eq!(
            Route::of(&Method::GET, "/login"),
            Route::MethodNotAllowed("POST")
        );
        assert_eq!(Route::of(&Method::GET, "/nope"), Route::NotFound);
        assert_eq!(Route::of(&Method::POST, "/api/login"), Route::ApiLogin);
        assert_eq!(Route::of(&Method::GET, "/api/items/42"), Route::Item(42));
        assert_eq!(Route::of(&Method::GET, "/api/items/0"), Route::NotFound);
        assert_eq!(Route::of(&Method::GET, "/api/items/x"), Route::NotFound);
        assert_eq!(Route::of(&Method::GET, "/api/items/10001"), Route::NotFound);
        assert_eq!(Route::of(&Method::POST, "/api/orders"), Route::Order);
        assert_eq!(
            Route::of(&Method::GET, "/api/orders"),
            Route::MethodNotAllowed("POST")
        );
        assert_eq!(Route::of(&Method::GET, "/api/status"), Route::Degraded);
    }

    #[test]
    fn tokens_are_checked_without_a_store() {
        let token = token_for("alice");
        assert_eq!(token.len(), 32);
        assert_eq!(token, token_for("alice"));
        assert_ne!(token, token_for("bob"));
        let with = |auth: &str| {
            let req = Request::builder()
                .header("authorization", auth)
                .body(())
                .unwrap();
            bearer_user(&req)
        };
        assert!(with(&format!("Bearer {token}")).is_some());
        let mut forged = token.clone();
        forged.replace_range(31.., if token.ends_with('0') { "1" } else { "0" });
        assert!(with(&format!("Bearer {forged}")).is_none());
        assert!(with(&token).is_none());
        assert!(Request::builder()
            .body(())
            .map(|r| bearer_user(&r))
            .unwrap()
            .is_none());
    }

    #[test]
    fn finds_the_session_cookie_among_others() {
        let req = Request::builder()
            .header("cookie", "a=1; session=abc; b=2")
            .body(())
            .unwrap();
        assert_eq!(session_cookie(&req).as_deref(), Some("abc"));
        let none = Request::builder().header("cookie", "a=1").body(()).unwrap();
        assert_eq!(session_cookie(&none), None);
    }
}
