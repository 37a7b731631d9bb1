package retrysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/retrysql/retrysql/admission"
)

// The fleet gate (admission.Settings.Fleet) in the database. A permit with
// a gate stripe makes its attempt's transaction take the stripe's lock as
// its first statement, before fn's first statement is sent:
//
//   - PostgreSQL: LOCK TABLE retrysql_gate_NN IN EXCLUSIVE MODE. LOCK TABLE
//     takes no snapshot, so a SERIALIZABLE or REPEATABLE READ transaction
//     that waited at the gate still sees what the one before it committed
//     (an advisory lock taken by a SELECT would fix the snapshot before the
//     wait, and make the next UPDATE fail).
//   - MySQL and MariaDB: SELECT ... FOR UPDATE of the stripe's row of
//     retrysql_gate; a locking read opens no read view.
//
// Both locks end with the transaction, or with the session if the process
// dies. A process whose gate is off looks whether the fleet's is in use
// when its controller asks (lookAtFleet), with a query that never waits.
// The tables are made the first time a process turns the gate on (CREATE
// TABLE IF NOT EXISTS), never before. A gate that fails for a
// reason waiting cannot cure (a table dropped, a privilege missing) is not
// used again by the handle, and the attempt is replayed: its own
// statements were never sent.

// dialect is a database's SQL, as far as RunInTx's own statements go.
type dialect uint8

const (
	otherDialect dialect = iota
	postgresDialect
	mysqlDialect
)

// dialectOf returns db's dialect, and db as a *sql.DB (nil if it is not
// one).
func dialectOf(db TxBeginner) (dialect, *sql.DB) {
	h, ok := db.(*sql.DB)
	if !ok {
		return otherDialect, nil
	}
	switch innerDriver(h).(type) {
	case *stdlib.Driver:
		return postgresDialect, h
	case *mysql.MySQLDriver:
		return mysqlDialect, h
	}
	return otherDialect, h
}

// innerDriver returns h's driver: the one a retrysql driver wraps, or h's
// own.
func innerDriver(h *sql.DB) driver.Driver {
	drv := h.Driver()
	if w, ok := drv.(*wrapDriver); ok {
		return w.inner
	}
	return drv
}

// gateSQL are each dialect's statements taking a stripe's lock.
var gateSQL = func() (s [3][admission.FleetStripes]string) {
	for i := range admission.FleetStripes {
		s[postgresDialect][i] = fmt.Sprintf("LOCK TABLE retrysql_gate_%02d IN EXCLUSIVE MODE", i)
		s[mysqlDialect][i] = fmt.Sprintf("SELECT stripe FROM retrysql_gate WHERE stripe = %d FOR UPDATE", i)
	}
	return s
}()

// gate is the fleet gate of one *sql.DB. It holds the handle weakly: a
// handle closed and dropped is freed, with its pool, and its gate.
type gate struct {
	d      dialect
	db     weak.Pointer[sql.DB]
	mu     sync.Mutex   // one preparation at a time
	ready  atomic.Bool  // the tables are made
	broken atomic.Bool  // failed for good: not used again
	failed atomic.Int64 // when a preparation last failed (UnixNano)
}

// gates holds the gate of each *sql.DB whose RunInTx ran under a fleet's
// controller, until the handle is freed.
var gates sync.Map // weak.Pointer[sql.DB] → *gate

// gateOf returns db's gate, or nil when db is not a *sql.DB of a dialect
// with one.
func gateOf(db TxBeginner) *gate {
	d, h := dialectOf(db)
	if d == otherDialect {
		return nil
	}
	key := weak.Make(h)
	if g, ok := gates.Load(key); ok {
		return g.(*gate)
	}
	g, loaded := gates.LoadOrStore(key, &gate{d: d, db: key})
	if !loaded {
		runtime.AddCleanup(h, func(k weak.Pointer[sql.DB]) { gates.Delete(k) }, key)
	}
	return g.(*gate)
}

// prepare makes the gate's tables, once; a failure is tried again at most
// once a minute, and meanwhile the gate is not taken. One attempt makes
// them, for up to 3 s whatever its context; the others meanwhile go on
// without the gate rather than wait for it (a server that does not answer
// stalled every transaction of the handle for those seconds, once a
// minute).
func (g *gate) prepare(ctx context.Context) {
	if g.ready.Load() || g.broken.Load() {
		return
	}
	if !g.mu.TryLock() {
		return
	}
	defer g.mu.Unlock()
	if g.ready.Load() || time.Now().UnixNano()-g.failed.Load() < int64(time.Minute) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	if err := g.makeTables(ctx); err != nil {
		g.failed.Store(time.Now().UnixNano())
		return
	}
	g.ready.Store(true)
}

