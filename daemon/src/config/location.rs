//! Store locations in a pipeline file: the sink's URL and the optional `state:` URL,
//! each parsed into a [`Location`] with its store settings checked by key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::model::{PipelineConfig, S3Config};
use super::validate::Checker;
use crate::sink::spec::Location;
use crate::source::SourceConfig;
use crate::state::RemoteState;

/// The lease time when `state.lease` is not set.
const DEFAULT_LEASE: std::time::Duration = std::time::Duration::from_secs(30);

/// A location from a URL or a directory path (relative to `base`); `key` is the
/// section (`sink` or `state`) messages name.
pub fn parse(
    url: &str,
    base: &Path,
    s3: &S3Config,
    options: &BTreeMap<String, String>,
    key: &str,
) -> Result<Location, String> {
    let scheme = url.split_once("://").map(|(s, _)| s);
    if let Some(cloud @ ("gs" | "az" | "azure" | "abfs" | "abfss")) = scheme {
        let parsed = url::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(format!("`{url}` names no bucket or container"));
        }
        let (url, root) = (url.to_string(), parsed.path().trim_matches('/').to_string());
        let options = options.clone();
        if cloud == "gs" {
            check_keys::<object_store::gcp::GoogleConfigKey>(&options, key)?;
            return Ok(Location::Gcs { url, root, options });
        }
        check_keys::<object_store::azure::AzureConfigKey>(&options, key)?;
        return Ok(Location::Azure { url, root, options });
    }
    if !options.is_empty() {
        return Err(format!(
            "`{key}.options` applies to gs:// and az:// URLs; S3 takes `{key}.s3`"
        ));
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, root) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("`{url}` names no bucket"));
        }
        return Ok(Location::S3 {
            bucket: bucket.into(),
            root: root.trim_matches('/').into(),
            settings: s3.clone(),
        });
    }
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(format!("`{url}` is not an absolute file URL"));
        }
        return Ok(Location::Local(PathBuf::from(path)));
    }
    if url.is_empty() || url.contains("://") {
        return Err(format!("`{url}` is not a supported location"));
    }
    Ok(Location::Local(base.join(url)))
}

/// Every option key is one the store's builder knows.
fn check_keys<K: std::str::FromStr>(
    options: &BTreeMap<String, String>,
    section: &str,
) -> Result<(), String> {
    match options.keys().find(|k| k.parse::<K>().is_err()) {
        Some(key) => Err(format!(
            "`{section}.options.{key}` is not a setting of this store (see object_store's configuration keys)"
        )),
        None => Ok(()),
    }
}

/// The bucket (or container) a URL names, with its scheme.
fn bucket_of(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    Some((scheme, rest.split(['/', '@']).next()?))
}

/// The validated `state:` section: `Some(None)` when there is none, `None` when it is
/// wrong (the error is recorded).
pub(super) fn state_spec(
    c: &mut Checker<'_>,
    config: &PipelineConfig,
    base: &Path,
) -> Option<Option<RemoteState>> {
    let Some(state) = &config.state else {
        return Some(None);
    };
    let sink = &config.sink;
    let same_bucket =
        bucket_of(&state.url).is_some() && bucket_of(&state.url) == bucket_of(&sink.url);
    let s3 = state
        .s3
        .clone()
        .or_else(|| same_bucket.then(|| sink.s3.clone()))
        .unwrap_or_default();
    let options = state
        .options
        .clone()
        .or_else(|| same_bucket.then(|| sink.options.clone()))
        .unwrap_or_default();
    let location = match parse(&state.url, base, &s3, &options, "state") {
        Ok(Location::Local(_)) => Err(
            "state in a local directory is the default; `state.url` names an object store"
                .to_string(),
        ),
        other => other,
    };
    let location = location.map_err(|msg| {
        c.fail(
            "state.url",
            msg,
            "use s3://bucket/prefix, gs://bucket/prefix or az://container/prefix, or remove `state:` to keep state in the local state directory",
        )
    });
    if state.lease.is_some() && matches!(config.source, SourceConfig::Kafka(_)) {
        c.fail(
            "state.lease",
            "a Kafka source's partitions are handed out by its consumer group, and each member claims the state of the partitions it is assigned: there is no pipeline lease",
            "remove `lease`; run several daemons in the group to share the partitions",
        );
        return None;
    }
    let lease = state.lease.map_or(DEFAULT_LEASE, |d| d.0);
    if lease < std::time::Duration::from_secs(1) {
        c.fail(
            "state.lease",
            format!("a lease of {lease:?} is too short to renew in time"),
            "use at least 1s; 30s (the default) suits most deployments",
        );
        return None;
    }
    Some(Some(RemoteState {
        location: location.ok()?,
        url: state.url.trim_end_matches('/').to_string(),
        lease,
    }))
}
