package otelretrysql_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // registers "mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/retrysql/retrysql/otelretrysql"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The local servers (as DEVELOPERS.md describes them), or those named by
// RETRYSQL_PG_DSN and RETRYSQL_MYSQL_DSN. A copy of the few lines of the
// integration module's dbtest that these tests need.
const (
	defaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	defaultMySQLDSN    = "root@tcp(127.0.0.1:3306)/test"
)

type server struct {
	once sync.Once
	dsn  string
	err  error
}

var pgServer, myServer server

// postgresDSN returns the DSN of the PostgreSQL server to test against; it
// skips the test when the server cannot be reached, or fails it under CI.
func postgresDSN(t *testing.T) string {
	return pgServer.get(t, "PostgreSQL", "RETRYSQL_PG_DSN", defaultPostgresDSN, "pgx")
}

// mysqlDSN is postgresDSN for MySQL or MariaDB.
func mysqlDSN(t *testing.T) string {
	return myServer.get(t, "MySQL", "RETRYSQL_MYSQL_DSN", defaultMySQLDSN, "mysql")
}

func (s *server) get(t *testing.T, name, env, def, driver string) string {
	t.Helper()
	s.once.Do(func() {
		s.dsn = def
		if v := os.Getenv(env); v != "" {
			s.dsn = v
		}
		db, err := sql.Open(driver, s.dsn)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = db.PingContext(ctx)
			cancel()
			db.Close()
		}
		if err != nil {
			s.err = fmt.Errorf("%s is not reachable (%v); set %s", name, err, env)
		}
	})
	if s.err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(s.err)
		}
		t.Skip(s.err)
	}
	return s.dsn
}

