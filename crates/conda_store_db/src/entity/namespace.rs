//! `namespace`: A namespace: the unit of ownership and sharing of environments.

use sea_orm::entity::prelude::*;

/// A row of `namespace`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "namespace")]
pub struct Model {
    #[sea_orm(primary_key)]
    /// Column `id`.
    pub id: i32,
    #[sea_orm(column_type = "String(StringLen::N(255))", unique)]
    /// Column `name`.
    pub name: Option<String>,
    /// Column `deleted_on`.
    pub deleted_on: Option<DateTime>,
    #[sea_orm(column_name = "metadata_")]
    /// Column `metadata_`.
    pub metadata_: Option<Json>,
}

/// Foreign keys of this table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
