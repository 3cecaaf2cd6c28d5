// Typed calls into the Tauri shell (src-tauri/src/main.rs). The data types are
// generated from the engine's Rust types into ./bindings (ts-rs); only the command
// names live here.
import { invoke, isTauri } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import { open } from "@tauri-apps/plugin-dialog";
import type { DdlDecision } from "./bindings/DdlDecision";
import type { EndpointConfig } from "./bindings/EndpointConfig";
import type { JobEventEnvelope } from "./bindings/JobEventEnvelope";
import type { JobStatus } from "./bindings/JobStatus";
import type { LateWrites } from "./bindings/LateWrites";
import type { JobReport } from "./bindings/JobReport";
import type { LogEntry } from "./bindings/LogEntry";
import type { Position } from "./bindings/Position";
import type { PrecheckReport } from "./bindings/PrecheckReport";
import type { Profile } from "./bindings/Profile";
import type { Report } from "./bindings/Report";
import type { RunSummary } from "./bindings/RunSummary";
import type { SavedProfile } from "./bindings/SavedProfile";
import type { Selection } from "./bindings/Selection";
import type { RepairAsked } from "./bindings/RepairAsked";
import type { ServerFacts } from "./bindings/ServerFacts";
import type { Side } from "./bindings/Side";
import type { VerifyReport } from "./bindings/VerifyReport";

/** The engine version reported by the Tauri shell, or null when the page runs in a plain browser. */
export async function engineVersion(): Promise<string | null> {
  if (!isTauri()) return null;
  return invoke<string>("engine_version");
}

/** An engine error as the shell returns it: code, message, remedy. */
export function asReport(e: unknown): Report {
  if (e && typeof e === "object" && "code" in e && "message" in e) return e as Report;
  return { code: "app.unexpected", message: String(e), remedy: "try again; if it persists, restart the app" };
}

export const engine = {
  profilesList: () => invoke<SavedProfile[]>("profiles_list"),
  /** Saves the job; each password given (not empty) goes to the keyring, a
   * shard's under its name. */
  profileSave: (profile: Profile, sourcePassword: string | null, targetPassword: string | null, shardPasswords: Record<string, string> = {}) =>
    invoke<void>("profile_save", { profile, sourcePassword, targetPassword, shardPasswords }),
  profileDelete: (name: string) => invoke<void>("profile_delete", { name }),
  testConnection: (job: string, side: Side, config: EndpointConfig, password: string | null) =>
    invoke<ServerFacts>("test_connection", { job, side, config, password }),
  /** Whether the OS keyring holds this side's password for the job. */
  passwordStored: (job: string, side: Side) => invoke<boolean>("password_stored", { job, side }),
  objects: (profile: Profile) => invoke<Selection>("objects", { profile }),
  /** Each source's selection (`source` first, then each further source by name). */
  objectsBySource: (profile: Profile) => invoke<[string, Selection][]>("objects_by_source", { profile }),
  precheck: (profile: Profile) => invoke<PrecheckReport>("precheck", { profile }),
  start: (profile: Profile, verify: boolean) => invoke<RunSummary>("start", { profile, verify }),
  /** Hands the job to a DM cluster and follows it there until it stops. */
  startOnCluster: (profile: Profile, master: string, token: string | null) =>
    invoke<RunSummary>("start_on_cluster", { profile, master, token }),
  pause: (profile: Profile) => invoke<boolean>("pause", { profile }),
  complete: (profile: Profile, freezeSource: boolean, acceptLate = false) =>
    invoke<boolean>("complete", { profile, freezeSource, acceptLate }),
  /** Watches the source after a completed job's cutover; resolves with what it found. */
  watch: (profile: Profile, seconds: number) => invoke<LateWrites>("watch", { profile, seconds }),
  /** Leaves the app with its running jobs paused, or (`keep`) handed to background runs. */
  leave: (keep: boolean) => invoke<void>("leave", { keep }),
  /** The job's log kept on its target, across runs and processes. */
  jobLog: (profile: Profile, limit = 500) => invoke<LogEntry[]>("job_log", { profile, limit }),
  /** The whole job's report: every run, phases, DDL, warnings, verification, checklist. */
  jobReport: (profile: Profile) => invoke<JobReport>("job_report", { profile }),
  /** Saves the report where downloads go (json, csv or html); resolves with its path. */
  exportReport: (profile: Profile, format: "json" | "csv" | "html") => invoke<string>("export_report", { profile, format }),
  stopWatch: (profile: Profile) => invoke<boolean>("stop_watch", { profile }),
  /** Brings the writes found after the cutover to the target: the job syncs and completes again. */
  applyLate: (profile: Profile, verify: boolean) => invoke<RunSummary>("apply_late", { profile, verify }),
  abort: (profile: Profile) => invoke<boolean>("abort", { profile }),
  /** Rolls the job back to its source through its reverse sync (drain, verify, done). */
  rollback: (profile: Profile) => invoke<boolean>("rollback", { profile }),
  /** Ends the job's reverse sync. */
  release: (profile: Profile) => invoke<boolean>("release", { profile }),
  /** Asks the job to copy a range its continuous verification found different again, from the source. */
  repair: (profile: Profile, schema: string | null, table: string | null, range: number | null) =>
    invoke<RepairAsked>("repair", { profile, schema, table, range }),
  status: (profile: Profile) => invoke<JobStatus>("status", { profile }),
  decideDdl: (profile: Profile, decision: DdlDecision) => invoke<boolean>("decide_ddl", { profile, decision }),
  verify: (profile: Profile) => invoke<VerifyReport>("verify", { profile }),
  onJobEvent: (handler: (e: JobEventEnvelope) => void): Promise<UnlistenFn> =>
    listen<JobEventEnvelope>("job-event", (msg) => handler(msg.payload)),
};

export const newProfile = (name: string) => invoke<Profile>("profile_new", { name });

/** Starts two local sandbox MariaDB servers with sample data; returns the saved `demo` job. */
export const demoStart = () => invoke<Profile>("demo_start");

export const sourcePosition = (job: string, config: EndpointConfig, password: string | null) =>
  invoke<Position>("source_position", { job, config, password });

/** Saves an exported report in the downloads folder; returns the file's path. */
export const saveReport = (name: string, contents: string) => invoke<string>("save_report", { name, contents });

/** The native open-file dialog; null when the DBA cancels. */
export async function pickFile(title: string): Promise<string | null> {
  const picked = await open({ title, multiple: false, directory: false });
  return typeof picked === "string" ? picked : null;
}
