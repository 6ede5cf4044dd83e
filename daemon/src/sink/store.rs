//! Opens the object store behind a sink location: a local directory, S3, Google Cloud
//! Storage or Azure Blob Storage (settings from the pipeline, falling back to each
//! cloud's standard environment variables).

use std::path::PathBuf;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::multipart::MultipartStore;
use object_store::path::Path;

use super::spec::Location;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the sink directory `{path}`: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot configure the object store: {0}")]
    Config(#[from] object_store::Error),
}

/// An opened sink location.
#[derive(Clone)]
pub struct Store {
    pub objects: Arc<dyn ObjectStore>,
    /// The same store's multipart API, where it has one (not on a local directory,
    /// where large objects are staged in a file and renamed into place).
    pub multipart: Option<Arc<dyn MultipartStore>>,
    /// The key under which every object is written.
    pub root: Path,
    /// The directory of a local store.
    pub local_dir: Option<PathBuf>,
}

/// The store behind a sink location.
pub fn open_store(location: &Location) -> Result<Store, StoreError> {
    match location {
        Location::Local(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.display().to_string(),
                source,
            })?;
            Ok(Store {
                objects: Arc::new(LocalFileSystem::new_with_prefix(dir)?),
                multipart: None,
                root: Path::default(),
                local_dir: Some(dir.clone()),
            })
        }
        Location::S3 {
            bucket,
            root,
            settings,
        } => {
            let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if let Some(v) = &settings.region {
                b = b.with_region(v);
            }
            if let Some(v) = &settings.endpoint {
                b = b.with_endpoint(v);
            }
            if let Some(v) = &settings.access_key_id {
                b = b.with_access_key_id(v);
            }
            if let Some(v) = &settings.secret_access_key {
                b = b.with_secret_access_key(v);
            }
            if let Some(v) = &settings.session_token {
                b = b.with_token(v);
            }
            let endpoint = settings
                .endpoint
                .clone()
                .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
            if settings.allow_http
                || endpoint
                    .as_deref()
                    .is_some_and(|e| e.starts_with("http://"))
            {
                b = b.with_allow_http(true);
            }
            let path_style = settings.path_style.unwrap_or(endpoint.is_some());
            b = b.with_virtual_hosted_style_request(!path_style);
            Ok(remote(b.build()?, root))
        }
        Location::Gcs { url, root, options } => {
            let mut b = GoogleCloudStorageBuilder::from_env().with_url(url);
            for (key, value) in options {
                b = b.with_config(key.parse()?, value);
            }
            Ok(remote(b.build()?, root))
        }
        Location::Azure { url, root, options } => {
            let mut b = MicrosoftAzureBuilder::from_env().with_url(url);
            for (key, value) in options {
                b = b.with_config(key.parse()?, value);
            }
            Ok(remote(b.build()?, root))
        }
    }
}

/// A store with a multipart API, every key under `root`.
fn remote(store: impl ObjectStore + MultipartStore, root: &str) -> Store {
    let store = Arc::new(store);
    Store {
        objects: store.clone(),
        multipart: Some(store),
        root: Path::from(root),
        local_dir: None,
    }
}

/// Makes an object of a local store durable: its data, then the entry of each folder
/// from its own up to the store's directory, so that a power loss cannot take an
/// object that a stored position already counts on.
pub fn sync_local(dir: &std::path::Path, key: &Path) -> std::io::Result<()> {
    let file = LocalFileSystem::new_with_prefix(dir)
        .and_then(|fs| fs.path_to_filesystem(key))
        .map_err(std::io::Error::other)?;
    std::fs::File::open(&file)?.sync_all()?;
    let mut folder = file.parent();
    while let Some(f) = folder {
        std::fs::File::open(f)?.sync_all()?;
        if f == dir {
            break;
        }
        folder = f.parent();
    }
    Ok(())
}
