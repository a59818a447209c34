//! `conda_store_configuration`: Disk figures of the store (a single row, id 1).

use sea_orm::entity::prelude::*;

/// A row of `conda_store_configuration`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "conda_store_configuration")]
pub struct Model {
    #[sea_orm(primary_key)]
    /// Column `id`.
    pub id: i32,
    /// Column `disk_usage`.
    pub disk_usage: Option<i64>,
    /// Column `free_storage`.
    pub free_storage: Option<i64>,
    /// Column `total_storage`.
    pub total_storage: Option<i64>,
}

/// Foreign keys of this table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
