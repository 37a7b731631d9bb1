// Package classify maps an error to what retrying it can do: a [Class], the
// vendor code when there is one, and for a lost connection whether the
// request may have reached the server.
//
// A [Classifier] is consulted by retrysql's retry loop after every failed
// attempt. The loop never retries [Permanent]; it retries [Transient] and
// [TxAborted] where the place allows it (a statement outside a transaction,
// a whole transaction, a connect); and it retries [ConnLost] only when the
// request provably did not reach the server ([Result].Unsent) or the caller
// declared the work idempotent.
//
// [Default] knows PostgreSQL (through pgx v5), MySQL and MariaDB (through
// go-sql-driver/mysql), and the engines that speak their protocols:
// CockroachDB, YugabyteDB, PgBouncer, TiDB, Galera and Percona XtraDB
// Cluster, MySQL Group Replication, Vitess and PlanetScale, Amazon Aurora.
// It also knows the signals every Go program sees: context cancellation,
// driver.ErrBadConn, and failures of the network from package net, io and
// syscall. [BuiltinRules] lists every vendor rule; [New] builds a classifier
// with rules of your own added or overriding them. Classification sees
// through errors wrapped with %w and errors.Join, and allocates nothing for
// the errors it knows.
package classify

import "fmt"

// Class says what retrying an error can do.
type Class uint8

const (
	// Permanent errors cannot be cured by retrying: constraint violations,
	// syntax errors, permissions, bad data, and the caller's own
	// cancellation. The zero Class, so that an unknown error is never
	// retried.
	Permanent Class = iota
	// Transient errors were refused or rolled back by the server for the
	// statement alone, with nothing of it persisting: lock not available,
	// lock wait timeout, too many connections, cannot connect now, read-only
	// after failover.
	Transient
	// TxAborted errors mean the server rolled back the whole transaction:
	// deadlock, serialization failure, a CockroachDB restart.
	TxAborted
	// ConnLost errors leave the connection unusable: reset, EOF, admin
	// shutdown, driver.ErrBadConn. [Result].Unsent tells whether the request
	// may have reached the server.
	ConnLost
)

// NumClasses is the number of classes; a Class is always below it, so it
// can index an array.
const NumClasses = 4

var classNames = [NumClasses]string{"permanent", "transient", "tx-aborted", "conn-lost"}

// String returns the class's name as written in the documentation:
// "permanent", "transient", "tx-aborted" or "conn-lost".
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("Class(%d)", uint8(c))
}

// Result is what a Classifier says of one error.
type Result struct {
	// Class says what retrying can do.
	Class Class
	// Code is the vendor's code for the error when there is one: the
	// SQLSTATE for the PostgreSQL family ("40001"), the error number for the
	// MySQL family ("1213"). Empty otherwise.
	Code string
	// Unsent is true when the request provably never reached the server
	// (nothing was written, or the connection was never established), so
	// running it again cannot run it twice. The zero value, false, means it
	// may have reached the server. It is meaningful for ConnLost only.
	Unsent bool

	// The facts below tell a retry loop what kind of failure it met, so
	// that no loop needs to know vendor codes.

	// Contention is true when transactions got in each other's way: a
	// deadlock, a serialization failure, a write conflict, a lock that
	// could not be had in time. Admission control paces the retries of
	// such errors (package admission).
	Contention bool
	// ReadOnly is true when the server refused a write because it is
	// read-only: a standby, a replica, or the old writer after a failover.
	// PostgreSQL reports a write in a transaction the application began
	// READ ONLY with the same code; a loop that knows it began the
	// transaction so treats the error as permanent.
	ReadOnly bool
	// StaleStatement is true when a prepared statement was made stale by a
	// schema change ("cached plan must not change result type"): an
	// attempt that prepares the statement afresh can succeed, one that
	// runs the same prepared statement again cannot.
	StaleStatement bool
	// Connect is true when the error came from establishing a connection
	// (a pgx *pgconn.ConnectError, whatever it carries, or a failed dial):
	// nothing of the request ran, and a retry waits as for connecting.
	Connect bool
	// Unavailable is true when the server answered that it cannot serve
	// now (an HTTP 502, 503 or 504; see retrysql's Classified): a circuit
	// breaker counts the attempt as a failure of the server, wherever it
	// ran. No built-in rule sets it.
	Unavailable bool
}

// String formats r as "class" or "class code", followed by the facts that
// are set ("unsent", "contention", "read-only", "stale statement",
// "connect", "unavailable").
func (r Result) String() string {
	s := r.Class.String()
	if r.Code != "" {
		s += " " + r.Code
	}
	for _, f := range [...]struct {
		set  bool
		name string
	}{{r.Unsent, "unsent"}, {r.Contention, "contention"}, {r.ReadOnly, "read-only"}, {r.StaleStatement, "stale statement"}, {r.Connect, "connect"}, {r.Unavailable, "unavailable"}} {
		if f.set {
			s += " " + f.name
		}
	}
	return s
}

// Classifier maps an error to a Result. Classify is called after every
// failed attempt, from any goroutine, and must be safe for concurrent use. It
// must see through wrapped errors (use errors.As and errors.Is, not type
// assertions) and return Permanent for anything it does not know.
type Classifier interface {
	Classify(err error) Result
}

// Func adapts a function to the Classifier interface.
type Func func(err error) Result

// Classify returns f(err).
func (f Func) Classify(err error) Result { return f(err) }

// Default is the classifier retrysql uses unless told otherwise: the
// built-in rules, with nothing added (New with no options).
var Default Classifier = builtin

var builtin = mustNew()

func mustNew() *Rules {
	r, err := New()
	if err != nil {
		panic(err) // the built-in tables are checked by the tests
	}
	return r
}
