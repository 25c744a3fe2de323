//! The console's HTML. maud escapes every interpolated value, so text
//! from partners or customers is always shown as text, never as markup;
//! nothing here uses `PreEscaped` on data.

use crate::auth::{Role, Staff};
use maud::{DOCTYPE, Markup, html};

/// The `<head>` of every page; signed-in pages carry their CSRF token.
fn head(title: &str, csrf: Option<&str>) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            @if let Some(csrf) = csrf {
                meta name="csrf-token" content=(csrf);
            }
            title { (title) " · leadpipe" }
            link rel="stylesheet" href="/assets/console.css";
        }
    }
}

/// The frame of every signed-in page: navigation, who is signed in, the
/// sign-out form, and the CSRF token for the page's scripts.
pub fn page(title: &str, staff: &Staff, active: &str, body: Markup) -> Markup {
    // Unread notifications lead the tab's title, seen from another tab.
    let title = match staff.unread {
        0 => title.to_owned(),
        n => format!("({n}) {title}"),
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(&title, Some(&staff.csrf_token)))
            body {
                header.top {
                    span.brand { "leadpipe" }
                    nav {
                        a href="/tata-chat/" class=[(active == "chat").then_some("active")] { "WhatsApp" }
                        a href="/leads/" class=[(active == "leads").then_some("active")] { "Leads" }
                        a href="/follow-ups/" class=[(active == "follow-ups").then_some("active")] { "Follow-ups" }
                        a #nav-notifications href="/notifications/" class=[(active == "notifications").then_some("active")] {
                            "Alerts"
                            @if staff.unread > 0 { " " span.unread-count #unread-count { (staff.unread) } }
                        }
                        @if staff.role.sees_all_leads() {
                            a #nav-reports href="/reports/" class=[(active == "reports").then_some("active")] { "Reports" }
                        }
                        @if staff.role == Role::Manager {
                            a #nav-rules href="/desk/rules" class=[(active == "rules").then_some("active")] { "Routing" }
                            a #nav-canned href="/desk/canned" class=[(active == "canned").then_some("active")] { "Canned" }
                        }
                        @if staff.role == Role::Operator {
                            a #nav-operator href="/operator/" class=[(active == "operator").then_some("active")] { "Operations" }
                        }
                    }
                    form.signout method="post" action="/logout" {
                        span.who { (staff.username) " (" (staff.role.name()) ")" }
                        input type="hidden" name="csrf_token" value=(staff.csrf_token);
                        button type="submit" { "Sign out" }
                    }
                }
                main { (body) }
                script src="/assets/live.js" {}
                script src="/assets/console.js" {}
            }
        }
    }
}

/// The sign-in form; `error` says why the last attempt failed.
pub fn login(csrf: &str, error: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head("Sign in", None))
            body.login {
                form.login method="post" action="/login" {
                    h1 { "leadpipe" }
                    p { "Dealer console" }
                    @if let Some(error) = error {
                        p.error role="alert" { (error) }
                    }
                    input type="hidden" name="csrf_token" value=(csrf);
                    label { "User name" input name="username" autocomplete="username" required autofocus; }
                    label { "Password" input name="password" type="password" autocomplete="current-password" required; }
                    button type="submit" { "Sign in" }
                }
            }
        }
    }
}

/// The WhatsApp chat panel: the conversation list and the open thread are
/// filled and kept current by `console.js`, from the ajax routes.
pub fn chat(staff: &Staff) -> Markup {
    page(
        "WhatsApp",
        staff,
        "chat",
        html! {
            div.chat {
                section.conversations {
                    // Whose conversations: console.js fills the counts.
                    div.views #views {
                        button type="button" data-view="mine" { "Mine " span.count {} }
                        button type="button" data-view="unassigned" { "Unassigned " span.count {} }
                        button.current type="button" data-view="all" { "All " span.count {} }
                    }
                    input #search type="search" aria-label="Search conversations" placeholder="Search name or number" autocomplete="off";
                    select #status-filter aria-label="Status" {
                        option value="" { "Any status" }
                        option value="open" { "Open" }
                        option value="pending" { "Pending" }
                        option value="resolved" { "Resolved" }
                        option value="snoozed" { "Snoozed" }
                    }
                    ul #conversations {}
                }
                section.thread #thread hidden {
                    div.thread-head {
                        button #back type="button" { "←" }
                        div {
                            strong #thread-name {}
                            span #thread-phone {}
                        }
                        a #thread-lead href="#" { "Lead timeline" }
                        select #thread-status aria-label="Conversation status" {
                            option value="open" { "Open" }
                            option value="pending" { "Pending" }
                            option value="resolved" { "Resolved" }
                            option value="snoozed" { "Snoozed until they write" }
                            option value="snooze-1h" { "Snooze 1 hour" }
                            option value="snooze-tomorrow" { "Snooze until tomorrow 10:00" }
                        }
                    }
                    p #window {}
                    div #messages {}
                    // The message the next reply quotes (console.js).
                    div #quoting hidden {
                        span #quoting-text {}
                        button #quoting-cancel type="button" aria-label="Do not quote" { "✕" }
                    }
                    // Canned replies matching what follows a typed "/".
                    ul #canned hidden aria-label="Canned replies" {}
                    form #reply-form {
                        textarea #reply rows="3" maxlength="4096" aria-label="Reply" placeholder="Type a reply, or / for a canned one" {}
                        // A photo or a PDF to send, the text its caption.
                        label.attach title="Attach a photo or a PDF" {
                            "Attach"
                            input #attach type="file" accept="image/jpeg,image/png,application/pdf" aria-label="Attach a photo or a PDF" {}
                        }
                        span #attached.muted {}
                        button #send type="submit" { "Send" }
                    }
                    // Outside the window: an approved template, its fields
                    // filled (console.js draws them).
                    form #template-form hidden {
                        label { "Template " select #template-name {} }
                        div #template-fields {}
                        p #template-preview {}
                        button #template-send type="submit" { "Send template" }
                        button #template-refresh type="button" hidden { "Fetch the list again" }
                        p.muted #template-list-state {}
                    }
                    // A private note on the lead, in the thread for staff.
                    details #note-box hidden {
                        summary { "Private note" }
                        form #note-form {
                            textarea #note rows="2" maxlength="4000" aria-label="Private note" placeholder="Only staff see it; never sent (@name to mention)" {}
                            button #note-send type="submit" { "Add note" }
                        }
                    }
                    p #send-status role="status" {}
                }
                section.empty #empty { p { "Choose a conversation." } }
            }
        },
    )
}
