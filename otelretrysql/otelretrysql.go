// Package otelretrysql reports what retrysql's retry loop does to
// OpenTelemetry: metrics of retries, backoff, give-ups, unknown outcomes,
// budget and breaker refusals, gauges of a Retrier's breaker and admission
// control, events on the caller's span, and optionally the stable
// db.client.operation.duration metric and a span per operation.
//
// It lives in a module of its own (current OpenTelemetry needs Go 1.26), so
// that retrysql itself depends on nothing of OpenTelemetry.
//
//	tel, err := otelretrysql.New(otelretrysql.WithDBSystem("postgresql"))
//	if err != nil { ... }
//	db, err := retrysql.Open("pgx", dsn, tel.Options()...)
//	if err != nil { ... }
//	r, _ := retrysql.RetrierOf(db)
//	unregister, err := tel.Observe(r) // the gauges
//	if err != nil { ... }
//	defer unregister()
//
// Options returns retrysql's hooks (WithOnRetry, WithOnGiveUp,
// WithOnComplete), valid on a handle (Open, NewConnector, Register), a
// Retrier (NewRetrier), one Do or one RunInTx call. Give them once per
// operation: hooks given to a handle and to a RunInTx on it both run, and
// would count the operation twice.
//
// # Metrics
//
// Every metric carries db.system.name (WithDBSystem, "other_sql" by
// default) and the attributes of WithAttributes. Attribute values are
// bounded: places, outcomes, reasons, classes and vendor codes, never query
// text or error messages.
//
//   - retrysql.client.operation.retries, histogram, {retry}: at the end of
//     an operation that retried, its retries (attempts - 1); operations
//     without a retry are not recorded. Buckets 1, 2, 3, 4, 5, 7, 10, 15,
//     20, 30, 50. Attributes retrysql.place, retrysql.outcome.
//   - retrysql.client.retry_delay, histogram, s: at the end of an operation
//     that retried, the total time slept between its attempts (0 for
//     retries paced by admission control alone). Buckets those of
//     db.client.operation.duration. Attributes retrysql.place,
//     retrysql.outcome.
//   - retrysql.client.give_up, counter, {operation}: each operation that
//     stopped retrying with a retryable error (what Stats.GiveUps counts:
//     attempts, time, deadline, cancellation, budget, breaker, unknown
//     outcome; a breaker refusing the first attempt is counted by
//     retrysql.breaker.rejected alone). Attributes retrysql.place, retrysql.reason,
//     retrysql.error.class, db.response.status_code (when the error has a
//     vendor code).
//   - retrysql.client.ambiguous, counter, {operation}: each operation whose
//     outcome is unknown (ErrAmbiguous, ErrAmbiguousCommit). Attribute
//     retrysql.place.
//   - retrysql.budget.denied, counter, {retry}: each retry the budget
//     refused (Stats.BudgetDenials). Attributes retrysql.place,
//     retrysql.error.class.
//   - retrysql.breaker.rejected, counter, {operation}: each operation that
//     ended because the breaker refused an attempt, its first one included
//     (Stats.BreakerRejections). Attributes retrysql.place, and
//     retrysql.error.class of the failure it refused for, when known.
//   - retrysql.commit_check.resolved, counter, {commit}: each COMMIT whose
//     answer was lost and that the commit check (retrysql.WithCommitCheck)
//     settled (Stats.Resolved). Attribute retrysql.resolution: "committed"
//     (the transaction's outcome is then "resolved") or "not_committed"
//     (the transaction was replayed).
//   - db.client.operation.duration, histogram, s, with WithOperationDuration
//     only: per logical operation (statements, transactions and Do
//     operations, unless told otherwise; not the pool's connects), all
//     attempts and waits included. Buckets the convention's: 0.001, 0.005,
//     0.01, 0.05, 0.1, 0.5, 1, 5, 10.
//     Attributes retrysql.place; error.type and db.response.status_code
//     (the vendor code, when there is one) if and only if it failed.
//   - retrysql.breaker.state and retrysql.admission.limit, .inflight,
//     .queued: gauges of a Retrier registered with Observe.
//
// retrysql.place is "operation" (Do), "connect", "statement" or
// "transaction" (RunInTx); retrysql.outcome "success", "permanent",
// "gave_up", "ambiguous", "handed_off" or "resolved" (a lost COMMIT the
// commit check found committed: a success); retrysql.reason "attempts",
// "max_elapsed", "deadline", "canceled", "budget", "circuit_open",
// "ambiguous" or "retry_after"; retrysql.error.class "permanent",
// "transient", "tx-aborted" or "conn-lost".
//
// # Traces
//
// Before each retry an event "retrysql.retry" is added to the span of the
// operation's context, when it is recording (retrysql.place,
// retrysql.attempt: the attempt that failed, retrysql.delay: the wait in
// seconds, retrysql.error.class, db.response.status_code). When retrying
// stops with a retryable error (a give-up, an unknown outcome, a breaker
// refusal), an event "retrysql.give_up" is added (retrysql.place,
// retrysql.attempts, retrysql.reason, retrysql.error.class,
// db.response.status_code) and the span's status is set to Error.
// Attempts that failed and were then retried with success leave the status
// alone. A permanent error is the caller's or the driver instrumentation's
// to report.
//
// With WithOperationSpans, a span "retrysql.<place>" covers each whole
// operation. retrysql's hooks report an operation when it ends, so that
// span is made then, with the operation's start and end times, as a child
// of the span of its context: the spans of its attempts made by driver
// instrumentation are its siblings, not its children.
//
// # Cost
//
// An operation whose first attempt succeeds, the common case, costs
// nothing more with the adapter than without it: its completion hook asks
// retrysql only for operations that retried or failed
// (retrysql.RetriedOrFailed), so no hook runs, no clock is read and
// nothing is recorded for the others (BENCHMARKS.md has the figures).
// WithOperationDuration and WithOperationSpans need every operation's
// duration: with either, retrysql times every operation (two clock
// readings) and the adapter records a histogram point or a span for each.
package otelretrysql

