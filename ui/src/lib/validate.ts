// Form rules, the same the engine applies when it loads a profile, so a DBA sees
// the problem next to the field before anything is saved.
import type { EndpointConfig } from "../bindings/EndpointConfig";

/** Seed 004's job name rule: a letter first, under 60 characters, letters, digits, `_`, `-`. */
export function jobNameError(name: string): string | null {
  if (name.length === 0) return "Give the job a name.";
  if (!/^[A-Za-z]/.test(name)) return "Start the name with a letter.";
  if (name.length >= 60) return "Keep the name under 60 characters.";
  if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(name)) return "Use only letters, digits, _ and -.";
  return null;
}

export type EndpointErrors = Partial<Record<"host" | "port" | "user" | "ca" | "cert" | "key", string>>;

export function endpointErrors(c: EndpointConfig): EndpointErrors {
  const errors: EndpointErrors = {};
  if (c.host.trim() === "") errors.host = "Enter the server's host name or address.";
  if (!Number.isInteger(c.port) || c.port < 1 || c.port > 65535) errors.port = "The port is a number from 1 to 65535.";
  if (c.user.trim() === "") errors.user = "Enter the account to connect as.";
  if ((c.tls === "verify-ca" || c.tls === "verify-identity") && !c.ca) {
    errors.ca = "This TLS mode needs the CA certificate file.";
  }
  // A client certificate is presented with its key: one without the other is a typo.
  if (c.tls !== "disabled" && c.cert && !c.key) errors.key = "Give the key file of the client certificate.";
  if (c.tls !== "disabled" && c.key && !c.cert) errors.cert = "Give the client certificate of this key.";
  return errors;
}

/** A new endpoint with the defaults the engine uses. */
export function newEndpoint(port = 3306): EndpointConfig {
  return { host: "", port, user: "", tls: "preferred", connect_timeout_secs: 10 };
}

/** A shard's name: 1–32 letters, digits, `_` or `-`, not `source`, each once. */
export function shardNameError(name: string, others: string[]): string | null {
  if (name.length === 0) return "Name this source.";
  if (name.length > 32 || !/^[A-Za-z0-9_-]+$/.test(name)) return "Use 1 to 32 letters, digits, _ and -.";
  if (name === "source") return "“source” names the first source; pick another name.";
  if (others.includes(name)) return "Another source has this name.";
  return null;
}
