//! `specification`: An immutable, content-addressed environment specification.

use sea_orm::entity::prelude::*;

/// A row of `specification`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "specification")]
pub struct Model {
    #[sea_orm(primary_key)]
    /// Column `id`.
    pub id: i32,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    /// Column `name`.
    pub name: String,
    /// Column `spec`.
    pub spec: Json,
    #[sea_orm(column_type = "String(StringLen::N(255))", unique)]
    /// Column `sha256`.
    pub sha256: String,
    /// Column `created_on`.
    pub created_on: Option<DateTime>,
    /// Column `is_lockfile`.
    pub is_lockfile: bool,
}

/// Foreign keys of this table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
