export { TesseraClient, type ClientOptions } from "./client.js";
export { TesseraError, type ErrorCode } from "./errors.js";
export {
  MemoryStore,
  type CreatedUser,
  type EndReason,
  type Mode,
  type SecretStore,
  type Session,
  type SessionEndedDetail,
  type StoredCredentials,
  type Transport,
  type User,
  type WhoAmI,
} from "./types.js";
