//! `namespace_role_mapping_v2`: A v2 role binding: another namespace gets a role on a namespace.

use sea_orm::entity::prelude::*;

/// A row of `namespace_role_mapping_v2`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "namespace_role_mapping_v2")]
pub struct Model {
    #[sea_orm(primary_key)]
    /// Column `id`.
    pub id: i32,
    #[sea_orm(unique_key = "_uc")]
    /// Column `namespace_id`.
    pub namespace_id: i32,
    #[sea_orm(unique_key = "_uc")]
    /// Column `other_namespace_id`.
    pub other_namespace_id: i32,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    /// Column `role`.
    pub role: String,
}

/// Foreign keys of this table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::namespace::Entity",
        from = "Column::NamespaceId",
        to = "super::namespace::Column::Id"
    )]
    /// `NamespaceId` references `namespace`.
    Namespace,
    #[sea_orm(
        belongs_to = "super::namespace::Entity",
        from = "Column::OtherNamespaceId",
        to = "super::namespace::Column::Id"
    )]
    /// `OtherNamespaceId` references `namespace`.
    OtherNamespace,
}

impl ActiveModelBehavior for ActiveModel {}
