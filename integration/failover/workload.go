package failover

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A Dialect is the SQL flavour of the database: placeholders and DDL.
type Dialect int

const (
	Postgres Dialect = iota // PostgreSQL: $1 placeholders
	MySQL                   // MySQL and MariaDB: ? placeholders
)

// The initial balance of every account: the balances sum to Accounts
// times it whatever the transfers did, if each was atomic.
const initialBalance = 1000

// q rewrites a statement written with ? placeholders for d.
func (d Dialect) q(stmt string) string {
	if d != Postgres {
		return stmt
	}
	var b strings.Builder
	n := 0
	for _, c := range stmt {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// setup makes the scenario's tables anew: the accounts, the ledger (a row
// per applied transfer), the events (a row per applied insert) and the
// probe's writes (see probe). The
// request ids have no unique constraint, so that doubles show; every
// table has a primary key of its own (Galera needs one).
func setup(ctx context.Context, db *sql.DB, d Dialect, accounts int) error {
	serial := "BIGSERIAL PRIMARY KEY"
	engine := ""
	if d == MySQL {
		serial = "BIGINT AUTO_INCREMENT PRIMARY KEY"
		engine = " ENGINE=InnoDB"
	}
	stmts := []string{
		"DROP TABLE IF EXISTS rs_fo_accounts",
		"DROP TABLE IF EXISTS rs_fo_ledger",
		"DROP TABLE IF EXISTS rs_fo_events",
		"DROP TABLE IF EXISTS rs_fo_probe",
		"CREATE TABLE rs_fo_accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL)" + engine,
		"CREATE TABLE rs_fo_ledger (seq " + serial + ", transfer_id BIGINT NOT NULL, src INT NOT NULL, dst INT NOT NULL, amount BIGINT NOT NULL)" + engine,
		"CREATE TABLE rs_fo_events (seq " + serial + ", req_id BIGINT NOT NULL, worker INT NOT NULL)" + engine,
		"CREATE TABLE rs_fo_probe (seq " + serial + ", at_ms BIGINT NOT NULL)" + engine,
	}
	var values []string
	for a := range accounts {
		values = append(values, fmt.Sprintf("(%d, %d)", a, initialBalance))
	}
	stmts = append(stmts, "INSERT INTO rs_fo_accounts (id, balance) VALUES "+strings.Join(values, ", "))
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// A writer makes the requests: worker k through dbs[k%len(dbs)].
type writer struct {
	s   *Scenario
	dbs []*sql.DB
}

// newWriter opens the writers' handles: on s.DSN, and on s.Second if set.
func newWriter(ctx context.Context, s *Scenario) (*writer, error) {
	dsns := []string{s.DSN}
	if s.Second != "" {
		dsns = append(dsns, s.Second)
	}
	w := &writer{s: s}
	for k, dsn := range dsns {
		db, err := s.Open(dsn)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("open: %w", err)
		}
		w.dbs = append(w.dbs, db)
		// A pool that keeps its connections, as a service's does: a stale
		// connection is met again rather than replaced by chance.
		n := (s.Workers - k + len(dsns) - 1) / len(dsns)
		db.SetMaxOpenConns(n)
		db.SetMaxIdleConns(n)
		if err := db.PingContext(ctx); err != nil {
			w.close()
			return nil, fmt.Errorf("ping: %w", err)
		}
	}
	return w, nil
}

func (w *writer) close() {
	for _, db := range w.dbs {
		db.Close()
	}
}

// requestID is unique per worker and sequence number.
func requestID(worker, seq int) int64 { return int64(worker+1)*10_000_000 + int64(seq) }

// transferOf returns the accounts and amount of a worker's seq-th
// request: fixed, so that runs are alike.
func transferOf(worker, seq, accounts int) (src, dst int, amount int64) {
	src = (worker*7 + seq*3) % accounts
	dst = (src + 1 + seq%(accounts-1)) % accounts
	return src, dst, int64(1 + seq%7)
}

// request makes a worker's seq-th request (even: a transfer, odd: an
// insert) under its own deadline.
func (w *writer) request(ctx context.Context, worker, seq int, since func() time.Duration) record {
	r := record{id: requestID(worker, seq), kind: seq % 2, worker: worker}
	rctx, cancel := context.WithTimeout(ctx, w.s.Deadline)
	defer cancel()
	r.start = since()
	db := w.dbs[worker%len(w.dbs)]
	if r.kind == transfer {
		r.placed, r.err = w.transfer(rctx, db, r.id, worker, seq)
	} else {
		_, r.err = db.ExecContext(rctx, w.s.Dialect.q("INSERT INTO rs_fo_events (req_id, worker) VALUES (?, ?)"), r.id, worker)
	}
	r.end = since()
	if r.err != nil && w.s.Ambiguous != nil {
		r.ambiguous = w.s.Ambiguous(r.err)
	}
	return r
}

func (w *writer) transfer(ctx context.Context, db *sql.DB, id int64, worker, seq int) ([]PlacedCount, error) {
	d := w.s.Dialect
	src, dst, amount := transferOf(worker, seq, w.s.Accounts)
	// The lower account first: two transfers never wait for each other
	// in a cycle (no deadlocks of the workload's own).
	first, second, d1, d2 := src, dst, -amount, amount
	if dst < src {
		first, second, d1, d2 = dst, src, amount, -amount
	}
	return runTracked(ctx, w.s.RunInTx, db, func(ctx context.Context, tx *sql.Tx) error {
		for _, u := range []struct {
			id    int
			delta int64
		}{{first, d1}, {second, d2}} {
			res, err := tx.ExecContext(ctx, d.q("UPDATE rs_fo_accounts SET balance = balance + ? WHERE id = ?"), u.delta, u.id)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n != 1 {
				return fmt.Errorf("account %d: %d rows updated", u.id, n)
			}
		}
		_, err := tx.ExecContext(ctx, d.q("INSERT INTO rs_fo_ledger (transfer_id, src, dst, amount) VALUES (?, ?, ?, ?)"), id, src, dst, amount)
		return err
	})
}
