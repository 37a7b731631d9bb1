package failover

import (
	"fmt"
	"strings"
	"time"
)

// Consistent tells whether the data kept its invariants.
func (r *Report) Consistent() bool { return len(r.Problems) == 0 }

func ms(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }

// OutageString is the outage, marked when the writes never recovered.
func (r *Report) OutageString() string {
	if !r.Recovered {
		return "≥ " + ms(r.Outage) + " (not recovered)"
	}
	return ms(r.Outage)
}

// ClusterString is the cluster's own recovery, or "—" when not measured.
func (r *Report) ClusterString() string {
	if r.ProbeErr != nil {
		return "—"
	}
	return ms(r.Cluster)
}

// AddedString is what the client added to the cluster's own recovery, or
// "—".
func (r *Report) AddedString() string {
	d, ok := r.Added()
	if !ok {
		return "—"
	}
	if d >= 0 {
		return "+" + ms(d)
	}
	return ms(d)
}

// AllBackString is when every writer was back, or "never".
func (r *Report) AllBackString() string {
	if !r.AllBackOK {
		return "never"
	}
	return ms(r.AllBack)
}

// String tells everything of the report, its errors included.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d requests (%d transfers, %d inserts), %d succeeded, %d failed (%d before the fault); lost %d, doubled %d; reported ambiguous %d (%d transfers, %d committed); failed yet committed %d; write outage %s (the cluster's own %s, added %s), every writer back at %s, %d failed after it; the fault took %v; %v in all\n",
		r.Name, r.Requests, r.Transfers, r.Inserts, r.Succeeded, r.Failed, r.FailedBefore, r.Lost, r.Doubled,
		r.Ambiguous, r.AmbiguousTransfers, r.AmbiguousCommitted, r.FailedCommitted, r.OutageString(), r.ClusterString(), r.AddedString(), r.AllBackString(),
		r.FailedAfterRecovery, r.FaultTook.Round(time.Millisecond), r.Elapsed.Round(time.Millisecond))
	if r.ProbeErr != nil && r.ProbeErr != errNotProbed {
		fmt.Fprintf(&b, "  the cluster's own recovery: %v\n", r.ProbeErr)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "  %5d× %s\n", e.N, e.Key)
	}
	if len(r.TxFailures) > 0 {
		b.WriteString("  failed attempts of transfers, by where they failed:\n")
		for _, p := range r.TxFailures {
			fmt.Fprintf(&b, "  %5d× at %s: %s\n", p.N, p.Place, p.Key)
		}
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  PROBLEM: %s\n", p)
	}
	return b.String()
}

// Table returns the reports as a Markdown table.
func Table(reports ...*Report) string {
	var b strings.Builder
	b.WriteString("| scenario | requests | failed | unknown: COMMITs + INSERTs (committed) | lost | doubled | failed yet committed | write outage | cluster's own | added | every writer back | fault took | data |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, r := range reports {
		if r == nil {
			continue
		}
		state := "consistent"
		if !r.Consistent() {
			state = fmt.Sprintf("**broken** (%d problems)", len(r.Problems))
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d + %d (%d) | %d | %d | %d | %s | %s | %s | %s | %v | %s |\n", r.Name, r.Requests, r.Failed,
			r.AmbiguousTransfers, r.Ambiguous-r.AmbiguousTransfers, r.AmbiguousCommitted, r.Lost, r.Doubled, r.FailedCommitted, r.OutageString(), r.ClusterString(), r.AddedString(),
			r.AllBackString(), r.FaultTook.Round(time.Millisecond), state)
	}
	return b.String()
}

// PlacedTable returns, as a Markdown table, the failed attempts of
// transfers whose kind begins with key ("MySQL 1213"), by where they
// failed: the statements of fn, or its COMMIT.
func PlacedTable(key string, reports ...*Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| scenario | transfers | failed | %s at a statement | at COMMIT | other failed attempts |\n", key)
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range reports {
		if r == nil {
			continue
		}
		stmt, commit := r.TxFailed(AtStatement, key), r.TxFailed(AtCommit, key)
		other := -stmt - commit
		for _, p := range r.TxFailures {
			other += p.N
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d |\n", r.Name, r.Transfers, r.Failed, stmt, commit, other)
	}
	return b.String()
}
