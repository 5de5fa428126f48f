//! fleet's API v1 on the wire (`/fleet/v1/...`): units, unit states,
//! machines, pages, the error envelope and the discovery document that
//! google-api-python-client (under the PyPI `fleet` client) reads first.
//!
//! Owns: field names and shapes as fleet's `schema/v1.json` has them, and
//! the page tokens. Never decides anything about units: the master converts
//! core values into these by hand.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Units per page (fleet's default `token_limit`).
pub const PAGE_SIZE: usize = 100;

/// One line of a unit file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitOption {
    pub section: String,
    pub name: String,
    pub value: String,
}

/// A unit as `GET /fleet/v1/units/{name}` shows it; also the body of `PUT`
/// (where every field may be missing).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Unit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<UnitOption>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_state: Option<String>,
    #[serde(rename = "machineID", default, skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnitPage {
    pub units: Vec<Unit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// A unit on a machine, as its runner reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitState {
    pub name: String,
    pub hash: String,
    #[serde(rename = "machineID")]
    pub machine_id: String,
    #[serde(rename = "systemdLoadState")]
    pub load_state: String,
    #[serde(rename = "systemdActiveState")]
    pub active_state: String,
    #[serde(rename = "systemdSubState")]
    pub sub_state: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnitStatePage {
    pub states: Vec<UnitState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    pub id: String,
    #[serde(rename = "primaryIP")]
    pub primary_ip: String,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachinePage {
    pub machines: Vec<Machine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// fleet's error body: `{"error": {"code", "message"}}` (the Python client
/// reads exactly this).
pub fn error_body(code: u16, message: &str) -> Value {
    json!({ "error": { "code": code, "message": message } })
}

/// The token naming page `page` (0-based; the first page needs no token,
/// so tokens start at 1): `<limit>:<page>`, base64url.
pub fn page_token(page: usize) -> String {
    crate::base64::encode_url(format!("{PAGE_SIZE}:{page}").as_bytes())
}

/// Which page a token names. fleet refuses a token made for another page
/// size and page 0.
pub fn parse_page_token(token: &str) -> Result<usize, String> {
    let bad = || format!("invalid nextPageToken {token:?}: pass the token a previous page gave");
    let raw = crate::base64::decode_url(token).ok_or_else(bad)?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (limit, page) = text.split_once(':').ok_or_else(bad)?;
    let limit: usize = limit.parse().map_err(|_| bad())?;
    let page: usize = page.parse().map_err(|_| bad())?;
    if limit != PAGE_SIZE || page == 0 {
        return Err(bad());
    }
    Ok(page)
}

/// Items of page `page` (0 = the first) and the token of the next one.
pub fn paginate<T>(items: Vec<T>, page: usize) -> (Vec<T>, Option<String>) {
    let start = page.saturating_mul(PAGE_SIZE);
    let more = items.len() > start.saturating_add(PAGE_SIZE);
    let items: Vec<T> = items.into_iter().skip(start).take(PAGE_SIZE).collect();
    (items, more.then(|| page_token(page + 1)))
}

fn string() -> Value {
    json!({ "type": "string" })
}

fn query(description: &str) -> Value {
    json!({ "type": "string", "location": "query", "description": description })
}

fn unit_name_param() -> Value {
    json!({ "unitName": { "type": "string", "location": "path", "required": true } })
}

fn page_of(item: &str, field: &str) -> Value {
    json!({
        "id": format!("{item}Page"),
        "type": "object",
        "properties": {
            field: { "type": "array", "items": { "$ref": item } },
            "nextPageToken": string(),
        }
    })
}

/// The Google API discovery document fleet serves at
/// `/fleet/v1/discovery` (written from fleet's `schema/v1.json`). The
/// `$ENDPOINT` placeholder is fleet's: its client replaces it with the
/// endpoint it was given. No `auth` scopes, or googleapiclient would look
/// for credentials.
pub fn discovery() -> Value {
    let states = json!(["inactive", "loaded", "launched"]);
    json!({
        "kind": "discovery#restDescription",
        "discoveryVersion": "v1",
        "id": "fleet:v1",
        "name": "schema",
        "version": "v1",
        "title": "fleet API",
        "description": "",
        "documentationLink": "https://github.com/coreos/fleet",
        "protocol": "rest",
        "icons": { "x16": "", "x32": "" },
        "labels": [],
        "baseUrl": "$ENDPOINT/fleet/v1/",
        "basePath": "/fleet/v1/",
        "rootUrl": "$ENDPOINT/",
        "servicePath": "fleet/v1/",
        "batchPath": "batch",
        "parameters": {},
        "auth": {},
        "schemas": {
            "Machine": {
                "id": "Machine",
                "type": "object",
                "properties": {
                    "id": string(),
                    "primaryIP": string(),
                    "metadata": {
                        "type": "object",
                        "properties": {},
                        "additionalProperties": string(),
                    },
                }
            },
            "MachinePage": page_of("Machine", "machines"),
            "UnitOption": {
                "id": "UnitOption",
                "type": "object",
                "properties": { "section": string(), "name": string(), "value": string() }
            },
            "Unit": {
                "id": "Unit",
                "type": "object",
                "properties": {
                    "name": string(),
                    "options": { "type": "array", "items": { "$ref": "UnitOption" } },
                    "desiredState": { "type": "string", "enum": states.clone() },
                    "currentState": { "type": "string", "enum": states },
                    "machineID": { "type": "string", "required": true },
                }
            },
            "UnitPage": page_of("Unit", "units"),
            "UnitState": {
                "id": "UnitState",
                "type": "object",
                "properties": {
                    "name": string(),
                    "hash": string(),
                    "machineID": string(),
                    "systemdLoadState": string(),
                    "systemdActiveState": string(),
                    "systemdSubState": string(),
                }
            },
            "UnitStatePage": page_of("UnitState", "states"),
        },
        "resources": {
            "Machines": { "methods": {
                "List": {
                    "id": "fleet.Machine.List",
                    "description": "Retrieve a page of Machine objects.",
                    "httpMethod": "GET",
                    "path": "machines",
                    "parameters": { "nextPageToken": query("Token of the page to fetch") },
                    "response": { "$ref": "MachinePage" },
                }
            }},
            "Units": { "methods": {
                "List": {
                    "id": "fleet.Unit.List",
                    "description": "Retrieve a page of Unit objects.",
                    "httpMethod": "GET",
                    "path": "units",
                    "parameters": { "nextPageToken": query("Token of the page to fetch") },
                    "response": { "$ref": "UnitPage" },
                },
                "Get": {
                    "id": "fleet.Unit.Get",
                    "description": "Retrieve a single Unit object.",
                    "httpMethod": "GET",
                    "path": "units/{unitName}",
                    "parameters": unit_name_param(),
                    "parameterOrder": ["unitName"],
                    "response": { "$ref": "Unit" },
                },
                "Delete": {
                    "id": "fleet.Unit.Delete",
                    "description": "Delete the referenced Unit object.",
                    "httpMethod": "DELETE",
                    "path": "units/{unitName}",
                    "parameters": unit_name_param(),
                    "parameterOrder": ["unitName"],
                },
                "Set": {
                    "id": "fleet.Unit.Set",
                    "description": "Create or update a Unit.",
                    "httpMethod": "PUT",
                    "path": "units/{unitName}",
                    "parameters": unit_name_param(),
                    "parameterOrder": ["unitName"],
                    "request": { "$ref": "Unit" },
                },
            }},
            "UnitState": { "methods": {
                "List": {
                    "id": "fleet.UnitState.List",
                    "description": "Retrieve a page of UnitState objects.",
                    "httpMethod": "GET",
                    "path": "state",
                    "parameters": {
                        "nextPageToken": query("Token of the page to fetch"),
                        "unitName": query("Only the states of this unit"),
                        "machineID": query("Only the states on this machine"),
                    },
                    "response": { "$ref": "UnitStatePage" },
                },
                "Get": {
                    "id": "fleet.UnitState.Get",
                    "description": "Retrieve the state of a single unit.",
                    "httpMethod": "GET",
                    "path": "state/{unitName}",
                    "parameters": unit_name_param(),
                    "parameterOrder": ["unitName"],
                    "response": { "$ref": "UnitState" },
                },
            }},
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_refuse_foreign_ones() {
        assert_eq!(parse_page_token(&page_token(2)), Ok(2));
        assert!(parse_page_token(&crate::base64::encode_url(b"50:2")).is_err());
        assert!(parse_page_token(&crate::base64::encode_url(b"100:0")).is_err());
        assert!(parse_page_token("%%%").is_err());
    }

    #[test]
    fn pages_hold_page_size_items_and_say_when_more_follow() {
        let (first, next) = paginate((0..250).collect::<Vec<_>>(), 0);
        assert_eq!(first.len(), PAGE_SIZE);
        let page = parse_page_token(&next.unwrap()).unwrap();
        let (second, next) = paginate((0..250).collect::<Vec<_>>(), page);
        assert_eq!(second[0], 100);
        let (third, last) = paginate(
            (0..250).collect::<Vec<_>>(),
            parse_page_token(&next.unwrap()).unwrap(),
        );
        assert_eq!((third.len(), last), (50, None));
        assert_eq!(paginate(Vec::<u8>::new(), 0), (vec![], None));
    }

    #[test]
    fn the_discovery_document_names_every_method_the_python_client_calls() {
        let d = discovery();
        for (resource, method) in [
            ("Machines", "List"),
            ("Units", "List"),
            ("Units", "Get"),
            ("Units", "Set"),
            ("Units", "Delete"),
            ("UnitState", "List"),
        ] {
            assert!(
                d["resources"][resource]["methods"][method]["httpMethod"].is_string(),
                "{resource}.{method}"
            );
        }
        assert_eq!(d["auth"], json!({}));
        assert_eq!(d["rootUrl"], "$ENDPOINT/");
    }
}
