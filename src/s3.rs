//! The S3 client every S3-backed part of blockform shares (the `s3` state back end,
//! `state/s3.rs`, and the `s3` backup store, `backup/s3_store.rs`): where a bucket is
//! ([`S3Location`]), the credentials (from the environment or the AWS credential files, never
//! from the configuration or the state), and blocking calls for what they need (get, put,
//! create-if-absent with `If-None-Match: *`, delete, list, multipart upload), with the errors
//! users see ([`S3Error`]).
//!
//! The protocol (request signing, retries of transient errors with backoff, multipart uploads,
//! conditional writes) is the `object_store` crate's `AmazonS3`, run on a runtime of this
//! module's own, so that callers need not be async.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig,
};

/// The region used when neither the configuration nor `AWS_REGION` names one (RGW accepts any).
pub const DEFAULT_REGION: &str = "us-east-1";

/// Where a bucket is and which prefix of it is ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket (it must exist).
    pub bucket: String,
    /// The prefix of every object blockform writes there, without leading or trailing `/`
    /// (`prod/storage`); may be empty.
    pub prefix: String,
    /// The endpoint URL (`https://rgw.example:7480`); `None` is `AWS_ENDPOINT_URL` or AWS.
    pub endpoint: Option<String>,
    /// The region; `None` is `AWS_REGION`, `AWS_DEFAULT_REGION` or `us-east-1`.
    pub region: Option<String>,
}

impl S3Location {
    /// `s3://BUCKET/PREFIX`, for messages.
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    /// The key of `name` under the prefix.
    pub fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    /// The endpoint in use, for messages.
    pub fn endpoint_for_messages(&self) -> String {
        self.endpoint
            .clone()
            .or_else(|| env_value("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| "AWS S3".to_owned())
    }
}

/// How patient a client is with an endpoint that does not answer or answers with a transient
/// error.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    /// Retries of one request.
    pub retries: usize,
    /// The longest time spent retrying one request.
    pub retry_for: Duration,
    /// The longest wait for one request's answer.
    pub request_timeout: Duration,
}

impl Patience {
    /// For the state: a clear error within seconds when the endpoint is down.
    pub const STATE: Patience = Patience {
        retries: 3,
        retry_for: Duration::from_secs(6),
        request_timeout: Duration::from_secs(30),
    };
    /// For backups: bulk transfers that ride out a short hiccup.
    pub const BULK: Patience = Patience {
        retries: 6,
        retry_for: Duration::from_secs(30),
        request_timeout: Duration::from_secs(300),
    };
}

/// What went wrong talking to S3.
#[derive(Debug, Clone, thiserror::Error)]
#[error("S3 {operation} of `{url}` at {endpoint} failed: {message}")]
pub struct S3Error {
    /// What was being done (`GET`, `PUT`, `LIST`, `DELETE`, `access` when no client could be made).
    pub operation: &'static str,
    /// The object or prefix, as `s3://bucket/key`.
    pub url: String,
    /// The endpoint.
    pub endpoint: String,
    /// What the client or the server said.
    pub message: String,
    /// The kind of failure.
    pub kind: S3ErrorKind,
}

/// The kinds of [`S3Error`] callers act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3ErrorKind {
    /// No credentials were found.
    Credentials,
    /// The bucket does not exist.
    NoBucket,
    /// The server refused the credentials.
    Denied,
    /// Anything else (the endpoint unreachable included).
    Other,
}

impl S3Error {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self.kind {
            S3ErrorKind::Credentials => "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for \
                                         temporary keys), or put them in ~/.aws/credentials (AWS_PROFILE picks the \
                                         profile); credentials never go into the configuration"
                .to_owned(),
            S3ErrorKind::NoBucket => format!(
                "create the bucket first, for instance `aws --endpoint-url {} s3 mb s3://{}`",
                self.endpoint,
                self.url.trim_start_matches("s3://").split('/').next().unwrap_or("")
            ),
            S3ErrorKind::Denied => {
                "check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or ~/.aws/credentials) and that \
                 they may use this bucket"
                    .to_owned()
            }
            S3ErrorKind::Other => format!(
                "check that the endpoint {} is up and reachable from here; nothing was recorded as done",
                self.endpoint
            ),
        }
    }
}

/// A client for one bucket.
#[derive(Debug, Clone)]
pub struct S3Client {
    store: Arc<AmazonS3>,
    location: S3Location,
    endpoint: String,
}

/// The result of a conditional create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// The object was written.
    Written,
    /// An object was there already; nothing was written.
    Exists,
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its key, without the prefix of the listing's location.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

