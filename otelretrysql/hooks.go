package otelretrysql

import (
	"context"
	"database/sql/driver"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
)

// onRetry adds a retry event to the operation's span.
func (t *Telemetry) onRetry(ev retrysql.Event) {
	span := trace.SpanFromContext(ev.Ctx)
	if !span.IsRecording() {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs, placeAttr(ev.Place), AttrAttempt.Int(ev.Attempt),
		AttrDelay.Float64(ev.Delay.Seconds()), classAttr(ev.Result.Class))
	if ev.Result.Code != "" {
		attrs = append(attrs, codeAttr(ev.Result.Code))
	}
	span.AddEvent(EventRetry, trace.WithAttributes(attrs...))
}

// onGiveUp counts a give-up and what it implies, and marks the span.
func (t *Telemetry) onGiveUp(ev retrysql.Event) {
	ctx, place, class := ev.Ctx, placeAttr(ev.Place), classAttr(ev.Result.Class)
	reason := AttrReason.String(reasonName(ev.Reason))
	if ev.Result.Code != "" {
		t.giveUp.Add(ctx, 1, metric.WithAttributeSet(t.set(place, reason, class, codeAttr(ev.Result.Code))))
	} else {
		t.giveUp.Add(ctx, 1, metric.WithAttributeSet(t.set(place, reason, class)))
	}
	switch ev.Reason {
	case retrysql.ReasonBudget:
		t.denied.Add(ctx, 1, metric.WithAttributeSet(t.set(place, class)))
	case retrysql.ReasonCircuitOpen:
		t.rejected.Add(ctx, 1, metric.WithAttributeSet(t.set(place, class)))
	case retrysql.ReasonAmbiguous:
		t.ambiguous.Add(ctx, 1, t.addPlaced(ev.Place)...)
	}
	markGiveUp(ctx, ev.Place, ev.Attempt, ev.Reason, ev.Result, true)
}

// addPlaced returns the options of the base attributes and p.
func (t *Telemetry) addPlaced(p retrysql.Place) []metric.AddOption {
	if int(p) < numPlaces {
		return t.placed[p]
	}
	return []metric.AddOption{metric.WithAttributeSet(t.set(placeAttr(p)))}
}

// markGiveUp adds a give-up event to the span of ctx and sets its status
// to Error.
func markGiveUp(ctx context.Context, p retrysql.Place, attempts int, reason retrysql.Reason, res classify.Result, known bool) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs, placeAttr(p), AttrAttempts.Int(attempts), AttrReason.String(reasonName(reason)))
	if known {
		attrs = append(attrs, classAttr(res.Class))
		if res.Code != "" {
			attrs = append(attrs, codeAttr(res.Code))
		}
	}
	span.AddEvent(EventGiveUp, trace.WithAttributes(attrs...))
	span.SetStatus(codes.Error, "retrysql: "+reason.String())
}

// onComplete records the retry histograms of an operation that retried,
// a breaker refusal of its first attempt, the resolutions of its lost
// COMMITs, its duration and its span.
func (t *Telemetry) onComplete(c retrysql.Completion) {
	ctx := c.Ctx
	if c.End == retrysql.EndResolved {
		t.resolved.Add(ctx, 1, t.resolvedAs[1]...)
	}
	if c.NotCommitted > 0 {
		t.resolved.Add(ctx, int64(c.NotCommitted), t.resolvedAs[0]...)
	}
	if c.Attempts > 1 {
		opts := t.endOptions(c.Place, c.End)
		t.retries.Record(ctx, int64(c.Attempts-1), opts...)
		t.delay.Record(ctx, c.Backoff.Seconds(), opts...)
	}
	if c.Attempts == 0 && c.End == retrysql.EndGaveUp && c.Reason == retrysql.ReasonCircuitOpen {
		// Refused before any attempt: no give-up hook ran.
		res, known := refusedFor(c.Err)
		if known {
			t.rejected.Add(ctx, 1, metric.WithAttributeSet(t.set(placeAttr(c.Place), classAttr(res.Class))))
		} else {
			t.rejected.Add(ctx, 1, t.addPlaced(c.Place)...)
		}
		markGiveUp(ctx, c.Place, 0, c.Reason, res, known)
	}
	if int(c.Place) >= numPlaces {
		return
	}
	if t.durAt[c.Place] {
		if c.End.Succeeded() {
			t.duration.Record(ctx, c.Elapsed.Seconds(), t.okDur[c.Place]...)
		} else {
			t.duration.Record(ctx, c.Elapsed.Seconds(), metric.WithAttributeSet(t.set(t.resultAttrs(c, placeAttr(c.Place))...)))
		}
	}
	if t.spanAt[c.Place] {
		t.operationSpan(c)
	}
}

