//! `keyvaluestore`: A persisted settings override: `prefix` is `setting[/namespace[/environment]]`.

use sea_orm::entity::prelude::*;

/// A row of `keyvaluestore`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "keyvaluestore")]
pub struct Model {
    #[sea_orm(primary_key)]
    /// Column `id`.
    pub id: i32,
    #[sea_orm(
        column_type = "String(StringLen::None)",
        indexed,
        unique_key = "_prefix_key_uc"
    )]
    /// Column `prefix`.
    pub prefix: String,
    #[sea_orm(column_type = "String(StringLen::None)", unique_key = "_prefix_key_uc")]
    /// Column `key`.
    pub key: String,
    /// Column `value`.
    pub value: Option<Json>,
}

/// Foreign keys of this table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