impl S3Client {
    /// A client for `location`, with credentials from the environment or the AWS credential
    /// files. Nothing is sent yet.
    pub fn new(location: &S3Location, patience: Patience) -> Result<S3Client, S3Error> {
        let endpoint = location.endpoint_for_messages();
        let fail = |kind, message: String| S3Error {
            operation: "access",
            url: location.url(),
            endpoint: endpoint.clone(),
            message,
            kind,
        };
        let credentials = credentials().map_err(|message| fail(S3ErrorKind::Credentials, message))?;
        let region = location
            .region
            .clone()
            .or_else(|| env_value("AWS_REGION"))
            .or_else(|| env_value("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| DEFAULT_REGION.to_owned());
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&location.bucket)
            .with_region(region)
            .with_access_key_id(credentials.access_key)
            .with_secret_access_key(credentials.secret_key)
            .with_virtual_hosted_style_request(false)
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(4),
                    base: 2.0,
                },
                max_retries: patience.retries,
                retry_timeout: patience.retry_for,
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(3))
                    .with_timeout(patience.request_timeout)
                    .with_allow_http(true),
            );
        if let Some(token) = credentials.session_token {
            builder = builder.with_token(token);
        }
        if let Some(url) = location.endpoint.clone().or_else(|| env_value("AWS_ENDPOINT_URL")) {
            builder = builder.with_endpoint(url.trim_end_matches('/'));
        }
        let store = builder
            .build()
            .map_err(|error| fail(S3ErrorKind::Other, error.to_string()))?;
        Ok(S3Client {
            store: Arc::new(store),
            location: location.clone(),
            endpoint,
        })
    }

    /// Where this client works.
    pub fn location(&self) -> &S3Location {
        &self.location
    }

    fn path(&self, name: &str) -> ObjectPath {
        ObjectPath::from(self.location.key(name))
    }

    fn error(&self, operation: &'static str, name: &str, error: &object_store::Error) -> S3Error {
        let message = error_chain(error);
        let kind = if message.contains("NoSuchBucket") {
            S3ErrorKind::NoBucket
        } else if message.contains("InvalidAccessKeyId")
            || message.contains("SignatureDoesNotMatch")
            || message.contains("AccessDenied")
            || matches!(
                error,
                object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }
            )
        {
            S3ErrorKind::Denied
        } else {
            S3ErrorKind::Other
        };
        let message = if kind == S3ErrorKind::NoBucket {
            format!("the bucket `{}` does not exist (NoSuchBucket)", self.location.bucket)
        } else {
            message
        };
        S3Error {
            operation,
            url: format!("s3://{}/{}", self.location.bucket, self.location.key(name)),
            endpoint: self.endpoint.clone(),
            message,
            kind,
        }
    }

    /// The object `name` (under the prefix), or `None` when there is none.
    pub fn get(&self, name: &str) -> Result<Option<Bytes>, S3Error> {
        let (store, path) = (Arc::clone(&self.store), self.path(name));
        let result = block_on(async move {
            match store.get(&path).await {
                Ok(found) => found.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(error) => Err(error),
            }
        });
        result.map_err(|e| self.error("GET", name, &e))
    }

    /// Bytes `range` of the object `name`.
    pub fn get_range(&self, name: &str, range: std::ops::Range<u64>) -> Result<Bytes, S3Error> {
        let (store, path) = (Arc::clone(&self.store), self.path(name));
        block_on(async move { store.get_range(&path, range).await }).map_err(|e| self.error("GET", name, &e))
    }

    /// The size of `name`, or `None` when there is no such object.
    pub fn head(&self, name: &str) -> Result<Option<u64>, S3Error> {
        let (store, path) = (Arc::clone(&self.store), self.path(name));
        let result = block_on(async move {
            match store.head(&path).await {
                Ok(meta) => Ok(Some(meta.size)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(error) => Err(error),
            }
        });
        result.map_err(|e| self.error("HEAD", name, &e))
    }

    /// Writes `name`, replacing any object there.
    pub fn put(&self, name: &str, bytes: Bytes) -> Result<(), S3Error> {
        let (store, path) = (Arc::clone(&self.store), self.path(name));
        block_on(async move { store.put(&path, PutPayload::from_bytes(bytes)).await.map(|_| ()) })
            .map_err(|e| self.error("PUT", name, &e))
    }

    /// Writes `name` only if there is no object there (`If-None-Match: *`): of two writers of
    /// one key, exactly one gets [`Created::Written`].
    pub fn create(&self, name: &str, bytes: Bytes) -> Result<Created, S3Error> {
        let (store, path) = (Arc::clone(&self.store), self.path(name));
        let result = block_on(async move {
            let options = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            match store.put_opts(&path, PutPayload::from_bytes(bytes), options).await {
                Ok(_) => Ok(Created::Written),
                Err(object_store::Error::AlreadyExists { .. }) => Ok(Created::Exists),
                Err(error) => Err(error),
            }
        });
        result.map_err(|e| self.error("PUT", name, &e))
    }

    /// Removes `name`; removing an object that is not there is no error.
    pub fn delete(&self, name: &str) -> Result<(), S3Error> {
        let (store, path) = (Arc::clone(&self.store), self.path(name));
        let result = block_on(async move {
            match store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(error) => Err(error),
            }
        });
        result.map_err(|e| self.error("DELETE", name, &e))
    }

    /// The objects under `dir/` (relative to the prefix), by name relative to the prefix, in
    /// key order; with `after`, only those whose name sorts after it (S3's `start-after`).
    pub fn list(&self, dir: &str, after: Option<&str>) -> Result<Vec<Listed>, S3Error> {
        let (store, path) = (Arc::clone(&self.store), self.path(dir));
        let offset = after.map(|name| self.path(name));
        let base = if self.location.prefix.is_empty() {
            0
        } else {
            self.location.prefix.len() + 1
        };
        let result = block_on(async move {
            let stream = match &offset {
                Some(offset) => store.list_with_offset(Some(&path), offset),
                None => store.list(Some(&path)),
            };
            stream.try_collect::<Vec<_>>().await
        });
        let mut listed: Vec<Listed> = result
            .map_err(|e| self.error("LIST", dir, &e))?
            .into_iter()
            .map(|meta| Listed {
                name: meta.location.as_ref()[base..].to_owned(),
                size: meta.size,
            })
            .collect();
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listed)
    }

    /// Checks that the bucket exists and these credentials may list it (one listing of the
    /// top level under the prefix): a missing bucket reads as "no object" to `HEAD` and `GET`.
    pub fn check_bucket(&self) -> Result<(), S3Error> {
        let store = Arc::clone(&self.store);
        let prefix = (!self.location.prefix.is_empty()).then(|| ObjectPath::from(self.location.prefix.as_str()));
        block_on(async move { store.list_with_delimiter(prefix.as_ref()).await.map(|_| ()) })
            .map_err(|e| self.error("LIST", "", &e))
    }

    /// Writes `name` from `parts` in one multipart upload (the parts uploaded `parallel` at a
    /// time); the object appears only when every part is uploaded, and a failed upload is
    /// aborted.
    pub fn put_multipart(&self, name: &str, parts: Vec<Bytes>, parallel: usize) -> Result<(), S3Error> {
        let (store, path) = (Arc::clone(&self.store), self.path(name));
        let result = block_on(async move {
            let mut upload = store.put_multipart(&path).await?;
            let uploads: Vec<_> = parts
                .into_iter()
                .map(|part| upload.put_part(PutPayload::from_bytes(part)))
                .collect();
            let sent = futures::stream::iter(uploads)
                .buffer_unordered(parallel.max(1))
                .try_collect::<Vec<()>>()
                .await;
            match sent {
                Ok(_) => upload.complete().await.map(|_| ()),
                Err(error) => {
                    let _ = upload.abort().await;
                    Err(error)
                }
            }
        });
        result.map_err(|e| self.error("PUT", name, &e))
    }

    /// Runs `work` for each item, `parallel` at a time, on this client's runtime; the first
    /// error ends it.
    pub fn for_each_parallel<T, R, F, Fut>(&self, items: Vec<T>, parallel: usize, work: F) -> Result<Vec<R>, S3Error>
    where
        T: Send + 'static,
        R: Send + 'static,
        F: Fn(S3Client, T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, S3Error>> + Send + 'static,
    {
        let client = self.clone();
        block_on(async move {
            futures::stream::iter(items.into_iter().map(|item| work(client.clone(), item)))
                .buffered(parallel.max(1))
                .try_collect::<Vec<R>>()
                .await
        })
    }

    /// The object `name`, for use inside [`S3Client::for_each_parallel`].
    pub async fn get_async(&self, name: &str) -> Result<Option<Bytes>, S3Error> {
        match self.store.get(&self.path(name)).await {
            Ok(found) => found.bytes().await.map(Some).map_err(|e| self.error("GET", name, &e)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(self.error("GET", name, &error)),
        }
    }

    /// Removes `name` (no error when it is not there), for use inside
    /// [`S3Client::for_each_parallel`].
    pub async fn delete_async(&self, name: &str) -> Result<(), S3Error> {
        match self.store.delete(&self.path(name)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(self.error("DELETE", name, &error)),
        }
    }

    /// Writes `name`, for use inside [`S3Client::for_each_parallel`].
    pub async fn put_async(&self, name: &str, bytes: Bytes) -> Result<(), S3Error> {
        self.store
            .put(&self.path(name), PutPayload::from_bytes(bytes))
            .await
            .map(|_| ())
            .map_err(|e| self.error("PUT", name, &e))
    }
}

/// The error and its causes, on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// Runs `future` on this module's runtime and waits for it, from any thread (a caller inside
/// another runtime included: the work runs on threads of its own).
fn block_on<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> T {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .thread_name("blockform-s3")
            .enable_all()
            .build()
            .expect("a tokio runtime can be built")
    });
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = sender.send(future.await);
    });
    receiver.recv().expect("the S3 task runs to its end")
}

fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.trim().is_empty())
}

/// Keys to sign requests with.
struct Credentials {
    access_key: String,
    secret_key: String,
    session_token: Option<String>,
}

/// The credentials: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`), else
/// the profile `AWS_PROFILE` (or `default`) of the shared credentials file
/// (`AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`).
fn credentials() -> Result<Credentials, String> {
    if let (Some(access_key), Some(secret_key)) = (env_value("AWS_ACCESS_KEY_ID"), env_value("AWS_SECRET_ACCESS_KEY")) {
        return Ok(Credentials {
            access_key,
            secret_key,
            session_token: env_value("AWS_SESSION_TOKEN"),
        });
    }
    let file = env_value("AWS_SHARED_CREDENTIALS_FILE")
        .map(std::path::PathBuf::from)
        .or_else(|| env_value("HOME").map(|home| std::path::Path::new(&home).join(".aws/credentials")));
    let profile = env_value("AWS_PROFILE").unwrap_or_else(|| "default".to_owned());
    let Some(file) = file else {
        return Err("no credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set".to_owned());
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "no credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set and there is no `{}`",
                file.display()
            ));
        }
        Err(error) => return Err(format!("cannot read `{}`: {error}", file.display())),
    };
    let section = profile_section(&text, &profile);
    match (section.get("aws_access_key_id"), section.get("aws_secret_access_key")) {
        (Some(access_key), Some(secret_key)) => Ok(Credentials {
            access_key: access_key.clone(),
            secret_key: secret_key.clone(),
            session_token: section.get("aws_session_token").cloned(),
        }),
        _ => Err(format!(
            "no credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set and profile `{profile}` of `{}` \
             has no aws_access_key_id and aws_secret_access_key",
            file.display()
        )),
    }
}

