// Package retrysql makes transient database failures disappear for
// database/sql users without ever doing a write twice.
//
// The retry loop is [Retrier]: it classifies each error (package classify),
// waits as the error's strategy says (package strategy), draws every retry
// from a budget shared by all goroutines (package budget), consults a
// circuit breaker, and reports to hooks and counters. [Do] and [DoValue]
// run any operation through it.
//
// What is retried depends on the error's class: permanent errors never;
// transient and tx-aborted errors always, within the limits; a lost
// connection only when the request provably never reached the server, or
// the work was declared idempotent ([WithIdempotent], [Idempotent]),
// otherwise it is returned as [ErrAmbiguous].
//
// No wait outlasts the context: when the next retry would end after the
// deadline, the loop gives up at once with the last real error. The error
// returned keeps the original: errors.As reaches the driver's own error
// type, and [Attempts] reads how many attempts were made.
package retrysql
