//! A client of Confluent's Schema Registry REST API. A pipeline's subject — its
//! versions, the schemas they reference, its compatibility mode — is mirrored into a
//! cache directory laid out as a local registry, with the registry's own ids kept in
//! `ids.json`; everything downstream reads the mirror. The mirror is fetched again
//! once older than the refresh period, and serves, with a warning, while the registry
//! is unreachable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::compat::Compatibility;
use super::registry::{Reference, SchemaError, SchemaType, subject_dir};

/// Where and how to reach a registry.
#[derive(Debug, Clone)]
pub struct Remote {
    /// Base URL, e.g. `https://registry.example.com:8081`.
    pub url: String,
    /// Basic auth.
    pub user: Option<String>,
    pub password: Option<String>,
    /// A PEM file of extra root certificates (a private CA).
    pub ca: Option<PathBuf>,
    /// How long a mirror is used before it is fetched again.
    pub refresh: Duration,
    pub timeout: Duration,
}

/// Marks when a subject's mirror was last fetched.
const FETCHED: &str = ".fetched";

/// The URL without credentials written into it (`https://user:secret@host`), for
/// messages and file names.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// The cache folder of a registry URL: its host, port and path.
pub fn cache_dir(state: &Path, url: &str) -> PathBuf {
    let safe = redact(url);
    let host = safe
        .split("://")
        .nth(1)
        .unwrap_or(&safe)
        .trim_end_matches('/')
        .replace(['/', ':', '@', '\\'], "_");
    state.join("registry-cache").join(host)
}

/// Mirrors `subject` from `remote` into `dir` (a local registry) unless the mirror is
/// fresher than the refresh period. With the registry down, a mirror of any age serves.
pub fn mirror(remote: &Remote, subject: &str, dir: &Path) -> Result<(), SchemaError> {
    let stamp = dir.join(subject_dir(subject)).join(FETCHED);
    let age = std::fs::metadata(&stamp)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok());
    if age.is_some_and(|a| a < remote.refresh) {
        return Ok(());
    }
    // reqwest is async; the mirror is fetched on a thread of its own, so this works
    // from inside or outside a runtime.
    let fetched = std::thread::scope(|s| {
        s.spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(fetch(remote, subject, dir))
        })
        .join()
        .unwrap_or_else(|_| Err("the registry client panicked".into()))
    });
    match fetched {
        Ok(()) => Ok(()),
        Err(reason) if age.is_some() => {
            tracing::warn!(registry = %redact(&remote.url), subject, %reason, "schema registry unreachable; using the cached copy");
            Ok(())
        }
        Err(reason) => Err(SchemaError::Remote {
            url: redact(&remote.url),
            reason: reason.replace(&remote.url, &redact(&remote.url)),
        }),
    }
}

#[derive(Deserialize)]
struct ApiVersion {
    id: Option<u32>,
    #[serde(default)]
    version: u32,
    schema: String,
    #[serde(rename = "schemaType", default)]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<Reference>,
}

#[derive(Deserialize)]
struct ApiError {
    error_code: i64,
    message: String,
}

struct Client<'a> {
    http: reqwest::Client,
    remote: &'a Remote,
}

impl Client<'_> {
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        let url = format!("{}/{path}", self.remote.url.trim_end_matches('/'));
        let mut request = self.http.get(&url).header(
            "Accept",
            "application/vnd.schemaregistry.v1+json, application/json",
        );
        if let Some(user) = &self.remote.user {
            request = request.basic_auth(user, self.remote.password.as_ref());
        }
        let response = request.send().await.map_err(|e| describe(&e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| describe(&e))?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ApiError>(&body) {
                Ok(e) => format!(
                    "GET {path}: {status}: {} (error code {})",
                    e.message, e.error_code
                ),
                Err(_) => format!("GET {path}: {status}"),
            });
        }
        serde_json::from_slice(&body).map_err(|e| format!("GET {path}: unexpected answer: {e}"))
    }

    async fn version(&self, subject: &str, version: u32) -> Result<ApiVersion, String> {
        let path = format!("subjects/{}/versions/{version}", encode(subject));
        let mut v: ApiVersion = self.get(&path).await?;
        // Older registries answer without the version's number.
        if v.version == 0 {
            v.version = version;
        }
        Ok(v)
    }
}

/// Error text with its causes, e.g. the TLS or connection failure under reqwest's.
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A path segment, with everything but RFC 3986's unreserved characters encoded.
fn encode(segment: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    utf8_percent_encode(segment, SEGMENT).to_string()
}

