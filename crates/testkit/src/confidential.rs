//! What the confidentiality tests share (local datasets, keepers, TEE workers, encrypted apps):
//! scanning files for bytes that must not be there, recording every byte a worker sends (TCP
//! proxies in front of the services it talks to), the pool administrator's calls that confine a
//! dataset to its owner's private worker, and an encrypted TEE app.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use alloy::primitives::{Address, B256, Bytes};
use decloud_chain::client::Client;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fixtures::FixtureError;
use crate::logs::contains;
use crate::pool::{APP_OWNER, Pool};

/// Every file under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path).is_ok_and(|b| contains(&b, needle)) {
                found.push(path);
            }
        }
    }
    found
}

/// Every byte the clients of its proxies sent, one buffer for all of them.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<u8>>>);

impl Recorder {
    /// Everything recorded so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().map(|b| b.clone()).unwrap_or_default()
    }

    /// A TCP proxy in front of the service at `url` recording what its clients send; returns
    /// `url` pointed at the proxy. The service must speak plain HTTP for the recording to hold
    /// the requests' bodies (`PoolOptions::plain_http`).
    pub async fn proxy(&self, url: &str) -> Result<String, FixtureError> {
        let (_, upstream) = through(url, "x");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| FixtureError::Service(format!("cannot bind a proxy: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| FixtureError::Service(format!("cannot bind a proxy: {e}")))?;
        let sent = self.0.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let (upstream, sent) = (upstream.clone(), sent.clone());
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.split();
                    let (mut sr, mut sw) = server.split();
                    let up = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            match cr.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if let Ok(mut kept) = sent.lock() {
                                        kept.extend_from_slice(&buf[..n]);
                                    }
                                    if sw.write_all(&buf[..n]).await.is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = sw.shutdown().await;
                    };
                    let down = async {
                        let _ = tokio::io::copy(&mut sr, &mut cw).await;
                        let _ = cw.shutdown().await;
                    };
                    tokio::join!(up, down);
                });
            }
        });
        Ok(through(url, &addr.to_string()).0)
    }
}

/// `url` with its host:port replaced by `proxy`, and that host:port.
fn through(url: &str, proxy: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
    let host = host.split('#').next().unwrap_or_default().to_owned();
    let path = if path.is_empty() {
        String::new()
    } else {
        format!("/{path}")
    };
    (format!("{scheme}://{proxy}{path}"), host)
}

/// A call to a pool's API: its status and its JSON body (or its text as a JSON string).
pub async fn call(
    url: &str,
    token: Option<&str>,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, Value), FixtureError> {
    let (url, http) = decloud_service::transport::api_client(url)
        .map_err(|e| FixtureError::Transport(e.to_string()))?;
    let mut request = match &body {
        Some(b) => http.post(format!("{url}{path}")).json(b),
        None => http.get(format!("{url}{path}")),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await?;
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Ok((status, value))
}

/// As the pool's administrator (`admin_password`, `PoolOptions::pool_admin_password`): makes
/// the user `ann` (the dataset's owner in the pool), admits `worker` to the pool on chain,
/// declares it ann's private worker and confines `dataset` to ann, so the scheduler hands a
/// task on `dataset` to `worker` only.
pub async fn confine_to_owner(
    pool: &Pool,
    admin_password: &str,
    dataset: Address,
    worker: Address,
) -> Result<(), FixtureError> {
    let scheduler = pool
        .scheduler_url()
        .ok_or_else(|| FixtureError::Service("the scheduler is not running".into()))?;
    let expect = |what: &str, (status, body): (u16, Value)| {
        if status == 200 {
            Ok(body)
        } else {
            Err(FixtureError::Failed(format!("{what}: {status} {body}")))
        }
    };
    let admin = expect(
        "the administrator's login",
        call(
            &scheduler,
            None,
            "/v1/pool/login/password",
            Some(json!({"login": "admin", "password": admin_password})),
        )
        .await?,
    )?;
    let admin = admin["token"].as_str().unwrap_or_default().to_owned();
    expect(
        "making the user ann",
        call(
            &scheduler,
            Some(&admin),
            "/v1/pool/users",
            Some(json!({"name": "ann", "password": "ann's password"})),
        )
        .await?,
    )?;
    crate::pool::admit(pool, worker, 1)
        .await
        .map_err(|e| FixtureError::Failed(format!("admitting the owner's worker: {e}")))?;
    expect(
        "declaring ann's private worker",
        call(
            &scheduler,
            Some(&admin),
            "/v1/pool/workers",
            Some(json!({"address": worker, "owner": "ann", "confinement": "private"})),
        )
        .await?,
    )?;
    expect(
        "confining the dataset to ann",
        call(
            &scheduler,
            Some(&admin),
            "/v1/pool/onchain",
            Some(json!({"address": dataset, "kind": "dataset", "owner": "ann", "confinement": "private"})),
        )
        .await?,
    )?;
    Ok(())
}

/// Encrypts `wasm` to a fresh identity, uploads only the ciphertext to the pool's storage and
/// registers it as a TEE app of [`APP_OWNER`] (the `sim` runner's measurement, the plaintext's
/// checksum, uri `age:...`); returns the app and the identity, which the test then gives to the
/// key holders (`decloud_client::secret::push_app_key`).
pub async fn deploy_encrypted_tee_app(
    pool: &Pool,
    name: &str,
    wasm: &[u8],
) -> Result<(Address, decloud_age::Identity), FixtureError> {
    let failed = |what: &str| {
        let what = what.to_owned();
        move |e: &dyn std::fmt::Display| FixtureError::Failed(format!("{what}: {e}"))
    };
    let identity =
        decloud_age::Identity::generate().map_err(|e| failed("making the app's key")(&e))?;
    let sealed = decloud_client::encrypted_app::seal(wasm, &identity)
        .map_err(|e| failed("encrypting the app")(&e))?;
    let store = decloud_storage::BlobStore::from_url(&pool.storage_url)?;
    let id = store.put(Bytes::from(sealed.ciphertext)).await?;
    let uri = decloud_client::encrypted_app::registered_uri(&store.url_of(&id));
    let developer = Client::connect(
        &pool.profile,
        None,
        Some(decloud_chain::accounts::dev_signer(APP_OWNER)),
    )
    .await
    .map_err(|e| failed("connecting as the app developer")(&e))?;
    let mrenclave = B256::from(decloud_tee::sim::sim_runner_measurements().measurement().0);
    let app =
        decloud_chain::actions::register_app(&developer, name, &uri, sealed.checksum, mrenclave)
            .await
            .map_err(|e| failed("registering the app")(&e))?;
    Ok((app, identity))
}
