package failover

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// A Report is what a scenario's writers saw, checked against the data.
type Report struct {
	Name                string
	Workers             int // the scenario's, each with at most one request in flight
	Requests            int // transfers and inserts made
	Transfers, Inserts  int
	Succeeded, Failed   int
	FailedBefore        int // failures that ended before the fault began: the setup's, not the fault's
	Lost                int // reported successful, absent from the data
	Doubled             int // applied more than once
	Ambiguous           int // failed with an error that Scenario.Ambiguous calls an unknown outcome
	AmbiguousTransfers  int // of those, transfers (a COMMIT's outcome unknown); the others are autocommit INSERTs
	AmbiguousCommitted  int // of those, applied
	FailedCommitted     int // failed with any other error, yet applied: an unknown outcome reported as a failure
	FailedAfterRecovery int // failed though begun after the first success that ends the outage: a partial recovery (a pool keeping connections to a read-only node)
	Recovered           bool
	Outage              time.Duration // from the fault's start to the end of the first successful request begun after it returned; without recovery, to the run's end
	// Cluster is the cluster's own recovery (Scenario.Probe): from the
	// fault's start to the end of the first write that a node took
	// directly, by the raw driver; 0 when not measured, and then ProbeErr
	// says why.
	Cluster  time.Duration
	ProbeErr error
	// AllBack is from the fault's start until every worker had a request
	// begun after the fault returned succeed (the whole pool healed);
	// AllBackOK is false if some worker never had one.
	AllBack            time.Duration
	AllBackOK          bool
	FaultTook, Elapsed time.Duration
	Errors             []ErrorCount  // the failures, by kind, most frequent first
	TxFailures         []PlacedCount // every failed attempt of a transfer, retried or not, by where it failed and kind, most frequent first
	Problems           []string      // broken invariants of the data (balances against the ledger): a partial transaction committed, by the client or the database
	lastEnd            time.Duration
}

// Added is what the client added to the cluster's own recovery: Outage
// minus Cluster; ok is false when either was not measured.
func (r *Report) Added() (d time.Duration, ok bool) {
	if !r.Recovered || r.ProbeErr != nil {
		return 0, false
	}
	return r.Outage - r.Cluster, true
}

// TxFailed counts the failed attempts of transfers at place whose kind
// begins with key ("MySQL 1213").
func (r *Report) TxFailed(place, key string) int {
	n := 0
	for _, p := range r.TxFailures {
		if p.Place == place && strings.HasPrefix(p.Key, key) {
			n += p.N
		}
	}
	return n
}

// An ErrorCount is how many requests failed with one kind of error.
type ErrorCount struct {
	Key    string // SQLSTATE or MySQL error number and message, or the message with numbers blanked
	N      int
	Sample string // the first such error, whole
}

func (r *Report) tally(all []record, faultStart, faultEnd time.Duration) {
	byKey := map[string]*ErrorCount{}
	first := time.Duration(-1)
	back := map[int]time.Duration{} // worker → end of its first success begun after the fault
	var placed [][]PlacedCount
	for _, rec := range all {
		placed = append(placed, rec.placed)
		if rec.err == nil && rec.start >= faultEnd {
			if b, ok := back[rec.worker]; !ok || rec.end < b {
				back[rec.worker] = rec.end
			}
		}
		r.Requests++
		if rec.kind == transfer {
			r.Transfers++
		} else {
			r.Inserts++
		}
		r.lastEnd = max(r.lastEnd, rec.end)
		if rec.err == nil {
			r.Succeeded++
			if rec.start >= faultEnd && (first < 0 || rec.end < first) {
				first = rec.end
			}
			continue
		}
		r.Failed++
		if rec.end < faultStart {
			r.FailedBefore++
		}
		if rec.ambiguous {
			r.Ambiguous++
			if rec.kind == transfer {
				r.AmbiguousTransfers++
			}
		}
		k := errorKey(rec.err)
		if rec.ambiguous {
			k = "[ambiguous] " + k
		}
		if byKey[k] == nil {
			byKey[k] = &ErrorCount{Key: k, Sample: rec.err.Error()}
		}
		byKey[k].N++
	}
	r.Recovered = first >= 0
	if r.Recovered {
		r.Outage = first - faultStart
		for _, rec := range all {
			if rec.err != nil && rec.start >= first {
				r.FailedAfterRecovery++
			}
		}
	} else {
		r.Outage = r.lastEnd - faultStart
	}
	workers := map[int]bool{}
	for _, rec := range all {
		workers[rec.worker] = true
	}
	r.AllBackOK = len(back) == len(workers)
	for _, b := range back {
		r.AllBack = max(r.AllBack, b-faultStart)
	}
	r.TxFailures = sumPlaced(placed)
	for _, e := range byKey {
		r.Errors = append(r.Errors, *e)
	}
	sort.Slice(r.Errors, func(a, b int) bool {
		if r.Errors[a].N != r.Errors[b].N {
			return r.Errors[a].N > r.Errors[b].N
		}
		return r.Errors[a].Key < r.Errors[b].Key
	})
}

var numbers = regexp.MustCompile(`[0-9]+`)

