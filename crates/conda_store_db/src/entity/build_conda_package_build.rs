//! `build_conda_package_build`: Links a build to each package build installed in it.

use sea_orm::entity::prelude::*;

/// A row of `build_conda_package_build`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "build_conda_package_build")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    /// Column `build_id`.
    pub build_id: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    /// Column `conda_package_build_id`.
    pub conda_package_build_id: i32,
}

/// Foreign keys of this table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::build::Entity",
        from = "Column::BuildId",
        to = "super::build::Column::Id",
        on_delete = "Cascade"
    )]
    /// `BuildId` references `build`.
    Build,
    #[sea_orm(
        belongs_to = "super::conda_package_build::Entity",
        from = "Column::CondaPackageBuildId",
        to = "super::conda_package_build::Column::Id",
        on_delete = "Cascade"
    )]
    /// `CondaPackageBuildId` references `conda_package_build`.
    CondaPackageBuild,
}

impl ActiveModelBehavior for ActiveModel {}
