//! The bridge between a request and a WSGI application (PEP 3333).
//!
//! Each request runs on the blocking pool with the interpreter attached
//! (the GIL is released whenever the application waits for the client).
//! Three channels connect it to the connection's task:
//!
//! ```text
//!  RequestBody ──task──▶ [4 chunks] ──fetch()──▶ wsgi.input.read()
//!  start_response + first chunk ──head()──▶ oneshot ──▶ status, headers
//!  iterable chunks ──send()──▶ [4 chunks] ──▶ response body ──▶ client
//! ```
//!
//! Both data channels are bounded, so a large upload or download holds a
//! few chunks, never the whole body; `send` returns `False` once the
//! client has gone and the application's iterable is closed. The Python
//! half is `shim.py` (module `_marmoset`).

use std::ffi::CString;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use pyo3::exceptions::PyIOError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCFunction, PyDict, PyModule, PyTuple};
use tokio::sync::{mpsc, oneshot};

use crate::request_body::RequestBody;

/// Chunks queued in each direction.
const QUEUE: usize = 4;

/// The loaded shim and application.
pub struct App {
    shim: Py<PyModule>,
    app: Py<PyAny>,
}

/// What the application started its response with.
#[derive(Debug)]
pub struct Head {
    /// `200 OK`.
    pub status: String,
    /// Header names and values (latin-1 strings, PEP 3333).
    pub headers: Vec<(String, String)>,
}

/// The text of a Python exception with its traceback.
pub fn describe(py: Python<'_>, e: &PyErr) -> String {
    let text = py.import("traceback").and_then(|tb| {
        let lines = tb.call_method1("format_exception", (e.value(py),))?;
        let lines: Vec<String> = lines.extract()?;
        Ok(lines.concat())
    });
    text.unwrap_or_else(|_| e.to_string())
        .trim_end()
        .to_string()
}

/// How the interpreter is prepared.
pub struct Setup<'a> {
    /// Put first on `sys.path`.
    pub docroot: &'a std::path::Path,
    /// A virtual environment to add.
    pub virtualenv: Option<&'a std::path::Path>,
    /// `NAME=value` set in `os.environ`.
    pub env: &'a [String],
    /// `module:callable`, or `None` for the script API.
    pub application: Option<&'a str>,
    /// Script files imported now (script API).
    pub scripts: &'a [std::path::PathBuf],
}

impl App {
    /// Start the interpreter (once per process) and load the application.
    /// The error is the Python traceback.
    pub fn load(setup: &Setup<'_>) -> Result<App, String> {
        Python::attach(|py| Self::load_in(py, setup).map_err(|e| describe(py, &e)))
    }

    fn load_in(py: Python<'_>, setup: &Setup<'_>) -> PyResult<App> {
        let sys = py.import("sys")?;
        if !sys.hasattr("argv")? {
            sys.setattr("argv", vec!["marmoset"])?;
        }
        let docroot = setup.docroot.to_string_lossy().into_owned();
        sys.getattr("path")?.call_method1("insert", (0, docroot))?;
        if let Some(venv) = setup.virtualenv {
            let version = sys.getattr("version_info")?;
            let major: u8 = version.get_item(0)?.extract()?;
            let minor: u8 = version.get_item(1)?.extract()?;
            let site = venv.join(format!("lib/python{major}.{minor}/site-packages"));
            if !site.is_dir() {
                return Err(PyIOError::new_err(format!(
                    "virtualenv: {} is not a directory (built for another Python?)",
                    site.display()
                )));
            }
            py.import("site")?
                .call_method1("addsitedir", (site.to_string_lossy().into_owned(),))?;
        }
        let environ = py.import("os")?.getattr("environ")?;
        for entry in setup.env {
            let (k, v) = entry.split_once('=').unwrap_or((entry, ""));
            environ.set_item(k, v)?;
        }
        let code =
            CString::new(include_str!("shim.py")).map_err(|e| PyIOError::new_err(e.to_string()))?;
        let shim = PyModule::from_code(py, &code, c"_marmoset.py", c"_marmoset")?;
        let app = match setup.application {
            Some(spec) => shim.call_method1("load", (spec,))?,
            None => {
                let scripts = shim.getattr("Scripts")?.call0()?;
                for s in setup.scripts {
                    scripts.call_method1("module", (s.to_string_lossy().into_owned(),))?;
                }
                scripts
            }
        };
        Ok(App {
            shim: shim.unbind(),
            app: app.unbind(),
        })
    }

