//! The Graph simulator's own behaviour over HTTP: the quirks chaperone's client must cope with.

use chaperone_sim::{TeamsMeeting, TeamsScenario, TeamsSim, TeamsSimConfig, TeamsUser};
use chrono::Utc;
use serde_json::{Value, json};

const HOST: &str = "yw@riverside.example.org";

async fn start() -> (TeamsSim, reqwest::Client, String) {
    let scenario = TeamsScenario::empty()
        .user(TeamsUser::new(HOST, "Yusuf Worker"))
        .user(TeamsUser::new("co@riverside.example.org", "Co Organizer"))
        .user(TeamsUser::new("blocked@riverside.example.org", "Blocked").without_access_policy())
        .add_member("Staff", HOST)
        .add_member("Staff", "co@riverside.example.org")
        .add_member("Staff", "blocked@riverside.example.org")
        .meeting(
            TeamsMeeting::new(
                HOST,
                "[youth] Club",
                Utc::now() + chrono::Duration::days(1),
                60,
            )
            .weekly(3)
            .lobby("invited", false)
            .attendee("co@riverside.example.org", "coorganizer"),
        );
    let sim = TeamsSim::start(TeamsSimConfig::default().with_page_sizes(2, 2), scenario)
        .await
        .expect("sim");
    let client = reqwest::Client::new();
    let token: Value = client
        .post(sim.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", sim.client_id()),
            ("client_secret", sim.client_secret()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let token = token["access_token"]
        .as_str()
        .expect("access_token")
        .to_string();
    (sim, client, token)
}

#[tokio::test]
async fn evolvable_enums_need_the_prefer_header() {
    let (sim, client, token) = start().await;
    let id = sim.meeting_id("[youth] Club").expect("id");
    let url = format!(
        "{}/users/{HOST}/onlineMeetings/{}",
        sim.graph_base_url(),
        urlencode(&id)
    );
    let plain: Value = client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(plain["lobbyBypassSettings"]["scope"], "unknownFutureValue");
    assert_eq!(
        plain["participants"]["attendees"][0]["role"],
        "unknownFutureValue"
    );
    let full: Value = client
        .get(&url)
        .bearer_auth(&token)
        .header("Prefer", "include-unknown-enum-members")
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(full["lobbyBypassSettings"]["scope"], "invited");
    assert_eq!(full["participants"]["attendees"][0]["role"], "coorganizer");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn patches_take_only_updatable_properties_and_answer_with_the_object() {
    let (sim, client, token) = start().await;
    let id = sim.meeting_id("[youth] Club").expect("id");
    let url = format!(
        "{}/users/{HOST}/onlineMeetings/{}",
        sim.graph_base_url(),
        urlencode(&id)
    );
    for bad in [
        json!({"joinMeetingIdSettings": {"isPasscodeRequired": true}}),
        json!({"joinWebUrl": "x"}),
        json!({"startDateTime": "2026-12-01T10:00:00Z"}),
        json!({"participants": {"organizer": {"upn": HOST}}}),
        json!({"allowedPresenters": "roleIsPresenter"}),
        json!({"lobbyBypassSettings": {"scope": "nobody"}}),
    ] {
        let r = client
            .patch(&url)
            .bearer_auth(&token)
            .json(&bad)
            .send()
            .await
            .expect("patch");
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().await.expect("json");
        assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string());
    }
    let r = client
        .patch(&url)
        .bearer_auth(&token)
        .json(&json!({"allowedPresenters": "organizer", "participants": {"attendees": []}}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["allowedPresenters"], "organizer");
    assert_eq!(
        body["participants"]["attendees"],
        json!([]),
        "the list is replaced whole"
    );
    assert!(
        body["joinWebUrl"].is_string(),
        "the whole object comes back"
    );
}

#[tokio::test]
async fn lists_page_and_lookups_need_a_filter_and_the_access_policy() {
    let (sim, client, token) = start().await;
    let members: Value = client
        .get(format!(
            "{}/groups/{}/members",
            sim.graph_base_url(),
            sim.staff_group_id()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("members")
        .json()
        .await
        .expect("json");
    assert_eq!(members["value"].as_array().map(Vec::len), Some(2));
    let next = members["@odata.nextLink"].as_str().expect("a next link");
    let rest: Value = client
        .get(next)
        .bearer_auth(&token)
        .send()
        .await
        .expect("next")
        .json()
        .await
        .expect("json");
    assert_eq!(rest["value"].as_array().map(Vec::len), Some(1));
    assert!(rest.get("@odata.nextLink").is_none());

    let bare = client
        .get(format!(
            "{}/users/{HOST}/onlineMeetings",
            sim.graph_base_url()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("bare");
    assert_eq!(bare.status(), 400);
    let blocked = client
        .get(format!(
            "{}/users/blocked@riverside.example.org/onlineMeetings/x",
            sim.graph_base_url()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("blocked");
    assert_eq!(blocked.status(), 403);
    let body: Value = blocked.json().await.expect("json");
    assert_eq!(
        body["error"]["message"],
        "No application access policy found for this app."
    );

    let no_window = client
        .get(format!(
            "{}/users/{HOST}/calendarView",
            sim.graph_base_url()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("calendar");
    assert_eq!(no_window.status(), 400);
    let unauthenticated = client
        .get(format!("{}/users/{HOST}", sim.graph_base_url()))
        .send()
        .await
        .expect("anon");
    assert_eq!(unauthenticated.status(), 401);
}

#[tokio::test]
async fn recording_and_transcription_are_allowed_by_default_and_can_be_patched_off() {
    let (sim, client, token) = start().await;
    let id = sim.meeting_id("[youth] Club").expect("id");
    let url = format!(
        "{}/users/{HOST}/onlineMeetings/{}",
        sim.graph_base_url(),
        urlencode(&id)
    );
    let read = || async {
        client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("get")
            .json::<Value>()
            .await
            .expect("json")
    };
    let before = read().await;
    assert_eq!(before["allowRecording"], true);
    assert_eq!(before["allowTranscription"], true);
    assert_eq!(before["recordAutomatically"], false);
    let bad = client
        .patch(&url)
        .bearer_auth(&token)
        .json(&json!({"allowTranscription": "no"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(bad.status(), 400, "a boolean property takes a boolean");
    let r = client
        .patch(&url)
        .bearer_auth(&token)
        .json(&json!({"allowRecording": false, "allowTranscription": false, "recordAutomatically": false}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200);
    let after = read().await;
    assert_eq!(after["allowRecording"], false);
    assert_eq!(after["allowTranscription"], false);
}

#[tokio::test]
async fn a_meeting_started_now_shows_in_its_times_and_calendar() {
    let (sim, client, token) = start().await;
    let id = sim.meeting_id("[youth] Club").expect("id");
    let now = Utc::now();
    let calendar_now = || async {
        let from = (Utc::now() - chrono::Duration::seconds(1)).format("%Y-%m-%dT%H:%M:%SZ");
        let to = (Utc::now() + chrono::Duration::seconds(1)).format("%Y-%m-%dT%H:%M:%SZ");
        client
            .get(format!(
                "{}/users/{HOST}/calendarView?startDateTime={from}&endDateTime={to}",
                sim.graph_base_url()
            ))
            .bearer_auth(&token)
            .send()
            .await
            .expect("calendar")
            .json::<Value>()
            .await
            .expect("json")
    };
    assert_eq!(calendar_now().await["value"], json!([]));
    assert!(sim.start_meeting_now(&id));
    let live = calendar_now().await;
    let events = live["value"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{live}");
    assert_eq!(events[0]["subject"], "[youth] Club");
    // A series' onlineMeeting keeps its own times; only the occurrence moved.
    let meeting = sim.meeting(&id).expect("meeting");
    let start: chrono::DateTime<Utc> = meeting["startDateTime"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("start");
    assert!(start > now);
    assert!(!sim.start_meeting_now("no-such-meeting"));
}
