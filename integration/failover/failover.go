// Package failover runs writers through a fault of a replicated database
// (a primary stopped and a standby promoted, a leader crashed, a Galera
// node killed) and reports what the clients saw and what the data says:
// requests that failed, acknowledged writes that are missing (lost),
// writes applied twice (doubled), outcomes reported unknown and whether
// they committed, failures that committed anyway, and the write outage.
//
// The writers are the same whatever is measured: the handle comes from
// Scenario.Open (a raw driver or retrysql's) and transactions run through
// Scenario.RunInTx (RawTx, or retrysql.RunInTx behind a TxRunner), so one
// scenario measures both:
//
//	s.Open = func(dsn string) (*sql.DB, error) { return sql.Open("retry+pgx", dsn) }
//	s.RunInTx = func(ctx context.Context, db *sql.DB, fn func(context.Context, *sql.Tx) error) error {
//		return retrysql.RunInTx(ctx, db, nil, fn)
//	}
//	s.Ambiguous = func(err error) bool { return errors.Is(err, retrysql.ErrAmbiguousCommit) || errors.Is(err, retrysql.ErrAmbiguous) }
//
// The structure is fixed: Workers workers, each making a request every
// Pace, alternately a transfer between two accounts (two UPDATEs and a
// ledger row, in one transaction) and an autocommit INSERT of an event;
// every request has an id of its own, and neither the ledger nor the
// events have a unique constraint on it, so a request applied twice shows
// as two rows. The fault starts after Before; the run ends Settle after
// the first write that succeeded after the fault returned, or Wait after
// the fault returned if none did. Each request has its own Deadline.
//
// Beside the writers, the harness measures the cluster's own recovery
// (Scenario.Probe: raw writes straight to the nodes that may take writes
// once the fault is in place), so that a report tells what the client
// added to it; it places every failed attempt of a transfer (before fn,
// at a statement, at COMMIT), the last one from the request's error and
// the retried ones from the runner (Retried); and with Scenario.Second,
// half the workers write on another node from the fault on (Galera's
// conflicting writers).
package failover

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/retrysql/retrysql/examples/bank/workload"
)

// A TxRunner runs fn in a transaction on db and commits it.
type TxRunner func(ctx context.Context, db *sql.DB, fn func(ctx context.Context, tx *sql.Tx) error) error

// RawTx is a plain transaction: BEGIN, fn, COMMIT, and ROLLBACK when fn
// fails. It retries nothing: what an application gets from the driver.
func RawTx(ctx context.Context, db *sql.DB, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return workload.Once(ctx, db, nil, fn)
}

// A Scenario is a fault and the writers that go through it.
type Scenario struct {
	Name    string
	Dialect Dialect
	// DSN is what the writers open with Open.
	DSN  string
	Open func(dsn string) (*sql.DB, error)
	// Second, if set, is where the odd workers write, through a handle of
	// their own opened with Open, from the fault's start on (before it
	// they wait): writers on two nodes of a multi-writer cluster, the
	// even workers alone before the fault.
	Second string
	// RunInTx runs the transfers (RawTx if nil).
	RunInTx TxRunner
	// Fault is the fault; it returns once it is in place (a node killed,
	// a standby promoted). Its context ends after FaultTimeout.
	Fault func(ctx context.Context) error
	// Primary returns a handle on the node that takes writes now, for
	// the schema before the run and the verification after it (it is
	// closed after use).
	Primary func(ctx context.Context) (*sql.DB, error)
	// Ambiguous tells whether an error reports an outcome as unknown (nil:
	// no error does).
	Ambiguous func(error) bool
	// Probe lists DSNs, for the dialect's raw driver (pgx or mysql), of
	// the nodes that may take writes once the fault is in place. From the
	// moment Fault returns, the harness writes to them directly (see
	// probe) until a write succeeds: the cluster's own recovery,
	// Report.Cluster, apart from any client's. Nil: not measured.
	Probe []string

	Workers  int           // default 8
	Accounts int           // default 16
	Pace     time.Duration // between a worker's requests, default 20ms
	Before   time.Duration // writes before the fault, default 2s
	Settle   time.Duration // writes after the first success after the fault, default 2s
	Wait     time.Duration // the longest wait for that success, default 15s
	Deadline time.Duration // of each request, default 30s
	// FaultTimeout bounds Fault, default 60s.
	FaultTimeout time.Duration
}

func (s *Scenario) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if s.Workers <= 0 {
		s.Workers = 8
	}
	if s.Accounts < 2 {
		s.Accounts = 16
	}
	if s.RunInTx == nil {
		s.RunInTx = RawTx
	}
	set(&s.Pace, 20*time.Millisecond)
	set(&s.Before, 2*time.Second)
	set(&s.Settle, 2*time.Second)
	set(&s.Wait, 15*time.Second)
	set(&s.Deadline, 30*time.Second)
	set(&s.FaultTimeout, 60*time.Second)
}

