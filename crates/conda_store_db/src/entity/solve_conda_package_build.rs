//! `solve_conda_package_build`: Links a solve to each package build it chose.

use sea_orm::entity::prelude::*;

/// A row of `solve_conda_package_build`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "solve_conda_package_build")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    /// Column `solve_id`.
    pub solve_id: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    /// Column `conda_package_build_id`.
    pub conda_package_build_id: i32,
}

/// Foreign keys of this table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::solve::Entity",
        from = "Column::SolveId",
        to = "super::solve::Column::Id",
        on_delete = "Cascade"
    )]
    /// `SolveId` references `solve`.
    Solve,
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
