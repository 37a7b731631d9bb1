package failover

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// driver is the raw driver of the dialect, which the probe uses.
func (d Dialect) driver() string {
	if d == Postgres {
		return "pgx"
	}
	return "mysql"
}

// probeDelay is the pause between two probe writes to one node.
const probeDelay = 10 * time.Millisecond

// A prober measures the cluster's own recovery, apart from any client:
// it holds a connection of the dialect's raw driver to each node that may
// take writes once the fault is in place (opened before the fault), and
// from the moment the fault returns writes a row through each, again and
// again, all nodes at once, until one write succeeds. A connection that
// breaks is replaced. A write that waits (a Galera node waiting to evict
// a dead one) succeeds when the cluster takes writes again: it is cut
// short only by attempt.
type prober struct {
	d   Dialect
	dbs []*sql.DB
}

// newProber opens the connections (a node that does not answer yet is
// connected to when it does).
func newProber(ctx context.Context, d Dialect, dsns []string) (*prober, error) {
	p := &prober{d: d}
	for _, dsn := range dsns {
		db, err := sql.Open(d.driver(), dsn)
		if err != nil {
			p.close()
			return nil, err
		}
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = db.PingContext(pctx)
		cancel()
		p.dbs = append(p.dbs, db)
	}
	return p, nil
}

func (p *prober) close() {
	for _, db := range p.dbs {
		db.Close()
	}
}

// run writes until a write succeeds, and returns when it ended (since), or
// an error if ctx ended first.
func (p *prober) run(ctx context.Context, attempt time.Duration, since func() time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan time.Duration, len(p.dbs))
	errs := make(chan error, len(p.dbs))
	for _, db := range p.dbs {
		go func() {
			at, err := p.node(ctx, db, attempt, since)
			if err != nil {
				errs <- err
				return
			}
			done <- at
		}()
	}
	var all []error
	for range p.dbs {
		select {
		case at := <-done:
			return at, nil
		case err := <-errs:
			all = append(all, err)
		}
	}
	return 0, errors.Join(all...)
}

// node writes to one node until a write succeeds or ctx ends.
func (p *prober) node(ctx context.Context, db *sql.DB, attempt time.Duration, since func() time.Duration) (time.Duration, error) {
	stmt := p.d.q("INSERT INTO rs_fo_probe (at_ms) VALUES (?)")
	for {
		actx, cancel := context.WithTimeout(ctx, attempt)
		_, err := db.ExecContext(actx, stmt, since().Milliseconds())
		cancel()
		if err == nil {
			return since(), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("no probe write succeeded: %w (%v)", err, ctx.Err())
		case <-time.After(probeDelay):
		}
	}
}
