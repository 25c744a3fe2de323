//! Tata's WhatsApp templates, as its template API last listed them.

use sea_orm::entity::prelude::*;

/// One template in one language. Written by the workers' refresh (every
/// template Tata lists, whatever its status; one it no longer lists is
/// removed); the console offers the approved ones it can send.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "whatsapp_templates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub language: String,
    /// `APPROVED`, `PENDING`, `REJECTED`, `PAUSED` or `DISABLED`.
    pub status: String,
    pub category: Option<String>,
    /// The body's text, with its `{{n}}` fields.
    pub body: Option<String>,
    /// How many fields the body takes.
    pub parameters: i32,
    /// Every component as Tata listed it.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub components: Option<Json>,
    /// When the refresh that wrote it ran.
    pub fetched_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The template as Tata listed it (what decides whether it can be
    /// sent); stored components that do not read are an error.
    pub fn template(&self) -> Result<shared::templates::Template, serde_json::Error> {
        let components = match &self.components {
            Some(components) => serde_json::from_value(components.clone())?,
            None => Vec::new(),
        };
        Ok(shared::templates::Template {
            name: self.name.clone(),
            language: self.language.clone(),
            status: self.status.clone(),
            category: self.category.clone(),
            components,
        })
    }
}
