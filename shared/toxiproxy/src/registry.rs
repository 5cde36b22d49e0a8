//! The proxies this server runs, each one a noxious proxy task, and the operations of the API.
//!
//! A proxy that is enabled has a running noxious task; disabling it stops that task, which closes
//! the listener and every open connection (what Toxiproxy does, and what makes a "cut" real for
//! clients that keep connections open, like Kafka's). Toxics are kept here in the order they were
//! added, handed to noxious at start and streamed to the running task on every change, so they
//! also act on connections already open.

use std::collections::BTreeMap;
use std::net::ToSocketAddrs;
use std::sync::Arc;

use noxious::proxy::{ProxyConfig, ProxyRunner, Runner, Toxics};
use noxious::signal::{Close, Stop, Stopper};
use noxious::toxic::{StreamDirection, ToxicEvent, ToxicEventKind, ToxicEventResult};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::model::{ProxySpec, ToxicError, ToxicSpec};

/// What the API can refuse; the messages are Toxiproxy's where it has one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("proxy not found")]
    ProxyNotFound,
    #[error("proxy already exists")]
    ProxyExists,
    #[error("toxic not found")]
    ToxicNotFound,
    #[error("toxic already exists")]
    ToxicExists,
    #[error("missing required field: {0}")]
    MissingField(&'static str),
    #[error("bad request body")]
    BadBody,
    #[error(transparent)]
    Toxic(#[from] ToxicError),
    #[error("listen {listen}: {source}")]
    Listen {
        listen: String,
        source: std::io::Error,
    },
    #[error("the proxy task for {0} is gone")]
    ProxyTaskGone(String),
}

/// All proxies, shared by the HTTP handlers. Cloning shares the same proxies.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    proxies: Arc<Mutex<BTreeMap<String, Entry>>>,
}

#[derive(Debug)]
struct Entry {
    spec: ProxySpec,
    running: Option<Running>,
}

/// Handles on one running noxious proxy task.
#[derive(Debug)]
struct Running {
    stopper: Stopper,
    closed: Close,
    events: bmrng::RequestSender<ToxicEvent, ToxicEventResult>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    pub async fn list(&self) -> BTreeMap<String, ProxySpec> {
        let proxies = self.proxies.lock().await;
        proxies
            .iter()
            .map(|(name, entry)| (name.clone(), entry.spec.clone()))
            .collect()
    }

    pub async fn get(&self, name: &str) -> Result<ProxySpec, Error> {
        let proxies = self.proxies.lock().await;
        proxies
            .get(name)
            .map(|entry| entry.spec.clone())
            .ok_or(Error::ProxyNotFound)
    }

    /// Creates and (unless `enabled: false`) starts a proxy. A listen port of 0 is bound to a free
    /// port, and the spec returned names it.
    pub async fn create(&self, spec: ProxySpec) -> Result<ProxySpec, Error> {
        let mut proxies = self.proxies.lock().await;
        if proxies.contains_key(&spec.name) {
            return Err(Error::ProxyExists);
        }
        let entry = Entry::start(spec).await?;
        let spec = entry.spec.clone();
        proxies.insert(spec.name.clone(), entry);
        Ok(spec)
    }

    /// Creates or replaces each proxy, as Toxiproxy's `POST /populate`: one with the same listen
    /// and upstream is kept (only `enabled` is applied), one that differs is recreated.
    pub async fn populate(&self, specs: Vec<ProxySpec>) -> Result<Vec<ProxySpec>, Error> {
        let mut proxies = self.proxies.lock().await;
        let mut result = Vec::with_capacity(specs.len());
        for spec in specs {
            let unchanged = proxies.get(&spec.name).is_some_and(|entry| {
                entry.spec.upstream == spec.upstream
                    && same_listen(&entry.spec.listen, &spec.listen)
            });
            if unchanged {
                let entry = proxies.get_mut(&spec.name).expect("checked above");
                entry.set_enabled(spec.enabled).await?;
                result.push(entry.spec.clone());
                continue;
            }
            if let Some(old) = proxies.remove(&spec.name) {
                old.stop().await;
            }
            let entry = Entry::start(spec).await?;
            result.push(entry.spec.clone());
            proxies.insert(entry.spec.name.clone(), entry);
        }
        Ok(result)
    }

