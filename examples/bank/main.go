// Command bank is retrysql's demo: workers make random transfers between a
// few bank accounts, on PostgreSQL (SERIALIZABLE, so contention makes
// serialization failures) or MariaDB/MySQL (rows locked in conflicting
// orders, so contention makes deadlocks). It runs the same workload three
// times, side by side: through the plain driver, as an application without
// retrysql would (every such failure is an error it must handle), through
// retrysql.RunInTx with admission control off (backoff alone), and with
// retrysql's defaults (admission control for what contends). It shows
// each as it runs, then one table, and checks after each that no transfer
// was lost or applied twice.
//
//	go run ./examples/bank                                       # local PostgreSQL, the three modes
//	go run ./examples/bank -dsn 'root@tcp(127.0.0.1:3306)/test'  # local MariaDB
//	go run ./examples/bank -chart bank.svg                       # and draw the latencies
//	DATABASE_URL=postgres://app@db/shop go run ./examples/bank -modes retrysql -duration 30s
//
// It works only in tables of its own, retrysql_demo_accounts and
// retrysql_demo_ledger (-prefix changes the prefix), which it marks with a
// comment when it creates them; it refuses to touch tables of those names
// that do not carry the mark. -drop removes them.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/admission"
	"github.com/retrysql/retrysql/examples/bank/workload"
	"github.com/retrysql/retrysql/examples/internal/chart"
)

const defaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// defaultPrefix starts the names of the demo's tables.
const defaultPrefix = "retrysql_demo_"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "bank:", err)
		os.Exit(1)
	}
}

// mode is one way of running the workload.
type mode struct {
	key, title string
	about      string // what it is, one line
	retrysql   bool   // through a retrysql handle
	noAdmit    bool   // admission control off (WithAdmission(nil))
}

var modes = []mode{
	{key: "plain", title: "plain driver", about: "each transfer runs once; every deadlock or serialization failure is an error the application sees"},
	{key: "backoff", title: "retrysql, admission off", retrysql: true, noAdmit: true, about: "RunInTx with WithAdmission(nil): a transfer the server aborted runs again, after a backoff of 2–200ms"},
	{key: "retrysql", title: "retrysql defaults", retrysql: true, about: "retrysql.RunInTx as it comes: transfers on rows that contend take turns under an adaptive limit, oldest first"},
}

// outcome is what one mode did.
type outcome struct {
	mode      mode
	res       workload.Result
	check     workload.Check
	stats     retrysql.Stats
	errors    int64           // transfers whose call returned an error
	errorsAt  []time.Duration // when each error was returned, since the start
	maxRuns   int64           // the most runs of one transfer's function
	retried   int64           // transfers that needed more than one run
	meanLimit float64         // admission's limit, sampled every 20ms
	canceled  bool
}