/// One subject's files, as they will be written.
#[derive(Default)]
struct Mirror {
    files: BTreeMap<String, String>,
    ids: BTreeMap<u32, u32>,
    compatibility: Option<Compatibility>,
}

async fn fetch(remote: &Remote, subject: &str, dir: &Path) -> Result<(), String> {
    let mut builder = reqwest::Client::builder()
        .timeout(remote.timeout)
        .connect_timeout(remote.timeout);
    if let Some(ca) = &remote.ca {
        let pem = std::fs::read(ca).map_err(|e| format!("{}: {e}", ca.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("{}: not a PEM certificate: {e}", ca.display()))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    let client = Client {
        http: builder.build().map_err(|e| describe(&e))?,
        remote,
    };
    let mut mirrors: BTreeMap<String, Mirror> = BTreeMap::new();
    let numbers: Vec<u32> = client
        .get(&format!("subjects/{}/versions", encode(subject)))
        .await?;
    let mut wanted: Vec<(String, u32)> =
        numbers.iter().map(|n| (subject.to_string(), *n)).collect();
    while let Some((s, n)) = wanted.pop() {
        if mirrors.get(&s).is_some_and(|m| m.ids.contains_key(&n)) {
            continue;
        }
        let v = client.version(&s, n).await?;
        let t = match v.schema_type.as_deref().unwrap_or("AVRO") {
            "AVRO" => SchemaType::Avro,
            "JSON" => SchemaType::Json,
            "PROTOBUF" => SchemaType::Protobuf,
            other => {
                return Err(format!(
                    "subject `{s}` version {n}: unknown schema type {other}"
                ));
            }
        };
        let m = mirrors.entry(s.clone()).or_default();
        m.files
            .insert(format!("{}.{}", v.version, t.extension()), v.schema);
        if !v.references.is_empty() {
            let refs = serde_json::to_string_pretty(&v.references).expect("plain data");
            m.files
                .insert(format!("{}.references.json", v.version), refs);
            wanted.extend(v.references.iter().map(|r| (r.subject.clone(), r.version)));
        }
        let id = v.id.ok_or_else(|| {
            format!("subject `{s}` version {n}: the registry's answer has no schema id")
        })?;
        m.ids.insert(v.version, id);
    }
    #[derive(Deserialize)]
    struct Config {
        #[serde(rename = "compatibilityLevel")]
        level: Compatibility,
    }
    let config: Config = client
        .get(&format!("config/{}?defaultToGlobal=true", encode(subject)))
        .await?;
    mirrors
        .entry(subject.to_string())
        .or_default()
        .compatibility = Some(config.level);
    for (s, m) in &mirrors {
        let target = dir.join(subject_dir(s));
        let written = if s == subject {
            write_subject(&target, m)
        } else {
            add_versions(&target, m)
        };
        written.map_err(|e| format!("writing the cache in {}: {e}", dir.display()))?;
    }
    Ok(())
}

/// Adds the versions another subject references to its folder, keeping the others.
fn add_versions(target: &Path, m: &Mirror) -> std::io::Result<()> {
    std::fs::create_dir_all(target)?;
    let ids_path = target.join("ids.json");
    let mut ids: BTreeMap<String, u32> = std::fs::read_to_string(&ids_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    for (file, text) in &m.files {
        std::fs::write(target.join(file), text)?;
    }
    ids.extend(m.ids.iter().map(|(v, id)| (v.to_string(), *id)));
    std::fs::write(
        ids_path,
        serde_json::to_string_pretty(&ids).expect("plain data"),
    )
}

/// Replaces a subject's folder with `m`: written aside, then renamed into place.
fn write_subject(target: &Path, m: &Mirror) -> std::io::Result<()> {
    let parent = target.parent().expect("subject folders have a parent");
    std::fs::create_dir_all(parent)?;
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("subject");
    let aside = parent.join(format!(".{name}.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&aside);
    std::fs::create_dir(&aside)?;
    for (file, text) in &m.files {
        std::fs::write(aside.join(file), text)?;
    }
    let ids: BTreeMap<String, u32> = m.ids.iter().map(|(v, id)| (v.to_string(), *id)).collect();
    std::fs::write(
        aside.join("ids.json"),
        serde_json::to_string_pretty(&ids).expect("plain data"),
    )?;
    if let Some(mode) = m.compatibility {
        std::fs::write(
            aside.join("config.json"),
            format!("{{\"compatibility\": \"{mode}\"}}\n"),
        )?;
    }
    std::fs::write(aside.join(FETCHED), "")?;
    let _ = std::fs::remove_dir_all(target);
    std::fs::rename(&aside, target)
}