import (
	"go.opentelemetry.io/otel/attribute"
)

// ScopeName is the instrumentation scope of the meter and the tracer.
const ScopeName = "github.com/retrysql/retrysql/otelretrysql"

// Names of the metrics.
const (
	MetricRetries         = "retrysql.client.operation.retries"
	MetricRetryDelay      = "retrysql.client.retry_delay"
	MetricGiveUp          = "retrysql.client.give_up"
	MetricAmbiguous       = "retrysql.client.ambiguous"
	MetricBudgetDenied    = "retrysql.budget.denied"
	MetricBreakerRejected = "retrysql.breaker.rejected"
	MetricCommitResolved  = "retrysql.commit_check.resolved"
	MetricBreakerState    = "retrysql.breaker.state"
	MetricAdmissionLimit  = "retrysql.admission.limit"
	MetricAdmissionHeld   = "retrysql.admission.inflight"
	MetricAdmissionQueued = "retrysql.admission.queued"
	MetricDuration        = "db.client.operation.duration"
)

// Attribute keys of retrysql's own.
const (
	AttrPlace      = attribute.Key("retrysql.place")
	AttrOutcome    = attribute.Key("retrysql.outcome")
	AttrReason     = attribute.Key("retrysql.reason")
	AttrClass      = attribute.Key("retrysql.error.class")
	AttrResolution = attribute.Key("retrysql.resolution") // "committed", "not_committed"
	AttrAttempt    = attribute.Key("retrysql.attempt")    // span events: the attempt that failed
	AttrAttempts   = attribute.Key("retrysql.attempts")   // spans and give-up events: the attempts made
	AttrDelay      = attribute.Key("retrysql.delay")      // retry events: the wait, in seconds
	AttrBackoff    = attribute.Key("retrysql.backoff")    // operation spans: the time slept, in seconds
)

// Names of the span events.
const (
	EventRetry  = "retrysql.retry"
	EventGiveUp = "retrysql.give_up"
)

// durationBuckets are the bucket boundaries of db.client.operation.duration
// the semantic conventions advise, in seconds; retrysql.client.retry_delay
// uses them too.
var durationBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10}

// retryBuckets are the bucket boundaries of
// retrysql.client.operation.retries (50 attempts are allowed after
// tx-aborted errors by default).
var retryBuckets = []float64{1, 2, 3, 4, 5, 7, 10, 15, 20, 30, 50}
