//! Validation of the `transforms` steps: the plugin file exists, its config is made of
//! scalars, its limits are in range. Loading the plugin (and its `init`) happens when
//! the pipeline starts, or in `weir validate`.

use std::path::Path;

use serde_json::Value;

use super::model::PipelineConfig;
use super::validate::Checker;
use crate::transform::{Grants, Limits, PluginSpec};

const MAX_MEMORY: u64 = crate::transform::MAX_PLUGIN_MEMORY;

pub(super) fn check(c: &mut Checker<'_>, config: &PipelineConfig, base: &Path) -> Vec<PluginSpec> {
    let mut specs = Vec::new();
    for (i, t) in config.transforms.iter().enumerate() {
        let key = |k: &str| format!("transforms[{i}].{k}");
        let path = base.join(&t.plugin);
        if !path.is_file() {
            c.fail(
                &key("plugin"),
                format!("plugin file `{}` not found", path.display()),
                "build the plugin (cargo build --release --target wasm32-wasip2) and give the .wasm path relative to this file",
            );
        }
        let mut settings = Vec::new();
        for (k, v) in &t.config {
            match scalar(v) {
                Some(text) => settings.push((k.clone(), text)),
                None => c.fail(
                    &key(&format!("config.{k}")),
                    "must be a string, number, boolean or a list of them",
                    "plugins receive their settings as text; encode structures as a string",
                ),
            }
        }
        let defaults = Limits::default();
        let limits = Limits {
            memory: t.limits.memory.map_or(defaults.memory, |b| b.0),
            timeout: t.limits.timeout.map_or(defaults.timeout, |d| d.0),
            max_output: t.limits.max_output.map_or(defaults.max_output, |b| b.0),
        };
        if !(1 << 20..=MAX_MEMORY).contains(&limits.memory) {
            c.fail(
                &key("limits.memory"),
                "must be between 1MiB and 1GiB",
                "the default is 128MiB",
            );
        }
        if limits.timeout.is_zero() {
            c.fail(
                &key("limits.timeout"),
                "must be above zero",
                "the default is 5s",
            );
        }
        let name = t.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map_or_else(|| t.plugin.clone(), |s| s.to_string_lossy().into_owned())
        });
        specs.push(PluginSpec {
            name,
            path,
            config: settings,
            limits,
            grants: Grants {
                env: t.grants.env.clone(),
                dirs: t.grants.dirs.iter().map(|d| base.join(d)).collect(),
                network: t.grants.network,
                clocks: t.grants.clocks,
            },
        });
    }
    specs
}

/// A config value as the text a plugin receives.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::Array(_) | Value::Object(_) | Value::Null => None,
                other => scalar(other),
            })
            .collect::<Option<Vec<_>>>()
            .map(|parts| parts.join(",")),
        Value::Null | Value::Object(_) => None,
    }
}

/// The located error for a transform step that did not load or rejected its config
/// (`Chain::load` found it), placed at the step's `plugin` or `config` key.
pub fn step_error(
    spec: &super::PipelineSpec,
    e: &crate::transform::StepError,
) -> super::ConfigErrors {
    use crate::transform::PluginError;
    let i = e.step;
    let sites = spec.sites.steps.get(i).cloned().unwrap_or_default();
    let (key, hint, span) = match &e.error {
        PluginError::Init { .. } => (
            format!("transforms[{i}].config"),
            "fix the setting the plugin names; its README lists the keys it takes",
            sites.1,
        ),
        _ => (
            format!("transforms[{i}].plugin"),
            "give the path of a component built for wasm32-wasip2 with the weir-plugin SDK",
            sites.0,
        ),
    };
    let error = super::ConfigError::new(&spec.file, &key, e.error.to_string()).hint(hint);
    match span {
        Some(span) => error.at(&span).into(),
        None => error.into(),
    }
}
