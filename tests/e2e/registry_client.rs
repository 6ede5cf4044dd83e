//! Weir's registry client against recorded answers of Confluent's Schema Registry
//! API (the examples of its API reference), served over TLS by a private CA and
//! behind basic auth: the subject is mirrored with the registry's own ids, its
//! compatibility mode and its references; failures name the registry and the cause.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weir::schema::remote::{Remote, cache_dir, mirror, redact};
use weir::schema::{LocalRegistry, SchemaError};

/// Recorded answers, by request path. Bodies follow Confluent's API reference.
fn recorded() -> HashMap<&'static str, (u16, String)> {
    let money = r#"{"type": "record", "name": "Money", "namespace": "shop", "fields": [{"name": "cents", "type": "long"}]}"#;
    let v1 = r#"{"type": "record", "name": "Order", "namespace": "shop", "fields": [{"name": "id", "type": "string"}, {"name": "total", "type": "shop.Money"}]}"#;
    let v2 = r#"{"type": "record", "name": "Order", "namespace": "shop", "fields": [{"name": "id", "type": "string"}, {"name": "total", "type": "shop.Money"}, {"name": "note", "type": ["null", "string"], "default": null}]}"#;
    let version = |subject: &str, id: u32, version: u32, schema: &str, refs: &str| {
        format!(
            r#"{{"subject": "{subject}", "id": {id}, "version": {version}, "schema": {}, "references": {refs}}}"#,
            serde_json::to_string(schema).unwrap()
        )
    };
    let refs = r#"[{"name": "shop.Money", "subject": "money", "version": 1}]"#;
    HashMap::from([
        (
            "/subjects/orders-value/versions",
            (200, "[1, 2]".to_string()),
        ),
        (
            "/subjects/orders-value/versions/1",
            (200, version("orders-value", 101, 1, v1, refs)),
        ),
        (
            "/subjects/orders-value/versions/2",
            (200, version("orders-value", 102, 2, v2, refs)),
        ),
        (
            "/subjects/money/versions/1",
            (200, version("money", 100, 1, money, "[]")),
        ),
        (
            "/config/orders-value?defaultToGlobal=true",
            (200, r#"{"compatibilityLevel": "FULL"}"#.into()),
        ),
        (
            "/subjects/nope/versions",
            (
                404,
                r#"{"error_code": 40401, "message": "Subject 'nope' not found."}"#.into(),
            ),
        ),
    ])
}

/// A registry stand-in over TLS: answers from `recorded()`, and 401 to requests
/// without the expected basic auth. Returns its port and the requests it saw.
async fn registry(tls: tokio_rustls::TlsAcceptor) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let answers = recorded();
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let Ok(mut stream) = tls.accept(tcp).await else {
                continue;
            };
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&request).to_string();
            let path = text.split_whitespace().nth(1).unwrap_or("").to_string();
            // user:secret
            let authorized = text.contains("authorization: Basic dXNlcjpzZWNyZXQ=");
            log.lock().unwrap().push(path.clone());
            let (status, body) = match (authorized, answers.get(path.as_str())) {
                (false, _) => (
                    401,
                    r#"{"error_code": 401, "message": "Unauthorized"}"#.to_string(),
                ),
                (true, Some((s, b))) => (*s, b.clone()),
                (true, None) => (
                    404,
                    r#"{"error_code": 404, "message": "HTTP 404 Not Found"}"#.to_string(),
                ),
            };
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/vnd.schemaregistry.v1+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    });
    (port, seen)
}

/// A private CA and a `localhost` certificate it signed; returns the acceptor and
/// the CA's PEM.
fn private_ca() -> (tokio_rustls::TlsAcceptor, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    (tokio_rustls::TlsAcceptor::from(Arc::new(config)), ca.pem())
}

fn remote(port: u16, ca: &std::path::Path, password: &str) -> Remote {
    Remote {
        url: format!("https://localhost:{port}"),
        user: Some("user".into()),
        password: Some(password.into()),
        ca: Some(ca.to_path_buf()),
        refresh: Duration::from_secs(300),
        timeout: Duration::from_secs(10),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mirrors_a_subject_with_its_ids_mode_and_references_over_tls_and_basic_auth() {
    let (acceptor, ca_pem) = private_ca();
    let (port, seen) = registry(acceptor).await;
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let dir = cache_dir(tmp.path(), &format!("https://localhost:{port}"));

    mirror(&remote(port, &ca, "secret"), "orders-value", &dir).unwrap();
    let registry = LocalRegistry::open(&dir).unwrap();
    let versions = registry.versions("orders-value").unwrap();
    let ids: Vec<(u32, u32)> = versions.iter().map(|v| (v.version, v.id)).collect();
    assert_eq!(
        ids,
        [(1, 101), (2, 102)],
        "the registry's ids, not derived ones"
    );
    assert_eq!(
        registry.compatibility("orders-value").unwrap(),
        weir::schema::Compatibility::Full
    );
    assert_eq!(registry.version("money", Some("1")).unwrap().id, 100);
    // The reference resolves: version 2 reads as one self-contained Avro schema.
    let text = versions[1].avro_text().unwrap();
    assert!(text.contains(r#""name":"shop.Money""#), "{text}");
    let fetched = seen.lock().unwrap().len();

    // Fresh: no second request. Stale: fetched again.
    mirror(&remote(port, &ca, "secret"), "orders-value", &dir).unwrap();
    assert_eq!(seen.lock().unwrap().len(), fetched);
    let stale = Remote {
        refresh: Duration::ZERO,
        ..remote(port, &ca, "secret")
    };
    mirror(&stale, "orders-value", &dir).unwrap();
    assert!(seen.lock().unwrap().len() > fetched);

    // Failures name the registry and say why; nothing cached means no pipeline.
    let fresh_dir = tmp.path().join("empty");
    let err = |remote: Remote, subject: &str| match mirror(&remote, subject, &fresh_dir) {
        Err(SchemaError::Remote { reason, .. }) => reason,
        other => panic!("expected a registry error, got {other:?}"),
    };
    let denied = err(remote(port, &ca, "wrong"), "orders-value");
    assert!(
        denied.contains("401") && denied.contains("Unauthorized"),
        "{denied}"
    );
    let missing = err(remote(port, &ca, "secret"), "nope");
    assert!(
        missing.contains("Subject 'nope' not found.") && missing.contains("40401"),
        "{missing}"
    );
    let untrusted = Remote {
        ca: None,
        ..remote(port, &ca, "secret")
    };
    let reason = err(untrusted, "orders-value");
    assert!(reason.to_lowercase().contains("certificate"), "{reason}");
}

#[test]
fn credentials_in_a_url_stay_out_of_messages_and_paths() {
    assert_eq!(
        redact("https://u:pw@reg.example:8081/x"),
        "https://reg.example:8081/x"
    );
    assert_eq!(redact("http://reg:8081"), "http://reg:8081");
    let dir = cache_dir(std::path::Path::new("/s"), "https://u:pw@reg.example:8081");
    assert_eq!(
        dir,
        std::path::Path::new("/s/registry-cache/reg.example_8081")
    );
}
