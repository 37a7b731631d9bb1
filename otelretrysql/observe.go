package otelretrysql

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/retrysql/retrysql"
)

// Observe registers the gauges of r, read from r.Stats() at each
// collection, with the base attributes and attrs (give each Retrier
// observed its own, such as db.namespace, when there are several):
//
//   - retrysql.breaker.state, gauge, 1: the state of r's circuit breaker,
//     0 closed, 1 half-open, 2 open (retrysql.BreakerState's values); 0
//     also when r has no breaker, or one that cannot tell.
//   - retrysql.admission.limit, gauge, {permit}: how many attempts of
//     RunInTx admission control lets run at once (Snapshot.Permits);
//     retrysql.admission.inflight, gauge, {permit}: attempts holding a
//     permit; retrysql.admission.queued, gauge, {attempt}: attempts
//     waiting for one. Only when r has an admission controller.
//
// For a database handle, r is retrysql.RetrierOf(db). unregister stops
// the observations.
func (t *Telemetry) Observe(r *retrysql.Retrier, attrs ...attribute.KeyValue) (unregister func() error, err error) {
	if r == nil {
		return nil, errors.New("otelretrysql: Observe(nil)")
	}
	opt := metric.WithAttributeSet(t.set(attrs...))
	reg, err := t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := r.Stats()
		o.ObserveInt64(t.breakerState, int64(s.Breaker), opt)
		if a := s.Admission; a != nil {
			o.ObserveInt64(t.admLimit, int64(a.Permits), opt)
			o.ObserveInt64(t.admHeld, int64(a.Inflight), opt)
			o.ObserveInt64(t.admQueued, int64(a.Queued), opt)
		}
		return nil
	}, t.breakerState, t.admLimit, t.admHeld, t.admQueued)
	if err != nil {
		return nil, err
	}
	return reg.Unregister, nil
}