func run(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("bank", flag.ContinueOnError)
	fs.SetOutput(out)
	dsnDefault, dsnFrom := defaultDSN, "the default; -dsn or DATABASE_URL to change"
	if env := os.Getenv("DATABASE_URL"); env != "" {
		dsnDefault, dsnFrom = env, "from DATABASE_URL"
	}
	dsn := fs.String("dsn", dsnDefault, "the database (default $DATABASE_URL, else the local PostgreSQL); "+dsnForms+"\n")
	accounts := fs.Int("accounts", 8, "number of accounts; fewer means more contention")
	workers := fs.Int("workers", 16, "goroutines making transfers")
	duration := fs.Duration("duration", 5*time.Second, "how long each mode makes transfers")
	modeList := fs.String("modes", "plain,backoff,retrysql", "the modes to run, in order, comma-separated: plain (the driver alone), backoff (retrysql with admission control off), retrysql (its defaults, admission control for what contends)")
	chartPath := fs.String("chart", "", "write a chart of each mode's latencies and committed/s to this file (.svg or .png)")
	prefix := fs.String("prefix", defaultPrefix, "prefix of the demo's two tables, <prefix>accounts and <prefix>ledger")
	drop := fs.Bool("drop", false, "drop the demo's tables (only if it created them) and exit")
	fs.Usage = func() {
		fmt.Fprint(out, `Usage: go run ./examples/bank [flags]

Runs the same bank transfers through the plain driver, through retrysql with
admission control off and with its defaults, one after the other, and prints one
table comparing them. It works only in tables of its own (-prefix), which it
creates and marks; it refuses to touch tables of those names it did not make.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "dsn" {
			dsnFrom = "from -dsn"
		}
	})
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only; -help lists them)", fs.Arg(0))
	}
	if *accounts < 2 || *workers < 1 || *duration <= 0 {
		return fmt.Errorf("need -accounts ≥ 2, -workers ≥ 1 and a positive -duration")
	}
	if !validPrefix.MatchString(*prefix) {
		return fmt.Errorf("-prefix %q: use letters, digits and underscores, starting with a letter, at most 40", *prefix)
	}
	chosen, err := parseModes(*modeList)
	if err != nil {
		return err
	}
	if *chartPath != "" {
		if err := chart.CheckPath(*chartPath); err != nil {
			return err
		}
	}
	t, err := parseDSN(*dsn)
	if err != nil {
		return err
	}
	tables := workload.Tables{Accounts: *prefix + "accounts", Ledger: *prefix + "ledger"}

	// The plain handle checks the server (a retrysql handle would retry
	// a refused connection for the whole timeout) and the tables.
	db, err := sql.Open(t.Driver, t.DSN)
	if err != nil {
		return fmt.Errorf("%v; point the demo at a database with -dsn or DATABASE_URL", err)
	}
	defer db.Close()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = db.PingContext(pctx)
	cancel()
	if err != nil {
		return fmt.Errorf("cannot reach %s (%s):\n%s\npoint the demo at one with -dsn or DATABASE_URL, e.g. -dsn 'postgres://user@host:5432/db' or -dsn 'user:password@tcp(host:3306)/db'",
			t.Where, t.Form, indent(err.Error()))
	}
	if *drop {
		dropped, err := workload.DropOwned(ctx, db, t.Dialect, tables)
		if err != nil {
			return err
		}
		if len(dropped) == 0 {
			fmt.Fprintf(out, "no table of the demo's (%s) in %s\n", strings.Join(tables.Names(), ", "), t.Where)
		} else {
			fmt.Fprintf(out, "dropped %s in %s\n", strings.Join(dropped, " and "), t.Where)
		}
		return nil
	}
	found, err := workload.Existing(ctx, db, t.Dialect, tables)
	if err != nil {
		return err
	}
	for _, name := range tables.Names() {
		if c, ok := found[name]; ok && c != workload.Mark {
			return &workload.NotOwnedError{Table: name, Comment: c}
		}
	}

	cfg := workload.Config{
		Dialect: t.Dialect, Tables: tables, Accounts: *accounts, Workers: *workers, Duration: *duration,
		Every: 500 * time.Millisecond, Seed: uint64(time.Now().UnixNano()),
	}
	what := "SERIALIZABLE: transfers that touch the same accounts make serialization failures (SQLSTATE 40001)"
	if t.Dialect == workload.MySQL {
		cfg.Order, cfg.Isolation = workload.Random, sql.LevelRepeatableRead
		what = "REPEATABLE READ, each transfer locking its two accounts in random order: transfers deadlock (error 1213)"
	} else {
		cfg.Order, cfg.Isolation = workload.Sorted, sql.LevelSerializable
	}
	state := fmt.Sprintf("will create %s (fresh for each mode), marked as the demo's by a table comment; -drop removes them",
		strings.Join(tables.Names(), " and "))
	if len(found) > 0 {
		state = fmt.Sprintf("%s, the demo's own (they carry its comment): will re-create them for each mode; -drop removes them",
			strings.Join(tables.Names(), " and "))
	}
	fmt.Fprintf(out, "retrysql bank demo: %d workers make random transfers between %d accounts\n", *workers, *accounts)
	fmt.Fprintf(out, "  database   %s (%s)\n", t.Where, dsnFrom)
	fmt.Fprintf(out, "  isolation  %s\n", what)
	fmt.Fprintf(out, "  tables     %s\n", state)
	fmt.Fprintf(out, "  modes      %s, %v each, one after the other (about %v in all)\n\n",
		titles(chosen), *duration, estimate(len(chosen), *duration).Round(time.Second))

	start := time.Now()
	var outs []outcome
	for i, m := range chosen {
		fmt.Fprintf(out, "[%d/%d] %s — %s\n", i+1, len(chosen), m.title, m.about)
		o, err := runMode(ctx, out, t, m, cfg, func(elapsed time.Duration) time.Duration {
			return estimate(len(chosen)-i-1, cfg.Duration) + max(cfg.Duration-elapsed, 0)
		})
		if err != nil {
			return err
		}
		outs = append(outs, o)
		if o.canceled {
			break
		}
	}
	fmt.Fprintf(out, "\n%s, %d workers, %d accounts, %v per mode (took %v):\n\n", t.Where, *workers, *accounts, *duration, time.Since(start).Round(100*time.Millisecond))
	table(out, outs)
	legend(out, outs, *duration)
	conclude(out, outs, *workers, *accounts)
	if *chartPath != "" && len(outs) > 0 {
		if err := writeChart(*chartPath, outs, fmt.Sprintf("%s, %d workers, %d accounts", shortWhere(t), *workers, *accounts)); err != nil {
			return err
		}
		fmt.Fprintf(out, "\nchart written to %s\n", *chartPath)
	}
	for _, o := range outs {
		if !o.check.OK() {
			return fmt.Errorf("an invariant is violated in mode %s: %+v", o.mode.key, o.check)
		}
	}
	return nil
}

var validPrefix = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,39}$`)

func parseModes(s string) ([]mode, error) {
	var chosen []mode
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		i := slices.IndexFunc(modes, func(m mode) bool { return m.key == k })
		if i < 0 {
			return nil, fmt.Errorf("-modes: no mode %q; the modes are plain, backoff and retrysql", k)
		}
		if slices.ContainsFunc(chosen, func(m mode) bool { return m.key == k }) {
			return nil, fmt.Errorf("-modes: %q given twice", k)
		}
		chosen = append(chosen, modes[i])
	}
	return chosen, nil
}

func titles(ms []mode) string {
	var ts []string
	for _, m := range ms {
		ts = append(ts, m.title)
	}
	return strings.Join(ts, ", ")
}

// estimate is how long n modes of d take: d each, plus the tables and the
// transfers under way at the end.
func estimate(n int, d time.Duration) time.Duration {
	return time.Duration(n) * (d + 700*time.Millisecond)
}

// runMode sets up fresh tables and runs the workload in mode m, showing
// its progress; remaining says how much of the run's planned time is left
// at an elapsed time of this mode.
func runMode(ctx context.Context, out io.Writer, t target, m mode, cfg workload.Config, remaining func(time.Duration) time.Duration) (outcome, error) {
	o := outcome{mode: m}
	var (
		db  *sql.DB
		err error
	)
	switch {
	case m.noAdmit:
		db, err = retrysql.Open(t.Driver, t.DSN, retrysql.WithAdmission(nil))
	case m.retrysql:
		db, err = retrysql.Open(t.Driver, t.DSN)
	default:
		db, err = sql.Open(t.Driver, t.DSN)
	}
	if err != nil {
		return o, err
	}
	defer db.Close()
	// A connection per worker, kept open: the modes differ in retries,
	// not in connecting.
	db.SetMaxOpenConns(cfg.Workers)
	db.SetMaxIdleConns(cfg.Workers)
	if err := workload.Owned(ctx, db, t.Dialect, cfg.Accounts, cfg.Tables); err != nil {
		return o, err
	}
	r, _ := retrysql.RetrierOf(db)

	var (
		errCount, maxRuns, retried atomic.Int64
		mu                         sync.Mutex
		errorsAt                   []time.Duration
		t0                         = time.Now()
	)
	inner := workload.RunInTx()
	if !m.retrysql {
		inner = workload.Plain
	}
	runCtx := ctx
	cfg.Runner = func(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(context.Context, *sql.Tx) error) error {
		var runs int64
		err := inner(ctx, db, opts, func(ctx context.Context, tx *sql.Tx) error {
			runs++
			return fn(ctx, tx)
		})
		switch {
		case err != nil && runCtx.Err() != nil:
			// Interrupted (^C): not an error of the workload's.
		case err != nil:
			errCount.Add(1)
			mu.Lock()
			errorsAt = append(errorsAt, time.Since(t0))
			mu.Unlock()
		default:
			if runs > 1 {
				retried.Add(1)
			}
			for cur := maxRuns.Load(); runs > cur && !maxRuns.CompareAndSwap(cur, runs); cur = maxRuns.Load() {
			}
		}
		return err
	}
	var last workload.Progress
	cfg.Progress = func(p workload.Progress) {
		rate := float64(p.Committed-last.Committed) / (p.Elapsed - last.Elapsed).Seconds()
		last = p
		line := fmt.Sprintf("%5.1fs %9s committed %7s/s   errors %s", p.Elapsed.Seconds(), count(p.Committed), count(int64(rate+0.5)), count(errCount.Load()))
		if m.retrysql {
			st := r.Stats()
			line += "   retries " + count(int64(st.Retries))
			if st.Admission != nil {
				line += fmt.Sprintf("   limit %d", st.Admission.Permits)
			}
		}
		eta := "finishing the transfers under way"
		if left := remaining(p.Elapsed); left > 0 {
			eta = fmt.Sprintf("ETA %v", (left + time.Second - 1).Truncate(time.Second))
		}
		fmt.Fprintf(out, "\r  %s   %s   ", line, eta)
	}
	var limits limitSampler
	if r != nil && r.Admission() != nil {
		defer limits.start(r.Admission())()
	}
	t0 = time.Now()
	res, err := workload.Run(ctx, db, cfg)
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(out)
		return o, err
	}
	o.canceled = err != nil
	o.res, o.errors, o.maxRuns, o.retried = res, errCount.Load(), maxRuns.Load(), retried.Load()
	o.errorsAt, o.meanLimit = errorsAt, limits.mean()
	if r != nil {
		o.stats = r.Stats()
	}
	o.check, err = workload.VerifyTables(context.Background(), db, cfg.Tables, cfg.Accounts, res)
	if err != nil {
		fmt.Fprintln(out)
		return o, err
	}
	retries := ""
	if m.retrysql {
		retries = "   retries " + count(int64(o.stats.Retries))
	}
	fmt.Fprintf(out, "\r  %5.1fs %9s committed %7s/s   errors %s%s   invariants %s%s\n", res.Elapsed.Seconds(),
		count(int64(res.Committed)), count(int64(res.PerSecond()+0.5)), count(o.errors), retries, verdict(o.check), strings.Repeat(" ", 24))
	if m.retrysql && o.errors > 0 {
		for e, n := range res.Errors {
			fmt.Fprintf(out, "  error %d×: %s\n", n, oneLine(e))
		}
	}
	if !m.retrysql && len(res.Errors) > 0 {
		seen := slices.Sorted(func(yield func(string) bool) {
			for e := range res.Errors {
				if !yield(oneLine(e)) {
					return
				}
			}
		})
		fmt.Fprintf(out, "  the application got errors such as: %s\n", seen[0])
	}
	return o, nil
}

