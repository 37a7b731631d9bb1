// Package workload is the bank workload of retrysql's demo and contention
// benchmark: workers make random transfers between a few accounts, each
// transfer a transaction that debits one account, credits another and
// writes a ledger row, so that contention makes real serialization failures
// (PostgreSQL) and deadlocks (MariaDB, or PostgreSQL with rows locked in
// random order). Afterwards Check proves that no transfer was lost or
// applied twice.
package workload

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/retrysql/retrysql"
)

// Dialect is the SQL flavour of the database.
type Dialect int

const (
	Postgres Dialect = iota
	MySQL
)

// Order is the order in which a transfer touches its two accounts.
type Order int

const (
	// Sorted touches the lower account first: no deadlocks, only
	// serialization failures under SERIALIZABLE.
	Sorted Order = iota
	// Random touches them in a random order, locking each with FOR UPDATE:
	// concurrent transfers deadlock.
	Random
)

// Runner runs fn as one transaction on db, retrying as it sees fit:
// retrysql.RunInTx with some options, or another library.
type Runner func(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(context.Context, *sql.Tx) error) error

// RunInTx returns a Runner that uses retrysql.RunInTx with options.
func RunInTx(options ...retrysql.Option) Runner {
	return func(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(context.Context, *sql.Tx) error) error {
		return retrysql.RunInTx(ctx, db, opts, fn, options...)
	}
}

// Once runs fn as one transaction on db (a *sql.DB or a *sql.Conn),
// rolled back if fn fails, and retries nothing: the plain driver's way.
func Once(ctx context.Context, db interface {
	BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
}, opts *sql.TxOptions, fn func(context.Context, *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	if err := fn(ctx, tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Plain is the Runner of the plain driver: each transfer runs Once.
func Plain(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(context.Context, *sql.Tx) error) error {
	return Once(ctx, db, opts, fn)
}

// Config describes one run.
type Config struct {
	Dialect Dialect
	// Tables are the tables to work in (default BenchTables, those of
	// Setup).
	Tables    Tables
	Order     Order
	Isolation sql.IsolationLevel
	Accounts  int           // accounts, all of them hot
	Workers   int           // goroutines making transfers
	Duration  time.Duration // how long new transfers are started
	// TransferTimeout bounds one transfer, retries included (default 30s).
	TransferTimeout time.Duration
	Runner          Runner
	// Ambiguous reports an error that leaves the transfer's outcome
	// unknown (default: errors.Is ErrAmbiguousCommit or ErrAmbiguous).
	Ambiguous func(error) bool
	// Progress, if set, is called about every Every with the counts so
	// far.
	Progress func(Progress)
	Every    time.Duration
	Seed     uint64
	// FirstWorker numbers this run's workers from it, so that runs in
	// several processes against the same tables make distinct transfer
	// ids.
	FirstWorker int
	// Hot, if set, says how many accounts (the first ones) transfers pick
	// from, by the time since the start: contention that changes during
	// the run. Otherwise every account is picked.
	Hot func(elapsed time.Duration) int
	// ColdWorkers, if above 0, makes the last ColdWorkers workers transfer
	// only among the accounts after the first HotAccounts, and the others
	// only among those first HotAccounts: unrelated work sharing the
	// handle with hot rows. Their figures are kept apart (Result.Cold).
	ColdWorkers, HotAccounts int
}

// Initial is every account's balance after Setup.
const Initial = 1_000_000

// Progress is a snapshot during a run.
type Progress struct {
	Elapsed   time.Duration
	Committed int64
	Runs      int64 // runs of the transaction function, replays included
}

// Outcome is what a transfer's caller was told.
type Outcome uint8

const (
	Committed Outcome = iota
	Failed
	Ambiguous
)

// Result of a run.
type Result struct {
	Elapsed   time.Duration
	Outcomes  map[int64]Outcome // by transfer id
	Committed int
	Failed    int
	Ambiguous int
	Runs      int64           // runs of the transaction function
	Latencies []time.Duration // of committed transfers, retries included, sorted
	// Cold are the committed transfers and latencies (sorted) of the cold
	// workers (Config.ColdWorkers), which Latencies leaves out.
	Cold          int
	ColdLatencies []time.Duration
	// Timeline holds every committed transfer's start (since the run's
	// start) and latency, in no order.
	Timeline []Timed
	Errors   map[string]int // failures by error text, a few examples
}

// Timed is when a committed transfer started and how long it took, and
// whether it was a cold worker's (Config.ColdWorkers).
type Timed struct {
	Start, Latency time.Duration
	Cold           bool
}

// Percentile returns the p-th percentile (0..100) of committed latencies.
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.Latencies)-1) * p / 100)
	return r.Latencies[i]
}

// PerSecond returns committed transfers per second.
func (r Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Committed) / r.Elapsed.Seconds()
}

