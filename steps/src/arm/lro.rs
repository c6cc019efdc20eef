//! Long-running operations. The poll URL is returned to the step, which checkpoints it, so a
//! resumed step keeps polling instead of sending its PUT again. Polls are never sooner than
//! the server's Retry-After.

use super::client::{ArmClient, ArmResponse};
use super::error::{ArmError, ErrorClass};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;
use url::Url;

/// Where an operation's outcome is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PollKind {
    /// `Azure-AsyncOperation`: 200 with `{status}` until terminal.
    AsyncOperation,
    /// `Location`: 202 while running, then the final response.
    Location,
    /// Neither header: GET the resource until its provisioningState is terminal.
    Resource,
}

/// A started operation, as checkpointed by a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LroPoll {
    pub kind: PollKind,
    pub url: String,
    /// For PUTs: the resource to read once the operation succeeded.
    pub resource_url: Option<String>,
    /// For DELETEs: the resource being deleted, read when the operation record is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleting: Option<String>,
}

#[derive(Debug, Clone)]
pub enum LroStatus {
    /// Poll again after this long.
    InProgress {
        retry_after: Duration,
    },
    /// Final body (the resource for PUTs; the Location result for POST/DELETE; Null if none).
    Succeeded(Value),
    Failed(ArmError),
    /// The operation record is gone (404) and the resource shows the operation never took
    /// effect: send the request again.
    Lost(String),
}

/// Poll interval when the server gives no Retry-After.
pub const DEFAULT_POLL: Duration = Duration::from_secs(10);

fn terminal(state: &str) -> Option<bool> {
    match state.to_ascii_lowercase().as_str() {
        "succeeded" => Some(true),
        "failed" | "canceled" | "cancelled" => Some(false),
        _ => None,
    }
}

fn provisioning_state(body: &Value) -> Option<&str> {
    body.pointer("/properties/provisioningState")
        .and_then(Value::as_str)
}

impl LroPoll {
    /// From the first response of a PUT/DELETE/POST. `None` when the operation finished
    /// synchronously (the response is the result).
    pub fn from_response(resp: &ArmResponse, resource_url: Option<&Url>) -> Option<LroPoll> {
        let resource_url = resource_url.map(|u| u.to_string());
        if let Some(url) = &resp.async_operation {
            return Some(LroPoll {
                kind: PollKind::AsyncOperation,
                url: url.clone(),
                resource_url,
                deleting: None,
            });
        }
        if let Some(url) = &resp.location {
            if resp.status == 202 || resp.status == 201 {
                return Some(LroPoll {
                    kind: PollKind::Location,
                    url: url.clone(),
                    resource_url,
                    deleting: None,
                });
            }
        }
        let running = provisioning_state(&resp.body).is_some_and(|s| terminal(s).is_none());
        match (&resource_url, running || resp.status == 202) {
            (Some(u), true) => Some(LroPoll {
                kind: PollKind::Resource,
                url: u.clone(),
                resource_url: Some(u.clone()),
                deleting: None,
            }),
            _ => None,
        }
    }

    /// From the first response of a DELETE of `resource`: `None` when it finished at once.
    pub fn for_delete(resp: &ArmResponse, resource: &Url) -> Option<LroPoll> {
        LroPoll::from_response(resp, None).map(|mut l| {
            l.deleting = Some(resource.to_string());
            l
        })
    }

