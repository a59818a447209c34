//! `namespace_role_mapping`: A v1 role binding: an ARN entity gets a role on a namespace.

use sea_orm::entity::prelude::*;

/// A row of `namespace_role_mapping`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "namespace_role_mapping")]
pub struct Model {
    #[sea_orm(primary_key)]
    /// Column `id`.
    pub id: i32,
    /// Column `namespace_id`.
    pub namespace_id: i32,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    /// Column `entity`.
    pub entity: String,
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
}

impl ActiveModelBehavior for ActiveModel {}
