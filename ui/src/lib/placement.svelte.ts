// Where a job runs: on this computer (the default) or handed to a TiDB DM
// cluster through its OpenAPI. The master's URL is remembered per job on this
// computer; a token, being a secret, only for as long as the window is open.
export interface Cluster {
  master: string;
  token: string;
}

const KEY = "ferry.placement";
const stored = (): Record<string, string> => {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? "{}") as Record<string, string>;
  } catch {
    return {};
  }
};

export const placements: Record<string, Cluster | null> = $state({});

/** The cluster a job runs on, or null for this computer. */
export function clusterOf(job: string): Cluster | null {
  if (job in placements) return placements[job];
  const master = stored()[job];
  return master ? { master, token: "" } : null;
}

export function place(job: string, cluster: Cluster | null) {
  placements[job] = cluster;
  const all = stored();
  if (cluster) all[job] = cluster.master;
  else delete all[job];
  try {
    localStorage.setItem(KEY, JSON.stringify(all));
  } catch {
    // Private mode or a full store: the choice lasts while the window is open.
  }
}

/** A DM-master URL as the API client accepts it, or why not. */
export function masterError(url: string): string | null {
  if (!/^https?:\/\/[^\s/]+(:\d+)?\/?$/.test(url.trim())) return "Write the DM-master's address like http://10.0.0.5:8261.";
  return null;
}
