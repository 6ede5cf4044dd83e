//! `${VAR}` and `${VAR:-default}` in YAML string values, resolved from the environment.
//! `$${` is a literal `${`. Values that came from the environment are remembered by
//! location so that no error message ever prints them.

use std::collections::HashSet;

use marked_yaml::types::MarkedScalarNode;
use marked_yaml::{Node, Span};

/// Locations (line, column) of scalars whose value came from the environment.
pub type Secrets = HashSet<(usize, usize)>;

/// An undefined variable or a malformed reference, with the key path and location.
#[derive(Debug)]
pub struct InterpolationError {
    pub key: String,
    pub span: Box<Span>,
    pub message: String,
    pub hint: String,
}

/// Rewrites every scalar in `node` that mentions `${...}`.
pub fn interpolate(
    node: &mut Node,
    env: &dyn Fn(&str) -> Option<String>,
    secrets: &mut Secrets,
) -> Result<(), InterpolationError> {
    walk(node, String::new(), env, secrets)
}

fn walk(
    node: &mut Node,
    path: String,
    env: &dyn Fn(&str) -> Option<String>,
    secrets: &mut Secrets,
) -> Result<(), InterpolationError> {
    match node {
        Node::Scalar(s) => {
            if !s.as_str().contains('$') {
                return Ok(());
            }
            let (value, from_env) =
                expand(s.as_str(), env).map_err(|(message, hint)| InterpolationError {
                    key: path,
                    span: Box::new(*s.span()),
                    message,
                    hint,
                })?;
            if let (true, Some(m)) = (from_env, s.span().start()) {
                secrets.insert((m.line(), m.column()));
            }
            let mut replaced = MarkedScalarNode::new(*s.span(), value);
            replaced.set_coerce(s.may_coerce());
            *s = replaced;
            Ok(())
        }
        Node::Mapping(m) => {
            for (k, v) in m.iter_mut() {
                let child = if path.is_empty() {
                    k.to_string()
                } else {
                    format!("{path}.{}", k.as_str())
                };
                walk(v, child, env, secrets)?;
            }
            Ok(())
        }
        Node::Sequence(seq) => {
            for (i, v) in seq.iter_mut().enumerate() {
                walk(v, format!("{path}[{i}]"), env, secrets)?;
            }
            Ok(())
        }
    }
}

/// Expands one string; returns the result and whether any variable was substituted.
fn expand(
    input: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, bool), (String, String)> {
    let mut out = String::with_capacity(input.len());
    let mut from_env = false;
    let mut rest = input;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(body) = tail.strip_prefix("${") {
            let end = body.find('}').ok_or_else(|| {
                (
                    "unterminated `${` in value".to_string(),
                    "close the reference with `}`, or write `$${` for a literal `${`".to_string(),
                )
            })?;
            let reference = &body[..end];
            let (name, default) = match reference.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (reference, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err((
                    format!("`${{{reference}}}` is not a valid variable reference"),
                    "use ${NAME} or ${NAME:-default}, NAME made of letters, digits and _".into(),
                ));
            }
            match (env(name), default) {
                (Some(v), _) => {
                    out.push_str(&v);
                    from_env = true;
                }
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err((
                        format!("environment variable `{name}` is not set"),
                        format!("export {name}, or give a default with ${{{name}:-value}}"),
                    ));
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok((out, from_env))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "BUCKET").then(|| "lake".to_string())
    }

    #[test]
    fn expands_variables_defaults_and_escapes() {
        assert_eq!(
            expand("s3://${BUCKET}/x", &env).unwrap(),
            ("s3://lake/x".into(), true)
        );
        assert_eq!(
            expand("${NOPE:-dflt}", &env).unwrap(),
            ("dflt".into(), false)
        );
        assert_eq!(
            expand("a $${B} $5", &env).unwrap(),
            ("a ${B} $5".into(), false)
        );
    }

    #[test]
    fn undefined_variable_is_an_error() {
        let (msg, hint) = expand("${MISSING}", &env).unwrap_err();
        assert_eq!(msg, "environment variable `MISSING` is not set");
        assert!(hint.contains("${MISSING:-value}"));
    }

    #[test]
    fn remembers_where_secrets_landed() {
        let mut node = marked_yaml::parse_yaml(0, "a:\n  b: ${BUCKET}\n  c: plain\n").unwrap();
        let mut secrets = Secrets::new();
        interpolate(&mut node, &env, &mut secrets).unwrap();
        assert_eq!(secrets.into_iter().collect::<Vec<_>>(), vec![(2, 6)]);
    }
}
