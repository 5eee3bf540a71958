// Copyright 2026 The matrix-do authors
// SPDX-License-Identifier: Apache-2.0

//! A test client on matrix-rust-sdk, the SDK Element X is built on, doing what Element X does
//! when someone logs in: a password login, the room list service over simplified sliding sync
//! (MSC4186, Synapse's native implementation), a room's timeline read and a message sent.
//!
//! ```text
//! element-x-client --homeserver URL --user @bob:example.org --password-stdin
//!     --room-id '!room:example.org' --expect-body TEXT [--expect-sender @alice:example.org]
//!     --reply TEXT [--ca-file PEM] [--stay-on-homeserver] [--timeout-secs 120]
//! ```
//!
//! `--stay-on-homeserver` keeps talking to `--homeserver` after the login even when the login
//! response names another base URL (its well-known), for a server reached at a test address
//! (Synapse on loopback) rather than its public one; Element X follows that URL.
//!
//! The password is read from standard input (its first line), never from the command line.
//! On success it prints one JSON line of figures to standard output and exits 0; times are
//! milliseconds since the login request started. On failure it says why on standard error and
//! exits 1 (2 for a bad command line). Progress goes to standard error.

#![recursion_limit = "256"]

use std::{collections::HashSet, process::ExitCode, sync::Arc, time::Duration, time::Instant};

use futures_util::StreamExt;
use matrix_sdk::{
    Client,
    reqwest::Certificate,
    ruma::{
        OwnedEventId, OwnedRoomId, OwnedUserId,
        events::room::message::{OriginalSyncRoomMessageEvent, RoomMessageEventContent},
    },
    sliding_sync::{Version, VersionBuilder},
};
use matrix_sdk_ui::{
    eyeball_im::Vector,
    room_list_service::{RoomListItem, filters::new_filter_non_left},
    sync_service::SyncService,
    timeline::{EventSendState, EventTimelineItem, LatestEventValue, RoomExt, TimelineItem},
};
use serde_json::json;
use tokio::io::AsyncBufReadExt;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// How many rooms the room list shows at once (Element X asks for pages of this order).
const PAGE_SIZE: usize = 50;

struct Args {
    homeserver: String,
    user: String,
    room_id: OwnedRoomId,
    expect_body: String,
    expect_sender: Option<OwnedUserId>,
    reply: String,
    ca_file: Option<String>,
    stay_on_homeserver: bool,
    timeout: Duration,
}

const USAGE: &str = "usage: element-x-client --homeserver URL --user USER --password-stdin --room-id ROOM \
--expect-body TEXT [--expect-sender USER] --reply TEXT [--ca-file PEM] [--stay-on-homeserver] [--timeout-secs N]";

