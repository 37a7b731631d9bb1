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
	Requests            int // transfers and inserts made
	Transfers, Inserts  int
	Succeeded, Failed   int
	FailedBefore        int // failures that ended before the fault began: the setup's, not the fault's
	Lost                int // reported successful, absent from the data
	Doubled             int // applied more than once
	Ambiguous           int // failed with an error that Scenario.Ambiguous calls an unknown outcome
	AmbiguousCommitted  int // of those, applied
	FailedCommitted     int // failed with any other error, yet applied: an unknown outcome reported as a failure
	FailedAfterRecovery int // failed though begun after the first success that ends the outage: a partial recovery (a pool keeping connections to a read-only node)
	Recovered           bool
	Outage              time.Duration // from the fault's start to the end of the first successful request begun after it returned; without recovery, to the run's end
	FaultTook, Elapsed  time.Duration
	Errors              []ErrorCount // the failures, by kind, most frequent first
	Problems            []string     // broken invariants of the data (balances against the ledger): a partial transaction committed, by the client or the database
	lastEnd             time.Duration
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
	for _, rec := range all {
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

// Consistent tells whether the data kept its invariants.
func (r *Report) Consistent() bool { return len(r.Problems) == 0 }

// OutageString is the outage, marked when the writes never recovered.
func (r *Report) OutageString() string {
	s := r.Outage.Round(10 * time.Millisecond).String()
	if !r.Recovered {
		return "≥ " + s + " (not recovered)"
	}
	return s
}

// String tells everything of the report, its errors included.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d requests (%d transfers, %d inserts), %d succeeded, %d failed (%d before the fault); lost %d, doubled %d; reported ambiguous %d (%d committed); failed yet committed %d; write outage %s, %d failed after it; the fault took %v; %v in all\n",
		r.Name, r.Requests, r.Transfers, r.Inserts, r.Succeeded, r.Failed, r.FailedBefore, r.Lost, r.Doubled,
		r.Ambiguous, r.AmbiguousCommitted, r.FailedCommitted, r.OutageString(), r.FailedAfterRecovery, r.FaultTook.Round(time.Millisecond), r.Elapsed.Round(time.Millisecond))
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "  %5d× %s\n", e.N, e.Key)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  PROBLEM: %s\n", p)
	}
	return b.String()
}

// Table returns the reports as a Markdown table.
func Table(reports ...*Report) string {
	var b strings.Builder
	b.WriteString("| scenario | requests | failed | lost | doubled | ambiguous (committed) | failed yet committed | write outage | failed after it | fault took | data |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, r := range reports {
		if r == nil {
			continue
		}
		state := "consistent"
		if !r.Consistent() {
			state = fmt.Sprintf("**broken** (%d problems)", len(r.Problems))
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d (%d) | %d | %s | %d | %v | %s |\n", r.Name, r.Requests, r.Failed, r.Lost, r.Doubled,
			r.Ambiguous, r.AmbiguousCommitted, r.FailedCommitted, r.OutageString(), r.FailedAfterRecovery, r.FaultTook.Round(time.Millisecond), state)
	}
	return b.String()
}
