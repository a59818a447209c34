//! Namespace use-cases: create, metadata, v1 role mappings (ARN → role, owned by the
//! namespace) and v2 role mappings (the namespace shared with another namespace), and
//! the role bindings the database grants a caller.

use crate::views::RoleMappingV2View;
use crate::{Service, ServiceError, ensure_namespace};
use conda_store_core::authorization::{ArnPattern, Role, UnknownRole};
use conda_store_db::entity::{namespace, namespace_role_mapping, namespace_role_mapping_v2};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::Value;
use std::collections::BTreeMap;

/// Which role-mapping tables grant database role bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleMappingsVersion {
    /// `namespace_role_mapping`: the caller's primary namespace lists ARNs and roles.
    V1,
    /// `namespace_role_mapping_v2`: namespaces shared with the caller's primary
    /// namespace.
    V2,
}

/// A role as stored in the role-mapping tables (`editor` is stored as `developer`).
fn stored_role(role: &str) -> Result<String, ServiceError> {
    let parsed: Role = role
        .parse()
        .map_err(|error: UnknownRole| ServiceError::Invalid(error.to_string()))?;
    Ok(parsed.as_str().to_owned())
}

impl Service {
    /// Creates the namespace `name`; 409 when it exists.
    pub async fn create_namespace(&self, name: &str) -> Result<(), ServiceError> {
        if !conda_store_core::specification::is_valid_name(name) {
            return Err(ServiceError::InvalidName(name.to_owned()));
        }
        let transaction = conda_store_db::begin_write(&self.database).await?;
        let exists = namespace::Entity::find()
            .filter(namespace::Column::Name.eq(name))
            .one(&transaction)
            .await?
            .is_some();
        if exists {
            return Err(ServiceError::Conflict(
                "namespace already exists".to_owned(),
            ));
        }
        ensure_namespace(&transaction, name).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Replaces the metadata and/or the v1 role mappings of a namespace.
    pub async fn update_namespace(
        &self,
        name: &str,
        metadata: Option<Value>,
        role_mappings: Option<BTreeMap<String, Vec<String>>>,
    ) -> Result<(), ServiceError> {
        let mut rows = Vec::new();
        for (entity, roles) in role_mappings.iter().flatten() {
            ArnPattern::parse(entity).map_err(|error| ServiceError::Invalid(error.to_string()))?;
            for role in roles {
                rows.push((entity.clone(), stored_role(role)?));
            }
        }
        let transaction = conda_store_db::begin_write(&self.database).await?;
        let found = self.existing_namespace(name).await?;
        if let Some(metadata) = metadata {
            namespace::ActiveModel {
                id: Set(found.id),
                metadata_: Set(Some(metadata)),
                ..Default::default()
            }
            .update(&transaction)
            .await?;
        }
        if role_mappings.is_some() {
            namespace_role_mapping::Entity::delete_many()
                .filter(namespace_role_mapping::Column::NamespaceId.eq(found.id))
                .exec(&transaction)
                .await?;
            for (entity, role) in rows {
                namespace_role_mapping::ActiveModel {
                    namespace_id: Set(found.id),
                    entity: Set(entity),
                    role: Set(role),
                    ..Default::default()
                }
                .insert(&transaction)
                .await?;
            }
        }
        transaction.commit().await?;
        Ok(())
    }

    /// The v2 mapping sharing `namespace_name` with `other_namespace`; NotFound when
    /// there is none, Invalid when either namespace does not exist.
    pub async fn namespace_role_mapping_v2(
        &self,
        namespace_name: &str,
        other_namespace: &str,
    ) -> Result<RoleMappingV2View, ServiceError> {
        let (namespace_id, other_id) = self.namespace_pair(namespace_name, other_namespace).await?;
        let row = namespace_role_mapping_v2::Entity::find()
            .filter(namespace_role_mapping_v2::Column::NamespaceId.eq(namespace_id))
            .filter(namespace_role_mapping_v2::Column::OtherNamespaceId.eq(other_id))
            .one(&self.database)
            .await?
            .ok_or_else(|| ServiceError::NotFound("failed to find role".to_owned()))?;
        Ok(RoleMappingV2View {
            id: row.id,
            namespace: namespace_name.to_owned(),
            other_namespace: other_namespace.to_owned(),
            role: row.role,
        })
    }

    /// Shares `namespace_name` with `other_namespace` as `role` (creating or, with
    /// `replace`, updating the mapping).
    pub async fn put_namespace_role_mapping_v2(
        &self,
        namespace_name: &str,
        other_namespace: &str,
        role: &str,
    ) -> Result<(), ServiceError> {
        let role = stored_role(role)?;
        let (namespace_id, other_id) = self.namespace_pair(namespace_name, other_namespace).await?;
        let transaction = conda_store_db::begin_write(&self.database).await?;
        let existing = namespace_role_mapping_v2::Entity::find()
            .filter(namespace_role_mapping_v2::Column::NamespaceId.eq(namespace_id))
            .filter(namespace_role_mapping_v2::Column::OtherNamespaceId.eq(other_id))
            .one(&transaction)
            .await?;
        match existing {
            Some(row) => {
                namespace_role_mapping_v2::ActiveModel {
                    id: Set(row.id),
                    role: Set(role),
                    ..Default::default()
                }
                .update(&transaction)
                .await?;
            }
            None => {
                namespace_role_mapping_v2::ActiveModel {
                    namespace_id: Set(namespace_id),
                    other_namespace_id: Set(other_id),
                    role: Set(role),
                    ..Default::default()
                }
                .insert(&transaction)
                .await?;
            }
        }
        transaction.commit().await?;
        Ok(())
    }

    /// Stops sharing `namespace_name` with `other_namespace`.
    pub async fn delete_namespace_role_mapping_v2(
        &self,
        namespace_name: &str,
        other_namespace: &str,
    ) -> Result<(), ServiceError> {
        let (namespace_id, other_id) = self.namespace_pair(namespace_name, other_namespace).await?;
        namespace_role_mapping_v2::Entity::delete_many()
            .filter(namespace_role_mapping_v2::Column::NamespaceId.eq(namespace_id))
            .filter(namespace_role_mapping_v2::Column::OtherNamespaceId.eq(other_id))
            .exec(&self.database)
            .await?;
        Ok(())
    }

    /// Stops sharing `namespace_name` with anyone.
    pub async fn delete_namespace_role_mappings_v2(
        &self,
        namespace_name: &str,
    ) -> Result<(), ServiceError> {
        let found = self.existing_namespace(namespace_name).await?;
        namespace_role_mapping_v2::Entity::delete_many()
            .filter(namespace_role_mapping_v2::Column::NamespaceId.eq(found.id))
            .exec(&self.database)
            .await?;
        Ok(())
    }

    /// The role bindings (ARN pattern → roles) the database grants members of
    /// `primary_namespace`.
    pub async fn database_role_bindings(
        &self,
        primary_namespace: &str,
        version: RoleMappingsVersion,
    ) -> Result<Vec<(String, String)>, ServiceError> {
        let Some(primary) = namespace::Entity::find()
            .filter(namespace::Column::Name.eq(primary_namespace))
            .filter(namespace::Column::DeletedOn.is_null())
            .one(&self.database)
            .await?
        else {
            return Ok(Vec::new());
        };
        match version {
            RoleMappingsVersion::V1 => Ok(namespace_role_mapping::Entity::find()
                .filter(namespace_role_mapping::Column::NamespaceId.eq(primary.id))
                .order_by_asc(namespace_role_mapping::Column::Id)
                .all(&self.database)
                .await?
                .into_iter()
                .map(|row| (row.entity, row.role))
                .collect()),
            RoleMappingsVersion::V2 => {
                let rows = namespace_role_mapping_v2::Entity::find()
                    .filter(namespace_role_mapping_v2::Column::OtherNamespaceId.eq(primary.id))
                    .order_by_asc(namespace_role_mapping_v2::Column::Id)
                    .all(&self.database)
                    .await?;
                let shared: std::collections::HashMap<i32, String> = namespace::Entity::find()
                    .filter(namespace::Column::Id.is_in(rows.iter().map(|row| row.namespace_id)))
                    .filter(namespace::Column::DeletedOn.is_null())
                    .all(&self.database)
                    .await?
                    .into_iter()
                    .filter_map(|row| Some((row.id, row.name?)))
                    .collect();
                Ok(rows
                    .into_iter()
                    .filter_map(|row| {
                        let name = shared.get(&row.namespace_id)?;
                        Some((format!("{name}/*"), row.role))
                    })
                    .collect())
            }
        }
    }

    /// The ids of two existing namespaces; Invalid naming the one that is missing.
    async fn namespace_pair(
        &self,
        namespace_name: &str,
        other_namespace: &str,
    ) -> Result<(i32, i32), ServiceError> {
        let mut ids = Vec::new();
        for name in [namespace_name, other_namespace] {
            let found = self
                .existing_namespace(name)
                .await
                .map_err(|_| ServiceError::Invalid(format!("namespace {name} does not exist")))?;
            ids.push(found.id);
        }
        Ok((ids[0], ids[1]))
    }
}