// limitSampler samples an admission controller's limit during a run.
type limitSampler struct {
	mu         sync.Mutex
	sum, count int
}

func (s *limitSampler) start(ctl *admission.Controller) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				l := ctl.Snapshot().Permits
				s.mu.Lock()
				s.sum, s.count = s.sum+l, s.count+1
				s.mu.Unlock()
			}
		}
	}()
	return func() { close(done); <-exited }
}

func (s *limitSampler) mean() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.count == 0 {
		return 0
	}
	return float64(s.sum) / float64(s.count)
}

func verdict(c workload.Check) string {
	if c.OK() {
		return "ok"
	}
	var parts []string
	if c.Balance != c.WantBalance {
		parts = append(parts, fmt.Sprintf("sum %d ≠ %d", c.Balance, c.WantBalance))
	}
	for _, p := range []struct {
		n    int
		what string
	}{{c.Missing, "committed without a row"}, {c.Doubled, "doubled"}, {c.Phantom, "failed yet written"}, {c.Unknown, "unknown rows"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	return "VIOLATED: " + strings.Join(parts, ", ")
}

// table prints one row per mode.
func table(out io.Writer, outs []outcome) {
	titles := make([]string, len(outs))
	width := 0
	for i, o := range outs {
		titles[i] = o.mode.title
		if o.canceled {
			titles[i] += " (cut)"
		}
		width = max(width, utf8.RuneCountInString(titles[i]))
	}
	row := "  %-" + strconv.Itoa(width) + "s  %11s  %10s  %7s  %6s  %6s  %6s  %11s  %s\n"
	fmt.Fprintf(out, row, "", "committed/s", "app errors", "retries", "p50", "p99", "max", "runs/commit", "invariants")
	for i, o := range outs {
		runs := "–"
		if o.res.Committed > 0 {
			runs = fmt.Sprintf("%.2f", float64(o.res.Runs)/float64(o.res.Committed))
		}
		retries := "–"
		if o.mode.retrysql {
			retries = count(int64(o.stats.Retries))
		}
		fmt.Fprintf(out, row, titles[i], count(int64(o.res.PerSecond()+0.5)), count(o.errors), retries,
			chart.Short(o.res.Percentile(50)), chart.Short(o.res.Percentile(99)), chart.Short(o.res.Percentile(100)), runs, verdict(o.check))
	}
}

// legend explains each column in one line.
func legend(out io.Writer, outs []outcome, d time.Duration) {
	fmt.Fprintln(out)
	ambiguous := 0
	for _, o := range outs {
		ambiguous += o.res.Ambiguous
	}
	lines := [][2]string{
		{"committed/s", fmt.Sprintf("transfers committed per second of a mode's %v (and of those under way at its end)", d)},
		{"app errors", "transfers whose call returned an error: the application must retry them itself, or give up"},
		{"retries", "runs retrysql made again after a tx-aborted error (below): errors the application never saw"},
		{"tx-aborted", "the server rolled the transaction back (deadlock, serialization failure): a replay is safe"},
		{"p50/p99/max", "from start to commit, retries included: half, 99 in 100, and all transfers took at most this"},
		{"runs/commit", "runs of the transaction function per committed transfer: 1.00 means no work thrown away"},
		{"invariants", "sum of balances kept, one ledger row per committed transfer, none per failed one (or: failed yet written)"},
		{"ambiguous", fmt.Sprintf("outcome unknown (connection lost during COMMIT): never replayed, ErrAmbiguousCommit; %d here", ambiguous)},
	}
	for _, l := range lines {
		fmt.Fprintf(out, "  %-12s %s\n", l[0], l[1])
	}
}

// conclude says in a few lines what the table shows, from its numbers.
func conclude(out io.Writer, outs []outcome, workers, accounts int) {
	var plain, def, adm *outcome
	for i := range outs {
		switch outs[i].mode.key {
		case "plain":
			plain = &outs[i]
		case "backoff":
			def = &outs[i]
		case "retrysql":
			adm = &outs[i]
		}
	}
	var lines []string
	if plain != nil && plain.errors > 0 {
		tried := int64(len(plain.res.Outcomes))
		l := fmt.Sprintf("Without retrysql the application got %s errors in %s transfers (%.0f%%), each one for it to handle.",
			count(plain.errors), count(tried), 100*float64(plain.errors)/float64(max(tried, 1)))
		if r := firstOf(def, adm); r != nil {
			l += fmt.Sprintf(" Through %s it got %s: the aborted runs were replayed (%s retries).", r.mode.title, count(r.errors), count(int64(r.stats.Retries)))
		}
		lines = append(lines, l)
	}
	if def != nil && def.res.Committed > 0 {
		lines = append(lines, fmt.Sprintf("With admission off the slowest transfers (p99 %s, max %s) are those aborted again and again: with %d workers on %d accounts, %s of %s transfers ran more than once, the unluckiest %d times, each time after a backoff of 2–200ms.",
			chart.Short(def.res.Percentile(99)), chart.Short(def.res.Percentile(100)), workers, accounts, count(def.retried), count(int64(def.res.Committed)), def.maxRuns))
	}
	if adm != nil && adm.stats.Admission != nil && adm.res.Committed > 0 {
		a := adm.stats.Admission
		l := fmt.Sprintf("retrysql's defaults found the rows hot and let %.1f transfers run at once on average (the limit adapts, up to %d), the others waiting, oldest first", adm.meanLimit, a.MaxLimit)
		if def != nil && def.res.Committed > 0 {
			l += fmt.Sprintf(": p50 %s → %s, p99 %s → %s, max %s → %s, runs per commit %.2f → %.2f, committed/s %s → %s.",
				chart.Short(def.res.Percentile(50)), chart.Short(adm.res.Percentile(50)),
				chart.Short(def.res.Percentile(99)), chart.Short(adm.res.Percentile(99)), chart.Short(def.res.Percentile(100)), chart.Short(adm.res.Percentile(100)),
				float64(def.res.Runs)/float64(def.res.Committed), float64(adm.res.Runs)/float64(adm.res.Committed),
				count(int64(def.res.PerSecond()+0.5)), count(int64(adm.res.PerSecond()+0.5)))
		} else {
			l += "."
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(out)
	for _, l := range lines {
		fmt.Fprintln(out, wrap(l, 100, ""))
	}
}

func firstOf(cands ...*outcome) *outcome {
	for _, o := range cands {
		if o != nil {
			return o
		}
	}
	return nil
}

// wrap breaks s into lines of at most width runes, the first prefixed by
// nothing and the others by pad.
func wrap(s string, width int, pad string) string {
	var b strings.Builder
	n := 0
	for i, w := range strings.Fields(s) {
		if i > 0 && n+1+len([]rune(w)) > width {
			b.WriteString("\n" + pad)
			n = len(pad)
		} else if i > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len([]rune(w))
	}
	return b.String()
}

// count formats n with thousands separators.
func count(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + count(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func trim(s string) string {
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

// indent shows an error of several lines whole, each line indented.
func indent(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = "    " + strings.TrimSpace(l)
	}
	return strings.Join(lines, "\n")
}

// oneLine joins the lines of an error message.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func shortWhere(t target) string {
	if t.Dialect == workload.MySQL {
		return "MariaDB/MySQL, REPEATABLE READ"
	}
	return "PostgreSQL, SERIALIZABLE"
}
