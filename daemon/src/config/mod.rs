//! Pipeline YAML: the model, `${VAR}` interpolation, human units, and validation into a
//! runnable spec whose errors name the file, line, column and key.

mod error;
mod interpolate;
mod load;
mod location;
mod model;
mod transforms;
mod units;
mod validate;

pub use error::{ConfigError, ConfigErrors};
pub use load::{load_pipeline, parse_pipeline};
pub use model::*;
pub use transforms::step_error;
pub use units::{ByteSize, Duration};
pub use validate::{PipelineSpec, name_taken, registry_dir, validate, validate_in};