    /// Start `environ`'s request on the blocking pool. Returns the head
    /// (or the error when the application failed before it), then the
    /// body's chunks.
    pub async fn call(
        self: Arc<Self>,
        environ: Vec<(String, Vec<u8>)>,
        body: Option<RequestBody>,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<(Head, mpsc::Receiver<io::Result<Bytes>>), String> {
        let (in_tx, in_rx) = mpsc::channel::<Result<Bytes, String>>(QUEUE);
        match body {
            Some(body) => drop(tokio::spawn(feed(body, in_tx))),
            // No body: `fetch()` sees the end at once.
            None => drop(in_tx),
        }
        let (head_tx, mut head_rx) = oneshot::channel();
        let (out_tx, out_rx) = mpsc::channel(QUEUE);
        let mut job = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            self.run(environ, in_rx, head_tx, out_tx)
        });
        tokio::select! {
            biased;
            head = &mut head_rx => match head {
                Ok(h) => Ok((h, out_rx)),
                Err(_) => Err(job.await.map_err(|e| e.to_string())?.err().unwrap_or_default()),
            },
            done = &mut job => match head_rx.try_recv() {
                Ok(h) => Ok((h, out_rx)),
                Err(_) => Err(match done {
                    Ok(Ok(())) => "the application sent no response".to_string(),
                    Ok(Err(e)) => e,
                    Err(e) => e.to_string(),
                }),
            },
        }
    }

    /// On the blocking pool: build `environ`, run the shim.
    fn run(
        &self,
        environ: Vec<(String, Vec<u8>)>,
        input: mpsc::Receiver<Result<Bytes, String>>,
        head: oneshot::Sender<Head>,
        out: mpsc::Sender<io::Result<Bytes>>,
    ) -> Result<(), String> {
        let head = Arc::new(Mutex::new(Some(head)));
        let result = Python::attach(|py| {
            self.run_in(py, environ, input, head.clone(), out.clone())
                .map_err(|e| format!("{e}"))
        });
        if result.is_err() && head.lock().is_ok_and(|h| h.is_none()) {
            // Too late for a 500: cut the body so the client knows.
            let _ = out.blocking_send(Err(io::Error::other("application error")));
        }
        result
    }

    fn run_in(
        &self,
        py: Python<'_>,
        environ: Vec<(String, Vec<u8>)>,
        input: mpsc::Receiver<Result<Bytes, String>>,
        head: Arc<Mutex<Option<oneshot::Sender<Head>>>>,
        out: mpsc::Sender<io::Result<Bytes>>,
    ) -> PyResult<()> {
        let env = PyDict::new(py);
        for (k, v) in &environ {
            env.set_item(k, latin1(v))?;
        }
        if !env.contains("PATH_INFO")? {
            env.set_item("PATH_INFO", "")?;
        }
        let https = environ.iter().any(|(k, _)| k == "HTTPS");
        env.set_item("wsgi.version", (1, 0))?;
        env.set_item("wsgi.url_scheme", if https { "https" } else { "http" })?;
        env.set_item("wsgi.multithread", true)?;
        env.set_item("wsgi.multiprocess", false)?;
        env.set_item("wsgi.run_once", false)?;
        env.set_item("wsgi.input_terminated", true)?;

        let input = Mutex::new(input);
        let fetch = PyCFunction::new_closure(
            py,
            Some(c"fetch"),
            None,
            move |args: &Bound<'_, PyTuple>,
                  _: Option<&Bound<'_, PyDict>>|
                  -> PyResult<Py<PyAny>> {
                let py = args.py();
                let next = py.detach(|| input.lock().ok().and_then(|mut rx| rx.blocking_recv()));
                match next {
                    Some(Ok(b)) => Ok(PyBytes::new(py, &b).into_any().unbind()),
                    None => Ok(PyBytes::new(py, b"").into_any().unbind()),
                    Some(Err(e)) => Err(PyIOError::new_err(e)),
                }
            },
        )?;
        let head_fn = PyCFunction::new_closure(
            py,
            Some(c"head"),
            None,
            move |args: &Bound<'_, PyTuple>, _: Option<&Bound<'_, PyDict>>| -> PyResult<()> {
                let (status, headers): (String, Vec<(String, String)>) = args.extract()?;
                if let Some(tx) = head.lock().ok().and_then(|mut h| h.take()) {
                    let _ = tx.send(Head { status, headers });
                }
                Ok(())
            },
        )?;
        let send = PyCFunction::new_closure(
            py,
            Some(c"send"),
            None,
            move |args: &Bound<'_, PyTuple>, _: Option<&Bound<'_, PyDict>>| -> PyResult<bool> {
                let py = args.py();
                let item = args.get_item(0)?;
                let data = Bytes::copy_from_slice(item.cast::<PyBytes>()?.as_bytes());
                Ok(py.detach(|| out.blocking_send(Ok(data)).is_ok()))
            },
        )?;
        let log = PyCFunction::new_closure(
            py,
            Some(c"log"),
            None,
            |args: &Bound<'_, PyTuple>, _: Option<&Bound<'_, PyDict>>| -> PyResult<()> {
                let (text,): (String,) = args.extract()?;
                if text.starts_with("Traceback") {
                    log::error!("python: {text}");
                } else {
                    log::warn!("python: {text}");
                }
                Ok(())
            },
        )?;
        self.shim
            .bind(py)
            .call_method1("run", (self.app.bind(py), env, fetch, head_fn, send, log))?;
        Ok(())
    }
}

/// PEP 3333 "native strings": each byte one character.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

/// Copy the request body into the channel `fetch()` reads.
async fn feed(mut body: RequestBody, tx: mpsc::Sender<Result<Bytes, String>>) {
    loop {
        let next = match body.chunk().await {
            Ok(Some(b)) => Ok(b),
            Ok(None) => return,
            Err(e) => Err(e.to_string()),
        };
        let failed = next.is_err();
        if tx.send(next).await.is_err() || failed {
            return;
        }
    }
}

/// The response body: chunks sent by the application.
pub struct ChannelBody(pub mpsc::Receiver<io::Result<Bytes>>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
