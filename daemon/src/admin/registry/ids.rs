//! Lookups by schema id: the version (or versions) a schema id names, found through
//! the registry's id index.

use super::*;

fn with_id(shared: &Shared, id: u32) -> Result<Vec<Version>, ApiError> {
    let pairs = shared
        .ids
        .lock()
        .expect("id index")
        .find(&shared.registry, id)?;
    let found = pairs
        .into_iter()
        .map(|(subject, version)| {
            shared
                .registry
                .version(&subject, Some(&version.to_string()))
        })
        .collect::<Result<Vec<Version>, SchemaError>>()?;
    if found.is_empty() {
        return Err(schema_not_found(id.to_string()));
    }
    Ok(found)
}

pub(super) async fn by_id(State(api): Api, Path(id): Path<u32>, params: Params) -> Reply {
    blocking(api, move |s| {
        let v = &with_id(s, id)?[0];
        Ok(reply(json!({
            "schema": schema_text(s, v, &params)?,
            "schemaType": v.schema_type.api_name(),
            "references": v.references,
        })))
    })
    .await
}

pub(super) async fn by_id_schema(State(api): Api, Path(id): Path<u32>) -> Reply {
    blocking(api, move |s| Ok(raw(&with_id(s, id)?[0]))).await
}

pub(super) async fn id_subjects(State(api): Api, Path(id): Path<u32>) -> Reply {
    blocking(api, move |s| {
        let mut names: Vec<String> = with_id(s, id)?.into_iter().map(|v| v.subject).collect();
        names.dedup();
        Ok(reply(json!(names)))
    })
    .await
}

pub(super) async fn id_versions(State(api): Api, Path(id): Path<u32>) -> Reply {
    blocking(api, move |s| {
        let pairs: Vec<Value> = with_id(s, id)?
            .iter()
            .map(|v| json!({"subject": v.subject, "version": v.version}))
            .collect();
        Ok(reply(json!(pairs)))
    })
    .await
}
