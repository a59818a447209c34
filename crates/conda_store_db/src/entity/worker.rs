//! `worker`: Legacy worker readiness rows of the Python conda-store.

use sea_orm::entity::prelude::*;

/// A row of `worker`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "worker")]
pub struct Model {
    #[sea_orm(primary_key)]
    /// Column `id`.
    pub id: i32,
    /// Column `initialized`.
    pub initialized: Option<bool>,
}

/// Foreign keys of this table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