// endOptions returns the record options of the base attributes, p and e.
func (t *Telemetry) endOptions(p retrysql.Place, e retrysql.End) []metric.RecordOption {
	if int(p) < numPlaces && int(e) < numEnds {
		return t.byEnd[p][e]
	}
	return []metric.RecordOption{metric.WithAttributeSet(t.set(placeAttr(p), outcomeAttr(e)))}
}

// refusedFor returns the classification of the failure a breaker refused
// an operation's first attempt for, carried by the *retrysql.Error.
func refusedFor(err error) (classify.Result, bool) {
	var e *retrysql.Error
	if errors.As(err, &e) && e.Err != nil {
		return e.Result, true
	}
	return classify.Result{}, false
}

// resultAttrs appends to kvs, for an operation that failed, error.type and
// db.response.status_code (when the last error has a vendor code).
func (t *Telemetry) resultAttrs(c retrysql.Completion, kvs ...attribute.KeyValue) []attribute.KeyValue {
	if c.End.Succeeded() {
		return kvs
	}
	kvs = append(kvs, semconv.ErrorTypeKey.String(errorType(c)))
	if c.Result.Code != "" {
		kvs = append(kvs, codeAttr(c.Result.Code))
	}
	return kvs
}

// errorType names the failure of an operation from a bounded set: the
// vendor code of its last error (so that it matches
// db.response.status_code), else why retrying stopped, else an
// ErrorType() string in the error's chain, else "canceled",
// "deadline_exceeded" or "bad_conn" for the context's errors and
// driver.ErrBadConn, else the Go type of the error.
func errorType(c retrysql.Completion) string {
	if c.Result.Code != "" {
		return c.Result.Code
	}
	if c.End == retrysql.EndGaveUp || c.End == retrysql.EndAmbiguous {
		return reasonName(c.Reason)
	}
	var et interface{ ErrorType() string }
	if errors.As(c.Err, &et) {
		if s := et.ErrorType(); s != "" {
			return s
		}
	}
	switch {
	case c.Err == nil:
		return semconv.ErrorTypeOther.Value.AsString()
	case errors.Is(c.Err, context.Canceled):
		return "canceled"
	case errors.Is(c.Err, context.DeadlineExceeded):
		return "deadline_exceeded"
	case errors.Is(c.Err, driver.ErrBadConn):
		return "bad_conn"
	}
	return semconv.ErrorType(c.Err).Value.AsString()
}

// operationSpan records the span of a whole operation, which has ended.
func (t *Telemetry) operationSpan(c retrysql.Completion) {
	end := time.Now()
	kvs := make([]attribute.KeyValue, 0, len(t.base)+8)
	kvs = append(kvs, t.base...)
	kvs = append(kvs, placeAttr(c.Place), AttrAttempts.Int(c.Attempts), outcomeAttr(c.End),
		AttrBackoff.Float64(c.Backoff.Seconds()))
	if c.End == retrysql.EndGaveUp || c.End == retrysql.EndAmbiguous {
		kvs = append(kvs, AttrReason.String(reasonName(c.Reason)))
	}
	kvs = t.resultAttrs(c, kvs...)
	_, span := t.tracer.Start(c.Ctx, "retrysql."+c.Place.String(),
		trace.WithTimestamp(end.Add(-c.Elapsed)), trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(kvs...))
	if !c.End.Succeeded() {
		span.SetStatus(codes.Error, errorType(c))
	}
	span.End(trace.WithTimestamp(end))
}
