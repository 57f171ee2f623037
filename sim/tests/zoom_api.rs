//! The Zoom simulator over real HTTP: auth, lists, meetings, settings and locks.

mod common;

use std::time::Duration;

use chaperone_sim::{FIRST_UNSAFE_ID, Scenario, SimMeeting, SimUser, ZoomSim, ZoomSimConfig};
use common::{Api, demo, demo_user, fetch_token, start};
use serde_json::{Value, json};

// ----- token flow ----------------------------------------------------------------------------

#[tokio::test]
async fn token_request_with_valid_credentials_returns_a_bearer_token_that_works() {
    let sim = ZoomSim::start(ZoomSimConfig::unlimited(), Scenario::demo())
        .await
        .unwrap();
    let resp = reqwest::Client::new()
        .post(sim.token_url())
        .query(&[
            ("grant_type", "account_credentials"),
            ("account_id", "riverside-acct"),
        ])
        .basic_auth(sim.client_id(), Some(sim.client_secret()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["token_type"], "bearer");
    assert_eq!(v["expires_in"], 3600);
    assert!(v["scope"].as_str().unwrap().contains("meeting:write:admin"));
    let token = v["access_token"].as_str().unwrap();
    let users = reqwest::Client::new()
        .get(format!("{}/users", sim.api_base_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), 200);
    assert_eq!(sim.stats().token_requests, 1);
}

#[tokio::test]
async fn token_request_accepts_the_form_body_variant() {
    let sim = ZoomSim::start(ZoomSimConfig::unlimited(), Scenario::demo())
        .await
        .unwrap();
    let resp = reqwest::Client::new()
        .post(sim.token_url())
        .basic_auth(sim.client_id(), Some(sim.client_secret()))
        .form(&[
            ("grant_type", "account_credentials"),
            ("account_id", "riverside-acct"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn token_request_with_wrong_secret_or_account_is_rejected_zoom_style() {
    let sim = ZoomSim::start(ZoomSimConfig::unlimited(), Scenario::demo())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let resp = http
        .post(sim.token_url())
        .query(&[
            ("grant_type", "account_credentials"),
            ("account_id", "riverside-acct"),
        ])
        .basic_auth(sim.client_id(), Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "invalid_client");
    assert!(v["reason"].is_string());

    let resp = http
        .post(sim.token_url())
        .query(&[
            ("grant_type", "account_credentials"),
            ("account_id", "someone-else"),
        ])
        .basic_auth(sim.client_id(), Some(sim.client_secret()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = http
        .post(sim.token_url())
        .query(&[
            ("grant_type", "client_credentials"),
            ("account_id", "riverside-acct"),
        ])
        .basic_auth(sim.client_id(), Some(sim.client_secret()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn revoked_token_gets_401_with_code_124() {
    let (sim, api) = demo().await;
    assert_eq!(api.get("/users").send().await.unwrap().status(), 200);
    sim.revoke_tokens();
    let resp = api.get("/users").send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v, json!({"code": 124, "message": "Invalid access token."}));
    assert_eq!(sim.stats().unauthorized, 1);
    // A fresh token works again.
    let fresh = fetch_token(&sim).await;
    let api = Api {
        token: fresh,
        ..api
    };
    assert_eq!(api.get("/users").send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn expired_token_gets_401_with_code_124() {
    let (_sim, api) = start(
        ZoomSimConfig::unlimited().with_token_ttl(Duration::from_millis(150)),
        Scenario::demo(),
    )
    .await;
    assert_eq!(api.get("/users").send().await.unwrap().status(), 200);
    // Ask again until the token's 150 ms are over (waiting on the expiry, not a fixed sleep).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let resp = loop {
        let resp = api.get("/users").send().await.unwrap();
        if resp.status() != 200 || std::time::Instant::now() > deadline {
            break resp;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], 124);
}

#[tokio::test]
async fn request_without_bearer_token_gets_401() {
    let (sim, _api) = demo().await;
    let resp = reqwest::get(format!("{}/users", sim.api_base_url()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

// ----- lists ---------------------------------------------------------------------------------

#[tokio::test]
async fn users_paginate_across_pages_until_an_empty_next_page_token() {
    let (_sim, api) = demo().await;
    let mut token = String::new();
    let mut emails = Vec::new();
    let mut pages = 0;
    loop {
        let v = api
            .get_json(&format!("/users?page_size=5&next_page_token={token}"))
            .await;
        assert_eq!(v["page_size"], 5);
        assert_eq!(v["total_records"], 13);
        assert_eq!(v["page_count"], 3);
        for u in v["users"].as_array().unwrap() {
            for field in [
                "id",
                "email",
                "first_name",
                "last_name",
                "display_name",
                "type",
                "status",
                "group_ids",
            ] {
                assert!(u.get(field).is_some(), "user item lacks {field}");
            }
            emails.push(u["email"].as_str().unwrap().to_string());
        }
        pages += 1;
        token = v["next_page_token"].as_str().unwrap().to_string();
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(pages, 3);
    emails.sort();
    emails.dedup();
    assert_eq!(emails.len(), 13);
    assert!(emails.contains(&demo_user("duty.officer")));
}

#[tokio::test]
async fn meeting_list_paginates_and_items_carry_only_list_fields() {
    let (_sim, api) = start(ZoomSimConfig::unlimited(), Scenario::bench(1, 45)).await;
    let host = "worker00000@riverside.example.org";
    let mut token = String::new();
    let mut ids = Vec::new();
    loop {
        let v = api
            .get_json(&format!(
                "/users/{host}/meetings?type=upcoming&page_size=20&next_page_token={token}"
            ))
            .await;
        assert_eq!(v["total_records"], 45);
        for m in v["meetings"].as_array().unwrap() {
            assert!(m.get("settings").is_none(), "list items have no settings");
            assert!(m.get("password").is_none());
            for field in [
                "uuid",
                "id",
                "host_id",
                "topic",
                "type",
                "start_time",
                "duration",
                "timezone",
                "created_at",
                "join_url",
            ] {
                assert!(m.get(field).is_some(), "list item lacks {field}");
            }
            ids.push(m["id"].as_u64().unwrap());
        }
        token = v["next_page_token"].as_str().unwrap().to_string();
        if token.is_empty() {
            break;
        }
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 45);
}

#[tokio::test]
async fn page_size_above_the_spec_maximum_is_capped() {
    let (_sim, api) = start(ZoomSimConfig::unlimited(), Scenario::bench(1, 310)).await;
    let v = api
        .get_json("/users/worker00000@riverside.example.org/meetings?page_size=1000")
        .await;
    assert_eq!(v["page_size"], 300);
    assert_eq!(v["meetings"].as_array().unwrap().len(), 300);
    assert!(!v["next_page_token"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn expired_page_token_gets_400_with_code_300() {
    let (_sim, api) = start(
        ZoomSimConfig::unlimited().with_page_token_ttl(Duration::from_millis(100)),
        Scenario::demo(),
    )
    .await;
    let v = api.get_json("/users?page_size=5").await;
    let token = v["next_page_token"].as_str().unwrap().to_string();
    // The token was issued before this instant: once 100 ms have passed since, it has expired.
    // (Asking with it to find out would use it up.)
    let issued_before = std::time::Instant::now();
    while issued_before.elapsed() < Duration::from_millis(100) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let resp = api
        .get(&format!("/users?page_size=5&next_page_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], 300);
    assert_eq!(v["message"], "The next page token is invalid or expired.");
}

#[tokio::test]
async fn groups_list_names_the_demo_groups_with_member_counts() {
    let (_sim, api) = demo().await;
    let v = api.get_json("/groups").await;
    let groups = v["groups"].as_array().unwrap();
    let count = |name: &str| {
        groups.iter().find(|g| g["name"] == name).unwrap()["total_members"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(count("Staff"), 12);
    assert_eq!(count("Youth Workers"), 6);
    assert_eq!(count("Early Years"), 2);
    assert_eq!(count("Volunteers"), 2);
}

#[tokio::test]
async fn live_meeting_has_status_started_and_is_listed_as_live() {
    let (_sim, api) = demo().await;
    let v = api
        .get_json(&format!(
            "/users/{}/meetings?type=live",
            demo_user("dan.okafor")
        ))
        .await;
    let live = v["meetings"].as_array().unwrap();
    assert_eq!(live.len(), 1);
    let id = live[0]["id"].as_u64().unwrap();
    let m = api.get_json(&format!("/meetings/{id}")).await;
    assert_eq!(m["status"], "started");
}

// ----- meetings ------------------------------------------------------------------------------

#[tokio::test]
async fn meeting_ids_above_2_pow_53_round_trip_exactly() {
    let (sim, api) = demo().await;
    let mut big = Vec::new();
    for host in ["alex.morgan", "priya.shah", "jordan.hughes"] {
        big.extend(
            api.user_meeting_ids(&demo_user(host))
                .await
                .into_iter()
                .filter(|id| *id >= FIRST_UNSAFE_ID),
        );
    }
    assert!(big.len() >= 3);
    for id in big {
        // The raw body carries the exact digits; an f64 round-trip would change them.
        let text = api
            .get(&format!("/meetings/{id}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.contains(&format!("\"id\":{id}")), "{text}");
        assert_ne!(
            (id as f64) as u64,
            id,
            "test id must not be representable in f64"
        );
        assert_eq!(sim.meeting(id).unwrap()["id"].as_u64(), Some(id));
    }
}

#[tokio::test]
async fn unknown_meeting_gets_404_with_code_3001() {
    let (_sim, api) = demo().await;
    let resp = api.get("/meetings/12345").send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v,
        json!({"code": 3001, "message": "Meeting does not exist: 12345."})
    );
}

fn one_meeting_scenario() -> (Scenario, u64) {
    let id = FIRST_UNSAFE_ID + 100;
    let start = chrono::Utc::now() + chrono::Duration::days(3);
    let sc = Scenario::empty()
        .user(SimUser::new("host@example.org", "Hana", "Host"))
        .user(SimUser::new("staff@example.org", "Sam", "Staff"))
        .user(SimUser::new("volunteer@example.org", "Val", "Unlicensed").basic())
        .meeting(
            SimMeeting::scheduled(id, "host@example.org", "[youth] Club", start, 60)
                .setting("/join_before_host", json!(true))
                .setting("/auto_recording", json!("local")),
        );
    (sc, id)
}

#[tokio::test]
async fn patch_meeting_answers_204_with_no_body_and_get_shows_the_change() {
    let (sc, id) = one_meeting_scenario();
    let (sim, api) = start(ZoomSimConfig::unlimited(), sc).await;
    let body = json!({"settings": {"auto_recording": "none", "join_before_host": false, "alternative_hosts": "staff@example.org",
        "waiting_room_options": {"mode": "custom", "who_goes_to_waiting_room": "everyone"}}});
    let resp = api
        .patch(&format!("/meetings/{id}"), &body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert!(resp.bytes().await.unwrap().is_empty());
    let m = api.get_json(&format!("/meetings/{id}")).await;
    assert_eq!(m["settings"]["auto_recording"], "none");
    assert_eq!(m["settings"]["join_before_host"], false);
    assert_eq!(m["settings"]["alternative_hosts"], "staff@example.org");
    assert_eq!(
        m["settings"]["waiting_room_options"]["who_goes_to_waiting_room"],
        "everyone"
    );
    let stats = sim.stats();
    assert_eq!(stats.writes, 1);
    assert_eq!(stats.writes_applied, 1);
    assert_eq!(stats.requests_for("PATCH", "/v2/meetings/{meetingId}"), 1);
}

#[tokio::test]
async fn waiting_room_on_turns_join_before_host_off() {
    let (sc, id) = one_meeting_scenario();
    let (_sim, api) = start(ZoomSimConfig::unlimited(), sc).await;
    let resp = api
        .patch(
            &format!("/meetings/{id}"),
            &json!({"settings": {"waiting_room": true}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let m = api.get_json(&format!("/meetings/{id}")).await;
    assert_eq!(m["settings"]["waiting_room"], true);
    assert_eq!(m["settings"]["join_before_host"], false);
}

#[tokio::test]
async fn new_passcode_changes_encrypted_password_and_join_url() {
    let (sc, id) = one_meeting_scenario();
    let (_sim, api) = start(ZoomSimConfig::unlimited(), sc).await;
    let before = api.get_json(&format!("/meetings/{id}")).await;
    assert!(before.get("password").is_none());
    assert!(!before["join_url"].as_str().unwrap().contains("pwd="));
    let resp = api
        .patch(&format!("/meetings/{id}"), &json!({"password": "Yc7k2Q"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let after = api.get_json(&format!("/meetings/{id}")).await;
    assert_eq!(after["password"], "Yc7k2Q");
    let enc = after["encrypted_password"].as_str().unwrap();
    assert!(
        after["join_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("?pwd={enc}"))
    );
    assert_eq!(after["id"], before["id"]);
}

#[tokio::test]
async fn passcode_breaking_the_hosts_requirement_is_rejected_with_code_300() {
    let (_sim, api) = demo().await;
    // Chloe's requirement: at least 8, special character, upper and lower case, no 4-sequences.
    let id = api.user_meeting_ids(&demo_user("chloe.evans")).await[0];
    for (pw, rule) in [
        ("Ab1234xy", "special"),
        ("ab1@xy9z", "upper and lower"),
        ("Ab1@x", "at least 8"),
        ("Abcde1@X", "consecutive"),
    ] {
        let resp = api
            .patch(&format!("/meetings/{id}"), &json!({"password": pw}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{pw}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["code"], 300);
        assert!(v["message"].as_str().unwrap().contains(rule), "{pw}: {v}");
    }
    let resp = api
        .patch(&format!("/meetings/{id}"), &json!({"password": "Rv7@kQ2m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
}

#[tokio::test]
async fn passcode_too_long_or_with_bad_characters_is_rejected() {
    let (sc, id) = one_meeting_scenario();
    let (_sim, api) = start(ZoomSimConfig::unlimited(), sc).await;
    let resp = api
        .patch(
            &format!("/meetings/{id}"),
            &json!({"password": "Abc1234567x"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], 300);
    assert_eq!(v["errors"][0]["field"], "password");
    let resp = api
        .patch(&format!("/meetings/{id}"), &json!({"password": "Abc12!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn wrong_types_and_invalid_json_are_400_with_code_300() {
    let (sc, id) = one_meeting_scenario();
    let (sim, api) = start(ZoomSimConfig::unlimited(), sc).await;
    let resp = api
        .patch(
            &format!("/meetings/{id}"),
            &json!({"settings": {"waiting_room": "yes"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], 300);
    assert_eq!(v["errors"][0]["field"], "settings.waiting_room");
    let resp = api
        .http
        .patch(format!("{}/meetings/{id}", api.base))
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], 300);
    // Nothing changed.
    assert_eq!(sim.meeting(id).unwrap()["settings"]["waiting_room"], false);
}

#[tokio::test]
async fn alternative_host_who_is_not_a_licensed_account_user_is_rejected() {
    let (sc, id) = one_meeting_scenario();
    let (_sim, api) = start(ZoomSimConfig::unlimited(), sc).await;
    for who in ["volunteer@example.org", "stranger@elsewhere.org"] {
        let resp = api
            .patch(
                &format!("/meetings/{id}"),
                &json!({"settings": {"alternative_hosts": who}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["code"], 1114, "{who}");
    }
}

#[tokio::test]
async fn fields_the_spec_does_not_allow_on_a_meeting_are_ignored() {
    let (sc, id) = one_meeting_scenario();
    let (sim, api) = start(ZoomSimConfig::unlimited(), sc).await;
    let resp = api
        .patch(
            &format!("/meetings/{id}"),
            &json!({"settings": {"who_can_share_screen": "host"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert!(
        sim.meeting(id).unwrap()["settings"]
            .get("who_can_share_screen")
            .is_none()
    );
}

#[tokio::test]
async fn occurrence_patch_changes_only_per_occurrence_fields() {
    let (_sim, api) = demo().await;
    let ids = api.user_meeting_ids(&demo_user("alex.morgan")).await;
    let mut series = Value::Null;
    for id in ids {
        let m = api.get_json(&format!("/meetings/{id}")).await;
        if m["type"] == 8 {
            series = m;
        }
    }
    let id = series["id"].as_u64().unwrap();
    assert!(series["occurrences"].as_array().unwrap().len() >= 5);
    assert_eq!(series["recurrence"]["type"], 2);
    let occ = series["occurrences"][1]["occurrence_id"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = api
        .patch(
            &format!("/meetings/{id}?occurrence_id={occ}"),
            &json!({"password": "Zz9yy8", "settings": {"auto_recording": "none"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let one = api
        .get_json(&format!("/meetings/{id}?occurrence_id={occ}"))
        .await;
    assert_eq!(one["settings"]["auto_recording"], "none");
    let whole = api.get_json(&format!("/meetings/{id}")).await;
    assert_eq!(whole["settings"]["auto_recording"], "local");
    assert!(
        whole.get("password").is_none(),
        "passcode cannot be set per occurrence"
    );
}

// ----- settings and locks --------------------------------------------------------------------

#[tokio::test]
async fn host_settings_show_the_drifted_values() {
    let (_sim, api) = demo().await;
    let s = api
        .get_json(&format!("/users/{}/settings", demo_user("alex.morgan")))
        .await;
    assert_eq!(s["in_meeting"]["who_can_share_screen"], "all");
    assert_eq!(s["in_meeting"]["file_transfer"], true);
    assert_eq!(s["in_meeting"]["auto_saving_chat"], false);
    assert_eq!(s["in_meeting"]["private_chat"], true);
    assert_eq!(s["recording"]["local_recording"], true);
    assert_eq!(s["recording"]["auto_recording"], "local");
    let ms = api
        .get_json(&format!(
            "/users/{}/settings?option=meeting_security",
            demo_user("alex.morgan")
        ))
        .await;
    assert_eq!(ms["meeting_security"]["waiting_room"], false);
    assert_eq!(
        ms["meeting_security"]["meeting_password_requirement"]["length"],
        6
    );
    assert_eq!(
        ms["meeting_security"]["waiting_room_settings"]["participants_to_place_in_waiting_room"],
        0
    );
}

#[tokio::test]
async fn unlocked_user_setting_patch_answers_204_and_applies() {
    let (sim, api) = demo().await;
    let user = demo_user("alex.morgan");
    let body = json!({"in_meeting": {"who_can_share_screen": "host", "file_transfer": false, "auto_saving_chat": true}});
    let resp = api
        .patch(&format!("/users/{user}/settings"), &body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let s = sim.user_settings(&user).unwrap();
    assert_eq!(s["in_meeting"]["who_can_share_screen"], "host");
    assert_eq!(s["in_meeting"]["file_transfer"], false);
    assert_eq!(s["in_meeting"]["auto_saving_chat"], true);
}

#[tokio::test]
async fn setting_locked_at_group_is_silently_ignored_with_204() {
    let (_sim, api) = demo().await;
    let user = demo_user("tom.baker");
    let body = json!({"in_meeting": {"who_can_share_screen": "host", "file_transfer": false}});
    let resp = api
        .patch(&format!("/users/{user}/settings"), &body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let s = api.get_json(&format!("/users/{user}/settings")).await;
    assert_eq!(
        s["in_meeting"]["who_can_share_screen"], "all",
        "locked by the Volunteers group"
    );
    assert_eq!(
        s["in_meeting"]["file_transfer"], false,
        "not locked, so applied"
    );
}

#[tokio::test]
async fn setting_locked_at_account_is_silently_ignored_with_204() {
    let sc = Scenario::empty()
        .user(
            SimUser::new("host@example.org", "H", "Ost")
                .setting("/in_meeting/file_transfer", json!(true)),
        )
        .account_lock("/in_meeting/file_transfer", true);
    let (_sim, api) = start(ZoomSimConfig::unlimited(), sc).await;
    let resp = api
        .patch(
            "/users/host@example.org/settings",
            &json!({"in_meeting": {"file_transfer": false}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let s = api.get_json("/users/host@example.org/settings").await;
    assert_eq!(s["in_meeting"]["file_transfer"], true);
    let locks = api.get_json("/accounts/me/lock_settings").await;
    assert_eq!(locks["in_meeting"]["file_transfer"], true);
}

#[tokio::test]
async fn lock_settings_report_screen_sharing_locked_for_volunteers_only() {
    let (_sim, api) = demo().await;
    let groups = api.get_json("/groups").await;
    for g in groups["groups"].as_array().unwrap() {
        let locks = api
            .get_json(&format!(
                "/groups/{}/lock_settings",
                g["id"].as_str().unwrap()
            ))
            .await;
        let locked = locks["in_meeting"]["screen_sharing"].as_bool().unwrap();
        assert_eq!(locked, g["name"] == "Volunteers", "{}", g["name"]);
        assert!(locks.get("meeting_security").is_none());
    }
    let acct = api.get_json("/accounts/riverside-acct/lock_settings").await;
    assert_eq!(acct["in_meeting"]["screen_sharing"], false);
    let ms = api
        .get_json("/accounts/me/lock_settings?option=meeting_security")
        .await;
    assert_eq!(ms["meeting_security"]["waiting_room"], false);
}

#[tokio::test]
async fn meeting_security_option_patch_updates_the_shared_setting() {
    let (_sim, api) = demo().await;
    let user = demo_user("priya.shah");
    let body = json!({"meeting_security": {"waiting_room": true, "waiting_room_settings": {"participants_to_place_in_waiting_room": 0}}});
    let resp = api
        .patch(
            &format!("/users/{user}/settings?option=meeting_security"),
            &body,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let main = api.get_json(&format!("/users/{user}/settings")).await;
    assert_eq!(main["in_meeting"]["waiting_room"], true);
    let ms = api
        .get_json(&format!("/users/{user}/settings?option=meeting_security"))
        .await;
    assert_eq!(ms["meeting_security"]["waiting_room"], true);
}

#[tokio::test]
async fn invalid_setting_value_is_400_and_changes_nothing() {
    let (sim, api) = demo().await;
    let user = demo_user("alex.morgan");
    let body =
        json!({"in_meeting": {"who_can_share_screen": "hosts_only", "file_transfer": false}});
    let resp = api
        .patch(&format!("/users/{user}/settings"), &body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], 300);
    assert_eq!(
        sim.user_settings(&user).unwrap()["in_meeting"]["file_transfer"],
        true
    );
}

#[tokio::test]
async fn unknown_user_gets_404_with_code_1001() {
    let (_sim, api) = demo().await;
    let resp = api
        .get("/users/nobody@example.org/settings")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], 1001);
}

#[tokio::test]
async fn host_change_made_through_the_test_hook_is_visible_to_get() {
    let (sc, id) = one_meeting_scenario();
    let (sim, api) = start(ZoomSimConfig::unlimited(), sc).await;
    sim.set_meeting_field(id, "/settings/waiting_room", json!(true));
    sim.set_meeting_field(id, "/password", json!("Hh4433"));
    let m = api.get_json(&format!("/meetings/{id}")).await;
    assert_eq!(m["settings"]["waiting_room"], true);
    assert!(m["join_url"].as_str().unwrap().contains("pwd="));
    sim.shutdown().await;
}
