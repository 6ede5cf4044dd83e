//! A pipeline made ready to run: its file validated (schemas resolved, templates
//! compiled) and its plugins compiled and initialised. A start, a reload and
//! `weir validate` all go through here, so each checks the same things.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{ConfigErrors, PipelineSpec, step_error, validate_in};
use crate::transform::{Chain, CompileCache};

/// A validated pipeline with its transform chain loaded.
#[derive(Clone)]
pub struct Prepared {
    pub spec: Arc<PipelineSpec>,
    pub chain: Option<Arc<Chain>>,
}

impl Prepared {
    /// A validated spec whose plugins are loaded now. Blocking: it may compile.
    pub fn load(spec: PipelineSpec, state_dir: &Path) -> Result<Prepared, ConfigErrors> {
        let chain = load_chain(&spec, state_dir)?;
        Ok(Prepared {
            spec: Arc::new(spec),
            chain,
        })
    }
}

/// Validates the pipeline file at `file` and loads its plugins. Blocking: it may ask a
/// remote registry and compile plugins.
pub fn prepare(file: &Path, state_dir: &Path) -> Result<Prepared, ConfigErrors> {
    Prepared::load(validate_in(file, state_dir)?, state_dir)
}

/// Loads the pipeline's transform plugins, each initialised with its settings
/// (compiled components are cached next to the state directory).
fn load_chain(spec: &PipelineSpec, state_dir: &Path) -> Result<Option<Arc<Chain>>, ConfigErrors> {
    if spec.transforms.is_empty() {
        return Ok(None);
    }
    let cache = CompileCache::new(plugin_cache_dir(state_dir));
    Chain::load(&spec.transforms, &spec.name, &cache)
        .map(|c| c.map(Arc::new))
        .map_err(|e| step_error(spec, &e))
}

/// Where compiled plugins are cached: `cache/plugins` beside the state directory.
pub fn plugin_cache_dir(state_dir: &Path) -> PathBuf {
    let parent = state_dir.parent().unwrap_or(state_dir);
    parent.join("cache").join("plugins")
}
