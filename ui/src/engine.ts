import { invoke, isTauri } from "@tauri-apps/api/core";

/** The engine version reported by the Tauri shell, or null when the page runs in a plain browser. */
export async function engineVersion(): Promise<string | null> {
  if (!isTauri()) return null;
  return invoke<string>("engine_version");
}