// openPlain opens driver's own handle on dsn, closed when the test ends.
func openPlain(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// execAll runs stmts on db, failing the test at the first error.
func execAll(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// uniqueName returns a name of the tests' own for a server object.
func uniqueName(t *testing.T, tag string) string {
	return fmt.Sprintf("otelrs_%s_%d_%d", tag, os.Getpid(), time.Now().UnixNano()%1e6)
}

// flakyPG creates a function name() failing with SQLSTATE code for its
// first fails calls, then returning the number of the call.
func flakyPG(t *testing.T, admin *sql.DB, name, code string, fails int) {
	t.Helper()
	execAll(t, admin,
		"CREATE SEQUENCE "+name+"_seq",
		fmt.Sprintf(`CREATE FUNCTION %[1]s() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
	IF nextval('%[1]s_seq') <= %[2]d THEN
		RAISE EXCEPTION 'injected failure' USING ERRCODE = '%[3]s';
	END IF;
	RETURN currval('%[1]s_seq');
END $$`, name, fails, code))
	t.Cleanup(func() {
		admin.Exec("DROP FUNCTION IF EXISTS " + name + "()")
		admin.Exec("DROP SEQUENCE IF EXISTS " + name + "_seq")
	})
}

// flakyMySQL creates a function name() SIGNALling error errno for its
// first fails calls, then returning the number of the call.
func flakyMySQL(t *testing.T, admin *sql.DB, name string, errno, fails int) {
	t.Helper()
	execAll(t, admin,
		"CREATE SEQUENCE "+name+"_seq",
		fmt.Sprintf(`CREATE FUNCTION %[1]s() RETURNS BIGINT NOT DETERMINISTIC MODIFIES SQL DATA
BEGIN
	DECLARE n BIGINT;
	SET n = NEXTVAL(%[1]s_seq);
	IF n <= %[2]d THEN
		SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = %[3]d, MESSAGE_TEXT = 'Deadlock found when trying to get lock; try restarting transaction';
	END IF;
	RETURN n;
END`, name, fails, errno))
	t.Cleanup(func() {
		admin.Exec("DROP FUNCTION IF EXISTS " + name)
		admin.Exec("DROP SEQUENCE IF EXISTS " + name + "_seq")
	})
}

// recorder is a Telemetry recording to the SDK's in-memory reader and
// exporter.
type recorder struct {
	tel    *otelretrysql.Telemetry
	reader *sdkmetric.ManualReader
	tp     *sdktrace.TracerProvider
	spans  *tracetest.InMemoryExporter
}

func newRecorder(t *testing.T, opts ...otelretrysql.Option) *recorder {
	t.Helper()
	r := &recorder{reader: sdkmetric.NewManualReader(), spans: tracetest.NewInMemoryExporter()}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	r.tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(r.spans))
	t.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = r.tp.Shutdown(context.Background())
	})
	tel, err := otelretrysql.New(append([]otelretrysql.Option{
		otelretrysql.WithMeterProvider(mp), otelretrysql.WithTracerProvider(r.tp)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	r.tel = tel
	return r
}

// span starts a span of the caller.
func (r *recorder) span(ctx context.Context, name string) (context.Context, func()) {
	ctx, s := r.tp.Tracer("test").Start(ctx, name)
	return ctx, func() { s.End() }
}

// finished returns the ended span named name.
func (r *recorder) finished(t *testing.T, name string) tracetest.SpanStub {
	t.Helper()
	for _, s := range r.spans.GetSpans() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no span %q", name)
	return tracetest.SpanStub{}
}

// metric is what a test sees of one metric: its unit, and its points by
// encoded attributes: "count=N sum=S" for histograms (count only for
// db.client.operation.duration, whose sums vary), the value for sums and
// gauges.
type metric struct {
	unit   string
	points map[string]string
}

// collect returns the metrics recorded so far, by name.
func (r *recorder) collect(t *testing.T) map[string]metric {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metric{}
	enc := attribute.DefaultEncoder()
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelretrysql.ScopeName {
			t.Errorf("scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			got := metric{unit: m.Unit, points: map[string]string{}}
			hist := func(a attribute.Set, n uint64, sum float64) {
				if m.Name == otelretrysql.MetricDuration {
					got.points[a.Encoded(enc)] = fmt.Sprintf("count=%d", n)
				} else {
					got.points[a.Encoded(enc)] = fmt.Sprintf("count=%d sum=%g", n, sum)
				}
			}
			switch d := m.Data.(type) {
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					hist(p.Attributes, p.Count, float64(p.Sum))
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					hist(p.Attributes, p.Count, p.Sum)
				}
			case metricdata.Sum[int64]:
				if !d.IsMonotonic {
					t.Errorf("%s is not monotonic", m.Name)
				}
				for _, p := range d.DataPoints {
					got.points[p.Attributes.Encoded(enc)] = fmt.Sprint(p.Value)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					got.points[p.Attributes.Encoded(enc)] = fmt.Sprint(p.Value)
				}
			default:
				t.Errorf("%s: unexpected data %T", m.Name, m.Data)
			}
			if len(got.points) > 0 {
				out[m.Name] = got
			}
		}
	}
	return out
}

// units are the units of the metrics.
var units = map[string]string{
	otelretrysql.MetricRetries:         "{retry}",
	otelretrysql.MetricRetryDelay:      "s",
	otelretrysql.MetricGiveUp:          "{operation}",
	otelretrysql.MetricAmbiguous:       "{operation}",
	otelretrysql.MetricBudgetDenied:    "{retry}",
	otelretrysql.MetricBreakerRejected: "{operation}",
	otelretrysql.MetricCommitResolved:  "{commit}",
	otelretrysql.MetricBreakerState:    "1",
	otelretrysql.MetricAdmissionLimit:  "{permit}",
	otelretrysql.MetricAdmissionHeld:   "{permit}",
	otelretrysql.MetricAdmissionQueued: "{attempt}",
	otelretrysql.MetricDuration:        "s",
}

// sortAttrs sorts the pairs of encoded attributes "k=v,k=v".
func sortAttrs(s string) string {
	parts := strings.Split(s, ",")
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// expect checks that got holds exactly the metrics and points of want
// (metric name → attributes "k=v,..." in any order → point), with their
// units.
func expect(t *testing.T, got map[string]metric, want map[string]map[string]string) {
	t.Helper()
	for name, w := range want {
		sorted := map[string]string{}
		for attrs, p := range w {
			sorted[sortAttrs(attrs)] = p
		}
		want[name] = sorted
	}
	for name, m := range got {
		if m.unit != units[name] {
			t.Errorf("%s: unit %q, want %q", name, m.unit, units[name])
		}
		w, ok := want[name]
		if !ok {
			t.Errorf("unexpected %s: %v", name, m.points)
			continue
		}
		for attrs, p := range m.points {
			if wp, ok := w[attrs]; !ok {
				t.Errorf("%s{%s}: unexpected point %s", name, attrs, p)
			} else if wp != p {
				t.Errorf("%s{%s}: %s, want %s", name, attrs, p, wp)
			}
		}
		for attrs, wp := range w {
			if _, ok := m.points[attrs]; !ok {
				t.Errorf("%s{%s}: missing, want %s", name, attrs, wp)
			}
		}
	}
	for name, w := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("missing %s: want %v", name, w)
		}
	}
}

// events describes the events of a span, one string each: the name, then
// the attributes sorted by key.
func events(s tracetest.SpanStub) []string {
	var out []string
	for _, ev := range s.Events {
		kvs := slices.Clone(ev.Attributes)
		slices.SortFunc(kvs, func(a, b attribute.KeyValue) int { return strings.Compare(string(a.Key), string(b.Key)) })
		out = append(out, ev.Name+" "+encode(kvs))
	}
	return out
}

func checkEvents(t *testing.T, s tracetest.SpanStub, want ...string) {
	t.Helper()
	if got := events(s); !slices.Equal(got, want) {
		t.Errorf("events of %s:\n got %q\nwant %q", s.Name, got, want)
	}
}

// checkAttrs checks the attributes of a span, sorted by key and encoded.
func checkAttrs(t *testing.T, s tracetest.SpanStub, want string) {
	t.Helper()
	kvs := slices.Clone(s.Attributes)
	slices.SortFunc(kvs, func(a, b attribute.KeyValue) int { return strings.Compare(string(a.Key), string(b.Key)) })
	if got := encode(kvs); got != want {
		t.Errorf("attributes of %s:\n got %s\nwant %s", s.Name, got, want)
	}
}

// hasAttr reports whether the span has the attribute "key=value".
func hasAttr(s tracetest.SpanStub, kv string) bool {
	for _, a := range s.Attributes {
		if string(a.Key)+"="+a.Value.String() == kv {
			return true
		}
	}
	return false
}