/// The `key = value` lines of `[profile]` in an AWS credentials file.
fn profile_section(text: &str, profile: &str) -> std::collections::HashMap<String, String> {
    let mut values = std::collections::HashMap::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim();
            inside = name == profile || name.strip_prefix("profile ").map(str::trim) == Some(profile);
            continue;
        }
        if inside && let Some((key, value)) = line.split_once('=') {
            values.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credentials_file_is_read_by_profile() {
        let text = "[default]\naws_access_key_id = A\naws_secret_access_key = B\n\n[profile ci]\n\
                    aws_access_key_id=C\naws_secret_access_key=D\naws_session_token = T\n";
        let default = profile_section(text, "default");
        assert_eq!(default.get("aws_access_key_id").map(String::as_str), Some("A"));
        assert_eq!(default.get("aws_session_token"), None);
        let ci = profile_section(text, "ci");
        assert_eq!(ci.get("aws_secret_access_key").map(String::as_str), Some("D"));
        assert_eq!(ci.get("aws_session_token").map(String::as_str), Some("T"));
        assert!(profile_section(text, "other").is_empty());
    }

    #[test]
    fn keys_live_under_the_prefix() {
        let mut location = S3Location {
            bucket: "b".to_owned(),
            prefix: "prod/storage".to_owned(),
            endpoint: None,
            region: None,
        };
        assert_eq!(location.key("lock.json"), "prod/storage/lock.json");
        assert_eq!(location.url(), "s3://b/prod/storage");
        location.prefix.clear();
        assert_eq!(location.key("lock.json"), "lock.json");
        assert_eq!(location.url(), "s3://b");
    }
}
