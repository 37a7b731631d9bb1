package otelretrysql_test

import (
	"context"
	"database/sql"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/otelretrysql"
)

// TestCommitResolved: a COMMIT whose answer is lost on a real server (the
// proxy forwards it, then drops the answer; or drops COMMIT itself), which
// the commit check settles. Found committed: the transaction ends
// "resolved", once; found not committed: it is replayed and commits.
// The completion, the metrics, the operation span and the log say so.
func TestCommitResolved(t *testing.T) {
	for _, db := range []struct {
		name, driver, system string
		dsn                  func(*testing.T) string
		via                  func(*testing.T, string, func(string) string) string
	}{
		{"postgres", "pgx", "postgresql", postgresDSN, pgVia},
		{"mariadb", "mysql", "mariadb", mysqlDSN, mysqlVia},
	} {
		t.Run(db.name, func(t *testing.T) {
			dsn := db.dsn(t)
			admin := openPlain(t, db.driver, dsn)
			table := uniqueName(t, "resolved")
			execAll(t, admin, "CREATE TABLE "+table+" (id INT)")
			t.Cleanup(func() { admin.Exec("DROP TABLE IF EXISTS " + table) })
			var proxy *cutProxy
			via := db.via(t, dsn, func(target string) string {
				proxy = newCutProxy(t, target)
				return proxy.addr()
			})
			for _, tc := range []struct {
				cut          int32
				runs         int32
				end          retrysql.End
				notCommitted int
				resolution   string
				metrics      map[string]map[string]string
			}{
				{cut: loseAnswer, runs: 1, end: retrysql.EndResolved, resolution: "committed",
					metrics: map[string]map[string]string{
						otelretrysql.MetricCommitResolved: {"db.system.name=" + db.system + ",retrysql.resolution=committed": "1"},
					}},
				{cut: loseCommit, runs: 2, end: retrysql.EndSuccess, notCommitted: 1, resolution: "not_committed",
					metrics: map[string]map[string]string{
						otelretrysql.MetricCommitResolved: {"db.system.name=" + db.system + ",retrysql.resolution=not_committed": "1"},
						otelretrysql.MetricRetries:        {"db.system.name=" + db.system + ",retrysql.outcome=success,retrysql.place=transaction": "count=1 sum=1"},
						otelretrysql.MetricRetryDelay:     {"db.system.name=" + db.system + ",retrysql.outcome=success,retrysql.place=transaction": "count=1 sum=0.001"},
					}},
			} {
				t.Run(tc.resolution, func(t *testing.T) {
					execAll(t, admin, "DELETE FROM "+table)
					rec := newRecorder(t, otelretrysql.WithDBSystem(db.system), otelretrysql.WithOperationSpans(retrysql.PlaceTransaction))
					var got []retrysql.Completion
					var mu sync.Mutex
					logs := &logRecords{}
					h := rec.handle(t, db.driver, via, retrysql.WithCommitCheck(true), retrysql.WithLogger(slog.New(logs)),
						retrysql.WithOnComplete(func(c retrysql.Completion) { mu.Lock(); got = append(got, c); mu.Unlock() }))
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					var runs atomic.Int32
					err := retrysql.RunInTx(ctx, h, nil, func(ctx context.Context, tx *sql.Tx) error {
						if _, err := tx.ExecContext(ctx, "INSERT INTO "+table+" VALUES (1)"); err != nil {
							return err
						}
						if runs.Add(1) == 1 {
							proxy.arm(tc.cut)
						}
						return nil
					})
					if cut := proxy.made(); err != nil || runs.Load() != tc.runs || !cut {
						t.Fatalf("RunInTx: %v after %d runs (cut made: %v); want success after %d", err, runs.Load(), cut, tc.runs)
					}
					var rows int
					if err := admin.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&rows); err != nil || rows != 1 {
						t.Fatalf("%d rows (%v), want 1: committed once", rows, err)
					}
					mu.Lock()
					var last retrysql.Completion
					if len(got) > 0 {
						last = got[len(got)-1]
					}
					mu.Unlock()
					if last.Place != retrysql.PlaceTransaction || last.End != tc.end || last.Attempts != int(tc.runs) ||
						last.NotCommitted != tc.notCommitted || last.Err != nil || !last.End.Succeeded() {
						t.Errorf("completion %+v; want %v after %d attempts, %d not committed", last, tc.end, tc.runs, tc.notCommitted)
					}
					expect(t, rec.collect(t), tc.metrics)
					span := rec.finished(t, "retrysql.transaction")
					outcome := strings.ReplaceAll(tc.end.String(), " ", "_")
					if !hasAttr(span, "retrysql.outcome="+outcome) || span.Status.Code != codes.Unset {
						t.Errorf("operation span: %v, status %v; want outcome %s, no error", span.Attributes, span.Status, outcome)
					}
					line := "INFO retrysql: commit outcome resolved retrysql.place=transaction retrysql.resolution=" + tc.resolution +
						" retrysql.error.class=conn-lost"
					if !strings.Contains(logs.lines(), line+"\n") {
						t.Errorf("no line %q in the log:\n%s", line, logs.lines())
					}
					r, _ := retrysql.RetrierOf(h)
					if st := r.Stats(); st.Resolved.Committed+st.Resolved.NotCommitted != 1 {
						t.Errorf("Stats.Resolved %+v, want one resolution", st.Resolved)
					}
				})
			}
		})
	}
}

// logRecords is a slog.Handler that keeps the lines it is given, as
// "LEVEL message key=value ...".
type logRecords struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (h *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecords) WithGroup(string) slog.Handler            { return h }
func (h *logRecords) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		h.buf.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	h.buf.WriteString("\n")
	return nil
}

func (h *logRecords) lines() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.buf.String()
}