func (g *gate) makeTables(ctx context.Context) error {
	db := g.db.Value()
	if db == nil {
		return sql.ErrConnDone // freed: nobody asks any more
	}
	if g.d == mysqlDialect {
		if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS retrysql_gate (stripe INT PRIMARY KEY) ENGINE=InnoDB"); err != nil {
			return err
		}
		// A consistent read first: INSERT IGNORE of a row that exists would
		// wait for its lock, which another process may be holding as its
		// gate.
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM retrysql_gate").Scan(&n); err != nil {
			return err
		}
		if n >= admission.FleetStripes {
			return nil
		}
		rows := make([]string, admission.FleetStripes)
		for i := range rows {
			rows[i] = fmt.Sprintf("(%d)", i)
		}
		_, err := db.ExecContext(ctx, "INSERT IGNORE INTO retrysql_gate (stripe) VALUES "+strings.Join(rows, ","))
		return err
	}
	for i := range admission.FleetStripes {
		q := fmt.Sprintf("CREATE TABLE IF NOT EXISTS retrysql_gate_%02d (stripe int)", i)
		if _, err := db.ExecContext(ctx, q); err != nil && !madeMeanwhile(err) {
			return err
		}
	}
	return nil
}

// madeMeanwhile reports whether a CREATE TABLE IF NOT EXISTS failed
// because another session made the table at the same time (PostgreSQL
// checks for it before, not under, the catalog's unique index).
func madeMeanwhile(err error) bool {
	var se interface{ SQLState() string }
	if !errors.As(err, &se) {
		return false
	}
	code := se.SQLState()
	return code == "23505" || code == "42P07"
}

// take takes stripe's lock with exec, a statement on the transaction's
// connection, and says how long it took to permit.
func (g *gate) take(ctx context.Context, permit admission.Permit, stripe int, exec func(context.Context, string) error) error {
	start := time.Now()
	err := exec(ctx, gateSQL[g.d][stripe])
	permit.Gated(time.Since(start))
	return err
}

// lookSQL are each dialect's queries telling whether some session holds or
// waits for a stripe's lock, without waiting: PostgreSQL's lock table; on
// MySQL and MariaDB a locking read that skips a locked row (no row: in
// use), in autocommit, which holds a free row's lock for the statement
// only. A server without SKIP LOCKED (MySQL 5.7) answers with an error,
// taken as no answer.
var lookSQL = [3]string{
	postgresDialect: `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'relation'
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND relation = to_regclass($1) AND mode = 'ExclusiveLock')`,
	mysqlDialect: "SELECT stripe FROM retrysql_gate WHERE stripe = ? FOR UPDATE SKIP LOCKED",
}

// lookAtFleet tells a, if its controller asks (admission.Controller's
// FleetLook), whether the fleet's gate is in use: a process whose attempts
// abort then joins the processes taking turns through it.
// One query, on a connection of the pool, bounded by lookTimeout; a
// failure is no answer.
func (a *admitter) lookAtFleet(ctx context.Context) {
	if a.gate == nil {
		return
	}
	stripe, ok := a.ctl.FleetLook()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookTimeout)
	defer cancel()
	busy, err := a.gate.inUse(ctx, stripe)
	if err == nil {
		a.ctl.FleetSeen(busy)
	}
}

// lookTimeout bounds a look at the fleet's gate.
const lookTimeout = 250 * time.Millisecond

// inUse reports whether some session holds or waits for stripe's lock.
func (g *gate) inUse(ctx context.Context, stripe int) (bool, error) {
	db := g.db.Value()
	if db == nil {
		return false, sql.ErrConnDone
	}
	switch g.d {
	case postgresDialect:
		var busy bool
		err := db.QueryRowContext(ctx, lookSQL[postgresDialect], fmt.Sprintf("retrysql_gate_%02d", stripe)).Scan(&busy)
		return busy, err
	case mysqlDialect:
		var got int
		err := db.QueryRowContext(ctx, lookSQL[mysqlDialect], stripe).Scan(&got)
		if errors.Is(err, sql.ErrNoRows) {
			return true, nil
		}
		return false, err
	}
	return false, errors.ErrUnsupported
}
