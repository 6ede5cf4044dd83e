//! `source: {type: kafka}` settings, checked into the librdkafka configuration the
//! consumer runs with. Weir manages offsets itself (its own state decides where each
//! partition resumes; Kafka's committed offsets follow the durable positions), so the
//! keys that would fight that are refused in `options`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::KafkaSource;
use crate::source::SourceConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port` separated by commas.
    pub brokers: String,
    /// Topics to archive. Give these or `topic_pattern`.
    #[serde(default)]
    pub topics: Vec<String>,
    /// A regular expression (librdkafka's syntax) naming the topics to archive, e.g.
    /// `orders-.*`; topics created later are picked up.
    #[serde(default)]
    pub topic_pattern: Option<String>,
    /// The consumer group; members with one group share the topics' partitions.
    pub group: String,
    /// Where a partition with no stored position starts: `earliest` (default),
    /// `latest`, or an RFC 3339 time (`2026-11-20T00:00:00Z`) to archive a retention
    /// window from that moment on.
    #[serde(default)]
    pub start: Option<String>,
    /// TLS and SASL settings.
    #[serde(default)]
    pub security: SecurityConfig,
    /// Any other librdkafka setting, passed as is (e.g. `fetch.max.bytes`).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Records per batch at most. Default 5000.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Fetch a resumed partition from this many offsets before its resume point and
    /// skip up to it. Default 0. For Kafka-compatible brokers that answer a fetch from
    /// inside a record batch with the next batch (tansu 0.6 on its memory or S3
    /// storage), which would skip the rest of that batch after a restart or a
    /// partition move; set it to at least the producers' largest batch in records.
    #[serde(default)]
    pub seek_back: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// `plaintext` (default), `ssl`, `sasl_plaintext` or `sasl_ssl`.
    #[serde(default)]
    pub protocol: Option<String>,
    /// SASL mechanism: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    #[serde(default)]
    pub mechanism: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// A CA certificate file (PEM) to verify the brokers with.
    #[serde(default)]
    pub ca: Option<String>,
}

/// Where a partition without a stored position starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Earliest,
    Latest,
    /// Milliseconds since the Unix epoch.
    At(i64),
}

fn default_batch() -> usize {
    5000
}

/// What the consumer prefetches at most, in KiB, unless `options` says otherwise.
const PREFETCH_KIB: u32 = 16 * 1024;
/// How long the consumer waits to fetch again once its prefetch is full.
const FETCH_QUEUE_BACKOFF_MS: u32 = 20;

/// librdkafka settings Weir sets itself.
const MANAGED: [&str; 6] = [
    "bootstrap.servers",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "auto.offset.reset",
    "partition.assignment.strategy",
];

fn fail(
    key: &'static str,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> SourceConfigError {
    SourceConfigError {
        key,
        message: message.into(),
        hint: hint.into(),
    }
}

impl KafkaConfig {
    pub fn validate(&self, base: &std::path::Path) -> Result<KafkaSource, SourceConfigError> {
        if self.brokers.trim().is_empty() {
            return Err(fail(
                "brokers",
                "no broker given",
                "e.g. brokers: \"b1:9092,b2:9092\"",
            ));
        }
        let subscription = match (&self.topics[..], &self.topic_pattern) {
            ([], None) => {
                return Err(fail(
                    "topics",
                    "no topic given",
                    "list `topics`, or give `topic_pattern`",
                ));
            }
            ([_, ..], Some(_)) => {
                return Err(fail(
                    "topic_pattern",
                    "give `topics` or `topic_pattern`, not both",
                    "keep one of them",
                ));
            }
            (topics, None) => topics.to_vec(),
            ([], Some(pattern)) => vec![format!("^{}", pattern.trim_start_matches('^'))],
        };
        if self.group.trim().is_empty() {
            return Err(fail(
                "group",
                "the consumer group is empty",
                "e.g. group: weir-orders",
            ));
        }
        let start = match self.start.as_deref() {
            None | Some("earliest") => Start::Earliest,
            Some("latest") => Start::Latest,
            Some(time) => chrono::DateTime::parse_from_rfc3339(time)
                .map(|t| Start::At(t.timestamp_millis()))
                .map_err(|e| {
                    fail(
                        "start",
                        format!("`{time}` is not earliest, latest or an RFC 3339 time: {e}"),
                        "e.g. start: 2026-11-20T00:00:00Z",
                    )
                })?,
        };
        if self.batch_size == 0 || self.batch_size > 100_000 {
            return Err(fail(
                "batch_size",
                format!("{} is out of range", self.batch_size),
                "use 1 to 100000",
            ));
        }
        if self.seek_back > 1_000_000 {
            return Err(fail(
                "seek_back",
                format!("{} is out of range", self.seek_back),
                "use 0 to 1000000 (records before the resume point)",
            ));
        }
        if let Some(key) = self.options.keys().find(|k| MANAGED.contains(&k.as_str())) {
            return Err(fail(
                "options",
                format!("`{key}` is set by Weir"),
                "use the source's own keys (brokers, group, start) instead",
            ));
        }
        let mut client = vec![
            ("bootstrap.servers".to_string(), self.brokers.clone()),
            ("group.id".to_string(), self.group.clone()),
            ("enable.auto.commit".to_string(), "false".to_string()),
            ("enable.auto.offset.store".to_string(), "false".to_string()),
            (
                "partition.assignment.strategy".to_string(),
                "cooperative-sticky".to_string(),
            ),
            (
                "auto.offset.reset".to_string(),
                if start == Start::Latest {
                    "latest"
                } else {
                    "earliest"
                }
                .to_string(),
            ),
        ];
        // librdkafka prefetches up to 64 MiB per consumer by default, outside the
        // pipeline's memory budget; Weir keeps it smaller unless told otherwise. Once
        // that prefetch is full, librdkafka waits `fetch.queue.backoff.ms` (1 s by
        // default) before fetching again, which leaves the pipeline idle after it
        // drains the queue: Weir fetches again sooner.
        for (key, value) in [
            ("queued.max.messages.kbytes", PREFETCH_KIB.to_string()),
            ("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS.to_string()),
        ] {
            if !self.options.contains_key(key) {
                client.push((key.to_string(), value));
            }
        }
        client.extend(self.security.settings(base)?);
        client.extend(self.options.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(KafkaSource {
            subscription,
            start,
            client,
            batch_size: self.batch_size,
            seek_back: self.seek_back as i64,
        })
    }
}

impl SecurityConfig {
    fn settings(&self, base: &std::path::Path) -> Result<Vec<(String, String)>, SourceConfigError> {
        let mut out = Vec::new();
        if let Some(p) = &self.protocol {
            let known = ["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"];
            if !known.contains(&p.to_ascii_lowercase().as_str()) {
                return Err(fail(
                    "security.protocol",
                    format!("unknown protocol `{p}`"),
                    "use plaintext, ssl, sasl_plaintext or sasl_ssl",
                ));
            }
            out.push(("security.protocol".into(), p.to_ascii_lowercase()));
        }
        if let Some(m) = &self.mechanism {
            if !["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"].contains(&m.as_str()) {
                return Err(fail(
                    "security.mechanism",
                    format!("unknown SASL mechanism `{m}`"),
                    "use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
                ));
            }
            let (Some(user), Some(password)) = (&self.username, &self.password) else {
                return Err(fail(
                    "security.mechanism",
                    format!("{m} needs `username` and `password`"),
                    "set both, e.g. password: ${KAFKA_PASSWORD}",
                ));
            };
            out.push(("sasl.mechanism".into(), m.clone()));
            out.push(("sasl.username".into(), user.clone()));
            out.push(("sasl.password".into(), password.clone()));
        }
        if let Some(ca) = &self.ca {
            out.push((
                "ssl.ca.location".into(),
                base.join(ca).display().to_string(),
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn security(v: serde_json::Value) -> SecurityConfig {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn sasl_over_tls_maps_to_librdkafkas_settings() {
        let s = security(serde_json::json!({
            "protocol": "SASL_SSL", "mechanism": "SCRAM-SHA-512",
            "username": "weir", "password": "s3cret", "ca": "certs/ca.pem"
        }));
        let settings = s.settings(std::path::Path::new("/etc/weir")).unwrap();
        let want: Vec<(String, String)> = [
            ("security.protocol", "sasl_ssl"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "weir"),
            ("sasl.password", "s3cret"),
            ("ssl.ca.location", "/etc/weir/certs/ca.pem"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(settings, want);
    }

    #[test]
    fn an_unknown_protocol_or_mechanism_or_missing_password_is_refused_by_key() {
        let base = std::path::Path::new(".");
        let unknown = security(serde_json::json!({"protocol": "tls"}));
        assert_eq!(unknown.settings(base).unwrap_err().key, "security.protocol");
        let mechanism = security(serde_json::json!({"mechanism": "GSSAPI"}));
        assert_eq!(
            mechanism.settings(base).unwrap_err().key,
            "security.mechanism"
        );
        let half = security(serde_json::json!({"mechanism": "PLAIN", "username": "weir"}));
        let e = half.settings(base).unwrap_err();
        assert!(
            e.message.contains("needs `username` and `password`"),
            "{}",
            e.message
        );
    }
}
