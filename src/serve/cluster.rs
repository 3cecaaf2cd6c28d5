//! `/cluster/*`: this one process is DM's master and its only worker.

use axum::Json;

use ferry::dm::model::{ClusterInfo, ClusterMaster, ClusterWorker, List};

use super::api::ApiResult;
use super::Shared;

/// A stable id for this node: a hash of its address.
fn cluster_id(addr: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in addr.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[utoipa::path(get, path = "/api/v1/cluster/info", tag = "cluster", responses((status = 200, description = "this node", body = ClusterInfo)))]
pub async fn info(state: Shared) -> Json<ClusterInfo> {
    Json(ClusterInfo {
        cluster_id: cluster_id(&state.addr),
    })
}

#[utoipa::path(get, path = "/api/v1/cluster/masters", tag = "cluster", responses((status = 200, description = "this node as the master", body = List<ClusterMaster>)))]
pub async fn masters(state: Shared) -> Json<List<ClusterMaster>> {
    Json(
        vec![ClusterMaster {
            name: "ferry".into(),
            alive: true,
            leader: true,
            addr: state.addr.clone(),
        }]
        .into(),
    )
}

#[utoipa::path(get, path = "/api/v1/cluster/workers", tag = "cluster", responses((status = 200, description = "this node as the worker", body = List<ClusterWorker>)))]
pub async fn workers(state: Shared) -> ApiResult<Json<List<ClusterWorker>>> {
    let bound: Vec<String> = state.dm.source_names()?;
    Ok(Json(
        vec![ClusterWorker {
            name: "ferry".into(),
            addr: state.addr.clone(),
            bound_stage: if bound.is_empty() { "free" } else { "bound" }.into(),
            bound_source_name: bound.join(","),
        }]
        .into(),
    ))
}
