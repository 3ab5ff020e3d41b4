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
            "/" | "/slow" | "/whoami" | "/health" => Route::MethodNotAllowed("GET, HEAD"),
            _ => Route::NotFound,
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
    let posted_items = if route == Route::PostItems {
        match count_json_items(req.into_body()).await {
            Ok(count) => Some(count),
            Err(resp) => {
                Stats::add(&app.stats.immediate);
                return Ok(resp);
            }
        }
    } else {
        None
    };

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
