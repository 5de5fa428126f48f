//! `GET /v2/info` and `GET /v2/leader`.
//!
//! `/v2/info` mixes cases as Marathon does: camelCase at the top
//! (`frameworkId`), snake_case objects (`marathon_config`, ...). The three
//! config objects are always present (marathon-python builds each one
//! unconditionally) and carry only keys from its whitelists. Values
//! describe corral where it has an equivalent and Marathon 1.6's defaults
//! otherwise.

use serde::{Deserialize, Serialize};

/// The Marathon version corral answers as (the API it follows).
pub const MARATHON_COMPAT_VERSION: &str = "1.6.322";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Info {
    /// Always `marathon`: clients check it.
    pub name: String,
    pub version: String,
    /// corral's own version.
    pub buildref: String,
    /// True on the leader.
    pub elected: bool,
    /// `host:port` of the leader's app API; null while none is known.
    pub leader: Option<String>,
    #[serde(
        rename = "frameworkId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub framework_id: Option<String>,
    pub marathon_config: MarathonConfig,
    pub zookeeper_config: ZookeeperConfig,
    pub http_config: HttpConfig,
    /// Absent: corral has no HTTP callback subscribers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_subscriber: Option<EventSubscriber>,
}

impl Info {
    /// `/v2/info` as a server of corral at version `corral_version` sees
    /// it: `elected` when it leads, `leader` when one is known.
    pub fn new(
        corral_version: &str,
        elected: bool,
        leader: Option<String>,
        marathon_config: MarathonConfig,
        zookeeper_config: ZookeeperConfig,
        http_config: HttpConfig,
    ) -> Info {
        Info {
            name: "marathon".to_string(),
            version: MARATHON_COMPAT_VERSION.to_string(),
            buildref: format!("corral {corral_version}"),
            elected,
            leader,
            framework_id: None,
            marathon_config,
            zookeeper_config,
            http_config,
            event_subscriber: None,
        }
    }
}

/// `marathon_config`: times in ms, as Marathon prints them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarathonConfig {
    /// Where Mesos masters are found (`zk://host:2181/mesos`).
    pub master: String,
    pub hostname: String,
    pub framework_name: String,
    pub ha: bool,
    pub checkpoint: bool,
    pub executor: String,
    /// Seconds.
    pub failover_timeout: u64,
    pub features: Vec<String>,
    pub local_port_min: u16,
    pub local_port_max: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesos_role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesos_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesos_leader_ui_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webui_url: Option<String>,
    pub leader_proxy_connection_timeout_ms: u64,
    pub leader_proxy_read_timeout_ms: u64,
    pub reconciliation_initial_delay: u64,
    pub reconciliation_interval: u64,
    pub task_launch_timeout: u64,
    pub task_launch_confirm_timeout: u64,
    pub task_reservation_timeout: u64,
    pub decline_offer_duration: u64,
    pub max_instances_per_offer: u32,
    pub min_revive_offers_interval: u64,
    pub revive_offers_for_new_apps: bool,
    pub revive_offers_repetitions: u32,
    pub offer_matching_timeout: u64,
    pub on_elected_prepare_timeout: u64,
    pub scale_apps_initial_delay: u64,
    pub scale_apps_interval: u64,
    pub store_cache: bool,
    pub task_lost_expunge_initial_delay: u64,
    pub task_lost_expunge_interval: u64,
    pub mesos_heartbeat_interval: u64,
    pub mesos_heartbeat_failure_threshold: u32,
    pub launch_token: u32,
    pub launch_token_refresh_interval: u64,
    pub mesos_bridge_name: String,
}

