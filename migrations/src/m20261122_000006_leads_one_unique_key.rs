//! A lead's id is derived from its phone number (UUID v5), so the phone's
//! own unique constraint only duplicated the primary key's, and on
//! PostgreSQL it made concurrent first sightings of one person race: an
//! upsert arbitrates one unique index, and two new rows could collide on the
//! other (`leads_pkey`) with an error instead of an update. PostgreSQL keeps
//! one unique index (the key) and a plain one on the phone for look-ups.
//! SQLite has one writer at a time and no such race; its table stays.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE leads DROP CONSTRAINT IF EXISTS leads_phone_key")
            .await?;
        db.execute_unprepared("CREATE INDEX IF NOT EXISTS idx_leads_phone ON leads (phone)")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS idx_leads_phone")
            .await?;
        db.execute_unprepared("ALTER TABLE leads ADD CONSTRAINT leads_phone_key UNIQUE (phone)")
            .await?;
        Ok(())
    }
}
