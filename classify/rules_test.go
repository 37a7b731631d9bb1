package classify_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql" // registers "mysql" with database/sql
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/internal/wiretest"
)

// pgError returns the error pgx reports when the fake server answers as e:
// the value a PostgreSQL, CockroachDB or YugabyteDB client really gets.
func pgError(t *testing.T, e wiretest.PGError) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, wiretest.PG(t, e))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "SELECT 1")
	if err == nil {
		t.Fatalf("the fake server did not fail: %+v", e)
	}
	return err
}

// mysqlError returns the error database/sql and go-sql-driver/mysql report
// when the fake server answers as e.
func mysqlError(t *testing.T, e wiretest.MySQLError) error {
	t.Helper()
	db, err := sql.Open("mysql", wiretest.MySQL(t, e))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = db.ExecContext(ctx, "SELECT 1")
	if err == nil {
		t.Fatalf("the fake server did not fail: %+v", e)
	}
	return err
}

// pgConnectCodes are refused at connect; fatalCodes end the session.
var (
	pgConnectCodes = map[string]bool{"53300": true, "57P03": true, "28P01": true, "28000": true, "3D000": true}
	pgFatalCodes   = map[string]bool{"57P01": true, "57P02": true, "57P05": true, "25P03": true, "25P04": true}
	myConnectCodes = map[string]bool{"1040": true, "1203": true, "1226": true, "1045": true}
	myClosingCodes = map[string]bool{"1053": true, "1080": true, "3169": true, "1927": true, "4031": true}
)

// TestEveryBuiltinRule provokes, for every rule of the built-in tables, the
// error through the real driver from a fake server, and checks the result.
func TestEveryBuiltinRule(t *testing.T) {
	rules := classify.BuiltinRules()
	if len(rules) < 60 {
		t.Fatalf("only %d built-in rules", len(rules))
	}
	for _, r := range rules {
		msg := "something failed"
		if r.When != "" {
			// The first quoted text of the condition, inside a sentence.
			first := strings.SplitN(r.When, `" or "`, 2)[0]
			msg = "error: " + strings.Trim(first, `"`) + " (test)"
		}
		t.Run(r.Engine+"/"+r.Code+"/"+r.Name, func(t *testing.T) {
			var err error
			if isMySQLCode(r.Code) {
				var n uint16
				fmt.Sscan(r.Code, &n)
				e := wiretest.MySQLError{Number: n, Message: msg, Close: myClosingCodes[r.Code]}
				if myConnectCodes[r.Code] {
					e.When = wiretest.OnConnect
				}
				err = mysqlError(t, e)
				var me *mysql.MySQLError
				if !errors.As(err, &me) || me.Number != n {
					t.Fatalf("the driver returned %T %v, not the MySQL error %d", err, err, n)
				}
			} else {
				e := wiretest.PGError{Code: r.Code, Message: msg}
				if pgConnectCodes[r.Code] {
					e.When, e.Severity = wiretest.OnConnect, "FATAL"
				}
				if pgFatalCodes[r.Code] {
					e.Severity, e.Close = "FATAL", true
				}
				err = pgError(t, e)
				var pe *pgconn.PgError
				if !errors.As(err, &pe) || pe.Code != r.Code {
					t.Fatalf("the driver returned %T %v, not SQLSTATE %s", err, err, r.Code)
				}
			}
			want := classify.Result{Class: r.Class, Code: r.Code, Unsent: r.Unsent, Contention: r.Contention, ReadOnly: r.ReadOnly, StaleStatement: r.StaleStatement}
			if pgConnectCodes[r.Code] && !isMySQLCode(r.Code) {
				// pgx reports a refusal at connect in a *pgconn.ConnectError.
				want.Connect = true
				if want.Class == classify.ConnLost {
					want.Unsent = true
				}
			}
			for _, e := range []error{err, fmt.Errorf("exec: %w", err), errors.Join(errors.New("context"), err)} {
				if got := classify.Default.Classify(e); got != want {
					t.Errorf("Classify(%v) = %v, want %v", e, got, want)
				}
			}
		})
	}
}

