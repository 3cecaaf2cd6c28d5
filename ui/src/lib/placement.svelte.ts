// Where a job runs: on this computer (the default) or handed to a TiDB DM
// cluster through its OpenAPI. The master's URL is remembered per job on this
// computer; a token, being a secret, only for as long as the window is open.
import { perJob } from "./perJob";

export interface Cluster {
  master: string;
  token: string;
}

// The master's URL per job.
const masters = perJob<string>("ferry.placement");

export const placements: Record<string, Cluster | null> = $state({});

/** The cluster a job runs on, or null for this computer. */
export function clusterOf(job: string): Cluster | null {
  if (job in placements) return placements[job];
  const master = masters.get(job);
  return master ? { master, token: "" } : null;
}

export function place(job: string, cluster: Cluster | null) {
  placements[job] = cluster;
  // Where it cannot be kept, the choice lasts while the window is open (`placements`).
  masters.set(job, cluster ? cluster.master : null);
}

/** A DM-master URL as the API client accepts it, or why not. */
export function masterError(url: string): string | null {
  if (!/^https?:\/\/[^\s/]+(:\d+)?\/?$/.test(url.trim())) return "Write the DM-master's address like http://10.0.0.5:8261.";
  return null;
}