// Tables names the workload's two tables.
type Tables struct{ Accounts, Ledger string }

// BenchTables are the tables of Setup and Verify, and of a Config whose
// Tables are unset: bank_accounts and bank_ledger.
var BenchTables = Tables{Accounts: "bank_accounts", Ledger: "bank_ledger"}

func (t Tables) orBench() Tables {
	if t == (Tables{}) {
		return BenchTables
	}
	return t
}

// Names returns the tables' names, the accounts first.
func (t Tables) Names() []string {
	t = t.orBench()
	return []string{t.Accounts, t.Ledger}
}

// Setup creates (or re-creates) BenchTables: n accounts with Initial each,
// and an empty ledger without any unique constraint, so that a transfer
// applied twice shows instead of being blocked. It drops tables of those
// names whoever made them; the demo uses Owned instead.
func Setup(ctx context.Context, db *sql.DB, d Dialect, n int) error {
	return create(ctx, db, d, n, BenchTables, "")
}

// create drops and creates the tables of t, each commented with comment if
// it is set, and fills the accounts.
func create(ctx context.Context, db *sql.DB, d Dialect, n int, t Tables, comment string) error {
	if n < 2 {
		return fmt.Errorf("workload: %d accounts: a transfer needs two", n)
	}
	t = t.orBench()
	for _, name := range t.Names() {
		if !validName(name) {
			return fmt.Errorf("workload: table name %q: use letters, digits and underscores, starting with a letter", name)
		}
	}
	stmts := []string{
		"DROP TABLE IF EXISTS " + t.Ledger,
		"DROP TABLE IF EXISTS " + t.Accounts,
		"CREATE TABLE " + t.Accounts + " (id INT PRIMARY KEY, balance BIGINT NOT NULL)",
		"CREATE TABLE " + t.Ledger + " (transfer_id BIGINT NOT NULL, src INT NOT NULL, dst INT NOT NULL, amount BIGINT NOT NULL)",
		"CREATE INDEX " + t.Ledger + "_transfer ON " + t.Ledger + " (transfer_id)",
	}
	if comment != "" {
		if d == MySQL {
			stmts[2] += " COMMENT = " + quote(comment)
			stmts[3] += " COMMENT = " + quote(comment)
		} else {
			stmts = append(stmts,
				"COMMENT ON TABLE "+t.Accounts+" IS "+quote(comment),
				"COMMENT ON TABLE "+t.Ledger+" IS "+quote(comment))
		}
	}
	// PostgreSQL makes the tables and their comments in one transaction,
	// so that no table of the demo's is ever left without its mark;
	// MariaDB's DDL commits by itself, and its comments are part of
	// CREATE TABLE.
	var ex interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	} = db
	var tx *sql.Tx
	if d == Postgres {
		var err error
		if tx, err = db.BeginTx(ctx, nil); err != nil {
			return fmt.Errorf("workload: creating the tables: %w", err)
		}
		defer tx.Rollback() //nolint:errcheck // a no-op after Commit
		ex = tx
	}
	for _, s := range stmts {
		if _, err := ex.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("workload: %s: %w", s, err)
		}
	}
	if tx != nil {
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("workload: creating the tables: %w", err)
		}
	}
	vals := make([]string, 0, n)
	for i := 1; i <= n; i++ {
		vals = append(vals, fmt.Sprintf("(%d, %d)", i, Initial))
	}
	for chunk := range slices.Chunk(vals, 500) {
		q := "INSERT INTO " + t.Accounts + " (id, balance) VALUES " + strings.Join(chunk, ", ")
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("workload: filling accounts: %w", err)
		}
	}
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > 60 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// quote makes s an SQL string literal; s is Mark, which holds no
// backslash (whose meaning differs between the dialects).
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// Mark is the comment Owned puts on the tables it creates: the tables that
// carry it, and only those, it may drop.
const Mark = "created by the retrysql bank demo (go run ./examples/bank); safe to drop"

// NotOwnedError is Owned's refusal to touch a table it did not create.
type NotOwnedError struct {
	Table   string
	Comment string // the table's comment, "" if none
}

func (e *NotOwnedError) Error() string {
	why := "it has no comment"
	if e.Comment != "" {
		why = fmt.Sprintf("its comment is %q", e.Comment)
	}
	return fmt.Sprintf("table %s exists but was not created by this demo (%s; the demo's tables carry the comment %q), "+
		"so the demo leaves it alone: choose other names with -prefix, or another database", e.Table, why, Mark)
}