    /// One poll.
    pub async fn poll(&self, client: &ArmClient, op: &str) -> Result<LroStatus, ArmError> {
        let url = Url::parse(&self.url).map_err(|e| {
            ArmError::local(
                "InvalidPollUrl",
                format!("{}: {e}", self.url),
                ErrorClass::Permanent,
            )
        })?;
        let resp = match client.get(url, op).await {
            Ok(r) => r,
            // ARM forgets operation records (and a restarted service may never have kept
            // one): the resource itself tells the truth.
            Err(e) if e.is_not_found() => return self.reconcile(client, op, e).await,
            Err(e) => return Err(e),
        };
        let wait = resp.retry_after.unwrap_or(DEFAULT_POLL);
        match self.kind {
            PollKind::AsyncOperation => {
                let status = resp
                    .body
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("InProgress");
                match terminal(status) {
                    None => Ok(LroStatus::InProgress { retry_after: wait }),
                    Some(false) => Ok(LroStatus::Failed(failed(&resp, status))),
                    Some(true) => match &self.resource_url {
                        Some(r) => self.final_get(client, r, op).await,
                        None => Ok(LroStatus::Succeeded(resp.body)),
                    },
                }
            }
            PollKind::Location => {
                if resp.status == 202 {
                    Ok(LroStatus::InProgress { retry_after: wait })
                } else {
                    Ok(LroStatus::Succeeded(resp.body))
                }
            }
            PollKind::Resource => match provisioning_state(&resp.body).map(terminal) {
                Some(None) => Ok(LroStatus::InProgress { retry_after: wait }),
                Some(Some(false)) => Ok(LroStatus::Failed(ArmError::local(
                    "ProvisioningFailed",
                    format!(
                        "{op}: provisioningState is {}",
                        provisioning_state(&resp.body).unwrap_or("")
                    ),
                    ErrorClass::Permanent,
                ))),
                _ => Ok(LroStatus::Succeeded(resp.body)),
            },
        }
    }

    /// The operation status answered 404: read the resource instead. A delete whose resource
    /// is absent is done, one still `Deleting` goes on, any other state was never carried out.
    /// A create whose resource is absent was never carried out; present, its
    /// provisioningState decides. Without a resource to read, the 404 stands.
    async fn reconcile(
        &self,
        client: &ArmClient,
        op: &str,
        lost: ArmError,
    ) -> Result<LroStatus, ArmError> {
        let (target, deleting) = match (&self.deleting, &self.resource_url) {
            (Some(d), _) => (d, true),
            (None, Some(r)) => (r, false),
            (None, None) => return Err(lost),
        };
        let url = Url::parse(target).map_err(|e| {
            ArmError::local(
                "InvalidPollUrl",
                format!("{target}: {e}"),
                ErrorClass::Permanent,
            )
        })?;
        let read = match client.get(url, op).await {
            Ok(r) => Some(r.body),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        };
        let state = read
            .as_ref()
            .and_then(provisioning_state)
            .map(str::to_owned);
        let gone = format!("{op}: the operation record is gone ({})", lost.message);
        Ok(match (deleting, read, state.as_deref().map(terminal)) {
            (true, None, _) => LroStatus::Succeeded(Value::Null),
            (true, Some(_), _) if state.as_deref() == Some("Deleting") => LroStatus::InProgress {
                retry_after: DEFAULT_POLL,
            },
            (true, Some(_), _) => {
                LroStatus::Lost(format!("{gone} and the resource is still there"))
            }
            (false, None, _) => LroStatus::Lost(format!("{gone} and the resource does not exist")),
            (false, Some(_), Some(None)) => LroStatus::InProgress {
                retry_after: DEFAULT_POLL,
            },
            (false, Some(_), Some(Some(false))) => LroStatus::Failed(ArmError::local(
                "ProvisioningFailed",
                format!("{op}: provisioningState is {}", state.unwrap_or_default()),
                ErrorClass::Permanent,
            )),
            (false, Some(body), _) => LroStatus::Succeeded(body),
        })
    }

    async fn final_get(
        &self,
        client: &ArmClient,
        resource: &str,
        op: &str,
    ) -> Result<LroStatus, ArmError> {
        let url = Url::parse(resource).map_err(|e| {
            ArmError::local(
                "InvalidPollUrl",
                format!("{resource}: {e}"),
                ErrorClass::Permanent,
            )
        })?;
        match client.get(url, op).await {
            Ok(r) => Ok(LroStatus::Succeeded(r.body)),
            // A DELETE's resource is gone when it succeeded.
            Err(e) if e.is_not_found() => Ok(LroStatus::Succeeded(Value::Null)),
            Err(e) => Err(e),
        }
    }
}

/// The operation's own error (`AllocationFailed`, ...) from a Failed/Canceled status body.
fn failed(resp: &ArmResponse, status: &str) -> ArmError {
    let err = resp.body.get("error");
    ArmError {
        status: None,
        code: err
            .and_then(|e| e.get("code"))
            .and_then(Value::as_str)
            .unwrap_or(status)
            .to_owned(),
        message: err
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("the operation did not succeed")
            .to_owned(),
        request_id: resp.request_id.clone(),
        class: ErrorClass::Permanent,
        retry_after: None,
    }
}
