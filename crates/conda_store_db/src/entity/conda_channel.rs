//! `conda_channel`: A conda channel, by its normalised URL.

use sea_orm::entity::prelude::*;

/// A row of `conda_channel`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "conda_channel")]
pub struct Model {
    #[sea_orm(primary_key)]
    /// Column `id`.
    pub id: i32,
    #[sea_orm(column_type = "String(StringLen::N(255))", unique)]
    /// Column `name`.
    pub name: String,
    /// Column `last_update`.
    pub last_update: Option<DateTime>,
}

/// Foreign keys of this table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