    /// Applies `{"listen"?, "upstream"?, "enabled"?}` to a proxy. Disabling cuts every connection.
    pub async fn update(&self, name: &str, body: &Value) -> Result<ProxySpec, Error> {
        let object = body.as_object().ok_or(Error::BadBody)?;
        let field = |key: &str| object.get(key).filter(|value| !value.is_null());
        let mut proxies = self.proxies.lock().await;
        let entry = proxies.get_mut(name).ok_or(Error::ProxyNotFound)?;
        let mut next = entry.spec.clone();
        if let Some(listen) = field("listen") {
            next.listen = listen.as_str().ok_or(Error::BadBody)?.to_owned();
        }
        if let Some(upstream) = field("upstream") {
            next.upstream = upstream.as_str().ok_or(Error::BadBody)?.to_owned();
        }
        if let Some(enabled) = field("enabled") {
            next.enabled = enabled.as_bool().ok_or(Error::BadBody)?;
        }
        if next.upstream != entry.spec.upstream || !same_listen(&entry.spec.listen, &next.listen) {
            // A new address needs a new listener: stop the old task and start from the new spec.
            let old = proxies.remove(name).expect("looked up above");
            old.stop().await;
            let entry = Entry::start(next).await?;
            let spec = entry.spec.clone();
            proxies.insert(spec.name.clone(), entry);
            return Ok(spec);
        }
        entry.set_enabled(next.enabled).await?;
        Ok(entry.spec.clone())
    }

    pub async fn delete(&self, name: &str) -> Result<(), Error> {
        let entry = self
            .proxies
            .lock()
            .await
            .remove(name)
            .ok_or(Error::ProxyNotFound)?;
        entry.stop().await;
        Ok(())
    }

    /// Enables every proxy and removes every toxic (`POST /reset`).
    pub async fn reset(&self) -> Result<(), Error> {
        let mut proxies = self.proxies.lock().await;
        for entry in proxies.values_mut() {
            while let Some(toxic) = entry.spec.toxics.first().map(|toxic| toxic.name.clone()) {
                entry.remove_toxic(&toxic).await?;
            }
            entry.set_enabled(true).await?;
        }
        Ok(())
    }

    /// Stops every proxy task (server shutdown); the proxies stay listed.
    pub async fn stop_all(&self) {
        let mut proxies = self.proxies.lock().await;
        for entry in proxies.values_mut() {
            if let Some(running) = entry.running.take() {
                running.stop().await;
            }
        }
    }

    pub async fn toxics(&self, proxy: &str) -> Result<Vec<ToxicSpec>, Error> {
        Ok(self.get(proxy).await?.toxics)
    }

    pub async fn toxic(&self, proxy: &str, toxic: &str) -> Result<ToxicSpec, Error> {
        self.get(proxy)
            .await?
            .toxics
            .into_iter()
            .find(|candidate| candidate.name == toxic)
            .ok_or(Error::ToxicNotFound)
    }

    pub async fn add_toxic(&self, proxy: &str, body: &Value) -> Result<ToxicSpec, Error> {
        let mut proxies = self.proxies.lock().await;
        let entry = proxies.get_mut(proxy).ok_or(Error::ProxyNotFound)?;
        let toxic = ToxicSpec::from_create_body(body)?;
        if entry
            .spec
            .toxics
            .iter()
            .any(|existing| existing.name == toxic.name)
        {
            return Err(Error::ToxicExists);
        }
        entry
            .send(ToxicEventKind::AddToxic(toxic.to_noxious()?))
            .await?;
        entry.spec.toxics.push(toxic.clone());
        Ok(toxic)
    }

    pub async fn update_toxic(
        &self,
        proxy: &str,
        name: &str,
        body: &Value,
    ) -> Result<ToxicSpec, Error> {
        let mut proxies = self.proxies.lock().await;
        let entry = proxies.get_mut(proxy).ok_or(Error::ProxyNotFound)?;
        let index = entry.toxic_index(name)?;
        let current = &entry.spec.toxics[index];
        let updated = current.merged(body)?;
        if updated.stream == current.stream {
            entry
                .send(ToxicEventKind::UpdateToxic(updated.to_noxious()?))
                .await?;
        } else {
            // noxious keeps one list per direction; moving a toxic is a remove and an add.
            entry
                .send(ToxicEventKind::RemoveToxic(name.to_owned()))
                .await?;
            entry
                .send(ToxicEventKind::AddToxic(updated.to_noxious()?))
                .await?;
        }
        entry.spec.toxics[index] = updated.clone();
        Ok(updated)
    }

    pub async fn remove_toxic(&self, proxy: &str, name: &str) -> Result<(), Error> {
        let mut proxies = self.proxies.lock().await;
        let entry = proxies.get_mut(proxy).ok_or(Error::ProxyNotFound)?;
        entry.remove_toxic(name).await
    }
}

