package otelretrysql

import (
	"errors"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
)

// The number of places and ends whose attribute sets are made once.
const (
	numPlaces = 4 // PlaceOperation to PlaceTransaction
	numEnds   = 6 // EndSuccess to EndResolved
)

// Telemetry holds the instruments; its hooks (Options) record into them.
// It is safe for concurrent use.
type Telemetry struct {
	meter  metric.Meter
	tracer trace.Tracer

	retries   metric.Int64Histogram
	delay     metric.Float64Histogram
	giveUp    metric.Int64Counter
	ambiguous metric.Int64Counter
	denied    metric.Int64Counter
	rejected  metric.Int64Counter
	resolved  metric.Int64Counter
	duration  metric.Float64Histogram // nil unless WithOperationDuration

	breakerState metric.Int64ObservableGauge
	admLimit     metric.Int64ObservableGauge
	admHeld      metric.Int64ObservableGauge
	admQueued    metric.Int64ObservableGauge

	base   []attribute.KeyValue // db.system.name and WithAttributes
	durAt  [numPlaces]bool      // the places of the duration metric
	spanAt [numPlaces]bool      // the places of operation spans
	// quiet: nothing to record for an operation whose first attempt
	// succeeded (no duration metric, no operation spans).
	quiet bool

	// Attribute sets made once: by place and end for the retry
	// histograms, by place for a successful operation's duration.
	byEnd  [numPlaces][numEnds][]metric.RecordOption
	okDur  [numPlaces][]metric.RecordOption
	placed [numPlaces][]metric.AddOption // base and place: ambiguous
	// resolvedAs: base and resolution, not committed [0] or committed [1].
	resolvedAs [2][]metric.AddOption
}

// New returns a Telemetry that records to the configured providers.
func New(opts ...Option) (*Telemetry, error) {
	c := config{system: "other_sql"}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.system == "" {
		return nil, errors.New("otelretrysql: WithDBSystem with an empty name")
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	t := &Telemetry{
		meter:  c.mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL)),
		tracer: c.tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL)),
		base:   append([]attribute.KeyValue{semconv.DBSystemNameKey.String(c.system)}, c.attrs...),
		quiet:  !c.duration && !c.spans,
	}
	if c.duration {
		t.durAt = placeSet(c.durAt)
	}
	if c.spans {
		t.spanAt = placeSet(c.spanAt)
	}
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	var err error
	m := t.meter
	t.retries, err = m.Int64Histogram(MetricRetries, metric.WithUnit("{retry}"),
		metric.WithDescription("Retries made by a logical operation that retried, recorded when it ends."),
		metric.WithExplicitBucketBoundaries(retryBuckets...))
	add(err)
	t.delay, err = m.Float64Histogram(MetricRetryDelay, metric.WithUnit("s"),
		metric.WithDescription("Total time a logical operation that retried slept between its attempts."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	add(err)
	t.giveUp, err = m.Int64Counter(MetricGiveUp, metric.WithUnit("{operation}"),
		metric.WithDescription("Operations that stopped retrying with a retryable error."))
	add(err)
	t.ambiguous, err = m.Int64Counter(MetricAmbiguous, metric.WithUnit("{operation}"),
		metric.WithDescription("Operations whose outcome is unknown: they may have taken effect, and were not retried."))
	add(err)
	t.denied, err = m.Int64Counter(MetricBudgetDenied, metric.WithUnit("{retry}"),
		metric.WithDescription("Retries refused by the retry budget."))
	add(err)
	t.rejected, err = m.Int64Counter(MetricBreakerRejected, metric.WithUnit("{operation}"),
		metric.WithDescription("Operations ended because the circuit breaker refused an attempt."))
	add(err)
	t.resolved, err = m.Int64Counter(MetricCommitResolved, metric.WithUnit("{commit}"),
		metric.WithDescription("COMMITs whose answer was lost, found committed or not committed by the commit check."))
	add(err)
	if c.duration {
		t.duration, err = m.Float64Histogram(MetricDuration, metric.WithUnit("s"),
			metric.WithDescription("Duration of database client operations."),
			metric.WithExplicitBucketBoundaries(durationBuckets...))
		add(err)
	}
	t.breakerState, err = m.Int64ObservableGauge(MetricBreakerState, metric.WithUnit("1"),
		metric.WithDescription("State of the circuit breaker: 0 closed, 1 half-open, 2 open."))
	add(err)
	t.admLimit, err = m.Int64ObservableGauge(MetricAdmissionLimit, metric.WithUnit("{permit}"),
		metric.WithDescription("Attempts admission control lets run at once."))
	add(err)
	t.admHeld, err = m.Int64ObservableGauge(MetricAdmissionHeld, metric.WithUnit("{permit}"),
		metric.WithDescription("Attempts holding an admission permit."))
	add(err)
	t.admQueued, err = m.Int64ObservableGauge(MetricAdmissionQueued, metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts waiting for an admission permit."))
	add(err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for p := range numPlaces {
		place := placeAttr(retrysql.Place(p))
		for e := range numEnds {
			t.byEnd[p][e] = []metric.RecordOption{metric.WithAttributeSet(t.set(place, outcomeAttr(retrysql.End(e))))}
		}
		t.okDur[p] = []metric.RecordOption{metric.WithAttributeSet(t.set(place))}
		t.placed[p] = []metric.AddOption{metric.WithAttributeSet(t.set(place))}
	}
	for i, r := range [2]string{"not_committed", "committed"} {
		t.resolvedAs[i] = []metric.AddOption{metric.WithAttributeSet(t.set(AttrResolution.String(r)))}
	}
	return t, nil
}

// Options returns the hooks to give to retrysql: to a handle (Open,
// NewConnector, Register), a Retrier (NewRetrier), one Do or one RunInTx.
// Without WithOperationDuration and WithOperationSpans, the completion hook
// asks only for the operations that retried or failed
// (retrysql.RetriedOrFailed): those that succeed at their first attempt
// cost nothing more than without the adapter.
func (t *Telemetry) Options() []retrysql.Option {
	which := retrysql.AllOperations
	if t.quiet {
		which = retrysql.RetriedOrFailed
	}
	return []retrysql.Option{
		retrysql.WithOnRetry(t.onRetry),
		retrysql.WithOnGiveUp(t.onGiveUp),
		retrysql.WithOnComplete(t.onComplete, which),
	}
}

// set returns the attribute set of the base attributes and kvs.
func (t *Telemetry) set(kvs ...attribute.KeyValue) attribute.Set {
	all := make([]attribute.KeyValue, 0, len(t.base)+len(kvs))
	return attribute.NewSet(append(append(all, t.base...), kvs...)...)
}

func placeAttr(p retrysql.Place) attribute.KeyValue { return AttrPlace.String(p.String()) }

// outcomeAttr names an End in snake case: "gave_up", "handed_off".
func outcomeAttr(e retrysql.End) attribute.KeyValue {
	return AttrOutcome.String(strings.ReplaceAll(e.String(), " ", "_"))
}

// reasonName is r's short name: "attempts", "budget", "circuit_open".
func reasonName(r retrysql.Reason) string { return r.Name() }

func classAttr(c classify.Class) attribute.KeyValue { return AttrClass.String(c.String()) }

func codeAttr(code string) attribute.KeyValue { return semconv.DBResponseStatusCodeKey.String(code) }