// Existing reports which tables of t exist (in the schema that unqualified
// names resolve to) and their comments.
func Existing(ctx context.Context, db *sql.DB, d Dialect, t Tables) (map[string]string, error) {
	found := map[string]string{}
	for _, name := range t.Names() {
		var comment sql.NullString
		var err error
		if d == MySQL {
			err = db.QueryRowContext(ctx, "SELECT table_comment FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?", name).Scan(&comment)
		} else {
			var oid sql.NullString
			err = db.QueryRowContext(ctx, "SELECT to_regclass($1)::text, obj_description(to_regclass($1), 'pg_class')", name).Scan(&oid, &comment)
			if err == nil && !oid.Valid {
				err = sql.ErrNoRows
			}
		}
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue
		case err != nil:
			return nil, fmt.Errorf("workload: looking for table %s: %w", name, err)
		}
		found[name] = comment.String
	}
	return found, nil
}

// Owned creates t as Setup does, but only where the tables are absent or
// were created by Owned (they carry Mark): a table of the same name that
// does not is left alone, and the error is a *NotOwnedError.
func Owned(ctx context.Context, db *sql.DB, d Dialect, n int, t Tables) error {
	if err := checkOwned(ctx, db, d, t); err != nil {
		return err
	}
	return create(ctx, db, d, n, t, Mark)
}

// DropOwned drops the tables of t that Owned created, and refuses (with a
// *NotOwnedError, before dropping any) if one of them exists without Mark.
// It returns the tables dropped.
func DropOwned(ctx context.Context, db *sql.DB, d Dialect, t Tables) ([]string, error) {
	if err := checkOwned(ctx, db, d, t); err != nil {
		return nil, err
	}
	found, err := Existing(ctx, db, d, t)
	if err != nil {
		return nil, err
	}
	var dropped []string
	for _, name := range []string{t.Ledger, t.Accounts} {
		if _, ok := found[name]; !ok {
			continue
		}
		if _, err := db.ExecContext(ctx, "DROP TABLE "+name); err != nil {
			return dropped, fmt.Errorf("workload: dropping %s: %w", name, err)
		}
		dropped = append(dropped, name)
	}
	return dropped, nil
}

func checkOwned(ctx context.Context, db *sql.DB, d Dialect, t Tables) error {
	if t == (Tables{}) {
		return errors.New("workload: no tables named")
	}
	found, err := Existing(ctx, db, d, t)
	if err != nil {
		return err
	}
	for _, name := range t.Names() {
		if c, ok := found[name]; ok && c != Mark {
			return &NotOwnedError{Table: name, Comment: c}
		}
	}
	return nil
}

// Run makes transfers for cfg.Duration with cfg.Workers goroutines, then
// waits for those under way, and reports what each caller was told.
func Run(ctx context.Context, db *sql.DB, cfg Config) (Result, error) {
	if cfg.Workers < 1 || cfg.Accounts < 2 || cfg.Duration <= 0 || cfg.Runner == nil {
		return Result{}, fmt.Errorf("workload: need workers ≥ 1, accounts ≥ 2, a duration and a runner; got %+v", cfg)
	}
	if cfg.ColdWorkers > 0 && (cfg.ColdWorkers >= cfg.Workers || cfg.HotAccounts < 2 || cfg.Accounts-cfg.HotAccounts < 2) {
		return Result{}, fmt.Errorf("workload: %d cold workers of %d, %d hot accounts of %d: both kinds need a worker and two accounts",
			cfg.ColdWorkers, cfg.Workers, cfg.HotAccounts, cfg.Accounts)
	}
	if cfg.TransferTimeout <= 0 {
		cfg.TransferTimeout = 30 * time.Second
	}
	if cfg.Ambiguous == nil {
		cfg.Ambiguous = func(err error) bool {
			return errors.Is(err, retrysql.ErrAmbiguousCommit) || errors.Is(err, retrysql.ErrAmbiguous)
		}
	}
	q := QueriesFor(cfg.Dialect, cfg.Tables.orBench())
	opts := &sql.TxOptions{Isolation: cfg.Isolation}
	var (
		runs, committed atomic.Int64
		mu              sync.Mutex
		res             Result
		wg              sync.WaitGroup
	)
	start := time.Now()
	stop := start.Add(cfg.Duration)
	if cfg.Progress != nil && cfg.Every > 0 {
		done, exited := make(chan struct{}), make(chan struct{})
		defer func() { close(done); <-exited }() // no Progress call after Run returns
		go func() {
			defer close(exited)
			t := time.NewTicker(cfg.Every)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					cfg.Progress(Progress{Elapsed: time.Since(start), Committed: committed.Load(), Runs: runs.Load()})
				}
			}
		}()
	}
	for w := cfg.FirstWorker; w < cfg.FirstWorker+cfg.Workers; w++ {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(w)))
			cold := cfg.ColdWorkers > 0 && w >= cfg.FirstWorker+cfg.Workers-cfg.ColdWorkers
			var tally Tally
			for seq := int64(0); time.Now().Before(stop) && ctx.Err() == nil; seq++ {
				n, base := cfg.Accounts, 0
				switch {
				case cfg.Hot != nil:
					n = min(max(cfg.Hot(time.Since(start)), 2), cfg.Accounts)
				case cfg.ColdWorkers > 0 && cold:
					n, base = cfg.Accounts-cfg.HotAccounts, cfg.HotAccounts
				case cfg.ColdWorkers > 0:
					n = cfg.HotAccounts
				}
				tr := NewTransfer(rng, int64(w)<<32|seq, n, base, cfg.Order)
				fn := func(ctx context.Context, tx *sql.Tx) error {
					runs.Add(1)
					return tr.Apply(ctx, cfg.Order, q, Statements{
						Scan: func(ctx context.Context, query string, dest any, args ...any) error {
							return tx.QueryRowContext(ctx, query, args...).Scan(dest)
						},
						Exec: func(ctx context.Context, query string, args ...any) error {
							_, err := tx.ExecContext(ctx, query, args...)
							return err
						},
					})
				}
				tctx, cancel := context.WithTimeout(ctx, cfg.TransferTimeout)
				if cold {
					tctx = context.WithValue(tctx, coldKey{}, true)
				}
				tctx = context.WithValue(tctx, transferKey{}, tr)
				t0 := time.Now()
				err := cfg.Runner(tctx, db, opts, fn)
				cancel()
				if tally.Record(tr.ID, start, t0, cold, err, cfg.Ambiguous) {
					committed.Add(1)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res.Merge(&tally)
		})
	}
	wg.Wait()
	res.Finish(time.Since(start), runs.Load())
	return res, ctx.Err()
}