fn parse_args() -> Result<Args, String> {
    let mut values = std::collections::HashMap::new();
    let mut password_stdin = false;
    let mut stay_on_homeserver = false;
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        match flag.as_str() {
            "--password-stdin" => password_stdin = true,
            "--stay-on-homeserver" => stay_on_homeserver = true,
            "--homeserver" | "--user" | "--room-id" | "--expect-body" | "--expect-sender"
            | "--reply" | "--ca-file" | "--timeout-secs" => {
                let value = argv.next().ok_or(format!("{flag} needs a value"))?;
                values.insert(flag, value);
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    if !password_stdin {
        return Err(
            "--password-stdin is required: the password is never taken from the command line"
                .into(),
        );
    }
    let mut take = |name: &str| values.remove(name);
    let mut required = |name: &str| take(name).ok_or(format!("{name} is required"));
    let homeserver = required("--homeserver")?;
    let user = required("--user")?;
    let room_id = required("--room-id")?;
    let expect_body = required("--expect-body")?;
    let reply = required("--reply")?;
    let room_id = OwnedRoomId::try_from(room_id).map_err(|e| format!("--room-id: {e}"))?;
    let expect_sender = take("--expect-sender")
        .map(|s| OwnedUserId::try_from(s).map_err(|e| format!("--expect-sender: {e}")))
        .transpose()?;
    let ca_file = take("--ca-file");
    let timeout = match take("--timeout-secs") {
        Some(s) => Duration::from_secs(s.parse().map_err(|e| format!("--timeout-secs: {e}"))?),
        None => Duration::from_secs(120),
    };
    Ok(Args {
        homeserver,
        user,
        room_id,
        expect_body,
        expect_sender,
        reply,
        ca_file,
        stay_on_homeserver,
        timeout,
    })
}

/// Progress, on standard error.
fn note(started: Instant, what: impl AsRef<str>) {
    eprintln!(
        "[element-x-client {:>6} ms] {}",
        started.elapsed().as_millis(),
        what.as_ref()
    );
}

/// A timeline item that is a message: its body, and the event.
fn message(item: &TimelineItem) -> Option<(&str, &EventTimelineItem)> {
    let event = item.as_event()?;
    Some((event.content().as_message()?.body(), event))
}

async fn run(args: Args, password: String) -> Result<serde_json::Value, Error> {
    let mut builder = Client::builder()
        .homeserver_url(&args.homeserver)
        // As Element X: simplified sliding sync, found in the server's /versions (MSC4186's
        // `org.matrix.simplified_msc3575`); building fails if the server does not advertise it.
        .sliding_sync_version_builder(VersionBuilder::DiscoverNative)
        .respect_login_well_known(!args.stay_on_homeserver);
    if let Some(file) = &args.ca_file {
        let pem = std::fs::read(file).map_err(|e| format!("--ca-file {file}: {e}"))?;
        let certificates =
            Certificate::from_pem_bundle(&pem).map_err(|e| format!("--ca-file {file}: {e}"))?;
        builder = builder.add_root_certificates(certificates);
    }
    let client = builder
        .build()
        .await
        .map_err(|e| format!("building the client against {}: {e}", args.homeserver))?;
    let sliding_sync_version = match client.sliding_sync_version() {
        Version::Native => "native",
        Version::None => return Err("the client has no sliding sync version".into()),
    };

    let started = Instant::now();
    client
        .matrix_auth()
        .login_username(&args.user, &password)
        .initial_device_display_name("element-x-client (matrix-do test)")
        .await
        .map_err(|e| format!("password login as {}: {e}", args.user))?;
    let logged_in_ms = started.elapsed().as_millis();
    let own_user = client.user_id().ok_or("no user id after login")?.to_owned();
    let device_id = client.device_id().map(|d| d.to_string());
    note(started, format!("logged in as {own_user}"));

    // The room's messages as sync responses bring them (not as the SDK caches what it sends).
    let (to_list, mut from_sync) = tokio::sync::mpsc::unbounded_channel::<OwnedEventId>();
    client.add_room_event_handler(&args.room_id, move |event: OriginalSyncRoomMessageEvent| {
        let to_list = to_list.clone();
        async move {
            let _ = to_list.send(event.event_id);
        }
    });
    let mut synced = HashSet::new();

    // The sync service runs the room list service (and the encryption sync) over sliding sync.
    let sync_service = SyncService::builder(client.clone()).build().await?;
    let room_list_service = sync_service.room_list_service();
    let all_rooms = room_list_service.all_rooms().await?;
    let (entries, controller) = all_rooms.entries_with_dynamic_adapters(PAGE_SIZE);
    let mut entries = Box::pin(entries);
    controller.set_filter(Box::new(new_filter_non_left()));
    sync_service.start().await;
    note(started, "sync service started");

    // The room list, until it shows the room.
    let mut rooms: Vector<RoomListItem> = Vector::new();
    while !rooms.iter().any(|room| room.room_id() == args.room_id) {
        let diffs = entries.next().await.ok_or("the room list stream ended")?;
        for diff in diffs {
            diff.apply(&mut rooms);
        }
    }
    let room_seen_ms = started.elapsed().as_millis();
    let rooms_in_list = rooms.len();
    note(
        started,
        format!(
            "room {} in the room list ({rooms_in_list} rooms)",
            args.room_id
        ),
    );

    // Opening the room, as Element X does: subscribe to it, then its timeline.
    room_list_service.subscribe_to_rooms(&[&args.room_id]).await;
    let room = room_list_service.room(&args.room_id)?;
    let timeline = room.timeline().await?;
    let (mut items, mut updates) = timeline.subscribe().await;
    let is_expected = |item: &Arc<TimelineItem>| {
        message(item).is_some_and(|(body, event)| {
            body == args.expect_body
                && event.sender() != own_user
                && (args.expect_sender.as_deref()).is_none_or(|s| s == event.sender())
        })
    };
    let mut paginated = false;
    while !items.iter().any(is_expected) {
        tokio::select! {
            diffs = updates.next() => {
                for diff in diffs.ok_or("the timeline stream ended")? {
                    diff.apply(&mut items);
                }
            }
            // Not in what sync brought: look back, as scrolling up would.
            _ = tokio::time::sleep(Duration::from_secs(3)), if !paginated => {
                paginated = true;
                note(started, "message not in the synced timeline yet: paginating back");
                timeline.paginate_backwards(50).await?;
            }
        }
    }
    let message_seen_ms = started.elapsed().as_millis();
    note(
        started,
        format!("saw {:?} from another user", args.expect_body),
    );

    // The room list's preview of the room (its latest event), for the record.
    let latest_event_body = match room.latest_event().await {
        LatestEventValue::Remote { content, .. } | LatestEventValue::Local { content, .. } => {
            content.as_message().map(|m| m.body().to_owned())
        }
        _ => None,
    };

    // The reply, through the send queue: a local echo, then the server's event id.
    timeline
        .send(RoomMessageEventContent::text_plain(&args.reply).into())
        .await?;
    let reply_event_id = loop {
        let mut sent = None;
        for (body, event) in items.iter().filter_map(|item| message(item)) {
            if body != args.reply || !event.is_own() {
                continue;
            }
            match event.send_state() {
                Some(EventSendState::SendingFailed { error, .. }) => {
                    return Err(format!("sending the reply failed: {error}").into());
                }
                Some(EventSendState::Sent { event_id }) => sent = Some(event_id.clone()),
                // What the send queue sent, it also puts in the event cache: a remote item.
                None if event.is_remote_event() => sent = event.event_id().map(ToOwned::to_owned),
                _ => {}
            }
        }
        if let Some(id) = sent {
            break id;
        }
        for diff in updates.next().await.ok_or("the timeline stream ended")? {
            diff.apply(&mut items);
        }
    };
    let reply_sent_ms = started.elapsed().as_millis();
    note(started, format!("reply sent: {reply_event_id}"));

    // Back through sync. The timeline alone cannot tell (the SDK caches what it sent as if the
    // server had echoed it); the handlers of sync responses can.
    while !synced.contains(&reply_event_id) {
        synced.insert(
            from_sync
                .recv()
                .await
                .ok_or("the sync event handler stopped")?,
        );
    }
    let reply_echoed_ms = started.elapsed().as_millis();
    note(started, "reply came back through sliding sync");

    sync_service.stop().await;
    Ok(json!({
        "userId": own_user.to_string(),
        "deviceId": device_id,
        "slidingSyncVersion": sliding_sync_version,
        "loggedInMs": logged_in_ms,
        "roomSeenMs": room_seen_ms,
        "roomsInList": rooms_in_list,
        "messageSeenMs": message_seen_ms,
        "paginated": paginated,
        "latestEventBody": latest_event_body,
        "replySentMs": reply_sent_ms,
        "replyEchoedMs": reply_echoed_ms,
        "replyEventId": reply_event_id.to_string(),
    }))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("element-x-client: {error}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut password = String::new();
    if let Err(error) = tokio::io::BufReader::new(tokio::io::stdin())
        .read_line(&mut password)
        .await
    {
        eprintln!("element-x-client: reading the password from stdin: {error}");
        return ExitCode::from(2);
    }
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        eprintln!("element-x-client: no password on stdin");
        return ExitCode::from(2);
    }
    let timeout = args.timeout;
    match tokio::time::timeout(timeout, run(args, password)).await {
        Ok(Ok(figures)) => {
            println!("{figures}");
            ExitCode::SUCCESS
        }
        Ok(Err(error)) => {
            eprintln!("element-x-client: {error}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("element-x-client: timed out after {} s", timeout.as_secs());
            ExitCode::FAILURE
        }
    }
}
