//! Namespace use-cases: create, metadata, v1 role mappings (ARN → role, owned by the
//! namespace) and v2 role mappings (the namespace shared with another namespace), and
//! the role bindings the database grants a caller.

use crate::views::RoleMappingV2View;
use crate::{Service, ServiceError, ensure_namespace};
use conda_store_core::authorization::{ArnPattern, Role, UnknownRole};
use conda_store_db::entity::{namespace, namespace_role_mapping, namespace_role_mapping_v2};
use sea_orm::sea_query::{Alias, Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect,
    RelationTrait, Set,
};
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
    /// `primary_namespace`, in one query (every authenticated request asks).
    pub async fn database_role_bindings(
        &self,
        primary_namespace: &str,
        version: RoleMappingsVersion,
    ) -> Result<Vec<(String, String)>, ServiceError> {
        let primary = Alias::new("primary_namespace");
        let bindings = match version {
            RoleMappingsVersion::V1 => {
                namespace_role_mapping::Entity::find()
                    .join_as(
                        JoinType::InnerJoin,
                        namespace_role_mapping::Relation::Namespace.def(),
                        primary.clone(),
                    )
                    .select_only()
                    .column(namespace_role_mapping::Column::Entity)
                    .column(namespace_role_mapping::Column::Role)
                    .filter(
                        Expr::col((primary.clone(), namespace::Column::Name)).eq(primary_namespace),
                    )
                    .filter(Expr::col((primary, namespace::Column::DeletedOn)).is_null())
                    .order_by_asc(namespace_role_mapping::Column::Id)
                    .into_tuple::<(String, String)>()
                    .all(&self.database)
                    .await?
            }
            RoleMappingsVersion::V2 => {
                // Namespaces shared with the primary one grant their role on `{shared}/*`.
                let shared = Alias::new("shared_namespace");
                namespace_role_mapping_v2::Entity::find()
                    .join_as(
                        JoinType::InnerJoin,
                        namespace_role_mapping_v2::Relation::OtherNamespace.def(),
                        primary.clone(),
                    )
                    .join_as(
                        JoinType::InnerJoin,
                        namespace_role_mapping_v2::Relation::Namespace.def(),
                        shared.clone(),
                    )
                    .select_only()
                    .column_as(Expr::col((shared.clone(), namespace::Column::Name)), "name")
                    .column(namespace_role_mapping_v2::Column::Role)
                    .filter(
                        Expr::col((primary.clone(), namespace::Column::Name)).eq(primary_namespace),
                    )
                    .filter(Expr::col((primary, namespace::Column::DeletedOn)).is_null())
                    .filter(Expr::col((shared, namespace::Column::DeletedOn)).is_null())
                    .order_by_asc(namespace_role_mapping_v2::Column::Id)
                    .into_tuple::<(Option<String>, String)>()
                    .all(&self.database)
                    .await?
                    .into_iter()
                    .filter_map(|(name, role)| Some((format!("{}/*", name?), role)))
                    .collect()
            }
        };
        Ok(bindings)
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
