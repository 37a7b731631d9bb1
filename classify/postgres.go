package classify

import "github.com/jackc/pgerrcode"

// Codes pgerrcode does not have (its 2025-09 version).
const (
	// transactionTimeout is PostgreSQL 17's transaction_timeout (FATAL).
	transactionTimeout = "25P04"
)

// postgresRules: PostgreSQL's own codes (PostgreSQL manual, Appendix A, and
// §13.5 "Serialization Failure Handling"). Amazon Aurora PostgreSQL and other
// managed PostgreSQL servers send the same codes: after a failover, 57P01
// ends the connections to the old writer and 25006 refuses writes sent to a
// demoted one.
var postgresRules = []CodeRule{
	{Engine: "PostgreSQL, CockroachDB, YugabyteDB", Code: pgerrcode.SerializationFailure, Name: "serialization_failure", Class: TxAborted, Contention: true,
		Why: "a REPEATABLE READ or SERIALIZABLE conflict (also recovery conflicts on a standby; every CockroachDB \"restart transaction\" reason; YugabyteDB conflicts, read restarts and catalog mismatches); the transaction was rolled back"},
	{Engine: "PostgreSQL, YugabyteDB", Code: pgerrcode.DeadlockDetected, Name: "deadlock_detected", Class: TxAborted, Contention: true,
		Why: "the transaction was chosen as a deadlock victim and rolled back"},
	{Engine: "PostgreSQL", Code: pgerrcode.LockNotAvailable, Name: "lock_not_available", Class: Transient, Contention: true,
		Why: "NOWAIT or lock_timeout; the statement (and the transaction it was in) was rolled back"},
	{Engine: "PostgreSQL", Code: pgerrcode.TooManyConnections, Name: "too_many_connections", Class: Transient,
		Why: "max_connections or a role's or database's connection limit, at connect"},
	{Engine: "PostgreSQL", Code: pgerrcode.CannotConnectNow, Name: "cannot_connect_now", Class: Transient,
		Why: "the server is starting up, shutting down or in recovery"},
	{Engine: "PostgreSQL proxies and poolers", Code: pgerrcode.SQLClientUnableToEstablishSQLConnection, Name: "sqlclient_unable_to_establish_sqlconnection", Class: Transient,
		Why: "a proxy or pooler in front of the server could not reach it, at connect (PostgreSQL itself does not send it)"},
	{Engine: "PostgreSQL, Aurora", Code: pgerrcode.ReadOnlySQLTransaction, Name: "read_only_sql_transaction", Class: Transient, ReadOnly: true,
		Why: "a write reached a standby or a demoted writer after a failover; also a write in a transaction begun READ ONLY, which RunInTx therefore returns at once"},
	{Engine: "PostgreSQL", Code: pgerrcode.FeatureNotSupported, Name: "feature_not_supported", Class: Transient, StaleStatement: true,
		contains: when("cached plan must not change result type"),
		Why:      "a schema change invalidated a prepared statement; pgx drops its statement cache on the error, so an attempt that prepares afresh succeeds (one of a statement the application prepared is not retried)"},
	{Engine: "PostgreSQL, Aurora, CockroachDB", Code: pgerrcode.AdminShutdown, Name: "admin_shutdown", Class: ConnLost,
		Why: "pg_terminate_backend, a fast shutdown, a failover or a CockroachDB node drain ended the session; a statement in flight may have run"},
	{Engine: "PostgreSQL", Code: pgerrcode.CrashShutdown, Name: "crash_shutdown", Class: ConnLost,
		Why: "another backend crashed and the server is restarting; a statement in flight may have run"},
	{Engine: "PostgreSQL", Code: pgerrcode.IdleSessionTimeout, Name: "idle_session_timeout", Class: ConnLost, Unsent: true,
		Why: "the server closed an idle session (PostgreSQL 14+); nothing of the next request ran"},
	{Engine: "PostgreSQL, CockroachDB", Code: pgerrcode.StatementCompletionUnknown, Name: "statement_completion_unknown", Class: ConnLost,
		Why: "the outcome is unknown (CockroachDB: \"result is ambiguous\"): treated like a connection lost after the request was sent, so it is returned as ambiguous unless declared idempotent"},
	{Engine: "PostgreSQL", Code: pgerrcode.TransactionResolutionUnknown, Name: "transaction_resolution_unknown", Class: ConnLost,
		Why: "the outcome of the transaction is unknown: ambiguous, as above"},
	{Engine: "PostgreSQL", Code: pgerrcode.TransactionRollback, Name: "transaction_rollback", Class: Permanent,
		Why: "generic class 40; unlike 40001 and 40P01 nothing says a retry can succeed"},
	{Engine: "PostgreSQL", Code: pgerrcode.TransactionIntegrityConstraintViolation, Name: "transaction_integrity_constraint_violation", Class: Permanent,
		Why: "a deferred constraint failed at COMMIT; the same data fails again"},
	{Engine: "PostgreSQL", Code: pgerrcode.InFailedSQLTransaction, Name: "in_failed_sql_transaction", Class: Permanent,
		Why: "a follow-on error: an earlier error of the transaction was swallowed; classify that one"},
	{Engine: "PostgreSQL", Code: pgerrcode.IdleInTransactionSessionTimeout, Name: "idle_in_transaction_session_timeout", Class: Permanent,
		Why: "the transaction sat idle too long and was ended; a replay would sit idle again"},
	{Engine: "PostgreSQL", Code: transactionTimeout, Name: "transaction_timeout", Class: Permanent,
		Why: "the transaction exceeded transaction_timeout (PostgreSQL 17+); a replay would too"},
	{Engine: "PostgreSQL", Code: pgerrcode.QueryCanceled, Name: "query_canceled", Class: Permanent,
		Why: "statement_timeout or a cancel request (pgx sends one when the context ends)"},
	{Engine: "PostgreSQL", Code: pgerrcode.DatabaseDropped, Name: "database_dropped", Class: Permanent,
		Why: "the database is gone"},
	{Engine: "PostgreSQL", Code: pgerrcode.InsufficientResources, Name: "insufficient_resources", Class: Permanent,
		Why: "the server is out of a resource; retrying adds load"},
	{Engine: "PostgreSQL", Code: pgerrcode.DiskFull, Name: "disk_full", Class: Permanent, Why: "the server's disk is full"},
	{Engine: "PostgreSQL", Code: pgerrcode.OutOfMemory, Name: "out_of_memory", Class: Permanent, Why: "the server is out of memory"},
	{Engine: "PostgreSQL", Code: pgerrcode.ConfigurationLimitExceeded, Name: "configuration_limit_exceeded", Class: Permanent,
		Why: "a configured limit was exceeded"},
	{Engine: "PostgreSQL", Code: pgerrcode.SnapshotTooOld, Name: "snapshot_too_old", Class: Permanent, Why: "old_snapshot_threshold"},
	{Engine: "PostgreSQL", Code: pgerrcode.UniqueViolation, Name: "unique_violation", Class: Permanent,
		Why: "the key exists; retrying inserts it again (override with WithCode when the key comes from an earlier read)"},
	{Engine: "PostgreSQL", Code: pgerrcode.ExclusionViolation, Name: "exclusion_violation", Class: Permanent,
		Why: "as unique_violation"},
	{Engine: "PostgreSQL", Code: pgerrcode.InternalError, Name: "internal_error", Class: Permanent, Why: "a server bug"},
	{Engine: "PostgreSQL", Code: pgerrcode.DataCorrupted, Name: "data_corrupted", Class: Permanent, Why: "corruption"},
	{Engine: "PostgreSQL", Code: pgerrcode.IndexCorrupted, Name: "index_corrupted", Class: Permanent, Why: "corruption"},
	{Engine: "PostgreSQL", Code: pgerrcode.InvalidPassword, Name: "invalid_password", Class: Permanent, Why: "authentication failed"},
	{Engine: "PostgreSQL", Code: pgerrcode.InvalidAuthorizationSpecification, Name: "invalid_authorization_specification", Class: Permanent,
		Why: "authentication refused"},
	{Engine: "PostgreSQL", Code: pgerrcode.InvalidCatalogName, Name: "invalid_catalog_name", Class: Permanent, Why: "the database does not exist"},
}

