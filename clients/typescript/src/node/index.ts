export {
  GuardError,
  TesseraGuard,
  type CutoffPolicy,
  type GuardOptions,
  type Principal,
} from "./guard.js";
export { findCredential, type Credential, type HeaderSource } from "./credential.js";
export { RevocationFollower, type FollowerOptions } from "./revocations.js";
export { SseParser, type SseEvent } from "./sse.js";
