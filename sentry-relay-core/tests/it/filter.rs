//! Inbound filters and user-agent parsing on arbitrary input: they never
//! panic, and normalization fills the user-agent contexts once.

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use sentry_envelope::protocol::Event;
use sentry_relay_core::filter::{CompiledFilters, FilterStatKey, FiltersConfig};
use sentry_relay_core::user_agent::parse_user_agent;
use sentry_relay_core::{NormalizeConfig, normalize_event};
use serde_json::{Value, json};

/// Every filter on, with patterns that use the whole glob syntax.
fn all_filters(patterns: Vec<String>) -> FiltersConfig {
    serde_json::from_value(json!({
        "browserExtensions": {"isEnabled": true},
        "localhost": {"isEnabled": true},
        "legacyBrowsers": {"isEnabled": true, "options": [
            "ie_pre_9", "ie9", "ie10", "ie11", "opera_pre_15", "opera_mini_pre_8",
            "android_pre_4", "safari_pre_6", "edge_pre_79", "chrome", "firefox", "edge",
            "safari", "opera", "opera_mini", "android", "ie", "unknown"
        ]},
        "webCrawlers": {"isEnabled": true},
        "errorMessages": {"patterns": patterns},
        "releases": {"releases": patterns},
        "ignoreTransactions": {"isEnabled": true, "patterns": patterns},
        "clientIps": {"blacklistedIps": patterns},
        "healthCheck": {"isEnabled": true}
    }))
    .unwrap()
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,300}",
        "(Mozilla/5.0 \\((Linux|Windows NT|Macintosh|iPhone|Android|compatible|MSIE|Trident|rv:)[ ;0-9._A-Za-z]{0,20}\\) ?){1,3}((Chrome|Edg|Edge|OPR|Opera|Opera Mini|Version|Firefox|CriOS|FxiOS|SamsungBrowser|Safari|MSIE |rv:)/?[0-9._]{0,12} ?){0,4}",
    ]
}

fn glob() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[*?\\[\\]{},!\\\\a-c/.-]{0,12}"]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn filters_never_panic(
        patterns in proptest::collection::vec(glob(), 0..4),
        ua in any_text(),
        text in any_text(),
        ip in any::<[u8; 16]>(),
        v4 in any::<bool>(),
    ) {
        let filters = CompiledFilters::new(&all_filters(patterns));
        let event: Event = serde_json::from_value(json!({
            "type": "transaction",
            "transaction": text,
            "release": text,
            "message": text,
            "user": {"ip_address": text},
            "request": {"url": text, "headers": [["User-Agent", ua], ["Sec-CH-UA", text]]},
            "exception": {"values": [{"type": text, "value": text,
                "stacktrace": {"frames": [{"abs_path": text}, {"abs_path": ua}]}}]}
        })).unwrap();
        let client_ip = if v4 {
            std::net::IpAddr::from([ip[0], ip[1], ip[2], ip[3]])
        } else {
            std::net::IpAddr::from(ip)
        };
        let _ = filters.should_filter(&event, Some(client_ip));
        let _ = filters.should_filter(&event, None);
    }

    #[test]
    fn user_agent_parsing_never_panics(ua in any_text()) {
        let parsed = parse_user_agent(&ua);
        if let Some(browser) = parsed.browser {
            prop_assert!(!browser.family.is_empty());
        }
    }

    #[test]
    fn user_agent_contexts_are_stable(ua in any_text(), hint in any_text()) {
        let received = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
        let config = NormalizeConfig::new(received);
        let mut event: Event = serde_json::from_value(json!({
            "request": {"headers": {"User-Agent": ua, "Sec-CH-UA-Platform": hint}}
        })).unwrap();
        normalize_event(&mut event, &config).unwrap();
        let once = serde_json::to_value(&event).unwrap();
        normalize_event(&mut event, &config).unwrap();
        prop_assert_eq!(serde_json::to_value(&event).unwrap(), once);
    }
}

#[test]
fn normalization_fills_user_agent_contexts() {
    let received = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    let mut event: Event = serde_json::from_value(json!({
        "platform": "javascript",
        "request": {
            "url": "https://app.test/",
            "headers": [["User-Agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15"]]
        },
        "contexts": {"os": {"name": "macOS", "version": "14.2"}}
    }))
    .unwrap();
    normalize_event(&mut event, &NormalizeConfig::new(received)).unwrap();
    let e = serde_json::to_value(&event).unwrap();
    assert_eq!(
        e["contexts"]["browser"],
        json!({"name": "Safari", "version": "17.2", "type": "browser", "browser": "Safari 17.2"})
    );
    // What the SDK sent stays.
    assert_eq!(e["contexts"]["os"]["name"], "macOS");
    assert_eq!(e["contexts"]["device"]["family"], "Mac");
    let tags: Vec<Value> = e["tags"].as_array().unwrap().clone();
    assert!(tags.contains(&json!(["browser", "Safari 17.2"])));
    assert!(tags.contains(&json!(["browser.name", "Safari"])));
}

#[test]
fn filters_from_a_project_config() {
    let config: FiltersConfig = serde_json::from_str(
        r#"{"webCrawlers": {"isEnabled": true}, "legacyBrowsers": {"isEnabled": true, "options": ["default"]}}"#,
    )
    .unwrap();
    let filters = CompiledFilters::new(&config);
    let event = |ua: &str| -> Event {
        serde_json::from_value(json!({"request": {"headers": {"user-agent": ua}}})).unwrap()
    };
    assert_eq!(
        filters.should_filter(
            &event("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
            None
        ),
        Err(FilterStatKey::WebCrawlers)
    );
    assert_eq!(
        filters.should_filter(
            &event("Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.0; Trident/4.0)"),
            None
        ),
        Err(FilterStatKey::LegacyBrowsers)
    );
    assert_eq!(filters.should_filter(&event("curl/8.4.0"), None), Ok(()));
}
