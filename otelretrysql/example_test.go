package otelretrysql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/otelretrysql"
	"github.com/retrysql/retrysql/strategy"
)

// A statement fails twice with a serialization failure, then succeeds:
// the metrics and the events on the caller's span say so.
func Example() {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	tel, err := otelretrysql.New(
		otelretrysql.WithMeterProvider(mp),
		otelretrysql.WithTracerProvider(tp),
		otelretrysql.WithDBSystem("postgresql"),
		otelretrysql.WithOperationDuration(),
	)
	if err != nil {
		panic(err)
	}

	mem := &memDB{} // a tiny in-memory driver, defined below
	mem.failNext(serializationFailure, serializationFailure)
	opts := append(tel.Options(), retrysql.WithStrategy(classify.TxAborted, strategy.Fixed{Interval: time.Millisecond}))
	c, err := retrysql.NewConnector(mem, opts...)
	if err != nil {
		panic(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()

	ctx, span := tp.Tracer("shop").Start(ctx, "checkout")
	_, err = db.ExecContext(ctx, "UPDATE stock SET n = n - 1 WHERE id = 7")
	span.End()
	fmt.Println("exec:", err)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		panic(err)
	}
	printMetrics(rm)
	for _, s := range spans.GetSpans() {
		for _, ev := range s.Events {
			fmt.Printf("span %s: event %s %s\n", s.Name, ev.Name, encode(ev.Attributes))
		}
		fmt.Printf("span %s: status %s\n", s.Name, s.Status.Code)
	}
	// Output:
	// exec: <nil>
	// db.client.operation.duration (s) db.system.name=postgresql,retrysql.place=statement: count=1
	// retrysql.client.operation.retries ({retry}) db.system.name=postgresql,retrysql.outcome=success,retrysql.place=statement: count=1 sum=2
	// retrysql.client.retry_delay (s) db.system.name=postgresql,retrysql.outcome=success,retrysql.place=statement: count=1 sum=0.002
	// span checkout: event retrysql.retry retrysql.place=statement,retrysql.attempt=1,retrysql.delay=0.001,retrysql.error.class=tx-aborted,db.response.status_code=40001
	// span checkout: event retrysql.retry retrysql.place=statement,retrysql.attempt=2,retrysql.delay=0.001,retrysql.error.class=tx-aborted,db.response.status_code=40001
	// span checkout: status Unset
}

var serializationFailure = &pgconn.PgError{Severity: "ERROR", Code: "40001",
	Message: "could not serialize access due to read/write dependencies among transactions"}

// printMetrics prints every data point of rm, sorted, with the sums of
// histograms (but of durations, which vary from run to run).
func printMetrics(rm metricdata.ResourceMetrics) {
	var lines []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			head := fmt.Sprintf("%s (%s) ", m.Name, m.Unit)
			sum := m.Name != otelretrysql.MetricDuration
			switch d := m.Data.(type) {
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					lines = append(lines, head+histLine(p.Attributes, p.Count, float64(p.Sum), sum))
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					lines = append(lines, head+histLine(p.Attributes, p.Count, p.Sum, sum))
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%s%s: %d", head, p.Attributes.Encoded(attribute.DefaultEncoder()), p.Value))
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%s%s: %d", head, p.Attributes.Encoded(attribute.DefaultEncoder()), p.Value))
				}
			}
		}
	}
	slices.Sort(lines)
	fmt.Println(strings.Join(lines, "\n"))
}

func histLine(attrs attribute.Set, count uint64, sum float64, withSum bool) string {
	s := fmt.Sprintf("%s: count=%d", attrs.Encoded(attribute.DefaultEncoder()), count)
	if withSum {
		s += fmt.Sprintf(" sum=%g", sum)
	}
	return s
}

func encode(kvs []attribute.KeyValue) string {
	parts := make([]string, len(kvs))
	for i, kv := range kvs {
		parts[i] = string(kv.Key) + "=" + kv.Value.String()
	}
	return strings.Join(parts, ",")
}

// memDB is a tiny in-memory database/sql driver (a driver.Connector and a
// driver.Driver): its statements and transactions succeed and do nothing,
// except that the next statements fail with the errors given to failNext,
// in turn.
type memDB struct {
	pending atomic.Int32 // len(errs), read without the lock
	mu      sync.Mutex
	errs    []error
	execs   atomic.Int64
}

// failNext makes the next statements fail with errs, one each.
func (d *memDB) failNext(errs ...error) {
	d.mu.Lock()
	d.errs = append(d.errs, errs...)
	d.pending.Store(int32(len(d.errs)))
	d.mu.Unlock()
}

func (d *memDB) next() error {
	d.execs.Add(1)
	if d.pending.Load() == 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.errs) == 0 {
		return nil
	}
	err := d.errs[0]
	d.errs = d.errs[1:]
	d.pending.Store(int32(len(d.errs)))
	return err
}

func (d *memDB) Connect(context.Context) (driver.Conn, error) { return memConn{d}, nil }
func (d *memDB) Driver() driver.Driver                        { return d }
func (d *memDB) Open(string) (driver.Conn, error)             { return memConn{d}, nil }

type memConn struct{ d *memDB }

func (memConn) Prepare(string) (driver.Stmt, error) {
	return nil, errors.New("memdb: no prepared statements")
}
func (memConn) Close() error              { return nil }
func (memConn) Begin() (driver.Tx, error) { return memTx{}, nil }

func (c memConn) ExecContext(context.Context, string, []driver.NamedValue) (driver.Result, error) {
	if err := c.d.next(); err != nil {
		return nil, err
	}
	return driver.RowsAffected(1), nil
}

type memTx struct{}

func (memTx) Commit() error   { return nil }
func (memTx) Rollback() error { return nil }
