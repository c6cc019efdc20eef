//! [`Runs`] through the local API of the process that holds the store (the daemon, or a
//! foreground `apply`/`resume`). Runs are driven there; following one only watches it.

use super::types::{
    ControlRequest, HistoryPage, PlanReply, PlanRequest, ResumeReply, ResumeRequest, RunList,
    RunReply, RunStatus, SubmitRequest,
};
use super::{Place, Runs, ServiceResult};
use crate::daemon::client::DaemonClient;
use async_trait::async_trait;
use failback_engine::planner::Plan;
use failback_state::RunRecord;

pub struct RemoteRuns {
    client: DaemonClient,
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl RemoteRuns {
    pub fn new(client: DaemonClient) -> Self {
        Self { client }
    }
}

#[async_trait]
impl Runs for RemoteRuns {
    fn place(&self) -> Place {
        Place::Remote
    }

    async fn plan_new(&self, req: &PlanRequest) -> ServiceResult<Plan> {
        let r: PlanReply = self.client.post("/v1/plan", req).await?;
        Ok(r.plan)
    }

    async fn plan_run(&self, id: &str, offline: bool) -> ServiceResult<Plan> {
        let path = format!("/v1/runs/{}/plan?offline={offline}", enc(id));
        let r: PlanReply = self.client.get(&path).await?;
        Ok(r.plan)
    }

    async fn submit(&self, req: &SubmitRequest) -> ServiceResult<RunRecord> {
        let r: RunReply = self.client.post("/v1/runs", req).await?;
        Ok(r.run)
    }

    async fn list(&self, state: Option<&str>) -> ServiceResult<RunList> {
        let path = match state {
            Some(s) => format!("/v1/runs?state={}", enc(s)),
            None => "/v1/runs".into(),
        };
        self.client.get(&path).await
    }

    async fn status(&self, id: &str) -> ServiceResult<RunStatus> {
        self.client.get(&format!("/v1/runs/{}", enc(id))).await
    }

    async fn history(&self, id: &str, after: u64, wait_ms: u64) -> ServiceResult<HistoryPage> {
        let path = format!(
            "/v1/runs/{}/history?after={after}&wait_ms={wait_ms}",
            enc(id)
        );
        self.client.get(&path).await
    }

    async fn control(&self, id: &str, req: &ControlRequest) -> ServiceResult<RunRecord> {
        let path = format!("/v1/runs/{}/{}", enc(id), req.action.as_str());
        let r: RunReply = self.client.post(&path, &req.body).await?;
        Ok(r.run)
    }

    async fn resume(&self, req: &ResumeRequest) -> ServiceResult<ResumeReply> {
        self.client.post("/v1/resume", req).await
    }

    async fn fatal(&self) -> String {
        // The holder's failures reach a follower as failed requests.
        std::future::pending().await
    }

    async fn interrupt(&self) -> Vec<String> {
        vec!["detached; the process that holds the store keeps driving the run(s)".into()]
    }

    async fn close(&self) {}
}
