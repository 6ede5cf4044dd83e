//! Reading a pipeline file: YAML with locations, interpolation, then the typed model.
//! Every failure becomes a [`ConfigError`] pointing at the offending key.

use std::path::Path;

use marked_yaml::{LoadError, LoaderOptions, Node, Span};

use super::error::{ConfigError, ConfigErrors};
use super::interpolate::{Secrets, interpolate};
use super::model::PipelineConfig;

/// Reads and parses `path`; the returned tree is kept for locating later errors.
pub fn load_pipeline(path: &Path) -> Result<(PipelineConfig, Node), ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(path, "", format!("cannot read the file: {e}"))
            .hint("check the path and its permissions")
    })?;
    parse_pipeline(path, &text, &|name| std::env::var(name).ok())
}

/// Parses pipeline text; `env` looks up environment variables.
pub fn parse_pipeline(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(PipelineConfig, Node), ConfigErrors> {
    let options = LoaderOptions::default()
        .error_on_duplicate_keys(true)
        .toplevel_mapping();
    let mut node =
        marked_yaml::parse_yaml_with_options(0, text, options).map_err(|e| yaml_error(path, e))?;
    let mut secrets = Secrets::new();
    interpolate(&mut node, env, &mut secrets).map_err(|e| {
        ConfigError::new(path, e.key, e.message)
            .at(&e.span)
            .hint(e.hint)
    })?;
    let original = node.clone();
    retag(&mut node, "source");
    let config = marked_yaml::from_node::<PipelineConfig>(&node)
        .map_err(|e| model_error(path, &original, &secrets, e))?;
    Ok((config, original))
}

/// Rewrites `key: {type: T, ...rest}` into `key: {T: {...rest}}`, the externally tagged
/// form serde reads without buffering (buffering would lose locations and number
/// coercion). Spans are kept: the new tag key carries the span of the `type` value.
fn retag(root: &mut Node, key: &str) {
    let Some(section) = root.as_mapping_mut().and_then(|m| m.get_mut(key)) else {
        return;
    };
    let Some(map) = section.as_mapping_mut() else {
        return;
    };
    let Some(tag) = map.remove("type") else {
        return;
    };
    let Node::Scalar(tag) = tag else { return };
    let span = *map.span();
    let rest = std::mem::replace(map, marked_yaml::types::MarkedMappingNode::new_empty(span));
    let mut wrapper = marked_yaml::types::MarkedMappingNode::new_empty(span);
    wrapper.insert(tag, Node::Mapping(rest));
    *section = Node::Mapping(wrapper);
}

fn yaml_error(path: &Path, e: LoadError) -> ConfigError {
    use LoadError::*;
    let (mark, message) = match &e {
        TopLevelMustBeMapping(m) => (
            *m,
            "the file must be a YAML mapping of pipeline keys".to_string(),
        ),
        ScanError(m, scan) => (*m, format!("invalid YAML: {}", scan.info())),
        DuplicateKey(d) => (
            *d.key.span().start().expect("loader marks keys"),
            format!("key `{}` appears twice in this mapping", d.key.as_str()),
        ),
        UnexpectedAnchor(m) => (*m, "YAML anchors and aliases are not supported".to_string()),
        UnexpectedTag(m) => (*m, "YAML tags are not supported".to_string()),
        MappingKeyMustBeScalar(m) => (*m, "mapping keys must be plain strings".to_string()),
        TopLevelMustBeSequence(m) => (*m, "unexpected YAML layout".to_string()),
    };
    let mut err = ConfigError::new(path, "", message).hint("fix the YAML syntax at this place");
    err.line = mark.line();
    err.column = mark.column();
    err
}

fn model_error(
    path: &Path,
    root: &Node,
    secrets: &Secrets,
    e: marked_yaml::FromNodeError,
) -> ConfigError {
    use marked_yaml::Error;
    let key = untag(e.path().unwrap_or("").trim_start_matches('.'));
    let key = if key == "?" { String::new() } else { key };
    let (key, message, hint, span) = match &*e {
        Error::UnknownFieldError(field, expected, _) => {
            let key = if key.ends_with(field.as_str()) {
                key
            } else if key.is_empty() {
                field.clone()
            } else {
                format!("{key}.{field}")
            };
            let expected = expected
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let span = locate(root, &key).map(|n| *n.span());
            (
                key,
                format!("unknown key `{field}`"),
                format!("valid keys here: {expected}"),
                span,
            )
        }
        other => {
            let span = other
                .start_mark()
                .map(Span::new_start)
                .or_else(|| locate(root, &key).map(|n| *n.span()));
            let secret = span
                .and_then(|s| s.start().map(|m| (m.line(), m.column())))
                .is_some_and(|loc| secrets.contains(&loc));
            let text = other.to_string();
            let (key, message) = if secret {
                (
                    key,
                    "the value taken from the environment is not valid here (value hidden)"
                        .to_string(),
                )
            } else if let Some(rest) = text.strip_prefix("unknown variant ") {
                // An unknown variant of the retagged `source` is an unknown `source.type`.
                let key = if key == "source" {
                    "source.type".to_string()
                } else {
                    key
                };
                (
                    key,
                    format!(
                        "unknown value {}",
                        rest.replacen(", expected", "; expected", 1)
                    ),
                )
            } else {
                (key, text.replace("Value was", "value is"))
            };
            (
                key,
                message,
                "see docs/pipeline-reference.md for this key".to_string(),
                span,
            )
        }
    };
    let mut err = ConfigError::new(path, key, message).hint(hint);
    if let Some(span) = span {
        err = err.at(&span);
    }
    err
}

/// Maps a path through a retagged section back to the file's keys:
/// `source.file.path` is `source.path` in the file.
fn untag(path: &str) -> String {
    match path.strip_prefix("source.") {
        Some(rest) => match rest.split_once('.') {
            Some((_variant, key)) => format!("source.{key}"),
            None => "source".to_string(),
        },
        None => path.to_string(),
    }
}

/// Finds the node at a dotted key path (`sink.buffer.max_bytes`, `transforms[0].plugin`).
/// For the last segment it returns the key's own node, so errors point at the key.
pub fn locate(root: &Node, path: &str) -> Option<Node> {
    let mut node = root;
    let segments: Vec<&str> = path.split('.').filter(|s| !s.is_empty()).collect();
    for (i, seg) in segments.iter().enumerate() {
        let (name, index) = match seg.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (*seg, None),
        };
        let map = node.as_mapping()?;
        let (key, value) = map.iter().find(|(k, _)| k.as_str() == name)?;
        if i + 1 == segments.len() && index.is_none() {
            return Some(Node::Scalar(key.clone()));
        }
        node = value;
        if let Some(idx) = index {
            node = node.as_sequence()?.get(idx)?;
        }
    }
    Some(node.clone())
}
