package classify

// MySQL and MariaDB error numbers used by the rules (MySQL Server Error
// Reference; MariaDB Error Codes). go-sql-driver/mysql reports them in
// (*mysql.MySQLError).Number. The client-side codes 2006 and 2013 (server
// gone, lost connection) never reach Go: go-sql-driver reports a broken
// connection as mysql.ErrInvalidConn or driver.ErrBadConn instead, which the
// driver rules handle.
const (
	erLockDeadlock                    = "1213"
	erLockWaitTimeout                 = "1205"
	erLockNowait                      = "3572"
	erCheckread                       = "1020"
	erConCount                        = "1040"
	erTooManyUserConnections          = "1203"
	erUserLimitReached                = "1226"
	erServerShutdown                  = "1053"
	erForcingClose                    = "1080"
	erSessionWasKilled                = "3169"
	erConnectionKilled                = "1927" // MariaDB
	erClientInteractionTimeout        = "4031" // MySQL 8.0.24+
	erOptionPreventsStatement         = "1290"
	erReadOnlyMode                    = "1836"
	erCantExecuteInReadOnlyTx         = "1792"
	erErrorDuringCommit               = "1180"
	erQueryInterrupted                = "1317"
	erQueryTimeout                    = "3024"
	erDupEntry                        = "1062"
	erAccessDenied                    = "1045"
	erUnknownComError                 = "1047"
	erUnknownError                    = "1105"
	erOutOfResources                  = "1041"
	erTransactionRollbackDuringCommit = "3101"
	erRunHookError                    = "3100"
)