type coldKey struct{}

// IsCold reports whether ctx is that of a cold worker's transfer
// (Config.ColdWorkers), for a Runner that treats them apart.
func IsCold(ctx context.Context) bool {
	v, _ := ctx.Value(coldKey{}).(bool)
	return v
}

type transferKey struct{}

// TransferOf returns the transfer whose transaction ctx runs, for a
// Runner that schedules by the rows a transfer takes (a reference with
// knowledge no retry policy has).
func TransferOf(ctx context.Context) (Transfer, bool) {
	t, ok := ctx.Value(transferKey{}).(Transfer)
	return t, ok
}

// Check is the verdict on a run: the invariants a correct run keeps.
type Check struct {
	Balance         int64 // sum of balances
	WantBalance     int64
	Missing         int // reported committed, no ledger row
	Doubled         int // more than one ledger row
	Phantom         int // reported failed, yet a ledger row
	AmbiguousLanded int // reported ambiguous, and committed
	Unknown         int // ledger rows of transfers nobody made
}

// OK reports whether nothing was lost, doubled or invented.
func (c Check) OK() bool {
	return c.Balance == c.WantBalance && c.Missing == 0 && c.Doubled == 0 && c.Phantom == 0 && c.Unknown == 0
}

// Violations counts the transfers that break an invariant.
func (c Check) Violations() int {
	v := c.Missing + c.Doubled + c.Phantom + c.Unknown
	if c.Balance != c.WantBalance {
		v++
	}
	return v
}

// Verify checks res against BenchTables: the sum of balances is
// unchanged, every transfer reported committed has exactly one ledger row,
// every one reported failed has none, every ambiguous one zero or one.
func Verify(ctx context.Context, db *sql.DB, accounts int, res Result) (Check, error) {
	return VerifyTables(ctx, db, BenchTables, accounts, res)
}

// VerifyTables is Verify on the tables t.
func VerifyTables(ctx context.Context, db *sql.DB, t Tables, accounts int, res Result) (Check, error) {
	t = t.orBench()
	c := Check{WantBalance: int64(accounts) * Initial}
	if err := db.QueryRowContext(ctx, "SELECT COALESCE(SUM(balance), 0) FROM "+t.Accounts).Scan(&c.Balance); err != nil {
		return c, fmt.Errorf("workload: sum of balances: %w", err)
	}
	rows, err := db.QueryContext(ctx, "SELECT transfer_id, COUNT(*) FROM "+t.Ledger+" GROUP BY transfer_id")
	if err != nil {
		return c, fmt.Errorf("workload: ledger: %w", err)
	}
	defer rows.Close()
	seen := map[int64]int{}
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return c, err
		}
		seen[id] = n
	}
	if err := rows.Err(); err != nil {
		return c, err
	}
	for id, o := range res.Outcomes {
		n := seen[id]
		if n > 1 {
			c.Doubled++
		}
		switch o {
		case Committed:
			if n == 0 {
				c.Missing++
			}
		case Failed:
			if n > 0 {
				c.Phantom++
			}
		case Ambiguous:
			if n == 1 {
				c.AmbiguousLanded++
			}
		}
		delete(seen, id)
	}
	c.Unknown = len(seen)
	return c, nil
}