func isMySQLCode(code string) bool {
	for _, c := range code {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(code) == 4
}

// TestEngineMessages classifies errors as each engine really words them.
func TestEngineMessages(t *testing.T) {
	pg := []struct {
		engine string
		e      wiretest.PGError
		want   classify.Result
	}{
		{"CockroachDB serializable", wiretest.PGError{Code: "40001", Message: "restart transaction: TransactionRetryWithProtoRefreshError: TransactionRetryError: retry txn (RETRY_SERIALIZABLE - failed preemptive refresh due to a conflict: committed value on key /Table/104/1/1/0): \"sql txn\" meta={id=ab12cd34 key=/Table/104/1/1/0 iso=Serializable pri=0.01 epo=0 ts=1700000000.000000000,1 min=1700000000.000000000,0 seq=2} lock=true stat=PENDING rts=1700000000.000000000,0 wto=false gul=1700000000.500000000,0"},
			classify.Result{Class: classify.TxAborted, Code: "40001", Contention: true}},
		{"CockroachDB write too old", wiretest.PGError{Code: "40001", Message: "restart transaction: TransactionRetryWithProtoRefreshError: WriteTooOldError: write for key /Table/104/1/1/0 at timestamp 1700000000.000000000,0 too old; must write at or above 1700000000.100000000,1"},
			classify.Result{Class: classify.TxAborted, Code: "40001", Contention: true}},
		{"CockroachDB uncertainty", wiretest.PGError{Code: "40001", Message: "restart transaction: TransactionRetryWithProtoRefreshError: ReadWithinUncertaintyIntervalError: read at time 1700000000.000000000,0 encountered previous write with future timestamp 1700000000.000000001,0 within uncertainty interval `t <= (local=1700000000.000000001,0, global=1700000000.500000000,0)`; observed timestamps: [{1 1700000000.000000000,0}]"},
			classify.Result{Class: classify.TxAborted, Code: "40001", Contention: true}},
		{"CockroachDB ambiguous", wiretest.PGError{Code: "40003", Message: "result is ambiguous: error=ba: Put [/Table/104/1/1/0] RPC error: grpc: the connection is unavailable [exhausted]"},
			classify.Result{Class: classify.ConnLost, Code: "40003"}},
		{"CockroachDB drain", wiretest.PGError{Code: "57P01", Severity: "FATAL", Close: true, Message: "server is shutting down"},
			classify.Result{Class: classify.ConnLost, Code: "57P01"}},
		{"YugabyteDB conflict", wiretest.PGError{Code: "40001", Message: "could not serialize access due to concurrent update (query layer retry isn't possible because data was already sent, if this is the read committed isolation (or) the first statement in repeatable read/ serializable isolation transaction, consider increasing the tserver gflag ysql_output_buffer_size)"},
			classify.Result{Class: classify.TxAborted, Code: "40001", Contention: true}},
		{"YugabyteDB restart read", wiretest.PGError{Code: "40001", Message: "Restart read required at: { read: { physical: 1700000000000000 } local_limit: { physical: 1700000000000001 } global_limit: <min> in_txn_limit: <max> serial_no: 0 }"},
			classify.Result{Class: classify.TxAborted, Code: "40001", Contention: true}},
		{"YugabyteDB schema mismatch before 2.25", wiretest.PGError{Code: "XX000", Message: "schema version mismatch for table 000033e1000030008000000000004000: expected 2, got 1"},
			classify.Result{Class: classify.TxAborted, Code: "XX000"}},
		{"YugabyteDB txn conflict code", wiretest.PGError{Code: "YB003", Message: "Transaction aborted: kAborted"},
			classify.Result{Class: classify.TxAborted, Code: "YB003", Contention: true}},
		{"PgBouncer query_wait_timeout", wiretest.PGError{Code: "08P01", Severity: "FATAL", Close: true, Message: "query_wait_timeout"},
			classify.Result{Class: classify.ConnLost, Code: "08P01", Unsent: true}},
		{"PgBouncer server crashed", wiretest.PGError{Code: "08P01", Severity: "FATAL", Close: true, Message: "server conn crashed?"},
			classify.Result{Class: classify.ConnLost, Code: "08P01"}},
		{"PgBouncer pool full at connect", wiretest.PGError{When: wiretest.OnConnect, Code: "08P01", Severity: "FATAL", Message: "no more connections allowed (max_client_conn)"},
			classify.Result{Class: classify.ConnLost, Code: "08P01", Unsent: true, Connect: true}},
		{"PostgreSQL unknown setting at connect", wiretest.PGError{When: wiretest.OnConnect, Code: "42704", Severity: "FATAL", Message: `unrecognized configuration parameter "deadlock_timeot"`},
			classify.Result{Class: classify.Permanent, Code: "42704", Connect: true}},
		{"PostgreSQL real protocol violation", wiretest.PGError{Code: "08P01", Message: "invalid frontend message type 0"},
			classify.Result{Class: classify.Permanent, Code: "08P01"}},
		{"PostgreSQL other XX000", wiretest.PGError{Code: "XX000", Message: "could not open relation with OID 16384"},
			classify.Result{Class: classify.Permanent, Code: "XX000"}},
		{"PostgreSQL cached plan", wiretest.PGError{Code: "0A000", Message: "cached plan must not change result type"},
			classify.Result{Class: classify.Transient, Code: "0A000", StaleStatement: true}},
		{"PostgreSQL unsupported feature", wiretest.PGError{Code: "0A000", Message: "FOR UPDATE is not allowed with aggregate functions"},
			classify.Result{Class: classify.Permanent, Code: "0A000"}},
		{"PostgreSQL unknown code", wiretest.PGError{Code: "42P01", Message: `relation "nope" does not exist`},
			classify.Result{Class: classify.Permanent, Code: "42P01"}},
		{"Aurora PostgreSQL demoted writer", wiretest.PGError{Code: "25006", Message: "cannot execute INSERT in a read-only transaction"},
			classify.Result{Class: classify.Transient, Code: "25006", ReadOnly: true}},
	}
	for _, tc := range pg {
		t.Run(tc.engine, func(t *testing.T) {
			if got := classify.Default.Classify(pgError(t, tc.e)); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	my := []struct {
		engine string
		e      wiretest.MySQLError
		want   classify.Result
	}{
		{"MySQL deadlock", wiretest.MySQLError{Number: 1213, SQLState: "40001", Message: "Deadlock found when trying to get lock; try restarting transaction"},
			classify.Result{Class: classify.TxAborted, Code: "1213", Contention: true}},
		{"Galera certification failure", wiretest.MySQLError{Number: 1213, SQLState: "40001", Message: "Deadlock: wsrep aborted transaction"},
			classify.Result{Class: classify.TxAborted, Code: "1213", Contention: true}},
		{"Galera node not ready", wiretest.MySQLError{Number: 1047, SQLState: "08S01", Message: "WSREP has not yet prepared node for application use"},
			classify.Result{Class: classify.ConnLost, Code: "1047", Unsent: true}},
		{"MySQL unknown command", wiretest.MySQLError{Number: 1047, SQLState: "08S01", Message: "Unknown command"},
			classify.Result{Class: classify.Permanent, Code: "1047"}},
		{"MariaDB snapshot isolation", wiretest.MySQLError{Number: 1020, Message: "Record has changed since last read in table 'accounts'"},
			classify.Result{Class: classify.TxAborted, Code: "1020", Contention: true}},
		{"MariaDB read-only", wiretest.MySQLError{Number: 1290, Message: "The MariaDB server is running with the --read-only option so it cannot execute this statement"},
			classify.Result{Class: classify.Transient, Code: "1290", ReadOnly: true}},
		{"Aurora MySQL old writer", wiretest.MySQLError{Number: 1290, Message: "The MySQL server is running with the --read-only option so it cannot execute this statement"},
			classify.Result{Class: classify.Transient, Code: "1290", ReadOnly: true}},
		{"MySQL super read-only", wiretest.MySQLError{Number: 1290, Message: "The MySQL server is running with the --super-read-only option so it cannot execute this statement"},
			classify.Result{Class: classify.Transient, Code: "1290", ReadOnly: true}},
		{"MySQL secure-file-priv", wiretest.MySQLError{Number: 1290, Message: "The MySQL server is running with the --secure-file-priv option so it cannot execute this statement"},
			classify.Result{Class: classify.Permanent, Code: "1290"}},
		{"Group Replication conflict", wiretest.MySQLError{Number: 3101, SQLState: "40000", Message: "Plugin instructed the server to rollback the current transaction."},
			classify.Result{Class: classify.TxAborted, Code: "3101", Contention: true}},
		{"TiDB write conflict", wiretest.MySQLError{Number: 9007, Message: "Write conflict, txnStartTS=445566778899001234, conflictStartTS=445566778899001235, conflictCommitTS=445566778899001236, key={tableID=104, handle=1} primary={tableID=104, handle=1}, reason=Optimistic [try again later]"},
			classify.Result{Class: classify.TxAborted, Code: "9007", Contention: true}},
		{"TiDB schema changed", wiretest.MySQLError{Number: 8028, Message: "Information schema is changed during the execution of the statement(for example, table definition may be updated by other DDL ran in parallel). If you see this error often, try increasing `tidb_max_delta_schema_count`. [try again later]"},
			classify.Result{Class: classify.TxAborted, Code: "8028"}},
		{"TiDB region unavailable", wiretest.MySQLError{Number: 9005, Message: "Region is unavailable"},
			classify.Result{Class: classify.Transient, Code: "9005"}},
		{"Vitess reparent", wiretest.MySQLError{Number: 1105, Message: "target: commerce.-80.primary: primary is not serving, there is a reparent operation in progress (errno 1105) (sqlstate HY000)"},
			classify.Result{Class: classify.Transient, Code: "1105"}},
		{"Vitess unavailable", wiretest.MySQLError{Number: 1105, Message: "target: commerce.0.primary: vttablet: rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp 10.0.0.5:15999: connect: connection refused\""},
			classify.Result{Class: classify.ConnLost, Code: "1105"}},
		{"Vitess other 1105", wiretest.MySQLError{Number: 1105, Message: "unsupported: cross-shard foreign keys"},
			classify.Result{Class: classify.Permanent, Code: "1105"}},
		{"Vitess transaction killer", wiretest.MySQLError{Number: 1317, SQLState: "70100", Message: "target: commerce.0.primary: vttablet: rpc error: code = Aborted desc = transaction 1700000000: in use: for tx killer rollback (CallerID: planetscale-admin)"},
			classify.Result{Class: classify.Permanent, Code: "1317"}},
		{"Vitess throttled", wiretest.MySQLError{Number: 1041, Message: "Transaction throttled"},
			classify.Result{Class: classify.Transient, Code: "1041"}},
		{"MySQL unknown number", wiretest.MySQLError{Number: 1146, SQLState: "42S02", Message: "Table 'test.nope' doesn't exist"},
			classify.Result{Class: classify.Permanent, Code: "1146"}},
	}
	for _, tc := range my {
		t.Run(tc.engine, func(t *testing.T) {
			if got := classify.Default.Classify(mysqlError(t, tc.e)); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestDriverSignals covers what the drivers report without a vendor code.
func TestDriverSignals(t *testing.T) {
	ctx := context.Background()
	// pgx: a statement on a closed connection never reaches the server.
	conn, err := pgx.Connect(ctx, wiretest.PG(t, wiretest.PGError{Code: "42000"}))
	if err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	_, err = conn.Exec(ctx, "SELECT 1")
	if !pgconn.SafeToRetry(err) {
		t.Fatalf("expected a SafeToRetry error, got %v", err)
	}
	if got := classify.Default.Classify(err); got != (classify.Result{Class: classify.ConnLost, Unsent: true}) {
		t.Errorf("closed pgx conn: %v", got)
	}

	// pgx: the server drops the connection under a statement.
	err = pgError(t, wiretest.PGError{})
	if got := classify.Default.Classify(err); got != (classify.Result{Class: classify.ConnLost}) {
		t.Errorf("pgx connection dropped under a statement (%v): %v", err, got)
	}

	// pgx: the server drops the connection during startup: a connect error,
	// nothing ran.
	_, err = pgx.Connect(ctx, wiretest.PG(t, wiretest.PGError{When: wiretest.OnConnect}))
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("expected a connect error, got %T %v", err, err)
	}
	if got := classify.Default.Classify(err); got != (classify.Result{Class: classify.ConnLost, Unsent: true, Connect: true}) {
		t.Errorf("pgx startup dropped (%v): %v", err, got)
	}

	// pgx: nobody listens.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	_, err = pgx.Connect(ctx, "postgres://x@"+addr+"/x?sslmode=disable&connect_timeout=5")
	if got := classify.Default.Classify(err); got != (classify.Result{Class: classify.ConnLost, Unsent: true, Connect: true}) {
		t.Errorf("pgx refused (%v): %v", err, got)
	}

	// pgx: the caller's context ends while the statement runs.
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	conn, err = pgx.Connect(ctx, hangingPG(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(cctx, "SELECT 1")
	if got := classify.Default.Classify(err); got.Class != classify.Permanent {
		t.Errorf("pgx statement cancelled by the caller (%v): %v", err, got)
	}

	// go-sql-driver: the server drops the connection under a statement.
	err = mysqlError(t, wiretest.MySQLError{})
	if !errors.Is(err, mysql.ErrInvalidConn) && !errors.Is(err, driver.ErrBadConn) {
		t.Fatalf("expected invalid connection, got %v", err)
	}
	if got := classify.Default.Classify(err); got.Class != classify.ConnLost {
		t.Errorf("mysql connection dropped (%v): %v", err, got)
	}
	if got := classify.Default.Classify(mysql.ErrInvalidConn); got != (classify.Result{Class: classify.ConnLost}) {
		t.Errorf("mysql.ErrInvalidConn: %v", got)
	}

	// go-sql-driver: nobody listens.
	db, _ := sql.Open("mysql", "x:x@tcp("+addr+")/x?timeout=5s")
	defer db.Close()
	err = db.PingContext(ctx)
	if got := classify.Default.Classify(err); got != (classify.Result{Class: classify.ConnLost, Unsent: true, Connect: true}) {
		t.Errorf("mysql refused (%v): %v", err, got)
	}

	// Sentinels.
	for err, want := range map[error]classify.Result{
		pgx.ErrTxCommitRollback: {Class: classify.Permanent},
		driver.ErrBadConn:       {Class: classify.ConnLost, Unsent: true},
		mysql.ErrPktSync:        {Class: classify.Permanent},
		mysql.ErrBusyBuffer:     {Class: classify.Permanent},
	} {
		if got := classify.Default.Classify(err); got != want {
			t.Errorf("%v: %v, want %v", err, got, want)
		}
	}
}

// hangingPG starts a fake server that accepts a connection and then never
// answers a statement.
func hangingPG(t *testing.T) string {
	t.Helper()
	return wiretest.PG(t, wiretest.PGError{Code: wiretest.Hang})
}

// sqlStateError is an error from another PostgreSQL driver (lib/pq style):
// it has a SQLState method but is not a *pgconn.PgError.
type sqlStateError struct{ code, msg string }

func (e *sqlStateError) Error() string    { return "pq: " + e.msg }
func (e *sqlStateError) SQLState() string { return e.code }

func TestOtherPostgresDrivers(t *testing.T) {
	got := classify.Default.Classify(&sqlStateError{"40P01", "deadlock detected"})
	if got != (classify.Result{Class: classify.TxAborted, Code: "40P01", Contention: true}) {
		t.Errorf("deadlock from another driver: %v", got)
	}
}

func TestUserRules(t *testing.T) {
	type quotaError struct{ error }
	c, err := classify.New(
		classify.WithCode("23505", classify.Result{Class: classify.TxAborted}),
		classify.WithCode("1062", classify.Result{Class: classify.TxAborted}),
		classify.WithCode("40001", classify.Result{Class: classify.Permanent}),
		classify.WithRule("quota", func(err error) (classify.Result, bool) {
			var q quotaError
			if errors.As(err, &q) {
				return classify.Result{Class: classify.Transient, Code: "quota"}, true
			}
			return classify.Result{}, false
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		err  error
		want classify.Result
	}{
		{&pgconn.PgError{Code: "23505"}, classify.Result{Class: classify.TxAborted, Code: "23505"}},
		{&mysql.MySQLError{Number: 1062}, classify.Result{Class: classify.TxAborted, Code: "1062"}},
		{fmt.Errorf("tx: %w", &pgconn.PgError{Code: "40001"}), classify.Result{Class: classify.Permanent, Code: "40001"}},
		{fmt.Errorf("call: %w", quotaError{errors.New("over quota")}), classify.Result{Class: classify.Transient, Code: "quota"}},
		{&pgconn.PgError{Code: "40P01"}, classify.Result{Class: classify.TxAborted, Code: "40P01", Contention: true}}, // built-in kept
	} {
		if got := c.Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	// The default classifier is not changed by it.
	if got := classify.Default.Classify(&pgconn.PgError{Code: "23505"}); got.Class != classify.Permanent {
		t.Errorf("Default changed: %v", got)
	}
	for name, opt := range map[string]classify.Option{
		"empty code":    classify.WithCode("", classify.Result{}),
		"unknown class": classify.WithCode("1", classify.Result{Class: 7}),
		"nil match":     classify.WithRule("x", nil),
		"nil option":    nil,
	} {
		if _, err := classify.New(opt); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestBuiltinRulesAreConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range classify.BuiltinRules() {
		if r.Engine == "" || r.Code == "" || r.Name == "" || r.Why == "" {
			t.Errorf("incomplete rule %+v", r)
		}
		if r.Unsent && r.Class != classify.ConnLost {
			t.Errorf("%s %s: Unsent on a %v rule", r.Engine, r.Code, r.Class)
		}
		key := r.Code + "|" + r.When
		if seen[key] {
			t.Errorf("two rules for code %s with the same condition %q", r.Code, r.When)
		}
		seen[key] = true
	}
}

// TestConnectErrorAcrossHosts: a multi-host connect where one host refuses
// and the other answers 57P03 ("the database system is starting up")
// fails with a *pgconn.ConnectError wrapping both: a failed connect, with
// the server's code.
func TestConnectErrorAcrossHosts(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	refusing := l.Addr().String()
	l.Close()
	starting := wiretest.PG(t, wiretest.PGError{When: wiretest.OnConnect, Code: "57P03", Severity: "FATAL", Message: "the database system is starting up"})
	u, err := url.Parse(starting)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = refusing + "," + u.Host
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = pgx.Connect(ctx, u.String())
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("got %T %v, want a connect error", err, err)
	}
	got := classify.Default.Classify(err)
	if got != (classify.Result{Class: classify.Transient, Code: "57P03", Connect: true}) {
		t.Fatalf("Classify(%v) = %v, want a failed connect with 57P03", err, got)
	}
}