// mysqlServerRules: MySQL and MariaDB (InnoDB). A deadlock rolls back the
// whole transaction; a lock wait timeout only the statement, unless
// innodb_rollback_on_timeout is on, so RunInTx rolls back explicitly and
// replays. Amazon Aurora MySQL sends 1290 or 1836 when a write reaches the
// old writer after a failover; go-sql-driver's rejectReadOnly=true turns
// those into driver.ErrBadConn instead.
var mysqlServerRules = []CodeRule{
	{Engine: "MySQL, MariaDB", Code: erLockDeadlock, Name: "ER_LOCK_DEADLOCK", Class: TxAborted, Contention: true,
		Why: "the transaction was chosen as a deadlock victim and rolled back"},
	{Engine: "MySQL, MariaDB", Code: erLockWaitTimeout, Name: "ER_LOCK_WAIT_TIMEOUT", Class: Transient, Contention: true,
		Why: "innodb_lock_wait_timeout (and NOWAIT on MariaDB); the statement was rolled back"},
	{Engine: "MySQL", Code: erLockNowait, Name: "ER_LOCK_NOWAIT", Class: Transient, Contention: true,
		Why: "FOR UPDATE NOWAIT found the row locked"},
	{Engine: "MariaDB", Code: erCheckread, Name: "ER_CHECKREAD", Class: TxAborted, Contention: true,
		Why: "\"Record has changed since last read\": innodb_snapshot_isolation (default on since 11.6.2) rolled the transaction back"},
	{Engine: "MySQL, MariaDB", Code: erConCount, Name: "ER_CON_COUNT_ERROR", Class: Transient,
		Why: "too many connections, at connect"},
	{Engine: "MySQL, MariaDB, Vitess", Code: erTooManyUserConnections, Name: "ER_TOO_MANY_USER_CONNECTIONS", Class: Transient,
		Why: "max_user_connections, at connect (Vitess also maps RESOURCE_EXHAUSTED here)"},
	{Engine: "MySQL, MariaDB", Code: erUserLimitReached, Name: "ER_USER_LIMIT_REACHED", Class: Transient,
		contains: when("'max_user_connections'"),
		Why:      "the account's MAX_USER_CONNECTIONS, at connect"},
	{Engine: "MySQL, MariaDB", Code: erUserLimitReached, Name: "ER_USER_LIMIT_REACHED", Class: Permanent,
		Why: "an hourly limit of the account (max_questions, max_updates, max_connections_per_hour)"},
	{Engine: "MySQL, MariaDB, Aurora", Code: erOptionPreventsStatement, Name: "ER_OPTION_PREVENTS_STATEMENT", Class: Transient, ReadOnly: true,
		contains: when("read-only", "read_only"),
		Why:      "the server is read-only: a replica, or the old writer after a failover"},
	{Engine: "MySQL, MariaDB", Code: erOptionPreventsStatement, Name: "ER_OPTION_PREVENTS_STATEMENT", Class: Permanent,
		Why: "another option (such as --secure-file-priv) forbids the statement"},
	{Engine: "MySQL, Aurora", Code: erReadOnlyMode, Name: "ER_READ_ONLY_MODE", Class: Transient, ReadOnly: true,
		Why: "the server is in read-only mode"},
	{Engine: "MySQL, MariaDB", Code: erCantExecuteInReadOnlyTx, Name: "ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION", Class: Permanent,
		Why: "a write in a transaction the application opened READ ONLY"},
	{Engine: "MySQL, MariaDB", Code: erServerShutdown, Name: "ER_SERVER_SHUTDOWN", Class: ConnLost,
		Why: "the server is shutting down; a statement in flight may have run"},
	{Engine: "MySQL, MariaDB", Code: erForcingClose, Name: "ER_FORCING_CLOSE", Class: ConnLost,
		Why: "the server closed the connection while shutting down"},
	{Engine: "MySQL", Code: erSessionWasKilled, Name: "ER_SESSION_WAS_KILLED", Class: ConnLost,
		Why: "KILL CONNECTION; a statement in flight may have run"},
	{Engine: "MariaDB", Code: erConnectionKilled, Name: "ER_CONNECTION_KILLED", Class: ConnLost,
		Why: "KILL CONNECTION; a statement in flight may have run"},
	{Engine: "MySQL", Code: erClientInteractionTimeout, Name: "ER_CLIENT_INTERACTION_TIMEOUT", Class: ConnLost, Unsent: true,
		Why: "the server closed an idle connection (wait_timeout, MySQL 8.0.24+); nothing of the next request ran"},
	{Engine: "MySQL, MariaDB", Code: erErrorDuringCommit, Name: "ER_ERROR_DURING_COMMIT", Class: ConnLost,
		Why: "the commit failed in the storage engine and its outcome is unknown: ambiguous"},
	{Engine: "MySQL, MariaDB, Vitess", Code: erQueryInterrupted, Name: "ER_QUERY_INTERRUPTED", Class: Permanent,
		Why: "KILL QUERY, or a Vitess timeout or transaction killer: a replay hits the same limit"},
	{Engine: "MySQL", Code: erQueryTimeout, Name: "ER_QUERY_TIMEOUT", Class: Permanent,
		Why: "max_execution_time"},
	{Engine: "MySQL, MariaDB", Code: erDupEntry, Name: "ER_DUP_ENTRY", Class: Permanent,
		Why: "the key exists"},
	{Engine: "MySQL, MariaDB", Code: erAccessDenied, Name: "ER_ACCESS_DENIED_ERROR", Class: Permanent,
		Why: "authentication failed"},
}

// galeraRules: Galera Cluster and Percona XtraDB Cluster (wsrep). A
// certification failure is reported as 1213, possibly by COMMIT itself, and
// is a definite rollback: the deadlock rule covers it.
var galeraRules = []CodeRule{
	{Engine: "Galera, Percona XtraDB Cluster", Code: erUnknownComError, Name: "ER_UNKNOWN_COM_ERROR", Class: ConnLost, Unsent: true,
		contains: when("WSREP has not yet prepared node"),
		Why:      "the node is not in the primary component or not synced; nothing ran: reconnect, ideally to another node"},
}