impl Entry {
    /// Checks a new spec, binds its listener when enabled, and returns the entry.
    async fn start(mut spec: ProxySpec) -> Result<Self, Error> {
        if spec.name.is_empty() {
            return Err(Error::MissingField("name"));
        }
        if spec.upstream.is_empty() {
            return Err(Error::MissingField("upstream"));
        }
        if spec.listen.is_empty() {
            return Err(Error::MissingField("listen"));
        }
        spec.listen = resolve_listen(&spec.listen)?;
        let mut seen = std::collections::HashSet::new();
        for toxic in &mut spec.toxics {
            *toxic = toxic.merged(&Value::Object(Default::default()))?;
            if !seen.insert(toxic.name.clone()) {
                return Err(Error::ToxicExists);
            }
        }
        let mut entry = Self {
            spec,
            running: None,
        };
        if entry.spec.enabled {
            entry.running = Some(Running::start(&entry.spec).await?);
        }
        Ok(entry)
    }

    async fn set_enabled(&mut self, enabled: bool) -> Result<(), Error> {
        match (enabled, self.running.take()) {
            (true, None) => self.running = Some(Running::start(&self.spec).await?),
            (false, Some(running)) => running.stop().await,
            (_, running) => self.running = running,
        }
        self.spec.enabled = enabled;
        Ok(())
    }

    fn toxic_index(&self, name: &str) -> Result<usize, Error> {
        self.spec
            .toxics
            .iter()
            .position(|toxic| toxic.name == name)
            .ok_or(Error::ToxicNotFound)
    }

    async fn remove_toxic(&mut self, name: &str) -> Result<(), Error> {
        let index = self.toxic_index(name)?;
        self.send(ToxicEventKind::RemoveToxic(name.to_owned()))
            .await?;
        self.spec.toxics.remove(index);
        Ok(())
    }

    /// Streams a toxic change to the running task; a stopped proxy picks toxics up at start.
    async fn send(&mut self, kind: ToxicEventKind) -> Result<(), Error> {
        let Some(running) = &mut self.running else {
            return Ok(());
        };
        let event = ToxicEvent::new(self.spec.name.clone(), kind);
        match running.events.send_receive(event).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Error::ToxicNotFound),
            Err(_) => Err(Error::ProxyTaskGone(self.spec.name.clone())),
        }
    }

    async fn stop(self) {
        if let Some(running) = self.running {
            running.stop().await;
        }
    }
}

impl Running {
    async fn start(spec: &ProxySpec) -> Result<Self, Error> {
        let config = ProxyConfig {
            name: spec.name.clone(),
            listen: spec.listen.clone(),
            upstream: spec.upstream.clone(),
            enabled: true,
            rand_seed: None,
        };
        let mut toxics = Toxics::empty();
        for toxic in &spec.toxics {
            let toxic = toxic.to_noxious()?;
            match toxic.direction {
                StreamDirection::Upstream => toxics.upstream.push(toxic),
                StreamDirection::Downstream => toxics.downstream.push(toxic),
            }
        }
        let (listener, info) =
            ProxyRunner::initialize_proxy::<noxious::socket::TcpListener>(config, toxics)
                .await
                .map_err(|source| Error::Listen {
                    listen: spec.listen.clone(),
                    source,
                })?;
        let (stop, stopper) = Stop::new();
        let (closed, closer) = Close::new();
        let (events, receiver) = bmrng::channel(1);
        let name = spec.name.clone();
        tokio::spawn(async move {
            if let Err(error) = ProxyRunner::run_proxy(listener, info, receiver, stop, closer).await
            {
                tracing::warn!(proxy = %name, %error, "proxy stopped accepting connections");
            }
        });
        Ok(Self {
            stopper,
            closed,
            events,
        })
    }

    /// Stops accepting, closes every open connection, and waits until the listener is released
    /// (so the same address can be bound again at once).
    async fn stop(self) {
        self.stopper.stop();
        let _ = self.closed.recv().await;
    }
}

/// Replaces a port of 0 with a free port, so the proxy keeps the same address across disable and
/// enable. (noxious binds by address string and does not report the port it got; the probe-then-
/// bind window is a few microseconds on loopback.)
fn resolve_listen(listen: &str) -> Result<String, Error> {
    let listen_error = |source| Error::Listen {
        listen: listen.to_owned(),
        source,
    };
    let address = listen
        .to_socket_addrs()
        .map_err(listen_error)?
        .next()
        .ok_or_else(|| listen_error(std::io::ErrorKind::AddrNotAvailable.into()))?;
    if address.port() != 0 {
        return Ok(listen.to_owned());
    }
    let probe = std::net::TcpListener::bind(address).map_err(listen_error)?;
    Ok(probe.local_addr().map_err(listen_error)?.to_string())
}

/// A listen of port 0 matches whatever port was bound for it.
fn same_listen(current: &str, requested: &str) -> bool {
    current == requested
        || requested
            .rsplit_once(':')
            .zip(current.rsplit_once(':'))
            .is_some_and(|((requested_host, port), (current_host, _))| {
                port == "0" && requested_host == current_host
            })
}
