//! Helpers shared by the simulator's HTTP tests: a tiny Zoom client written only for tests.

#![allow(dead_code)]

use chaperone_sim::{Scenario, ZoomSim, ZoomSimConfig};
use serde_json::Value;

pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

pub async fn fetch_token(sim: &ZoomSim) -> String {
    let resp = reqwest::Client::new()
        .post(sim.token_url())
        .query(&[
            ("grant_type", "account_credentials"),
            ("account_id", sim.account_id()),
        ])
        .basic_auth(sim.client_id(), Some(sim.client_secret()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

pub async fn start(config: ZoomSimConfig, scenario: Scenario) -> (ZoomSim, Api) {
    let sim = ZoomSim::start(config, scenario).await.unwrap();
    let token = fetch_token(&sim).await;
    let api = Api {
        http: reqwest::Client::new(),
        base: sim.api_base_url(),
        token,
    };
    (sim, api)
}

pub async fn demo() -> (ZoomSim, Api) {
    start(ZoomSimConfig::unlimited(), Scenario::demo()).await
}

impl Api {
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    pub fn patch(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .patch(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let resp = self.get(path).send().await.unwrap();
        assert_eq!(resp.status(), 200, "GET {path}");
        resp.json().await.unwrap()
    }

    /// Meeting ids, parsed from the raw text so no precision is lost.
    pub async fn user_meeting_ids(&self, user: &str) -> Vec<u64> {
        let v = self
            .get_json(&format!(
                "/users/{user}/meetings?type=upcoming&page_size=300"
            ))
            .await;
        v["meetings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_u64().unwrap())
            .collect()
    }
}

pub fn demo_user(local: &str) -> String {
    format!("{local}@riverside.example.org")
}
