package otelretrysql

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/retrysql/retrysql"
)

// Option configures New.
type Option func(*config)

type config struct {
	mp       metric.MeterProvider
	tp       trace.TracerProvider
	system   string
	attrs    []attribute.KeyValue
	duration bool
	spans    bool
	durAt    []retrysql.Place
	spanAt   []retrysql.Place
}

// WithMeterProvider sets the meter provider; nil or absent, the global
// one (otel.GetMeterProvider).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.mp = mp }
}

// WithTracerProvider sets the tracer provider of the operation spans
// (WithOperationSpans); nil or absent, the global one. The events and
// statuses go to the spans found in the operations' contexts, whatever
// their provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tp = tp }
}

// WithDBSystem sets db.system.name, on every metric and operation span:
// "postgresql", "mysql", "mariadb" (semconv.DBSystemName* values). The
// default is "other_sql".
func WithDBSystem(name string) Option {
	return func(c *config) { c.system = name }
}

// WithAttributes adds attributes to every metric, gauge and operation
// span, such as db.namespace or server.address. Their values must be
// bounded: one per database, not per query.
func WithAttributes(attrs ...attribute.KeyValue) Option {
	return func(c *config) { c.attrs = append(c.attrs, attrs...) }
}

// WithOperationDuration records the stable db.client.operation.duration
// once per logical operation of the given places, all its attempts and
// waits included. With no place given: statements, transactions (RunInTx)
// and operations (Do), but not the connects database/sql's pool makes,
// whose time is no operation's. Leave it off when driver instrumentation
// below retrysql (otelsql, otelpgx) already records it per attempt.
func WithOperationDuration(places ...retrysql.Place) Option {
	return func(c *config) { c.duration, c.durAt = true, append(c.durAt, places...) }
}

// WithOperationSpans makes a span around each whole operation of the
// given places (as for WithOperationDuration, all but connects if none is
// given), named "retrysql.<place>", with retrysql.place,
// retrysql.attempts, retrysql.outcome, retrysql.backoff and, when it
// failed, retrysql.reason, error.type, db.response.status_code and an
// Error status. See the package documentation for how it relates to the
// spans of the attempts.
func WithOperationSpans(places ...retrysql.Place) Option {
	return func(c *config) { c.spans, c.spanAt = true, append(c.spanAt, places...) }
}

// placeSet returns the places of ps, all but PlaceConnect if ps is empty.
func placeSet(ps []retrysql.Place) (set [numPlaces]bool) {
	if len(ps) == 0 {
		for p := range set {
			set[p] = retrysql.Place(p) != retrysql.PlaceConnect
		}
		return set
	}
	for _, p := range ps {
		if int(p) < numPlaces {
			set[p] = true
		}
	}
	return set
}
