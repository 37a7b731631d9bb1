// Package budget limits retries across all the goroutines that share one
// database handle, so that a struggling server is not hammered by every
// client retrying at once.
//
// Two budgets are provided:
//
//   - [TokenBucket] allows a steady rate of retries with a burst, whatever
//     the traffic (the scheme of the AWS SDKs' retry quota, without costs).
//   - [Ratio] allows retries up to a fraction of recent first attempts, plus
//     a small floor per second for quiet periods (the scheme of Finagle's
//     RetryBudget, also used by tower; gRPC's retry throttling and Envoy's
//     retry budget are variants). When every request fails, a Ratio of 0.2
//     caps the load at 1.2 attempts per request, however many attempts each
//     request would like.
//
// Both implement the two methods retrysql calls: Request, on every first
// attempt, and Retry, before every retry. Request is on the path of every
// query and costs one atomic operation at most, with no clock reading for
// most calls; Retry reads no clock (the caller passes the time) and takes no
// lock except, for Ratio, once per window when the window moves on. Neither
// allocates. Time is measured from the budget's creation with the monotonic
// clock, so wall-clock jumps do not affect it.
package budget
