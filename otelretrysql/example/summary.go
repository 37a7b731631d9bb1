package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/examples/bank/workload"
	"github.com/retrysql/retrysql/otelretrysql"
)

// summary prints what reader collects: a line of the main figures each
// time line is called (rates since the line before), and every metric at
// the end (all). The reader's sums are cumulative.
type summary struct {
	reader *sdkmetric.ManualReader
	last   totals
}

// totals are the figures a line is made of, since the start.
type totals struct {
	at        time.Duration
	committed int64
	ops       uint64  // transactions (db.client.operation.duration)
	seconds   float64 // their durations, summed
	retried   uint64  // transactions that retried
	retries   int64   // their retries
	slept     float64 // seconds slept between attempts
	giveUps   int64
	unknown   int64
	breaker   int64
}

func (s *summary) header(w io.Writer) {
	fmt.Fprintln(w, "   time  committed/s  retried/s  retries/s  slept/s  mean duration  gave up  unknown  breaker")
}

// line prints the figures at p: rates over the time since the last line,
// counts since the start; then note, if any.
func (s *summary) line(w io.Writer, p workload.Progress, note string) {
	t, err := s.totals()
	if err != nil {
		fmt.Fprintln(w, "collect:", err)
		return
	}
	t.at, t.committed = p.Elapsed, p.Committed
	prev := s.last
	s.last = t
	dt := (t.at - prev.at).Seconds()
	if dt <= 0 {
		return
	}
	rate := func(now, before float64) float64 { return (now - before) / dt }
	mean := "-"
	if n := t.ops - prev.ops; n > 0 {
		mean = (time.Duration((t.seconds - prev.seconds) / float64(n) * float64(time.Second))).Round(10 * time.Microsecond).String()
	}
	l := fmt.Sprintf("%6.1fs  %11.0f  %9.0f  %9.0f  %7.2f  %13s  %7d  %7d  %-7s  %s", t.at.Seconds(),
		rate(float64(t.committed), float64(prev.committed)), rate(float64(t.retried), float64(prev.retried)),
		rate(float64(t.retries), float64(prev.retries)), rate(t.slept, prev.slept), mean,
		t.giveUps, t.unknown, retrysql.BreakerState(t.breaker), note)
	fmt.Fprintln(w, strings.TrimRight(l, " "))
}

// totals reads the figures of a line from the reader.
func (s *summary) totals() (totals, error) {
	var rm metricdata.ResourceMetrics
	if err := s.reader.Collect(context.Background(), &rm); err != nil {
		return totals{}, err
	}
	var t totals
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					switch m.Name {
					case otelretrysql.MetricDuration:
						if v, _ := p.Attributes.Value(otelretrysql.AttrPlace); v.AsString() == "transaction" {
							t.ops += p.Count
							t.seconds += p.Sum
						}
					case otelretrysql.MetricRetryDelay:
						t.slept += p.Sum
					}
				}
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					if m.Name == otelretrysql.MetricRetries {
						t.retried += p.Count
						t.retries += p.Sum
					}
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					switch m.Name {
					case otelretrysql.MetricGiveUp:
						t.giveUps += p.Value
					case otelretrysql.MetricAmbiguous:
						t.unknown += p.Value
					}
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					if m.Name == otelretrysql.MetricBreakerState {
						t.breaker = max(t.breaker, p.Value)
					}
				}
			}
		}
	}
	return t, nil
}

// all prints every metric and data point the reader has: name, kind and
// unit, then a line per set of attributes.
func (s *summary) all(w io.Writer) error {
	var rm metricdata.ResourceMetrics
	if err := s.reader.Collect(context.Background(), &rm); err != nil {
		return err
	}
	var ms []metricdata.Metrics
	for _, sm := range rm.ScopeMetrics {
		ms = append(ms, sm.Metrics...)
	}
	slices.SortFunc(ms, func(a, b metricdata.Metrics) int { return strings.Compare(a.Name, b.Name) })
	for _, m := range ms {
		var kind string
		var points []string
		switch d := m.Data.(type) {
		case metricdata.Histogram[float64]:
			kind = "histogram"
			for _, p := range d.DataPoints {
				points = append(points, fmt.Sprintf("%s  count %d  sum %.3f  mean %.4f", attrs(p.Attributes), p.Count, p.Sum, p.Sum/float64(max(p.Count, 1))))
			}
		case metricdata.Histogram[int64]:
			kind = "histogram"
			for _, p := range d.DataPoints {
				points = append(points, fmt.Sprintf("%s  count %d  sum %d  mean %.2f", attrs(p.Attributes), p.Count, p.Sum, float64(p.Sum)/float64(max(p.Count, 1))))
			}
		case metricdata.Sum[int64]:
			kind = "counter"
			for _, p := range d.DataPoints {
				points = append(points, fmt.Sprintf("%s  %d", attrs(p.Attributes), p.Value))
			}
		case metricdata.Gauge[int64]:
			kind = "gauge"
			for _, p := range d.DataPoints {
				points = append(points, fmt.Sprintf("%s  %d", attrs(p.Attributes), p.Value))
			}
		}
		if len(points) == 0 {
			continue
		}
		slices.Sort(points)
		fmt.Fprintf(w, "%s (%s, %s)\n", m.Name, kind, m.Unit)
		for _, p := range points {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	return nil
}

// attrs writes a set of attributes as {k=v k=v}.
func attrs(set attribute.Set) string {
	var kvs []string
	for _, kv := range set.ToSlice() {
		kvs = append(kvs, string(kv.Key)+"="+kv.Value.String())
	}
	return "{" + strings.Join(kvs, " ") + "}"
}