impl MarathonConfig {
    /// Marathon 1.6's defaults, with corral's `master` and `hostname`.
    pub fn new(master: &str, hostname: &str) -> MarathonConfig {
        MarathonConfig {
            master: master.to_string(),
            hostname: hostname.to_string(),
            framework_name: "marathon".to_string(),
            ha: true,
            checkpoint: true,
            executor: "//cmd".to_string(),
            failover_timeout: 604_800,
            features: Vec::new(),
            local_port_min: 10_000,
            local_port_max: 20_000,
            mesos_role: None,
            mesos_user: None,
            mesos_leader_ui_url: None,
            webui_url: None,
            leader_proxy_connection_timeout_ms: 5_000,
            leader_proxy_read_timeout_ms: 10_000,
            reconciliation_initial_delay: 15_000,
            reconciliation_interval: 600_000,
            task_launch_timeout: 300_000,
            task_launch_confirm_timeout: 300_000,
            task_reservation_timeout: 20_000,
            decline_offer_duration: 120_000,
            max_instances_per_offer: 5,
            min_revive_offers_interval: 5_000,
            revive_offers_for_new_apps: true,
            revive_offers_repetitions: 3,
            offer_matching_timeout: 3_000,
            on_elected_prepare_timeout: 180_000,
            scale_apps_initial_delay: 15_000,
            scale_apps_interval: 300_000,
            store_cache: true,
            task_lost_expunge_initial_delay: 300_000,
            task_lost_expunge_interval: 30_000,
            mesos_heartbeat_interval: 15_000,
            mesos_heartbeat_failure_threshold: 5,
            launch_token: 100,
            launch_token_refresh_interval: 30_000,
            mesos_bridge_name: "mesos-bridge".to_string(),
        }
    }
}

/// `zookeeper_config`: corral keeps its state in Raft, not ZooKeeper; `zk`
/// names the read-only leader-detection endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZookeeperConfig {
    pub zk: String,
    pub zk_timeout: u64,
    pub zk_session_timeout: u64,
    pub zk_connection_timeout: u64,
    /// App versions kept per app.
    pub zk_max_versions: u32,
    pub zk_compression: bool,
    pub zk_compression_threshold: u64,
    pub zk_max_node_size: u64,
}

impl ZookeeperConfig {
    pub fn new(zk: &str) -> ZookeeperConfig {
        ZookeeperConfig {
            zk: zk.to_string(),
            zk_timeout: 10_000,
            zk_session_timeout: 10_000,
            zk_connection_timeout: 10_000,
            zk_max_versions: corral_core::app::MAX_VERSIONS as u32,
            zk_compression: true,
            zk_compression_threshold: 65_536,
            zk_max_node_size: 1_024_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpConfig {
    pub http_port: u16,
    pub https_port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSubscriber {
    /// `http_callback`.
    #[serde(rename = "type")]
    pub kind: String,
    pub http_endpoints: Vec<String>,
}

/// `GET /v2/leader`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leader {
    /// `host:port`.
    pub leader: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marathon::whitelist;
    use serde_json::json;

    fn info(leader: Option<&str>) -> Info {
        Info::new(
            "0.1.0",
            leader.is_some(),
            leader.map(str::to_string),
            MarathonConfig::new("zk://127.0.0.101:2181/mesos", "node-1"),
            ZookeeperConfig::new("zk://127.0.0.101:2181/marathon"),
            HttpConfig {
                http_port: 8080,
                https_port: 8443,
            },
        )
    }

    #[test]
    fn info_has_every_config_object_and_only_known_keys() {
        for leader in [Some("node-1:8080"), None] {
            let got = serde_json::to_value(info(leader)).unwrap();
            whitelist::check(&got, &whitelist::INFO, "info");
            for key in ["marathon_config", "zookeeper_config", "http_config"] {
                assert!(got[key].is_object(), "{key} in {got}");
            }
            assert_eq!(got["name"], "marathon");
            assert_eq!(got["version"], MARATHON_COMPAT_VERSION);
            assert_eq!(got["buildref"], "corral 0.1.0");
            assert_eq!(got["leader"], json!(leader), "null while none is known");
            assert_eq!(got["elected"], leader.is_some());
            assert_eq!(
                got["http_config"],
                json!({"http_port": 8080, "https_port": 8443})
            );
            assert_eq!(
                got["marathon_config"]["master"],
                "zk://127.0.0.101:2181/mesos"
            );
            assert_eq!(got["zookeeper_config"]["zk_max_versions"], 25);
        }
        let mut with_subscriber = info(None);
        with_subscriber.framework_id = Some("marathon-0001".into());
        with_subscriber.event_subscriber = Some(EventSubscriber {
            kind: "http_callback".into(),
            http_endpoints: vec!["http://h/cb".into()],
        });
        let got = serde_json::to_value(with_subscriber).unwrap();
        whitelist::check(&got, &whitelist::INFO, "info");
        assert_eq!(got["frameworkId"], "marathon-0001");
        assert_eq!(got["event_subscriber"]["type"], "http_callback");
    }

    #[test]
    fn leader_body() {
        assert_eq!(
            serde_json::to_value(Leader {
                leader: "node-1:8080".into()
            })
            .unwrap(),
            json!({"leader": "node-1:8080"})
        );
    }
}
