//! A module's panic is contained where the module is called: the request
//! gets a 500 and goes no further down the chain.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::request_body::RequestBody;

use super::*;

/// Where a test module panics.
#[derive(Clone, Copy)]
enum Panic {
    /// In `preflight`.
    Preflight,
    /// In `handle`, before it returns its step.
    Handle,
    /// In the future `handle` returns, after a first `Pending`.
    Later,
}

struct Panicking(Panic);

impl Module for Panicking {
    fn name(&self) -> &'static str {
        "panicking"
    }

    fn phases(&self) -> Phases {
        Phases::PREFLIGHT | Phases::HANDLE
    }

    fn preflight(&self, _req: &RequestHead, _ctx: &mut RequestCtx) -> Result<Flow, HttpError> {
        if let Panic::Preflight = self.0 {
            panic!("test: a module panics in preflight");
        }
        Ok(Flow::Continue)
    }

    fn handle<'a>(
        &'a self,
        _req: Request,
        _ctx: &'a mut RequestCtx,
    ) -> Step<'a, Result<Handled, HttpError>> {
        match self.0 {
            Panic::Later => Step::later(async {
                tokio::task::yield_now().await;
                panic!("test: a module's future panics")
            }),
            _ => panic!("test: a module panics in handle"),
        }
    }
}

/// Serves everything it is given, counting the requests.
struct Serves(Arc<AtomicUsize>);

impl Module for Serves {
    fn name(&self) -> &'static str {
        "serves"
    }

    fn phases(&self) -> Phases {
        Phases::HANDLE
    }

    fn handle<'a>(
        &'a self,
        _req: Request,
        _ctx: &'a mut RequestCtx,
    ) -> Step<'a, Result<Handled, HttpError>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Step::now(Ok(Handled::Served(Response::new(Body::from("served")))))
    }
}

/// The status `GET /` gets through `modules`.
async fn status(modules: Vec<Arc<dyn Module>>) -> StatusCode {
    let pipeline = Pipeline::new(
        Arc::new(ServerInfo::for_tests()),
        Chain::new(modules),
        1024,
        8192,
    );
    let req = http::Request::get("/")
        .header(http::header::HOST, "test.local")
        .body(RequestBody::empty())
        .unwrap();
    let addr = "127.0.0.1:80".parse().unwrap();
    let ctx = RequestCtx::new(pipeline.info().clone(), addr, addr);
    pipeline.serve(req, ctx, None).await.status()
}

#[tokio::test]
async fn a_module_panic_answers_500_and_stops_the_chain() {
    for at in [Panic::Preflight, Panic::Handle, Panic::Later] {
        let served = Arc::new(AtomicUsize::new(0));
        let modules: Vec<Arc<dyn Module>> =
            vec![Arc::new(Panicking(at)), Arc::new(Serves(served.clone()))];
        assert_eq!(status(modules).await, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(served.load(Ordering::SeqCst), 0, "the chain went on");
    }
    // The same chain without the panic serves.
    let served = Arc::new(AtomicUsize::new(0));
    assert_eq!(
        status(vec![Arc::new(Serves(served.clone()))]).await,
        StatusCode::OK
    );
    assert_eq!(served.load(Ordering::SeqCst), 1);
}
