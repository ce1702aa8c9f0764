//! Content codings on the HTTP server: answers compressed as the request's
//! `Accept-Encoding` allows, gzip request bodies decompressed. A request
//! that mentions no coding (most programs' calls) goes straight to the
//! routes: tower-http's layers wrap every body they see, which costs a
//! plain call about a tenth of its throughput.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::header;
use axum::response::Response;
use axum::Router;
use futures_util::future::Either;
use tower::{Service, ServiceExt};
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};

use super::server::COMPRESS_ABOVE;

/// `routes` with content codings: compression of answers when `compress`,
/// gzip request bodies always.
pub(crate) fn negotiated(routes: Router, compress: bool) -> Router {
    // gzip only (whatever features other crates turn on in tower-http):
    // its 32 KiB window bounds what a decoder holds, where brotli's and
    // zstd's may reach megabytes. The body's limit then applies to what
    // comes out (see `read_body`).
    let decompression = tower_http::decompression::RequestDecompressionLayer::new()
        .no_br()
        .no_zstd()
        .no_deflate();
    let coded = if compress {
        routes.clone().layer(compression()).layer(decompression)
    } else {
        routes.clone().layer(decompression)
    };
    Router::new().fallback_service(Negotiated {
        plain: routes,
        coded,
    })
}

/// Compresses answers of [`COMPRESS_ABOVE`] bytes or more, but not event
/// streams (each event must go out as it comes) nor images.
fn compression() -> tower_http::compression::CompressionLayer<impl Predicate> {
    tower_http::compression::CompressionLayer::new()
        // gzip, br and zstd: deflate's framing was never agreed on by
        // browsers and servers.
        .no_deflate()
        // Level 4 of each: brotli's own default (11) takes hundreds of
        // milliseconds on a large answer; gzip's 4 and zstd's 4 are close
        // to their defaults in size and faster.
        .quality(tower_http::CompressionLevel::Precise(4))
        .compress_when(
            SizeAbove::new(COMPRESS_ABOVE)
                .and(NotForContentType::GRPC)
                .and(NotForContentType::IMAGES)
                .and(NotForContentType::SSE),
        )
}

/// The routes twice: as they are, for requests that name no coding, and
/// under the coding layers, for those that do.
#[derive(Clone)]
struct Negotiated {
    plain: Router,
    coded: Router,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl Service<Request> for Negotiated {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<<Router as Service<Request>>::Future, Answer>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // A router is always ready; each call below takes a clone of it.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let headers = request.headers();
        if headers.contains_key(header::ACCEPT_ENCODING)
            || headers.contains_key(header::CONTENT_ENCODING)
        {
            Either::Right(Box::pin(self.coded.clone().oneshot(request)))
        } else {
            Either::Left(self.plain.clone().call(request))
        }
    }
}