// groupReplicationRules: MySQL Group Replication and InnoDB Cluster.
var groupReplicationRules = []CodeRule{
	{Engine: "MySQL Group Replication", Code: erTransactionRollbackDuringCommit, Name: "ER_TRANSACTION_ROLLBACK_DURING_COMMIT", Class: TxAborted, Contention: true,
		Why: "certification conflict at COMMIT: the transaction was rolled back"},
	{Engine: "MySQL Group Replication", Code: erRunHookError, Name: "ER_RUN_HOOK_ERROR", Class: ConnLost, Unsent: true,
		Why: "a before-commit hook refused (the member is not ONLINE); nothing committed: reconnect to a healthy primary"},
}

// tidbRules: TiDB, "Error Codes and Troubleshooting" and "Handle Transaction
// Errors". Pessimistic deadlocks and lock waits are 1213 and 1205, covered
// by the MySQL rules. When the connection drops during COMMIT, TiDB closes
// it (result undetermined): go-sql-driver reports mysql.ErrInvalidConn,
// which is ambiguous.
var tidbRules = []CodeRule{
	{Engine: "TiDB", Code: "9007", Name: "write conflict", Class: TxAborted, Contention: true,
		Why: "optimistic write conflict at commit; the whole transaction may be retried"},
	{Engine: "TiDB", Code: "8002", Name: "SELECT FOR UPDATE write conflict", Class: TxAborted, Contention: true,
		Why: "a transaction with SELECT FOR UPDATE met a commit conflict"},
	{Engine: "TiDB", Code: "8022", Name: "transaction commit failed, rolled back", Class: TxAborted,
		Why: "the commit failed and was rolled back"},
	{Engine: "TiDB", Code: "8028", Name: "information schema changed", Class: TxAborted,
		Why: "the schema changed during the transaction"},
	{Engine: "TiDB", Code: "8005", Name: "write conflict, txnStartTS is stale", Class: TxAborted,
		Why: "the transaction's start timestamp is too old"},
	{Engine: "TiDB", Code: "8027", Name: "schema version outdated", Class: TxAborted,
		Why: "TiDB could not refresh the schema from PD in time"},
	{Engine: "TiDB", Code: "9001", Name: "PD server timeout", Class: Transient, Why: "placement driver timeout"},
	{Engine: "TiDB", Code: "9002", Name: "TiKV server timeout", Class: Transient, Why: "storage timeout"},
	{Engine: "TiDB", Code: "9003", Name: "TiKV server is busy", Class: Transient, Why: "storage busy"},
	{Engine: "TiDB", Code: "9004", Name: "resolve lock timeout", Class: Transient, Why: "lock resolution timeout"},
	{Engine: "TiDB", Code: "9005", Name: "region is unavailable", Class: Transient, Why: "a region has no leader for now"},
	{Engine: "TiDB", Code: "9006", Name: "GC life time is shorter than transaction duration", Class: Permanent,
		Why: "configuration: the transaction outlives tidb_gc_life_time"},
	{Engine: "TiDB", Code: "8004", Name: "transaction is too large", Class: Permanent, Why: "a replay is as large"},
}

// vitessRules: Vitess and PlanetScale. Errors of the underlying MySQL keep
// their numbers; vtgate's own errors are 1105 with the gRPC code in the
// message.
var vitessRules = []CodeRule{
	{Engine: "Vitess, PlanetScale", Code: erUnknownError, Name: "ER_UNKNOWN_ERROR", Class: Transient,
		contains: when("not serving", "failover in progress", "cluster event"),
		Why:      "a reparent or failover is under way; the query was refused, not run"},
	{Engine: "Vitess, PlanetScale", Code: erUnknownError, Name: "ER_UNKNOWN_ERROR", Class: ConnLost,
		contains: when("code = Unavailable"),
		Why:      "vtgate lost the tablet; the query may have run"},
	{Engine: "Vitess, PlanetScale", Code: erOutOfResources, Name: "ER_OUT_OF_RESOURCES", Class: Transient,
		contains: when("Transaction throttled"),
		Why:      "the transaction throttler refused the transaction"},
}
