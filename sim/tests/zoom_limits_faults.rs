//! The Zoom simulator over real HTTP: rate limits, faults, stats and the `/_sim/` admin API.

mod common;

use std::time::{Duration, Instant};

use chaperone_sim::{Fault, Scenario, ZoomSim, ZoomSimConfig};
use common::{Api, demo, demo_user, start};
use serde_json::{Value, json};

// ----- rate limits ---------------------------------------------------------------------------

#[tokio::test]
async fn per_host_daily_update_limit_gives_429_with_zooms_message() {
    let config = ZoomSimConfig::unlimited().with_daily_limit(Some(3));
    let (sim, api) = start(config, Scenario::demo()).await;
    let ids = api.user_meeting_ids(&demo_user("priya.shah")).await;
    let body = json!({"settings": {"join_before_host": false}});
    for i in 0..3 {
        let resp = api
            .patch(&format!("/meetings/{}", ids[i % ids.len()]), &body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204);
    }
    let resp = api
        .patch(&format!("/meetings/{}", ids[0]), &body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v,
        json!({"code": 429, "message": "You have exceeded the daily rate limit (3) of Meeting Create/Update API requests permitted for this particular user. You may resume these requests at GMT 00:00:00."})
    );
    // Another host still has budget, and reads are not affected.
    let other = api.user_meeting_ids(&demo_user("alex.morgan")).await[0];
    assert_eq!(
        api.patch(&format!("/meetings/{other}"), &body)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        api.get(&format!("/meetings/{}", ids[0]))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(sim.stats().daily_limited, 1);
    // A new UTC day resets the budget.
    sim.reset_daily_limits();
    assert_eq!(
        api.patch(&format!("/meetings/{}", ids[0]), &body)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
}

#[tokio::test]
async fn default_daily_limit_is_one_hundred_updates_per_host() {
    let (_sim, api) = start(ZoomSimConfig::unlimited(), Scenario::demo()).await;
    let id = api.user_meeting_ids(&demo_user("jordan.hughes")).await[0];
    let body = json!({"settings": {"mute_upon_entry": true}});
    for _ in 0..100 {
        assert_eq!(
            api.patch(&format!("/meetings/{id}"), &body)
                .send()
                .await
                .unwrap()
                .status(),
            204
        );
    }
    let resp = api
        .patch(&format!("/meetings/{id}"), &body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("daily rate limit (100)")
    );
}

#[tokio::test]
async fn per_second_limit_gives_429_with_rate_limit_headers() {
    let config = ZoomSimConfig::unlimited().with_rate_limits(Some(5), Some(4));
    let (sim, api) = start(config, Scenario::demo()).await;
    let id = sim_meeting_id(&sim);
    let mut limited = None;
    for _ in 0..20 {
        let resp = api.get(&format!("/meetings/{id}")).send().await.unwrap();
        if resp.status() == 429 {
            limited = Some(resp);
            break;
        }
    }
    let resp = limited.expect("a burst over 5/s must be limited");
    let h = resp.headers();
    assert_eq!(h["x-ratelimit-category"], "Light");
    assert_eq!(h["x-ratelimit-type"], "QPS");
    assert_eq!(h["x-ratelimit-limit"], "5");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert_eq!(h["retry-after"], "1");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v,
        json!({"code": 429, "message": "You have reached the maximum per-second rate limit for this API. Try again later."})
    );
    let stats = sim.stats();
    assert_eq!(stats.rate_limited.get("Light"), Some(&1));
    assert_eq!(stats.peak_per_second.get("Light"), Some(&5));
    // Medium has its own budget.
    assert_eq!(api.get("/users").send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn client_paced_under_the_limit_never_sees_429_and_peak_stays_within_it() {
    let config = ZoomSimConfig::unlimited().with_rate_limits(Some(10), Some(10));
    let (sim, api) = start(config, Scenario::demo()).await;
    let id = sim_meeting_id(&sim);
    let t0 = Instant::now();
    for i in 0..15u32 {
        // One request every 110 ms: under 10/s in any one-second interval.
        let due = t0 + Duration::from_millis(110) * i;
        tokio::time::sleep_until(due.into()).await;
        assert_eq!(
            api.get(&format!("/meetings/{id}"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let stats = sim.stats();
    assert_eq!(stats.total_429s(), 0);
    assert!(stats.peak_per_second["Light"] <= 10);
}

#[tokio::test]
async fn normal_responses_carry_rate_limit_headers() {
    let (_sim, api) = start(ZoomSimConfig::pro(), Scenario::demo()).await;
    let resp = api.get("/users").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ratelimit-category"], "Medium");
    assert_eq!(resp.headers()["x-ratelimit-limit"], "20");
    assert_eq!(resp.headers()["x-ratelimit-remaining"], "19");
}

fn sim_meeting_id(sim: &ZoomSim) -> u64 {
    // The demo's first meeting always gets the first id (ids are assigned in order).
    let id = Scenario::demo().meetings[0].id;
    assert!(sim.meeting(id).is_some());
    id
}

// ----- faults --------------------------------------------------------------------------------

#[tokio::test]
async fn status_fault_on_a_route_for_n_requests_then_recovers() {
    let (sim, api) = demo().await;
    let id = sim_meeting_id(&sim);
    sim.inject(
        Fault::status(503)
            .on_route("GET /v2/meetings/{meetingId}")
            .times(2),
    );
    assert_eq!(
        api.get(&format!("/meetings/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    assert_eq!(
        api.get("/users").send().await.unwrap().status(),
        200,
        "other routes unaffected"
    );
    assert_eq!(
        api.get(&format!("/meetings/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    assert_eq!(
        api.get(&format!("/meetings/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(sim.stats().faults_fired, 2);
}

#[tokio::test]
async fn status_fault_on_a_write_changes_nothing() {
    let (sim, api) = demo().await;
    let id = sim_meeting_id(&sim);
    let before = sim.meeting(id).unwrap();
    sim.inject(Fault::status(500).on_meeting(id));
    let resp = api
        .patch(
            &format!("/meetings/{id}"),
            &json!({"settings": {"waiting_room": true}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(sim.meeting(id).unwrap(), before);
    sim.clear_faults();
    assert_eq!(
        api.get(&format!("/meetings/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn delay_fault_slows_matching_requests() {
    let (sim, api) = demo().await;
    sim.inject(
        Fault::delay(Duration::from_millis(300))
            .on_route("/v2/users")
            .times(1),
    );
    let t = Instant::now();
    assert_eq!(api.get("/users").send().await.unwrap().status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    // Only `times(1)` request is held: with a request held for an hour, the next one is still
    // answered. Proven by order (the second answer comes while the first is held), not by a
    // wall-clock ceiling.
    sim.inject(
        Fault::delay(Duration::from_secs(3600))
            .on_route("/v2/users")
            .times(1),
    );
    let arrived = sim.stats().total_requests;
    let held = tokio::spawn(api.get("/users").send());
    let deadline = Instant::now() + Duration::from_secs(30);
    while sim.stats().total_requests == arrived {
        assert!(Instant::now() < deadline, "the first request never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(api.get("/users").send().await.unwrap().status(), 200);
    assert!(!held.is_finished(), "the first request is still held");
    held.abort();
}

#[tokio::test]
async fn malformed_json_fault_answers_200_with_unparsable_body_after_applying_the_write() {
    let (sim, api) = demo().await;
    let id = sim_meeting_id(&sim);
    sim.inject(Fault::malformed_json().on_meeting(id).times(2));
    let resp = api.get(&format!("/meetings/{id}")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(serde_json::from_str::<Value>(&resp.text().await.unwrap()).is_err());
    let resp = api
        .patch(
            &format!("/meetings/{id}"),
            &json!({"settings": {"waiting_room": true}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.json::<Value>().await.is_err());
    assert_eq!(sim.meeting(id).unwrap()["settings"]["waiting_room"], true);
}

#[tokio::test]
async fn delete_meeting_fault_makes_the_meeting_404() {
    let (sim, api) = demo().await;
    let id = sim_meeting_id(&sim);
    sim.inject(Fault::delete_meeting(id));
    let resp = api.get(&format!("/meetings/{id}")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], 3001);
    assert!(sim.meeting(id).is_none());
}

#[tokio::test]
async fn revoke_tokens_fault_on_a_route_fires_on_the_next_matching_request() {
    let (sim, api) = demo().await;
    sim.inject(Fault::revoke_tokens().on_route("GET /v2/groups"));
    assert_eq!(api.get("/users").send().await.unwrap().status(), 200);
    assert_eq!(api.get("/groups").send().await.unwrap().status(), 401);
    assert_eq!(api.get("/users").send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn expire_page_tokens_fault_breaks_pagination_midway() {
    let (sim, api) = demo().await;
    let v = api.get_json("/users?page_size=5").await;
    let token = v["next_page_token"].as_str().unwrap().to_string();
    sim.inject(Fault::expire_page_tokens());
    let resp = api
        .get(&format!("/users?page_size=5&next_page_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], 300);
}

// ----- stats and admin API -------------------------------------------------------------------

#[tokio::test]
async fn stats_count_requests_by_route_category_and_writes() {
    let (sim, api) = demo().await;
    let id = sim_meeting_id(&sim);
    api.get_json("/users").await;
    api.get_json(&format!("/meetings/{id}")).await;
    api.get_json(&format!("/meetings/{id}")).await;
    let resp = api
        .patch(
            &format!("/meetings/{id}"),
            &json!({"settings": {"join_before_host": false}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let s = sim.stats();
    assert_eq!(s.requests_for("GET", "/v2/users"), 1);
    assert_eq!(s.requests_for("GET", "/v2/meetings/{meetingId}"), 2);
    assert_eq!(s.requests_for("PATCH", "/v2/meetings/{meetingId}"), 1);
    assert_eq!(s.requests_for("POST", "/oauth/token"), 1);
    assert_eq!(s.by_category["Light"], 3);
    assert_eq!(s.by_category["Medium"], 1);
    assert_eq!(s.writes, 1);
    assert_eq!(s.token_requests, 1);
    assert_eq!(s.total_429s(), 0);
}

#[tokio::test]
async fn admin_endpoints_drive_faults_revocation_and_stats_over_http() {
    let (sim, api) = demo().await;
    let http = reqwest::Client::new();
    let root = sim.api_base_url().trim_end_matches("/v2").to_string();

    let info: Value = http
        .get(format!("{root}/_sim/info"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["account_id"], "riverside-acct");
    assert_eq!(info["token_url"], sim.token_url());

    let fault =
        json!({"kind": "status", "status": 502, "target": {"route": "GET /v2/users"}, "times": 1});
    let resp = http
        .post(format!("{root}/_sim/faults"))
        .json(&fault)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(api.get("/users").send().await.unwrap().status(), 502);
    assert_eq!(api.get("/users").send().await.unwrap().status(), 200);

    let resp = http
        .post(format!("{root}/_sim/faults"))
        .json(&json!({"kind": "status", "status": 500}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(api.get("/groups").send().await.unwrap().status(), 500);
    assert_eq!(
        http.delete(format!("{root}/_sim/faults"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(api.get("/groups").send().await.unwrap().status(), 200);

    let id = sim_meeting_id(&sim);
    let resp = http
        .patch(format!("{root}/_sim/meetings/{id}"))
        .json(&json!({"pointer": "/settings/join_before_host", "value": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let m: Value = http
        .get(format!("{root}/_sim/meetings/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["settings"]["join_before_host"], true);

    assert_eq!(
        http.post(format!("{root}/_sim/revoke"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(api.get("/users").send().await.unwrap().status(), 401);

    let stats: Value = http
        .get(format!("{root}/_sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["requests"]["GET /v2/users"], 3);
    assert_eq!(stats["unauthorized"], 1);
    assert!(
        stats["requests"].get("GET /_sim/stats").is_none(),
        "admin requests are not counted"
    );
}

#[tokio::test]
async fn simulator_can_be_started_on_a_given_address() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let sim = ZoomSim::start_on(addr, ZoomSimConfig::unlimited(), Scenario::demo())
        .await
        .unwrap();
    assert_eq!(sim.api_base_url(), format!("http://{addr}/v2"));
    let token = common::fetch_token(&sim).await;
    let api = Api {
        http: reqwest::Client::new(),
        base: sim.api_base_url(),
        token,
    };
    assert_eq!(api.get("/users").send().await.unwrap().status(), 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn bench_scenario_of_ten_thousand_meetings_serves_every_host() {
    let (sim, api) = start(ZoomSimConfig::unlimited(), Scenario::bench(100, 100)).await;
    let v = api.get_json("/users?page_size=2000").await;
    assert_eq!(v["total_records"], 101);
    let v = api
        .get_json("/users/worker00099@riverside.example.org/meetings?page_size=300")
        .await;
    assert_eq!(v["total_records"], 100);
    let id = v["meetings"][0]["id"].as_u64().unwrap();
    let m = api.get_json(&format!("/meetings/{id}")).await;
    assert_eq!(m["settings"]["join_before_host"], true);
    assert!(sim.meeting(id).is_some());
}
