//! Searching the webhook log: the one query behind the worker's `GET /logs`
//! and the console's operator log, newest delivery first.

use crate::delivery_log::LogStatus;
use crate::entities::webhook_log::{self, Column as Log};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Select,
};
use shared::Source;
use uuid::Uuid;

/// Which way a delivery went: from a partner to us, or from us to Tata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Webhooks partners sent.
    Incoming,
    /// Requests we sent (WhatsApp replies).
    Outgoing,
}

/// What a search asks for. Every field that is set narrows it; the default
/// finds every delivery.
#[derive(Debug, Clone, Default)]
pub struct LogSearch {
    /// From this source only.
    pub source: Option<Source>,
    /// Incoming or outgoing only.
    pub direction: Option<Direction>,
    /// With this status only.
    pub status: Option<LogStatus>,
    /// Settled for good (processed or duplicate), or not.
    pub successful: Option<bool>,
    /// Received at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Received before this time.
    pub until: Option<DateTime<Utc>>,
    /// This delivery.
    pub ingest_id: Option<Uuid>,
    /// With the partner's own id equal to each of these.
    pub partner_ref: Vec<String>,
    /// With the partner's own id among these (an empty list finds nothing).
    pub partner_ref_in: Option<Vec<String>>,
    /// A delivery whose ingest id or partner's own id is this text: what a
    /// person pastes into a search box.
    pub any_id: Option<String>,
}

/// One page of a search's results.
#[derive(Debug)]
pub struct LogPage {
    /// Every delivery the search finds, on all pages.
    pub total: u64,
    /// This page's rows, newest first.
    pub rows: Vec<webhook_log::Model>,
}

impl LogSearch {
    /// Page `page` (from 1) of `page_size` rows.
    pub async fn page(
        &self,
        db: &impl ConnectionTrait,
        page: u64,
        page_size: u64,
    ) -> Result<LogPage, DbErr> {
        let pages = self
            .select()
            .order_by_desc(Log::ReceivedAt)
            .order_by_desc(Log::IngestId)
            .paginate(db, page_size);
        let total = pages.num_items().await?;
        let rows = pages.fetch_page(page.saturating_sub(1)).await?;
        Ok(LogPage { total, rows })
    }

    fn select(&self) -> Select<webhook_log::Entity> {
        let mut select = webhook_log::Entity::find();
        if let Some(source) = self.source {
            select = select.filter(Log::Source.eq(source.name()));
        }
        if let Some(direction) = self.direction {
            let outgoing = Source::ALL
                .iter()
                .filter(|s| s.is_outgoing())
                .map(|s| s.name());
            select = select.filter(match direction {
                Direction::Incoming => Log::Source.is_not_in(outgoing),
                Direction::Outgoing => Log::Source.is_in(outgoing),
            });
        }
        if let Some(status) = self.status {
            select = select.filter(Log::Status.eq(status.as_str()));
        }
        if let Some(successful) = self.successful {
            let settled = LogStatus::ALL
                .into_iter()
                .filter(|status| status.is_successful())
                .map(LogStatus::as_str);
            select = select.filter(if successful {
                Log::Status.is_in(settled)
            } else {
                Log::Status.is_not_in(settled)
            });
        }
        if let Some(since) = self.since {
            select = select.filter(Log::ReceivedAt.gte(since));
        }
        if let Some(until) = self.until {
            select = select.filter(Log::ReceivedAt.lt(until));
        }
        if let Some(id) = self.ingest_id {
            select = select.filter(Log::IngestId.eq(id));
        }
        for partner_ref in &self.partner_ref {
            select = select.filter(Log::PartnerRef.eq(partner_ref.as_str()));
        }
        if let Some(refs) = &self.partner_ref_in {
            select = select.filter(Log::PartnerRef.is_in(refs.iter().map(String::as_str)));
        }
        if let Some(id) = &self.any_id {
            select = select.filter(match Uuid::parse_str(id) {
                Ok(uuid) => Condition::any()
                    .add(Log::IngestId.eq(uuid))
                    .add(Log::PartnerRef.eq(id.as_str())),
                Err(_) => Condition::all().add(Log::PartnerRef.eq(id.as_str())),
            });
        }
        select
    }
}