// errorKey groups errors: by SQLSTATE or MySQL error number where there
// is one, else by the message with its numbers (ports, PIDs) blanked.
func errorKey(err error) string {
	var ce *pgconn.ConnectError
	var pe *pgconn.PgError
	var me *mysql.MySQLError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "context deadline exceeded"
	case errors.As(err, &ce):
		// Before PgError: a failed connect may hold a 57P03 of one host.
		return "connect: " + connectKey(ce.Error())
	case errors.As(err, &pe):
		return "SQLSTATE " + pe.Code + " " + trim(pe.Message, 60)
	case errors.As(err, &me):
		return fmt.Sprintf("MySQL %d %s", me.Number, trim(me.Message, 60))
	}
	return trim(strings.Join(strings.Fields(numbers.ReplaceAllString(err.Error(), "N")), " "), 90)
}

// connectKey sums up pgconn's ConnectError, a line per host tried
// ("\n\t127.0.0.1:5433 (127.0.0.1): dial error: ..."), as each host's
// error without its address, numbers blanked.
func connectKey(msg string) string {
	lines := strings.Split(msg, "\n")
	if len(lines) > 1 {
		lines = lines[1:]
	}
	for k, l := range lines {
		if _, rest, ok := strings.Cut(l, "): "); ok {
			l = rest
		}
		lines[k] = trim(strings.TrimSpace(numbers.ReplaceAllString(l, "N")), 60)
	}
	return strings.Join(lines, " | ")
}

func trim(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// The data as read after a run.
type data struct {
	ledger, events map[int64]int // request id → rows
	balances       map[int]int64 // account → balance
	moved          map[int]int64 // account → the ledger's credits minus debits
	rows           int           // ledger and event rows
}

func read(ctx context.Context, db *sql.DB) (*data, error) {
	d := &data{ledger: map[int64]int{}, events: map[int64]int{}, balances: map[int]int64{}, moved: map[int]int64{}}
	for _, q := range []struct {
		query string
		into  map[int64]int
	}{
		{"SELECT transfer_id, count(*) FROM rs_fo_ledger GROUP BY transfer_id", d.ledger},
		{"SELECT req_id, count(*) FROM rs_fo_events GROUP BY req_id", d.events},
	} {
		if err := scanPairs(ctx, db, q.query, func(id int64, n int64) { q.into[id] = int(n); d.rows += int(n) }); err != nil {
			return nil, err
		}
	}
	if err := scanPairs(ctx, db, "SELECT id, balance FROM rs_fo_accounts", func(a, b int64) { d.balances[int(a)] = b }); err != nil {
		return nil, err
	}
	if err := scanPairs(ctx, db, "SELECT dst, sum(amount) FROM rs_fo_ledger GROUP BY dst", func(a, s int64) { d.moved[int(a)] += s }); err != nil {
		return nil, err
	}
	if err := scanPairs(ctx, db, "SELECT src, sum(amount) FROM rs_fo_ledger GROUP BY src", func(a, s int64) { d.moved[int(a)] -= s }); err != nil {
		return nil, err
	}
	return d, nil
}

func scanPairs(ctx context.Context, db *sql.DB, query string, f func(a, b int64)) error {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("%s: %w", query, err)
	}
	defer rows.Close()
	for rows.Next() {
		var a, b int64
		if err := rows.Scan(&a, &b); err != nil {
			return err
		}
		f(a, b)
	}
	return rows.Err()
}

// verify reads the data until it stops changing (a write whose client
// gave up may still be finishing on the server; bounded: 5 s) and checks
// every request against it.
func (r *Report) verify(ctx context.Context, db *sql.DB, accounts int, all []record) error {
	d, err := read(ctx, db)
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		select {
		case <-time.After(300 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
		again, err := read(ctx, db)
		if err != nil {
			return err
		}
		stable := again.rows == d.rows
		d = again
		if stable {
			break
		}
	}
	known := map[int64]bool{}
	for _, rec := range all {
		known[rec.id] = true
		n := d.events[rec.id]
		if rec.kind == transfer {
			n = d.ledger[rec.id]
		}
		switch {
		case rec.err == nil && n == 0:
			r.Lost++
		case rec.err != nil && rec.ambiguous && n > 0:
			r.AmbiguousCommitted++
		case rec.err != nil && !rec.ambiguous && n > 0:
			r.FailedCommitted++
		}
		if n > 1 {
			r.Doubled++
		}
	}
	for _, m := range []map[int64]int{d.ledger, d.events} {
		for id := range m {
			if !known[id] {
				r.Problems = append(r.Problems, fmt.Sprintf("rows of request %d, which was never made", id))
			}
		}
	}
	var sum int64
	for a := range accounts {
		b, ok := d.balances[a]
		if !ok {
			r.Problems = append(r.Problems, fmt.Sprintf("account %d is missing", a))
		}
		sum += b
		if want := initialBalance + d.moved[a]; b != want {
			r.Problems = append(r.Problems, fmt.Sprintf("account %d: balance %d, the ledger says %d", a, b, want))
		}
	}
	if want := int64(accounts) * initialBalance; sum != want {
		r.Problems = append(r.Problems, fmt.Sprintf("the balances sum to %d, want %d", sum, want))
	}
	return nil
}