// cockroachRules: CockroachDB, "Transaction Retry Error Reference". Every
// retry error is 40001 with "restart transaction" in its message, whatever
// the reason (RETRY_WRITE_TOO_OLD, RETRY_SERIALIZABLE,
// ReadWithinUncertaintyIntervalError, ...): the serialization_failure rule
// above covers them.
var cockroachRules = []CodeRule{
	{Engine: "CockroachDB", Code: "CR000", Name: "retry (legacy)", Class: TxAborted, Contention: true,
		Why: "the retry code of old versions, still recognised by cockroach-go"},
	{Engine: "CockroachDB", Code: "XXA00", Name: "committed with schema change failure", Class: Permanent,
		Why: "the transaction committed but a schema change in it failed"},
}

// yugabyteRules: YugabyteDB YSQL, "Transaction error codes in YSQL".
// Conflicts, "Restart read required" and catalog mismatches are 40001 and
// deadlocks 40P01, covered above.
var yugabyteRules = []CodeRule{
	{Engine: "YugabyteDB", Code: "YB003", Name: "ERRCODE_YB_TXN_CONFLICT", Class: TxAborted, Contention: true,
		Why: "an internal conflict code that leaked to clients on COMMIT before 2.31"},
	{Engine: "YugabyteDB", Code: pgerrcode.InternalError, Name: "internal_error", Class: TxAborted,
		contains: when("schema version mismatch", "Catalog Version Mismatch"),
		Why:      "a schema change raced the transaction (versions before 2.25 reported it as XX000)"},
}

// pgbouncerRules: PgBouncer reports its own failures as 08P01 with a
// message saying what happened.
var pgbouncerRules = []CodeRule{
	{Engine: "PgBouncer", Code: pgerrcode.ProtocolViolation, Name: "protocol_violation", Class: ConnLost, Unsent: true,
		contains: when("query_wait_timeout", "no more connections allowed", "pgbouncer cannot connect to server"),
		Why:      "the pooler found no server connection in time; the query never reached a server"},
	{Engine: "PgBouncer", Code: pgerrcode.ProtocolViolation, Name: "protocol_violation", Class: ConnLost,
		contains: when("server conn crashed?"),
		Why:      "the server connection died under the query, which may have run"},
}