// kind of request.
const (
	transfer = iota
	insert
)

// A record is one request as the client saw it; times are since the
// run's start.
type record struct {
	id         int64
	kind       int
	worker     int
	start, end time.Duration
	err        error
	ambiguous  bool
	placed     []PlacedCount // a transfer's failed attempts
}

// Run runs the scenario and verifies the data. An error means the
// scenario could not be run or verified (setup, the fault itself, the
// final reads); what the writers saw is in the Report.
func Run(ctx context.Context, s Scenario) (*Report, error) {
	s.defaults()
	if s.Open == nil || s.Fault == nil || s.Primary == nil {
		return nil, errors.New("failover: Scenario needs Open, Fault and Primary")
	}
	if err := withPrimary(ctx, s, func(db *sql.DB) error { return setup(ctx, db, s.Dialect, s.Accounts) }); err != nil {
		return nil, fmt.Errorf("failover %s: setup: %w", s.Name, err)
	}
	w, err := newWriter(ctx, &s)
	if err != nil {
		return nil, fmt.Errorf("failover %s: %w", s.Name, err)
	}
	defer w.close()

	var probe *prober
	if len(s.Probe) > 0 {
		if probe, err = newProber(ctx, s.Dialect, s.Probe); err != nil {
			return nil, fmt.Errorf("failover %s: probe: %w", s.Name, err)
		}
		defer probe.close()
	}

	began := time.Now()
	since := func() time.Duration { return time.Since(began) }
	var (
		faultEnd   atomic.Int64 // since began; 0 until the fault returned
		faultBegan = make(chan struct{})
		recovered  = make(chan struct{})
		once       sync.Once
		stop       = make(chan struct{})
		wg         sync.WaitGroup
		records    = make([][]record, s.Workers)
	)
	for k := range s.Workers {
		wg.Go(func() {
			if k%len(w.dbs) != 0 { // the second DSN's writers begin with the fault
				select {
				case <-faultBegan:
				case <-stop:
					return
				}
			}
			// Spread the workers over one Pace.
			select {
			case <-time.After(s.Pace * time.Duration(k) / time.Duration(s.Workers)):
			case <-stop:
				return
			}
			tick := time.NewTicker(s.Pace)
			defer tick.Stop()
			for seq := 0; ; seq++ {
				r := w.request(ctx, k, seq, since)
				records[k] = append(records[k], r)
				if fe := faultEnd.Load(); r.err == nil && fe > 0 && int64(r.start) >= fe {
					once.Do(func() { close(recovered) })
				}
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		})
	}

	rep := &Report{Name: s.Name, Workers: s.Workers}
	select {
	case <-time.After(s.Before):
	case <-ctx.Done():
	}
	faultStart := since()
	close(faultBegan)
	fctx, cancel := context.WithTimeout(ctx, s.FaultTimeout)
	faultErr := s.Fault(fctx)
	cancel()
	fe := since()
	faultEnd.Store(int64(fe))
	rep.FaultTook = fe - faultStart
	// The cluster's own recovery, measured beside the writers until the
	// run ends.
	pctx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	probed := make(chan error, 1)
	if faultErr == nil && probe != nil {
		go func() {
			at, err := probe.run(pctx, s.Wait, since)
			rep.Cluster = at - faultStart
			probed <- err
		}()
	} else {
		probed <- errNotProbed
	}
	if faultErr == nil {
		select {
		case <-recovered:
			select {
			case <-time.After(s.Settle):
			case <-ctx.Done():
			}
		case <-time.After(s.Wait):
		case <-ctx.Done():
		}
	}
	close(stop)
	wg.Wait()
	rep.Elapsed = since()
	stopProbe()
	if err := <-probed; err != nil {
		rep.Cluster, rep.ProbeErr = 0, err
	}
	if faultErr != nil {
		return rep, fmt.Errorf("failover %s: the fault: %w", s.Name, faultErr)
	}

	var all []record
	for _, rs := range records {
		all = append(all, rs...)
	}
	rep.tally(all, faultStart, fe)
	if err := withPrimary(ctx, s, func(vdb *sql.DB) error { return rep.verify(ctx, vdb, s.Accounts, all) }); err != nil {
		return rep, fmt.Errorf("failover %s: verify: %w", s.Name, err)
	}
	return rep, nil
}

var errNotProbed = errors.New("not measured: no Probe")

func withPrimary(ctx context.Context, s Scenario, f func(*sql.DB) error) error {
	db, err := s.Primary(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	return f(db)
}
